package org.chronos.testing;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpHandler;
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
import org.chronos.cluster.ClusterView;
import org.chronos.resync.ResyncSource;

/**
 * An original node's resync API (PROTOCOL.md section 6), for one requester, over {@link #TIMERS}
 * timers it holds with that requester, on a JDK {@code HttpServer}, as the original's source says
 * it behaves: parameters separated by ';', {@code sync-mode=SCALE} required (by older releases),
 * {@code time-from} an offset from its clock, timers ordered by their next pop with its own replica
 * delay, runs of equal pop times never split, ids as signed 64-bit numbers, {@code start-time}
 * beside {@code start-time-delta} but from a wall clock cut to 32 bits. Takes the copies,
 * tombstones and references the requester sends it.
 */
public final class OriginalNode {
  private static final ObjectMapper JSON = new ObjectMapper();

  /** How many timers {@link #fill} gives it. */
  public static final int TIMERS = 250;

  private final HttpServer server;

  /** Its timers: id to start, interval ms, its own index in the timer's replicas (0 or 1). */
  public final Map<Long, long[]> timers = new ConcurrentHashMap<>();

  /** How many times each timer has been served, by id. */
  public final Map<Long, Integer> served = new ConcurrentHashMap<>();

  /** The raw queries of the GETs it refused with 400. */
  public final List<String> badRequests = java.util.Collections.synchronizedList(new ArrayList<>());

  /** The raw queries of every GET that reached it. */
  public final List<String> rawQueries = java.util.Collections.synchronizedList(new ArrayList<>());

  private volatile String requester;
  private volatile String viewId;

  /**
   * What it answers every GET with instead of a page (503: overloaded or its backend down, as the
   * requester's retries see it); 0: pages.
   */
  public volatile int failGetsWith;

  /** How many GETs more {@link #failGetsWith} fails, if set; those after it are answered. */
  public final java.util.concurrent.atomic.AtomicInteger getsToFail =
      new java.util.concurrent.atomic.AtomicInteger(Integer.MAX_VALUE);

  /**
   * While set, every GET waits for it (30 s at most) before it is answered or failed: a peer slow
   * to answer, which holds the requester's resync.
   */
  public volatile java.util.concurrent.CountDownLatch holdGets;

  /** What it answers every DELETE (the requester's references) with instead of 202; 0: 202. */
  public volatile int failDeletesWith;

  /** While set, a {@code GET /ping} gets no answer: the connection is closed. */
  public volatile boolean pingRefused;

  private void ping(HttpExchange exchange) throws IOException {
    try (exchange) {
      exchange.getRequestBody().readAllBytes();
      if (pingRefused) {
        return; // closed without an answer
      }
      byte[] ok = "OK".getBytes(StandardCharsets.UTF_8);
      exchange.sendResponseHeaders(200, ok.length);
      exchange.getResponseBody().write(ok);
    }
  }

  /** The {@code reliability.sites} of the timers it serves; null: none, as in a single site. */
  public volatile List<String> sites;

  /**
   * Whether it serves the first page whatever {@code time-from} asks for, and never a last one (a
   * broken peer).
   */
  public volatile boolean stuck;

  /**
   * How much later than the requester reckons it orders its timers (a delay of its own, a site's
   * say): each {@code time-from} then reaches that far back into what it served.
   */
  public volatile long keyDelay;

  /** The cursor header our nodes send, the same on every page; null: none, as an original. */
  public volatile String nextTimeFrom;

  /** Started on a loopback port of its own. */
  public OriginalNode() {
    server = LoopbackServer.start("/timers", this::handle, "/ping", (HttpHandler) this::ping);
  }

  public String address() {
    return LoopbackServer.address(server);
  }

  public void stop() {
    server.stop(0);
  }

  /**
   * Timers due in 100-224 s, two by two at the same time; for half of them this node is the primary
   * (its copy pops first), for the other half the backup (2 s later).
   */
  public void fill(String requester, String viewId) {
    fill(requester, viewId, false);
  }

  /** Added to each id {@link #fill} makes: two such peers of one node then hold other timers. */
  public volatile long idSalt = 7;

  /** {@code dense}: all due in 100-102 s, 2 ms apart, rather than 1 s apart over 2 minutes. */
  public void fill(String requester, String viewId, boolean dense) {
    this.requester = requester;
    this.viewId = viewId;
    long start = System.currentTimeMillis();
    for (int i = 0; i < TIMERS; i++) {
      long id = Long.MIN_VALUE + 1_000_000L * i + idSalt; // negative: bit 63 set, as ours are
      timers.put(
          id,
          dense
              ? new long[] {start + i, 100_000L, i % 2}
              : new long[] {start, (100 + i / 2) * 1000L, i % 2});
    }
  }

  /**
   * Orders each timer's replicas as {@code view} (the requester's) chooses them, as a real peer's
   * pages do, rather than by turns; in a view of more than two nodes, keeps only the timers whose
   * replicas there are this node and the requester.
   */
  public void orderReplicasAs(ClusterView view) {
    timers
        .entrySet()
        .removeIf(
            e -> {
              List<String> replicas = view.replicasFor(e.getKey(), 2);
              e.getValue()[2] = replicas.indexOf(address());
              return !(replicas.contains(address()) && replicas.contains(requester));
            });
  }

  /**
   * How much later than the first it reads its clock for each request after the first: a request
   * slower to reach it, over a new connection, say.
   */
  public volatile long lateBy;

  /** How many requests with {@code time-from} reach it on time before {@link #lateBy} applies. */
  public volatile int onTimeFirst;

  private final java.util.concurrent.atomic.AtomicInteger timedRequests =
      new java.util.concurrent.atomic.AtomicInteger();

  private void handle(HttpExchange exchange) throws IOException {
    try (exchange) {
      String method = exchange.getRequestMethod();
      exchange.getRequestBody().readAllBytes();
      if (!method.equals("GET")) {
        // Copies and tombstones the requester sends on, its references; no batches (ours only).
        int status =
            method.equals("PUT")
                ? 200
                : method.equals("DELETE") ? (failDeletesWith != 0 ? failDeletesWith : 202) : 405;
        exchange.sendResponseHeaders(status, -1);
        return;
      }
      Map<String, String> query = new HashMap<>();
      String raw = exchange.getRequestURI().getRawQuery();
      rawQueries.add(raw);
      java.util.concurrent.CountDownLatch hold = holdGets;
      if (hold != null) {
        try {
          hold.await(30, java.util.concurrent.TimeUnit.SECONDS);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
      }
      if (failGetsWith != 0 && getsToFail.getAndDecrement() > 0) {
        exchange.sendResponseHeaders(failGetsWith, -1);
        return;
      }
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
      long from = timeFrom == null || stuck ? Long.MIN_VALUE : now + (int) Long.parseLong(timeFrom);
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
    List<String> timerSites = sites;
    if (timerSites != null) {
      ArrayNode named = reliability.putArray("sites");
      timerSites.forEach(named::add);
    }
    return e;
  }
}
