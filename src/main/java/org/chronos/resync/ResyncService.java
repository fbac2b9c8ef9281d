package org.chronos.resync;

import com.codahale.metrics.Counter;
import com.codahale.metrics.Gauge;
import com.codahale.metrics.MetricRegistry;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;
import org.chronos.api.BadRequestException;
import org.chronos.api.TimerRequest;
import org.chronos.api.TimerRequestParser;
import org.chronos.cluster.ClusterView;
import org.chronos.http.AsyncHttp;
import org.chronos.node.TimerNode;
import org.chronos.replication.Replicator;
import org.chronos.resources.TimerPath;
import org.chronos.timer.Clock;
import org.chronos.timer.Timer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs resyncs (PROTOCOL.md section 6) on one background thread, one at a time: asking for a resync
 * while one runs joins the running one. Thread-safe.
 *
 * <p>For every other node of the old and new cluster, pages through the timers this node replicates
 * under the new view; stores those where this node's replica position is as good as or better than
 * before; sends them on to new replicas below it that were not above it before, and to old replicas
 * at or below its new position that are replicas no more (as tombstones); then tells the peer, with
 * {@code DELETE /timers/references}, which timers it now holds. An unreachable peer is retried a
 * few times, then reported; a malformed page or timer is counted and skipped. The run always
 * finishes.
 */
public final class ResyncService {
  private static final Logger LOG = LoggerFactory.getLogger(ResyncService.class);
  private static final ObjectMapper MAPPER = new ObjectMapper();
  private static final long[] RETRY_DELAYS_MILLIS = {250, 1000, 2000};
  private static final int REFERENCES_PER_REQUEST = 1000;

  private final Clock clock;
  private final Supplier<ClusterView> view;
  private final TimerNode node;
  private final Replicator replicator;
  private final TimerRequestParser parser;
  private final int pageSize;
  private final HttpClient http;
  private final Duration requestTimeout;
  private final ExecutorService runner;
  private final AtomicInteger nodesRemaining = new AtomicInteger();
  private final Counter timersProcessed;
  private final Counter runs;

  private CompletableFuture<ResyncSummary> running;
  private CompletableFuture<ResyncSummary> queued;
  private volatile ResyncSummary last;
  private volatile long startedMillis;

  public ResyncService(
      Clock clock,
      Supplier<ClusterView> view,
      TimerNode node,
      Replicator replicator,
      TimerRequestParser parser,
      int pageSize,
      Duration requestTimeout,
      MetricRegistry metrics) {
    this.clock = clock;
    this.view = view;
    this.node = node;
    this.replicator = replicator;
    this.parser = parser;
    this.pageSize = pageSize;
    this.requestTimeout = requestTimeout;
    this.http =
        HttpClient.newBuilder()
            .version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(requestTimeout)
            .build();
    this.runner = Executors.newSingleThreadExecutor(AsyncHttp.daemonThreads("chronos-resync"));
    metrics.register("chronos.resync.nodes-remaining", (Gauge<Integer>) nodesRemaining::get);
    this.timersProcessed = metrics.counter("chronos.resync.timers-processed");
    this.runs = metrics.counter("chronos.resync.runs");
  }

  /**
   * Starts a resync; completes with its summary. While one runs, the request waits for it and then
   * gets a fresh run (the running one may predate a reload), shared by every request that arrived
   * meanwhile.
   */
  public synchronized CompletableFuture<ResyncSummary> start(String reason) {
    if (running != null && !running.isDone()) {
      if (queued == null) {
        LOG.info(
            "resync requested ({}) while one is running: another starts when it finishes", reason);
        queued =
            running
                .handle((summary, error) -> null)
                .thenApplyAsync(
                    ignored -> {
                      synchronized (this) {
                        running = queued;
                        queued = null;
                      }
                      return run(reason);
                    },
                    runner);
      }
      return queued;
    }
    running = CompletableFuture.supplyAsync(() -> run(reason), runner);
    return running;
  }

  /** Waits for the running resync, if any, without starting one; the last summary, or null. */
  public CompletableFuture<ResyncSummary> awaitCurrent() {
    CompletableFuture<ResyncSummary> current;
    synchronized (this) {
      current = queued != null ? queued : running;
    }
    return current == null
        ? CompletableFuture.completedFuture(last)
        : current.exceptionally(e -> last);
  }

  /** Whether the cluster has any node but this one to resync from. */
  public boolean hasPeers() {
    return !peers(view.get()).isEmpty();
  }

  private static Set<String> peers(ClusterView v) {
    Set<String> peers = new LinkedHashSet<>(v.oldCluster());
    peers.addAll(v.newCluster());
    peers.remove(v.localAddress());
    return peers;
  }

  public synchronized boolean isRunning() {
    return running != null && !running.isDone();
  }

