package org.chronos.api;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import org.chronos.timer.Tag;
import org.chronos.timer.Timer;

/**
 * Writes a timer in the node-to-node format (PROTOCOL.md section 5): the public body plus {@code
 * start-time-delta}, {@code start-time}, {@code sequence-number}, {@code cluster-view-id}, {@code
 * replicas} and {@code sites}. A tombstone has an empty URI and opaque. Thread-safe.
 */
public final class TimerJson {
  private static final JsonFactory FACTORY = new JsonFactory();

  private TimerJson() {}

  /**
   * Writes a timer id as the JSON number of its signed 64-bit value, as the original writes it (and
   * reads it: it refuses a number of 2^63 or more, which about half of all ids would be unsigned,
   * and drops the timer): resync pages and references carry one per timer.
   */
  public static void writeId(JsonGenerator g, long id) throws IOException {
    g.writeNumber(id);
  }

  /**
   * A timer id as {@link #writeId} writes it, or as its unsigned value (as our nodes wrote it
   * before): the low 64 bits of a JSON integer.
   *
   * @param node an integral number node
   */
  public static long readId(com.fasterxml.jackson.databind.JsonNode node) {
    return node.canConvertToLong() ? node.longValue() : node.bigIntegerValue().longValue();
  }

  /** The timer as a replication body; {@code nowMillis} anchors the start-time delta. */
  public static byte[] write(Timer timer, long nowMillis) {
    ByteArrayOutputStream out =
        new ByteArrayOutputStream(256 + (timer.opaque() == null ? 0 : timer.opaque().length));
    try (JsonGenerator g = FACTORY.createGenerator(out)) {
      writeTo(g, timer, nowMillis);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return out.toByteArray();
  }

  /** The timer as sent to another site: no replicas, with its site list (section 7). */
  public static byte[] writeForSite(Timer timer, long nowMillis) {
    ByteArrayOutputStream out =
        new ByteArrayOutputStream(256 + (timer.opaque() == null ? 0 : timer.opaque().length));
    try (JsonGenerator g = FACTORY.createGenerator(out)) {
      writeTo(g, timer, nowMillis, null, timer.clusterViewId());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return out.toByteArray();
  }

  /** Writes the timer object with the generator. */
  public static void writeTo(JsonGenerator g, Timer timer, long nowMillis) throws IOException {
    writeTo(g, timer, nowMillis, timer.replicas(), timer.clusterViewId());
  }

  /**
   * Writes the timer with other replicas and view id: resync pages send the new replicas, and a
   * timer sent to another site goes without replicas (null), so that site places it itself.
   */
  public static void writeTo(
      JsonGenerator g,
      Timer timer,
      long nowMillis,
      java.util.List<String> replicas,
      String clusterViewId)
      throws IOException {
    g.writeStartObject();
    g.writeObjectFieldStart("timing");
    g.writeNumberField("start-time-delta", timer.startMillis() - nowMillis);
    g.writeNumberField("start-time", timer.startMillis());
    g.writeNumberField("sequence-number", timer.sequence());
    g.writeNumberField("interval", timer.intervalMillis() / 1000);
    g.writeNumberField("repeat-for", timer.repeatForMillis() / 1000);
    g.writeEndObject();

    g.writeObjectFieldStart("callback");
    g.writeObjectFieldStart("http");
    g.writeStringField("uri", timer.isTombstone() ? "" : timer.callbackUri());
    g.writeStringField(
        "opaque", timer.isTombstone() ? "" : new String(timer.opaque(), StandardCharsets.UTF_8));
    g.writeEndObject();
    g.writeEndObject();

    g.writeObjectFieldStart("reliability");
    if (clusterViewId != null) {
      g.writeStringField("cluster-view-id", clusterViewId);
    }
    g.writeNumberField("replication-factor", timer.replicationFactor());
    if (replicas != null) {
      g.writeArrayFieldStart("replicas");
      for (String replica : replicas) {
        g.writeString(replica);
      }
      g.writeEndArray();
    }
    g.writeArrayFieldStart("sites");
    for (String site : timer.sites()) {
      g.writeString(site);
    }
    g.writeEndArray();
    g.writeEndObject();

    if (!timer.tags().isEmpty()) {
      g.writeObjectFieldStart("statistics");
      g.writeArrayFieldStart("tag-info");
      for (Tag tag : timer.tags()) {
        g.writeStartObject();
        g.writeStringField("type", tag.type());
        g.writeNumberField("count", tag.count());
        g.writeEndObject();
      }
      g.writeEndArray();
      g.writeEndObject();
    }
    g.writeEndObject();
  }
}
