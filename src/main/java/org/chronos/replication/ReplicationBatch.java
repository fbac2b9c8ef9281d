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
 * the time its message sat in the sender's queue. An entry that is a resync's copy of a timer, a
 * snapshot rather than news of a change, also has {@code "Snapshot":<µs>}: how late its start may
 * be (as {@code Replicator.SNAPSHOT_HEADER} on a single PUT; absent: not a snapshot). Answer, 200:
 * {@code {"Statuses":[<the status a single PUT would have got>,...]}}, in the same order.
 */
public final class ReplicationBatch {
  /** The path, under the application root. */
  public static final String PATH = "/timers/batch";

  private static final ObjectMapper MAPPER = new ObjectMapper();
  private static final JsonFactory JSON = MAPPER.getFactory();
  private static final byte[] OPEN = "{\"Requests\":[".getBytes(StandardCharsets.US_ASCII);
  private static final byte[] PATH_FIELD = "{\"Path\":\"".getBytes(StandardCharsets.US_ASCII);
  private static final byte[] HELD_FIELD = "\",\"Held\":".getBytes(StandardCharsets.US_ASCII);
  private static final byte[] SNAPSHOT_FIELD = ",\"Snapshot\":".getBytes(StandardCharsets.US_ASCII);
  private static final byte[] BODY_FIELD = ",\"Body\":".getBytes(StandardCharsets.US_ASCII);
  private static final byte[] CLOSE = "]}".getBytes(StandardCharsets.US_ASCII);

  private ReplicationBatch() {}

  /**
   * One PUT of a batch.
   *
   * @param heldMicros how long the sender held it after writing its body (0 if unknown)
   * @param snapshotMicros for a resync's copy, how late its start may be; otherwise {@code
   *     Replicator.NOT_A_SNAPSHOT}
   */
  public record Entry(String path, JsonNode body, long heldMicros, long snapshotMicros) {}

  /**
   * A batch of PUTs; each body must be one JSON value (as {@code TimerJson} writes them) and each
   * path plain ASCII without quotes or backslashes (as {@code TimerPath.location} builds them). The
   * bodies are copied in unparsed. {@code heldMicros[i]} is how long entry i was held (>= 0);
   * {@code snapshotMicros[i]}, if not negative, marks entry i as a resync's copy whose start may be
   * that late.
   */
  public static byte[] encode(
      List<String> paths, List<byte[]> bodies, long[] heldMicros, long[] snapshotMicros) {
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
      if (snapshotMicros[i] >= 0) {
        out.writeBytes(SNAPSHOT_FIELD);
        out.writeBytes(Long.toString(snapshotMicros[i]).getBytes(StandardCharsets.US_ASCII));
      }
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
   * makes its timer start later, as it would have without it). A {@code Snapshot} that is not a
   * non-negative integer is taken as absent (the entry is then news of a change, as from a sender
   * without snapshots).
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
      JsonNode snapshot = request.get("Snapshot");
      entries.add(
          new Entry(
              path != null && path.isTextual() ? path.asText() : null,
              request.get("Body"),
              Math.max(0, wholeNumber(held)),
              wholeNumber(snapshot)));
    }
    return entries;
  }

  // A non-negative integer field's value, or -1.
  private static long wholeNumber(JsonNode field) {
    return field != null && field.isIntegralNumber() && field.canConvertToLong()
        ? Math.max(-1, field.longValue())
        : -1;
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
