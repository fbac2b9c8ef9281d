package org.chronos.testing;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * Builds timer bodies as a client sends them (PROTOCOL.md section 1); not thread-safe, one builder
 * per body. Only what is set appears in the JSON, so tests can leave fields out.
 *
 * <pre>{@code
 * TimerJson.timer().interval(1).repeatFor(3).callback(url, "opaque").tag("CALL", 2).json()
 * }</pre>
 */
public final class TimerJson {
  private static final ObjectMapper MAPPER = new ObjectMapper();

  private final ObjectNode root = MAPPER.createObjectNode();

  private TimerJson() {}

  public static TimerJson timer() {
    return new TimerJson();
  }

  /** A one-shot timer that pops after {@code intervalSeconds}, calling {@code uri}. */
  public static String oneShot(int intervalSeconds, String uri, String opaque) {
    return timer().interval(intervalSeconds).callback(uri, opaque).json();
  }

  /**
   * One entry of a resync page (PROTOCOL.md section 6) as a peer writes it: a timer of 10 minutes,
   * starting when the page was written, that {@code replicas} held before and hold now.
   */
  public static String pageEntry(long id, java.util.List<String> replicas) {
    String list = "[\"" + String.join("\",\"", replicas) + "\"]";
    return "{\"TimerID\":"
        + id
        + ",\"OldReplicas\":"
        + list
        + ",\"Timer\":{\"timing\":{\"interval\":600,\"repeat-for\":600,"
        + "\"start-time-delta\":0,\"sequence-number\":0},\"callback\":{\"http\":{\"uri\":"
        + "\"http://127.0.0.1:1/x\",\"opaque\":\"o\"}},\"reliability\":{\"replicas\":"
        + list
        + "}}}";
  }

  public TimerJson interval(long seconds) {
    timing().put("interval", seconds);
    return this;
  }

  public TimerJson repeatFor(long seconds) {
    timing().put("repeat-for", seconds);
    return this;
  }

  public TimerJson callback(String uri, String opaque) {
    ObjectNode http = root.putObject("callback").putObject("http");
    http.put("uri", uri);
    http.put("opaque", opaque);
    return this;
  }

  /**
   * As a peer's message has it: the timer started at {@code startMillis} (as {@code start-time},
   * and as {@code start-time-delta} from now) and has popped {@code sequence} times.
   */
  public TimerJson started(long startMillis, int sequence) {
    timing()
        .put("start-time-delta", startMillis - System.currentTimeMillis())
        .put("start-time", startMillis)
        .put("sequence-number", sequence);
    return this;
  }

  /** As a peer's message has it: the view it was placed under, and its replicas. */
  public TimerJson replicas(String clusterViewId, java.util.List<String> replicas) {
    reliability().put("cluster-view-id", clusterViewId);
    com.fasterxml.jackson.databind.node.ArrayNode list = reliability().putArray("replicas");
    replicas.forEach(list::add);
    return this;
  }

  public TimerJson replicationFactor(int rf) {
    reliability().put("replication-factor", rf);
    return this;
  }

  /** Adds an entry to {@code statistics.tag-info}. */
  public TimerJson tag(String type, long count) {
    tagInfo().addObject().put("type", type).put("count", count);
    return this;
  }

  /** Adds a raw JSON value (well-formed or not as a tag entry) to {@code statistics.tag-info}. */
  public TimerJson rawTagEntry(String json) {
    try {
      tagInfo().add(MAPPER.readTree(json));
    } catch (java.io.IOException e) {
      throw new IllegalArgumentException("not JSON: " + json, e);
    }
    return this;
  }

  /** Sets a top-level member to a raw JSON value. */
  public TimerJson raw(String field, String json) {
    try {
      root.set(field, MAPPER.readTree(json));
    } catch (java.io.IOException e) {
      throw new IllegalArgumentException("not JSON: " + json, e);
    }
    return this;
  }

  public String json() {
    return root.toString();
  }

  @Override
  public String toString() {
    return json();
  }

  private ObjectNode timing() {
    return root.has("timing") ? (ObjectNode) root.get("timing") : root.putObject("timing");
  }

  private ObjectNode reliability() {
    return root.has("reliability")
        ? (ObjectNode) root.get("reliability")
        : root.putObject("reliability");
  }

  private ArrayNode tagInfo() {
    ObjectNode statistics =
        root.has("statistics") ? (ObjectNode) root.get("statistics") : root.putObject("statistics");
    return statistics.has("tag-info")
        ? (ArrayNode) statistics.get("tag-info")
        : statistics.putArray("tag-info");
  }
}
