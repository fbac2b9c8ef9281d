package org.chronos.replication;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * The wire format of batched replication between our own nodes, {@code POST /timers/batch}: not
 * part of the original protocol (PROTOCOL.md section 5 sends one {@code PUT} per timer), so a
 * sender uses it only with a peer that has answered it, and falls back to single PUTs otherwise.
 * Stateless.
 *
 * <p>Request: {@code {"Requests":[{"Path":"/timers/<id>-<rf>","Held":<µs>,"Body":<the PUT's JSON
 * body>},...]}}, each entry exactly what a single {@code PUT <Path>} would carry, plus {@code
 * Held}: the microseconds the message waited in the sender between writing its body and sending the
 * batch (optional, 0 if absent; older versions of this format had none). A body's {@code
 * start-time-delta} counts from when the body was written, so the receiver counts it from the
 * batch's arrival less {@code Held}: otherwise every copy of a timer would start, and pop, later by
 * the time its message sat in the sender's queue. Answer, 200: {@code {"Statuses":[<the status a
 * single PUT would have got>,...]}}, in the same order.
 */
public final class ReplicationBatch {
  /** The path, under the application root. */
  public static final String PATH = "/timers/batch";

  private static final ObjectMapper MAPPER = new ObjectMapper();
  private static final JsonFactory JSON = MAPPER.getFactory();
  private static final byte[] OPEN = "{\"Requests\":[".getBytes(StandardCharsets.US_ASCII);
  private static final byte[] PATH_FIELD = "{\"Path\":\"".getBytes(StandardCharsets.US_ASCII);
  private static final byte[] HELD_FIELD = "\",\"Held\":".getBytes(StandardCharsets.US_ASCII);
  private static final byte[] BODY_FIELD = ",\"Body\":".getBytes(StandardCharsets.US_ASCII);
  private static final byte[] CLOSE = "]}".getBytes(StandardCharsets.US_ASCII);

  private ReplicationBatch() {}

  /**
   * One PUT of a batch.
   *
   * @param heldMicros how long the sender held it after writing its body (0 if unknown)
   */
  public record Entry(String path, JsonNode body, long heldMicros) {}

  /**
   * A batch of PUTs; each body must be one JSON value (as {@code TimerJson} writes them) and each
   * path plain ASCII without quotes or backslashes (as {@code TimerPath.location} builds them). The
   * bodies are copied in unparsed. {@code heldMicros[i]} is how long entry i was held (>= 0).
   */
  public static byte[] encode(List<String> paths, List<byte[]> bodies, long[] heldMicros) {
    int size = OPEN.length + CLOSE.length;
    for (int i = 0; i < paths.size(); i++) {
      size += paths.get(i).length() + bodies.get(i).length + PATH_FIELD.length + 3 + 30;
    }
    ByteArrayOutputStream out = new ByteArrayOutputStream(size);
    out.writeBytes(OPEN);
    for (int i = 0; i < paths.size(); i++) {
      if (i > 0) {
        out.write(',');
      }
      out.writeBytes(PATH_FIELD);
      out.writeBytes(paths.get(i).getBytes(StandardCharsets.US_ASCII));
      out.writeBytes(HELD_FIELD);
      out.writeBytes(Long.toString(Math.max(0, heldMicros[i])).getBytes(StandardCharsets.US_ASCII));
      out.writeBytes(BODY_FIELD);
      out.writeBytes(bodies.get(i));
      out.write('}');
    }
    out.writeBytes(CLOSE);
    return out.toByteArray();
  }

  /**
   * The entries of a batch request; malformed entries come back with a null path or body, and an
   * absent, negative or non-integer {@code Held} as 0 (never a reason to refuse the entry: it only
   * makes its timer start later, as it would have without it).
   */
  public static List<Entry> decode(byte[] batch) throws IOException {
    JsonNode root = MAPPER.readTree(batch);
    JsonNode requests = root == null ? null : root.get("Requests");
    if (requests == null || !requests.isArray()) {
      throw new IOException("a batch is {\"Requests\":[...]}");
    }
    List<Entry> entries = new ArrayList<>(requests.size());
    for (JsonNode request : requests) {
      JsonNode path = request.get("Path");
      JsonNode held = request.get("Held");
      entries.add(
          new Entry(
              path != null && path.isTextual() ? path.asText() : null,
              request.get("Body"),
              held != null && held.canConvertToLong() && held.isIntegralNumber()
                  ? Math.max(0, held.longValue())
                  : 0));
    }
    return entries;
  }

  /** The answer to a batch: one status per entry. */
  public static byte[] encodeStatuses(int[] statuses) {
    StringBuilder s = new StringBuilder(16 + statuses.length * 4).append("{\"Statuses\":[");
    for (int i = 0; i < statuses.length; i++) {
      if (i > 0) {
        s.append(',');
      }
      s.append(statuses[i]);
    }
    return s.append("]}").toString().getBytes(StandardCharsets.US_ASCII);
  }

  /** The statuses of an answer, which must hold exactly {@code expected} of them. */
  public static int[] decodeStatuses(byte[] answer, int expected) throws IOException {
    int[] statuses = new int[expected];
    int n = 0;
    try (JsonParser p = JSON.createParser(answer)) {
      if (p.nextToken() != JsonToken.START_OBJECT
          || p.nextToken() != JsonToken.FIELD_NAME
          || !"Statuses".equals(p.currentName())
          || p.nextToken() != JsonToken.START_ARRAY) {
        throw new IOException("not a batch answer");
      }
      JsonToken t;
      while ((t = p.nextToken()) == JsonToken.VALUE_NUMBER_INT) {
        if (n == expected) {
          throw new IOException("more statuses than requests (" + expected + ")");
        }
        statuses[n++] = p.getIntValue();
      }
      if (t != JsonToken.END_ARRAY) {
        throw new IOException("a status is not a number");
      }
    }
    if (n != expected) {
      throw new IOException(n + " statuses for " + expected + " requests");
    }
    return statuses;
  }
}