  /** The last finished run's summary, or null. */
  public ResyncSummary lastSummary() {
    return last;
  }

  public long startedMillis() {
    return startedMillis;
  }

  public int nodesRemaining() {
    return nodesRemaining.get();
  }

  public void stop() {
    runner.shutdownNow();
  }

  private ResyncSummary run(String reason) {
    startedMillis = clock.millis();
    runs.inc();
    ClusterView v = view.get();
    Set<String> peers = peers(v);
    LOG.info(
        "resync started ({}): {} nodes to ask, cluster view {}", reason, peers.size(), v.viewId());
    Tally tally = new Tally();
    nodesRemaining.set(peers.size());
    List<String> failures = new ArrayList<>();
    int contacted = 0;
    for (String peer : peers) {
      try {
        contacted++;
        resyncFrom(peer, v, tally);
      } catch (ResyncException e) {
        failures.add(peer + ": " + e.getMessage());
        LOG.warn("resync from {} failed: {}", peer, e.getMessage());
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        failures.add(peer + ": interrupted");
        break;
      } catch (RuntimeException e) {
        failures.add(peer + ": " + e);
        LOG.error("resync from {} failed", peer, e);
      } finally {
        nodesRemaining.decrementAndGet();
      }
    }
    nodesRemaining.set(0);
    ResyncSummary summary =
        new ResyncSummary(
            contacted,
            failures.size(),
            tally.received.get(),
            tally.stored.get(),
            tally.replicated.get(),
            tally.tombstoned.get(),
            tally.malformed.get(),
            clock.millis() - startedMillis,
            List.copyOf(failures));
    last = summary;
    LOG.info("resync finished ({}): {}", reason, summary);
    return summary;
  }

  private static final class Tally {
    final AtomicLong received = new AtomicLong();
    final AtomicLong stored = new AtomicLong();
    final AtomicLong replicated = new AtomicLong();
    final AtomicLong tombstoned = new AtomicLong();
    final AtomicLong malformed = new AtomicLong();
  }

  private void resyncFrom(String peer, ClusterView v, Tally tally)
      throws ResyncException, InterruptedException {
    String local = v.localAddress();
    List<long[]> references = new ArrayList<>();
    Long timeFrom = null;
    while (true) {
      String query =
          "node-for-replicas="
              + URLEncoder.encode(local, StandardCharsets.UTF_8)
              + "&cluster-view-id="
              + v.viewId()
              + (timeFrom == null ? "" : "&time-from=" + timeFrom);
      HttpResponse<byte[]> response =
          sendWithRetries(
              HttpRequest.newBuilder(URI.create("http://" + peer + "/timers?" + query))
                  .timeout(requestTimeout)
                  .header("Range", Integer.toString(pageSize))
                  .GET()
                  .build());
      int status = response.statusCode();
      if (status != 200 && status != 206) {
        throw new ResyncException(
            "GET /timers answered " + status + ": " + abbreviate(response.body()));
      }
      JsonNode timers;
      try {
        timers = MAPPER.readTree(response.body()).get("Timers");
      } catch (IOException e) {
        tally.malformed.incrementAndGet();
        throw new ResyncException("malformed page: " + e.getMessage());
      }
      if (timers == null || !timers.isArray()) {
        tally.malformed.incrementAndGet();
        throw new ResyncException("malformed page: no Timers list");
      }
      List<Timer> toStore = new ArrayList<>();
      long maxPopTime = Long.MIN_VALUE;
      for (JsonNode entry : timers) {
        tally.received.incrementAndGet();
        timersProcessed.inc();
        try {
          maxPopTime = Math.max(maxPopTime, process(entry, local, v, toStore, references, tally));
        } catch (BadRequestException | RuntimeException e) {
          tally.malformed.incrementAndGet();
          LOG.debug("skipping malformed timer from {}: {}", peer, e.getMessage());
        }
      }
      node.mergeAll(toStore).join();
      tally.stored.addAndGet(toStore.size());
      if (status == 200) {
        break;
      }
      if (maxPopTime == Long.MIN_VALUE) {
        // A 206 without a usable timer gives no pop time to continue from: say so, rather
        // than end as if the peer had nothing more.
        throw new ResyncException("206 page without timers: cannot continue paging");
      }
      timeFrom = maxPopTime;
    }
    sendReferences(peer, references);
  }

