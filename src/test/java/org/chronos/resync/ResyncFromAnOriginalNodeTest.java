package org.chronos.resync;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.chronos.testing.ClusterHarness;
import org.chronos.testing.ClusterHarness.Node;
import org.chronos.testing.LoopbackServer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Our node resyncing from an original node (a rolling upgrade: the node replaced is ours, its peer
 * is still the original). A JDK {@code HttpServer} stands in for the original's resync API as its
 * source says it behaves: parameters separated by ';', {@code sync-mode=SCALE} required (by older
 * releases), {@code time-from} an offset from its clock, timers ordered by their next pop with its
 * own replica delay, runs of equal pop times never split, ids as signed 64-bit numbers, {@code
 * start-time} beside {@code start-time-delta} but from a wall clock cut to 32 bits.
 */
class ResyncFromAnOriginalNodeTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final int TIMERS = 250;

  private final OriginalNode original = new OriginalNode();
  private ClusterHarness cluster;

  @AfterEach
  void tearDown() {
    if (cluster != null) {
      cluster.close();
    }
    original.server.stop(0);
  }

  @Test
  void ourNodeGetsEveryTimerFromAnOriginalNodesPages() {
    Node node = startBesideTheOriginal(100);
    original.fill(node.address(), node.view().viewId());

    JsonNode summary = node.resync();

    assertThat(summary.get("failures")).as(summary.toString()).isEmpty();
    assertThat(original.badRequests).isEmpty();
    // The address as the original writes it, ':' and all: not every release of its HTTP library
    // decodes a parameter before comparing it with its cluster's addresses.
    assertThat(original.rawQueries)
        .allMatch(q -> q.contains("node-for-replicas=" + node.address()));
    assertThat(original.timers.keySet()).allMatch(node::holdsLive);
    // Each timer came once, or twice where a page's start overlapped the last (never skipped).
    assertThat(original.served.values()).allMatch(n -> n <= 2);
    assertThat(summary.get("timersReceived").asLong()).isBetween((long) TIMERS, 2L * TIMERS - 1);
  }

  /**
   * A peer that orders its timers later than this node reckons: each next page starts that much
   * before the last one ended, here 60 s back, more than a page of timers (100), so a page brought
   * nothing new. Asked again from the same place for a longer page, it gets past them.
   */
  @Test
  void aPeerThatOrdersItsTimersLaterThanThisNodeReckonsStillGivesEveryTimer() {
    Node node = startBesideTheOriginal(100);
    original.fill(node.address(), node.view().viewId());
    original.keyDelay = 60_000;

    JsonNode summary = node.resync();

    assertThat(summary.get("failures")).as(summary.toString()).isEmpty();
    assertThat(original.timers.keySet()).allMatch(node::holdsLive);
  }

  /**
   * An original reads its clock for a request's {@code time-from} when the request reaches it: a
   * request that took longer to get there than the last (a new connection, a pause on either side)
   * started that much further on, and the timers due in between after the last page were never
   * copied (here 2 ms apart), with no failure reported. 30 ms is within the overlap each request
   * reaches back; 200 ms is not, and the page, holding none of the last page's latest timers, is
   * asked for again from further back, the last page too (the third of three: the second request on
   * time).
   */
  @ParameterizedTest
  @CsvSource({"30, 0", "200, 0", "200, 1"})
  void aRequestSlowerToReachAnOriginalThanTheLastMissesNoTimer(long lateBy, int onTimeFirst) {
    Node node = startBesideTheOriginal(100);
    original.fill(node.address(), node.view().viewId(), true);
    original.lateBy = lateBy;
    original.onTimeFirst = onTimeFirst;

    JsonNode summary = node.resync();

    assertThat(summary.get("failures")).as(summary.toString()).isEmpty();
    assertThat(original.timers.keySet()).allMatch(node::holdsLive);
  }

  /**
   * A peer whose 206 pages never get further (it reads {@code time-from} otherwise than we write
   * it, say, or names the same cursor each time): the run asked for the same page for ever, and
   * neither it nor a {@code POST /tasks/resync} waiting for it ended. It now reports that peer
   * failed, and ends.
   */
  @ParameterizedTest
  @ValueSource(booleans = {false, true})
  void aPeerWhosePagesDoNotAdvanceIsReportedFailedInsteadOfPagedForEver(boolean asOurs) {
    original.nextTimeFrom = asOurs ? "1700000000000" : null;
    Node node = startBesideTheOriginal(10);
    original.fill(node.address(), node.view().viewId());
    original.stuck = true;

    JsonNode summary = node.resync();

    assertThat(summary.get("nodesFailed").asInt()).as(summary.toString()).isEqualTo(1);
    assertThat(summary.get("failures").toString()).contains("do not advance");
    // Asked again as the pages grew from 10 to 16,000 timers (the last 7 times all 250): no more.
    assertThat(original.served.values()).as("copies of each timer served").allMatch(n -> n <= 20);
  }

  /**
   * Starts our node in a cluster with the original, resyncing with pages of {@code pageSize}
   * timers: one run, the one a test asks for (none at start, no warm-up).
   */
  private Node startBesideTheOriginal(int pageSize) {
    cluster =
        ClusterHarness.create(
            1, "resync:", "  onStart: false", "  warmUpTimers: 0", "  pageSize: " + pageSize);
    Node node = cluster.node(0);
    node.writeClusterFile("node = " + node.address() + "\nnode = " + original.address());
    node.start();
    return node;
  }

  /** The original's resync API, for one requester, over timers it holds with that requester. */
  private static final class OriginalNode {
    final HttpServer server;
    final Map<Long, long[]> timers = new ConcurrentHashMap<>(); // id -> start, interval ms, index
    final Map<Long, Integer> served = new ConcurrentHashMap<>();
    final List<String> badRequests = java.util.Collections.synchronizedList(new ArrayList<>());
    final List<String> rawQueries = java.util.Collections.synchronizedList(new ArrayList<>());
    volatile String requester;
    volatile String viewId;

    /**
     * Whether it serves the first page whatever {@code time-from} asks for, and never a last one (a
     * broken peer).
     */
    volatile boolean stuck;

    /**
     * How much later than the requester reckons it orders its timers (a delay of its own, a site's
     * say): each {@code time-from} then reaches that far back into what it served.
     */
    volatile long keyDelay;

    /** The cursor header our nodes send, the same on every page; null: none, as an original. */
    volatile String nextTimeFrom;

    OriginalNode() {
      server = LoopbackServer.start("/timers", this::handle);
    }

    String address() {
      return LoopbackServer.address(server);
    }

    /**
     * Timers due in 100-224 s, two by two at the same time; for half of them this node is the
     * primary (its copy pops first), for the other half the backup (2 s later).
     */
    void fill(String requester, String viewId) {
      fill(requester, viewId, false);
    }

    /** {@code dense}: all due in 100-102 s, 2 ms apart, rather than 1 s apart over 2 minutes. */
    void fill(String requester, String viewId, boolean dense) {
      this.requester = requester;
      this.viewId = viewId;
      long start = System.currentTimeMillis();
      for (int i = 0; i < TIMERS; i++) {
        long id = Long.MIN_VALUE + 1_000_000L * i + 7; // negative: bit 63 set, as ours are now
        timers.put(
            id,
            dense
                ? new long[] {start + i, 100_000L, i % 2}
                : new long[] {start, (100 + i / 2) * 1000L, i % 2});
      }
    }

    /**
     * How much later than the first it reads its clock for each request after the first: a request
     * slower to reach it, over a new connection, say.
     */
    volatile long lateBy;

    /** How many requests with {@code time-from} reach it on time before {@link #lateBy} applies. */
    volatile int onTimeFirst;

    final java.util.concurrent.atomic.AtomicInteger timedRequests =
        new java.util.concurrent.atomic.AtomicInteger();

    private void handle(HttpExchange exchange) throws IOException {
      try (exchange) {
        String method = exchange.getRequestMethod();
        exchange.getRequestBody().readAllBytes();
        if (!method.equals("GET")) {
          // Copies and tombstones the requester sends on, its references; no batches (ours only).
          int status = method.equals("PUT") ? 200 : method.equals("DELETE") ? 202 : 405;
          exchange.sendResponseHeaders(status, -1);
          return;
        }
        Map<String, String> query = new HashMap<>();
        String raw = exchange.getRequestURI().getRawQuery();
        rawQueries.add(raw);
        for (String pair : raw == null ? new String[0] : raw.split("[&;]")) {
          int eq = pair.indexOf('=');
          if (eq > 0) {
            query.put(
                pair.substring(0, eq),
                URLDecoder.decode(pair.substring(eq + 1), StandardCharsets.UTF_8));
          }
        }
        if (!requester.equals(query.get("node-for-replicas"))
            || !viewId.equals(query.get("cluster-view-id"))
            || !"SCALE".equals(query.get("sync-mode"))) {
          badRequests.add(raw);
          exchange.sendResponseHeaders(400, -1);
          return;
        }
        String timeFrom = query.get("time-from");
        if (timeFrom != null && lateBy > 0 && timedRequests.incrementAndGet() > onTimeFirst) {
          try {
            Thread.sleep(lateBy); // as the request's way here took that much longer
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
          }
        }
        long now = System.currentTimeMillis();
        // atoi of a 32-bit unsigned offset, as a signed int.
        long from =
            timeFrom == null || stuck ? Long.MIN_VALUE : now + (int) Long.parseLong(timeFrom);
        int max = Integer.parseInt(exchange.getRequestHeaders().getFirst("Range").trim());
        List<Long> due = new ArrayList<>();
        timers.forEach(
            (id, t) -> {
              if (popKey(t) >= from) {
                due.add(id);
              }
            });
        due.sort(Comparator.comparingLong(id -> popKey(timers.get(id))));
        int to = Math.min(max, due.size());
        while (to < due.size()
            && to > 0
            && popKey(timers.get(due.get(to))) == popKey(timers.get(due.get(to - 1)))) {
          to++; // a run of equal pop times is never split
        }
        ObjectNode body = JSON.createObjectNode();
        ArrayNode list = body.putArray("Timers");
        for (long id : due.subList(0, to)) {
          served.merge(id, 1, Integer::sum);
          list.add(entry(id, timers.get(id), now));
        }
        byte[] bytes = JSON.writeValueAsBytes(body);
        exchange.getResponseHeaders().add("Content-Type", "application/json");
        boolean more = to < due.size() || stuck; // stuck: never the last page
        if (more) {
          exchange.getResponseHeaders().add("Content-Range", Integer.toString(max));
          if (nextTimeFrom != null) {
            exchange.getResponseHeaders().add(ResyncSource.NEXT_TIME_FROM_HEADER, nextTimeFrom);
          }
        }
        exchange.sendResponseHeaders(more ? 206 : 200, bytes.length);
        exchange.getResponseBody().write(bytes);
      }
    }

    /** When this node's copy pops: the due time after its own replica delay. */
    private long popKey(long[] t) {
      return t[0] + t[1] + 2000L * t[2] + keyDelay;
    }

    private ObjectNode entry(long id, long[] t, long now) {
      List<String> replicas =
          t[2] == 0 ? List.of(address(), requester) : List.of(requester, address());
      ObjectNode e = JSON.createObjectNode();
      e.put("TimerID", id);
      ArrayNode old = e.putArray("OldReplicas");
      replicas.forEach(old::add);
      ObjectNode timer = e.putObject("Timer");
      ObjectNode timing = timer.putObject("timing");
      timing.put("start-time-delta", t[0] - now);
      // The older form as the original writes it: its wall clock in ms plus the delta, in
      // unsigned 32-bit arithmetic, so nowhere near a real wall time.
      timing.put("start-time", (now + (t[0] - now)) & 0xFFFF_FFFFL);
      timing.put("sequence-number", 0);
      timing.put("interval", t[1] / 1000);
      timing.put("repeat-for", t[1] / 1000);
      ObjectNode http = timer.putObject("callback").putObject("http");
      http.put("uri", "http://127.0.0.1:1/never");
      http.put("opaque", "o");
      ObjectNode reliability = timer.putObject("reliability");
      reliability.put("cluster-view-id", viewId);
      ArrayNode r = reliability.putArray("replicas");
      replicas.forEach(r::add);
      return e;
    }
  }
}