  /** Applies the replica-level rules to one timer; returns its pop time (the paging cursor). */
  private long process(
      JsonNode entry,
      String local,
      ClusterView v,
      List<Timer> toStore,
      List<long[]> references,
      Tally tally)
      throws BadRequestException {
    JsonNode idNode = entry.get("TimerID");
    if (idNode == null || !idNode.isIntegralNumber()) {
      throw new BadRequestException("TimerID missing or not a number");
    }
    long id = idNode.bigIntegerValue().longValue();
    List<String> oldReplicas = new ArrayList<>();
    JsonNode old = entry.get("OldReplicas");
    if (old != null && old.isArray()) {
      old.forEach(n -> oldReplicas.add(n.asText()));
    }
    JsonNode timerNode = entry.get("Timer");
    TimerRequest request = parser.parse(timerNode);
    if (!request.isReplication()) {
      throw new BadRequestException("Timer has no replicas");
    }
    List<String> newReplicas = request.replicas();
    int rf = request.replicationFactor() == null ? newReplicas.size() : request.replicationFactor();
    long start =
        request.startTimeMillis() != null
            ? request.startTimeMillis()
            : clock.millis() + request.startTimeDeltaMillis();
    int sequence = request.sequenceNumber() == null ? 0 : request.sequenceNumber();
    long popTime = start + (sequence + 1L) * request.intervalMillis();
    int newIndex = newReplicas.indexOf(local);
    if (newIndex < 0) {
      throw new BadRequestException(
          "this node is not among the timer's new replicas " + newReplicas);
    }
    int oldIndex = oldReplicas.indexOf(local);
    if (oldIndex < 0 || newIndex <= oldIndex) {
      toStore.add(node.replicaFrom(id, rf, request));
    }
    byte[] body = bytes(timerNode);
    String path = TimerPath.location(id, rf);
    List<String> replicateTo = new ArrayList<>();
    for (int j = newIndex + 1; j < newReplicas.size(); j++) {
      String candidate = newReplicas.get(j);
      int oldPosition = oldReplicas.indexOf(candidate);
      if (oldPosition < 0 || oldPosition >= newIndex) {
        replicateTo.add(candidate);
      }
    }
    List<String> tombstoneTo = new ArrayList<>();
    for (int i = newIndex; i < oldReplicas.size(); i++) {
      String former = oldReplicas.get(i);
      if (!newReplicas.contains(former) && !former.equals(local)) {
        tombstoneTo.add(former);
      }
    }
    replicator.send(replicateTo, path, body);
    replicator.send(tombstoneTo, path, body);
    tally.replicated.addAndGet(replicateTo.size());
    tally.tombstoned.addAndGet(tombstoneTo.size());
    references.add(new long[] {id, newIndex});
    return popTime;
  }

  private void sendReferences(String peer, List<long[]> references)
      throws ResyncException, InterruptedException {
    for (int from = 0; from < references.size(); from += REFERENCES_PER_REQUEST) {
      ObjectNode body = MAPPER.createObjectNode();
      ArrayNode ids = body.putArray("IDs");
      for (long[] ref :
          references.subList(from, Math.min(references.size(), from + REFERENCES_PER_REQUEST))) {
        ids.addObject()
            .put("ID", new java.math.BigInteger(Long.toUnsignedString(ref[0])))
            .put("ReplicaIndex", ref[1]);
      }
      HttpResponse<byte[]> response =
          sendWithRetries(
              HttpRequest.newBuilder(URI.create("http://" + peer + "/timers/references"))
                  .timeout(requestTimeout)
                  .header("Content-Type", "application/json")
                  .method("DELETE", HttpRequest.BodyPublishers.ofByteArray(bytes(body)))
                  .build());
      if (response.statusCode() / 100 != 2) {
        throw new ResyncException(
            "DELETE /timers/references answered "
                + response.statusCode()
                + ": "
                + abbreviate(response.body()));
      }
    }
  }

  private HttpResponse<byte[]> sendWithRetries(HttpRequest request)
      throws ResyncException, InterruptedException {
    IOException lastFailure = null;
    for (int attempt = 0; attempt <= RETRY_DELAYS_MILLIS.length; attempt++) {
      if (attempt > 0) {
        Thread.sleep(RETRY_DELAYS_MILLIS[attempt - 1]);
      }
      try {
        HttpResponse<byte[]> response = http.send(request, HttpResponse.BodyHandlers.ofByteArray());
        if (response.statusCode() < 500) {
          return response;
        }
        lastFailure = new IOException("HTTP " + response.statusCode());
      } catch (IOException e) {
        lastFailure = e;
      }
    }
    throw new ResyncException(
        "unreachable after " + (RETRY_DELAYS_MILLIS.length + 1) + " attempts: " + lastFailure);
  }

  private static byte[] bytes(JsonNode node) {
    try {
      return MAPPER.writeValueAsBytes(node);
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  private static String abbreviate(byte[] body) {
    String text = new String(body, StandardCharsets.UTF_8).strip();
    return text.length() > 200 ? text.substring(0, 200) + "..." : text;
  }

  /** A peer could not be resynced. */
  static final class ResyncException extends Exception {
    private static final long serialVersionUID = 1L;

    ResyncException(String message) {
      super(message, null, false, false);
    }
  }
}
