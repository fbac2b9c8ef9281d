package org.chronos.resync;

import com.codahale.metrics.Counter;
import com.codahale.metrics.Gauge;
import com.codahale.metrics.MetricRegistry;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import java.util.function.Supplier;
import org.apache.hc.client5.http.impl.async.CloseableHttpAsyncClient;
import org.apache.hc.core5.http.ContentType;
import org.apache.hc.core5.http.Header;
import org.apache.hc.core5.http.HttpResponse;
import org.apache.hc.core5.http.Message;
import org.apache.hc.core5.http.nio.AsyncRequestProducer;
import org.apache.hc.core5.http.nio.entity.AsyncEntityProducers;
import org.apache.hc.core5.http.nio.entity.BasicAsyncEntityConsumer;
import org.apache.hc.core5.http.nio.support.AsyncRequestBuilder;
import org.apache.hc.core5.http.nio.support.BasicResponseConsumer;
import org.apache.hc.core5.io.CloseMode;
import org.chronos.api.BadRequestException;
import org.chronos.api.TimerJson;
import org.chronos.api.TimerRequest;
import org.chronos.api.TimerRequestParser;
import org.chronos.cluster.Addresses;
import org.chronos.cluster.ClusterView;
import org.chronos.http.AsyncHttp;
import org.chronos.node.TimerNode;
import org.chronos.replication.ReplicationBatch;
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
 * at or below its new position that are replicas no more (as tombstones), each marked as a snapshot
 * whose start may be late by its page's transit (so that the receiver does not let it undo a later
 * pop or deletion, see {@code TimerNode}); then tells the peer, with {@code DELETE
 * /timers/references}, which timers it now holds. An unreachable peer is retried a few times, then
 * reported; a malformed page or timer is counted and skipped. The run always finishes.
 *
 * <p>Also runs the node's start-up resync ({@link #startUp}) and keeps track of the peers it
 * missed: retries them by themselves, and tells listeners when a later run reaches one ({@link
 * #onMissedPeersReached}).
 */
public final class ResyncService {
  private static final Logger LOG = LoggerFactory.getLogger(ResyncService.class);
  private static final ObjectMapper MAPPER = new ObjectMapper();
  private static final long[] RETRY_DELAYS_MILLIS = {250, 1000, 2000};
  private static final int REFERENCES_PER_REQUEST = 1000;
  // Pages fetched and parsed ahead of the one being processed.
  private static final int PAGES_AHEAD = 2;
  // How often a run waiting for a page looks whether its fetcher has ended without one.
  private static final long FETCHER_CHECK_MILLIS = 1000;
  // Copies merged per timer-thread command: a few hundred microseconds at most.
  private static final int MERGE_CHUNK = 250;
  // Copies of timers due this soon go in the urgent lane (the bulk lane may be a second behind).
  private static final long URGENT_WITHIN_MILLIS = 10_000;

  private final Clock clock;
  private final Supplier<ClusterView> view;
  private final TimerNode node;
  private final Replicator replicator;
  private final TimerRequestParser parser;
  private final int pageSize;
  private final int maxTimersPerSecond;
  // The same HTTP client as replication's and callbacks' (HttpClient 5), not a second stack that
  // a node's first resync would have to load and JIT-compile while it runs.
  private final CloseableHttpAsyncClient http;
  private final Duration requestTimeout;
  private final Duration timerThreadTimeout;
  private final ExecutorService runner;
  private final ExecutorService fetchers;
  private final AtomicInteger nodesRemaining = new AtomicInteger();
  private final Counter timersProcessed;
  private final Counter runs;
  private final Counter warmedUp;
  private final WarmUpGate warmUps;
  private final Supplier<Replicator> warmUpReplicators;
  private final List<Consumer<MissedPeersReached>> missedPeersListeners =
      new CopyOnWriteArrayList<>();
  // Retries of the start-up resync for the peers it missed: one pending at a time.
  private final ScheduledExecutorService retries;

  /** The longest wait between two retries of the start-up resync for the peers it missed. */
  static final long MAX_START_UP_RETRY_MILLIS = 10 * 60_000;

  private CompletableFuture<ResyncSummary> running;
  private CompletableFuture<ResyncSummary> queued;
  private volatile ResyncSummary last;
  // Set by startUp, before its run is handed to the resync thread.
  private CompletableFuture<Void> startedUp;
  private long firstRetryMillis;

  /**
   * The peers the start-up resync did not reach (every peer, when it failed or none ran) that no
   * run has reached since; null: none. Written on the resync thread (or by startUp, before any
   * run).
   */
  private volatile Set<String> missedSinceStart;

  // The running run if it asks only some peers (startIfIdle), which wait-sync does not wait for.
  private CompletableFuture<ResyncSummary> partial;
  private volatile long startedMillis;
  // The node is stopping: a run ends at the next peer, quietly.
  private volatile boolean stopping;

  /** The port of peers listed without one: this node's HTTP port (PROTOCOL.md section 3). */
  private final int defaultPort;

  public ResyncService(
      Clock clock,
      Supplier<ClusterView> view,
      TimerNode node,
      Replicator replicator,
      TimerRequestParser parser,
      int pageSize,
      int maxTimersPerSecond,
      Duration requestTimeout,
      Duration timerThreadTimeout,
      MetricRegistry metrics,
      WarmUpGate warmUps,
      Supplier<Replicator> warmUpReplicators,
      ScheduledExecutorService retries,
      int defaultPort) {
    this.clock = clock;
    this.retries = retries;
    this.defaultPort = defaultPort;
    this.warmUps = warmUps;
    this.warmUpReplicators = warmUpReplicators;
    this.maxTimersPerSecond = maxTimersPerSecond;
    this.view = view;
    this.node = node;
    this.replicator = replicator;
    this.parser = parser;
    this.pageSize = pageSize;
    this.requestTimeout = requestTimeout;
    this.timerThreadTimeout = timerThreadTimeout;
    this.http =
        AsyncHttp.client(
            requestTimeout.toMillis(), 4, 2, 1, "chronos-resync-io", AsyncHttp.BACKGROUND);
    http.start();
    this.runner =
        Executors.newSingleThreadExecutor(
            AsyncHttp.daemonThreads("chronos-resync", AsyncHttp.BACKGROUND));
    this.fetchers =
        Executors.newSingleThreadExecutor(
            AsyncHttp.daemonThreads("chronos-resync-fetch", AsyncHttp.BACKGROUND));
    metrics.register("chronos.resync.nodes-remaining", (Gauge<Integer>) nodesRemaining::get);
    this.timersProcessed = metrics.counter("chronos.resync.timers-processed");
    this.runs = metrics.counter("chronos.resync.runs");
    this.warmedUp = metrics.counter("chronos.resync.warm-up-timers");
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
        Run next = new Run(reason, true);
        queued = next.result;
        running.whenComplete((summary, error) -> submit(next));
      }
      return queued;
    }
    Run run = new Run(reason, false);
    running = run.result;
    submit(run);
    return running;
  }

  /**
   * A finished run: its summary, the peers it got every page from ({@code reached}), those it did
   * not (failed, or not asked because the node is stopping), and how many timers it stored from
   * each peer reached. Stored counts a timer this node held already as it was: it may have come by
   * a way that told no other site (another node's resync, a replication message, an earlier run
   * that failed after merging that peer's pages).
   */
  private record Finished(
      ResyncSummary summary,
      Set<String> reached,
      Set<String> notReached,
      Map<String, Long> storedFrom) {}

  /**
   * A run after the start-up resync reached {@code peers}, which the start-up resync missed and no
   * run had reached since, and stored {@code stored} timers from them.
   */
  public record MissedPeersReached(Set<String> peers, long stored) {}

  /**
   * Tells {@code listener} of every run after an incomplete start-up resync ({@link #startUp}) that
   * reaches a peer the start-up resync missed and no run has reached since: on the resync thread,
   * before the run's future completes. Not while the node is stopping.
   */
  public void onMissedPeersReached(Consumer<MissedPeersReached> listener) {
    missedPeersListeners.add(listener);
  }

  /**
   * The node's start-up resync, so that a restarted node gets its timers back from its peers: with
   * {@code onStart}, a run that asks every peer; without, none, and every peer counts as missed
   * (the store is what has been sent here since the start). Once it has finished, a run that
   * reaches a peer it missed is told to the listeners ({@link #onMissedPeersReached}), and with
   * {@code firstRetryMillis} above 0 (and {@code onStart}) this node resyncs from the peers it
   * missed by itself: after {@code firstRetryMillis}, then at twice the wait (up to {@link
   * #MAX_START_UP_RETRY_MILLIS}) while one is still missed and in the cluster, skipping a turn
   * while another run is running or waiting (it asks every peer anyway). Such a run is not what
   * {@link #awaitCurrent} waits for or answers, nor the last summary.
   *
   * <p>Completes once the start-up resync has finished (at once without one, or with no peers),
   * what it missed recorded; never if the node stopped first. Called once, before any other run.
   */
  public CompletableFuture<Void> startUp(boolean onStart, long firstRetryMillis) {
    CompletableFuture<Void> done = new CompletableFuture<>();
    Set<String> peers = peers();
    if (peers.isEmpty()) {
      done.complete(null);
      return done;
    }
    if (!onStart) {
      // The first re-sends to other sites lack the rest, which the operator's first resync brings.
      missed(peers, "none ran: resync.onStart is false");
      done.complete(null);
      return done;
    }
    Run run = new Run("node start", false, null, true);
    synchronized (this) {
      if (startedUp != null || running != null) {
        throw new IllegalStateException("the start-up resync is the node's first, and runs once");
      }
      startedUp = done;
      this.firstRetryMillis = firstRetryMillis;
      running = run.result;
    }
    submit(run);
    return done;
  }

  /**
   * The start-up run has finished, without reaching {@code notReached} ({@code why}): recorded, and
   * retried. Not when a stop cut it short: the re-sends to other sites that wait for it would then
   * send part of the store while the node stops. On the resync thread, before any other run.
   */
  private void startUpFinished(Set<String> notReached, String why) {
    if (stopping) {
      return;
    }
    try {
      missed(notReached, why);
      if (firstRetryMillis > 0) {
        scheduleRetry(firstRetryMillis);
      }
    } finally {
      startedUp.complete(null);
    }
  }

  /** The start-up resync did not reach {@code notReached} ({@code why}), if any. */
  private void missed(Set<String> notReached, String why) {
    if (notReached.isEmpty()) {
      return;
    }
    missedSinceStart = Set.copyOf(notReached);
    LOG.info(
        "start-up resync incomplete ({}): later resyncs that reach {} make up for it (with timers"
            + " replicated to other sites, those that answer are sent again what they bring)",
        why,
        notReached);
  }

  /**
   * The peers the start-up resync missed that no run has reached since and that are still in the
   * cluster (one taken out of it since is not waited for); empty: none.
   */
  Set<String> peersMissedSinceStart() {
    Set<String> missed = missedSinceStart;
    if (missed == null) {
      return Set.of();
    }
    ClusterView v = view.get();
    Set<String> still = new LinkedHashSet<>(missed);
    still.removeIf(peer -> !v.oldCluster().contains(peer) && !v.newCluster().contains(peer));
    return still;
  }

  /**
   * A run other than the start-up one finished: the missed peers it reached are missed no more, and
   * if there were any, the listeners are told. Resync thread.
   */
  private void afterRun(Finished finished) {
    Set<String> owed = missedSinceStart;
    if (owed == null || stopping) {
      return;
    }
    Set<String> still = peersMissedSinceStart();
    still.removeAll(finished.reached());
    missedSinceStart = still.isEmpty() ? null : Set.copyOf(still);
    Set<String> newlyReached = new LinkedHashSet<>(owed);
    newlyReached.retainAll(finished.reached());
    String after =
        still.isEmpty()
            ? "every peer the start-up resync missed has been reached since"
            : "still not reached since the start: " + still;
    if (newlyReached.isEmpty()) {
      LOG.info(
          "resync after an incomplete start-up resync: it reached no peer the start-up resync"
              + " missed; {}",
          after);
      return;
    }
    long stored = 0;
    for (String peer : newlyReached) {
      stored += finished.storedFrom().getOrDefault(peer, 0L);
    }
    LOG.info(
        "resync after an incomplete start-up resync reached {}, which the start-up resync missed,"
            + " and stored {} timers from them; {}",
        newlyReached,
        stored,
        after);
    MissedPeersReached reached = new MissedPeersReached(Set.copyOf(newlyReached), stored);
    for (Consumer<MissedPeersReached> listener : missedPeersListeners) {
      try {
        listener.accept(reached);
      } catch (Throwable e) {
        LOG.error("a listener of resyncs that reach peers the start-up resync missed failed", e);
      }
    }
  }

  /**
   * Resyncs from the peers the start-up resync missed, and that no run has reached since, in {@code
   * delayMillis}, then again at twice the wait while one is still missed: a node restarted while a
   * peer was unreachable otherwise held one copy fewer of that peer's timers until an operator ran
   * a resync. Not once the node is stopping.
   */
  private void scheduleRetry(long delayMillis) {
    Set<String> missed = peersMissedSinceStart();
    if (missed.isEmpty() || stopping) {
      return;
    }
    LOG.info(
        "the start-up resync missed {}: this node resyncs from them in {} s (resync.startUpRetry)",
        missed,
        delayMillis / 1000.0);
    long nextMillis = Math.min(2 * delayMillis, MAX_START_UP_RETRY_MILLIS);
    try {
      retries.schedule(() -> retry(nextMillis), delayMillis, TimeUnit.MILLISECONDS);
    } catch (RejectedExecutionException e) {
      // The node is stopping.
    }
  }

  /**
   * A retry's turn: a run from the peers still missed that answer {@code GET /ping}, unless another
   * run is running or waiting. With none answering, no run: against a host that drops packets, a
   * run would hold the resync thread (and any resync an operator asks for meanwhile) for every
   * attempt at every page request, some 40 s at the default {@code resync.requestTimeout}, every
   * turn while the peer is down; the probe waits on this scheduler's thread instead, once.
   */
  private void retry(long nextMillis) {
    Set<String> still = peersMissedSinceStart();
    if (still.isEmpty() || stopping) {
      return;
    }
    if (busy()) {
      skipWhileBusy(still, nextMillis);
      return;
    }
    Set<String> answering = answeringHttp(still);
    if (stopping) {
      return;
    }
    if (answering.isEmpty()) {
      LOG.info("retry of the start-up resync skips its turn: none of {} answers GET /ping", still);
      scheduleRetry(nextMillis);
      return;
    }
    CompletableFuture<ResyncSummary> run =
        startIfIdle("retry of the start-up resync for the peers it missed", answering);
    if (run == null) {
      skipWhileBusy(still, nextMillis); // one started while the peers were asked
      return;
    }
    run.whenComplete((summary, e) -> scheduleRetry(nextMillis));
  }

  private void skipWhileBusy(Set<String> still, long nextMillis) {
    LOG.info(
        "retry of the start-up resync for {} skips its turn: another resync is running or"
            + " waiting, and asks every peer",
        still);
    scheduleRetry(nextMillis);
  }

  /** Whether a run is running or waiting. */
  private synchronized boolean busy() {
    return (running != null && !running.isDone()) || queued != null;
  }

  /**
   * The peers of {@code peers} that answer {@code GET /ping} with any HTTP answer within {@code
   * resync.requestTimeout}, asked at once, each once: one that does not is down, or cut off. On a
   * client of its own with a connection for each peer: on the resync's (four connections), four
   * silent peers held every connection until the deadline, and a peer that answers behind them was
   * taken for down at every turn (helper-74). Package-private for tests.
   */
  Set<String> answeringHttp(Set<String> peers) {
    CloseableHttpAsyncClient probe =
        AsyncHttp.client(
            requestTimeout.toMillis(),
            Math.max(1, peers.size()),
            1,
            1,
            "chronos-resync-probe",
            AsyncHttp.BACKGROUND);
    try {
      probe.start();
      Map<String, Future<Message<HttpResponse, byte[]>>> probes = new java.util.LinkedHashMap<>();
      for (String peer : peers) {
        probes.put(
            peer,
            probe.execute(
                AsyncRequestBuilder.get(url(peer) + "/ping").build(),
                new BasicResponseConsumer<>(new BasicAsyncEntityConsumer()),
                null));
      }
      long deadline = System.nanoTime() + requestTimeout.toNanos();
      Set<String> answering = new LinkedHashSet<>();
      for (Map.Entry<String, Future<Message<HttpResponse, byte[]>>> each : probes.entrySet()) {
        try {
          each.getValue().get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
          answering.add(each.getKey());
        } catch (ExecutionException | TimeoutException | CancellationException e) {
          LOG.debug("{} does not answer GET /ping: {}", each.getKey(), e.toString());
        }
      }
      return answering;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt(); // the node is stopping (its scheduler shut down)
      return Set.of();
    } finally {
      probe.close(CloseMode.IMMEDIATE); // and with it any probe still waiting
    }
  }

  /**
   * Starts a resync from {@code only} of the peers, if no run is running or waiting: one that is
   * asks every peer anyway. Its future, or null if none was started.
   */
  private synchronized CompletableFuture<ResyncSummary> startIfIdle(
      String reason, Set<String> only) {
    if (busy()) {
      return null;
    }
    Run run = new Run(reason, false, Set.copyOf(only), false);
    running = run.result;
    partial = run.result;
    submit(run);
    return running;
  }

  /**
   * A task of the resync thread that a stop may drop before it runs: told so, it lets go of what it
   * holds and answers whoever waits for it.
   */
  interface Droppable extends Runnable {
    void dropped();
  }

  /** One run, completing {@code result}; {@code next}: it was queued behind the running one. */
  private final class Run implements Droppable {
    final CompletableFuture<ResyncSummary> result = new CompletableFuture<>();
    private final String reason;
    private final boolean next;
    private final Set<String> only; // null: every peer
    private final boolean startUp; // the node's start-up resync

    Run(String reason, boolean next) {
      this(reason, next, null, false);
    }

    Run(String reason, boolean next, Set<String> only, boolean startUp) {
      this.reason = reason;
      this.next = next;
      this.only = only;
      this.startUp = startUp;
    }

    @Override
    public void run() {
      if (next) {
        synchronized (ResyncService.this) {
          running = result;
          queued = null;
        }
      }
      Finished finished = null;
      Throwable failure = null;
      try {
        finished = ResyncService.this.run(reason, only);
      } catch (Throwable e) {
        // A run started by the node itself or by SIGUSR1 has nobody waiting for its answer.
        LOG.error("resync ({}) failed", reason, e);
        failure = e;
      }
      // Before the run's future completes, and so before any run asked for meanwhile starts.
      try {
        if (startUp) {
          startUpFinished(
              finished == null ? peers() : finished.notReached(),
              finished == null
                  ? "it failed: " + failure
                  : "peers not reached: " + finished.summary().failures());
        } else if (finished != null) {
          afterRun(finished);
        }
      } catch (Throwable e) {
        // The run's future completes whatever happened here: wait-sync and a queued run wait on it.
        LOG.error("keeping track of the peers the start-up resync missed failed", e);
      }
      if (finished == null) {
        result.completeExceptionally(failure);
      } else {
        result.complete(finished.summary());
      }
    }

    @Override
    public void dropped() {
      result.completeExceptionally(notRun());
    }
  }

  private static CancellationException notRun() {
    return new CancellationException("resync not run: the node is stopping");
  }

  /** Hands a task to the resync thread; refused (the node stopping), it is dropped. */
  private void submit(Droppable task) {
    try {
      runner.execute(task);
    } catch (RejectedExecutionException e) {
      task.dropped();
    }
  }

  /**
   * Runs this node's resync code on {@code timers} made-up timers ({@link ResyncWarmUp}), so that a
   * real run later finds it compiled; 0 does nothing. One page at a time on the resync thread,
   * queued behind any run already asked for (the start-up resync goes first), and a run asked for
   * meanwhile waits for one page at most. Completes with how many timers it went through: fewer if
   * a round went wrong (logged; the warm-up then stops) or the node stopped.
   */
  public CompletableFuture<Long> warmUp(int timers) {
    if (timers <= 0) {
      return CompletableFuture.completedFuture(0L);
    }
    return ResyncWarmUp.run(
        () ->
            new ResyncWarmUp(
                this, clock, view.get().localAddress(), Math.min(pageSize, timers), pageSize),
        timers,
        runner,
        warmedUp::inc);
  }

  /**
   * Waits for the running resync, if any, without starting one; the last summary, or null. A run
   * that asks only some peers ({@link #startIfIdle}) is neither waited for nor answered: the last
   * summary is of a run that asked every peer.
   */
  public CompletableFuture<ResyncSummary> awaitCurrent() {
    CompletableFuture<ResyncSummary> current;
    synchronized (this) {
      current = queued != null ? queued : running;
      if (current != null && current == partial) {
        current = null;
      }
    }
    return current == null
        ? CompletableFuture.completedFuture(last)
        : current.exceptionally(e -> last);
  }

  /** The nodes a resync would ask now: every node of the old and new cluster but this one. */
  private Set<String> peers() {
    return peers(view.get());
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

  /** The last finished run's summary, or null: of a run that asked every peer. */
  public ResyncSummary lastSummary() {
    return last;
  }

  public long startedMillis() {
    return startedMillis;
  }

  public int nodesRemaining() {
    return nodesRemaining.get();
  }

  /**
   * Stops the resync threads. The run under way ends at once (as cut short); a run or warm-up round
   * still queued never runs, and whoever waits for it is answered, so that an open {@code POST
   * /tasks/resync} returns and a dropped warm-up round closes its replicator.
   */
  public void stop() {
    stopping = true;
    // A retry waiting for its turn would otherwise hold the node's stop for the scheduler's grace.
    retries.shutdownNow();
    for (Runnable task : runner.shutdownNow()) {
      if (task instanceof Droppable d) {
        d.dropped();
      }
    }
    CompletableFuture<ResyncSummary> next;
    synchronized (this) {
      next = queued;
    }
    if (next != null) {
      // Also handed to the resync thread once the running one ends, which it then refuses.
      next.completeExceptionally(notRun());
    }
    // A fetcher dropped before it started is cancelled, so a run waiting for its pages sees it
    // ended (nextFromFetcher) even if that run's interrupt were lost.
    for (Runnable dropped : fetchers.shutdownNow()) {
      if (dropped instanceof Future<?> f) {
        f.cancel(false);
      }
    }
    http.close(CloseMode.GRACEFUL);
  }

  private Finished run(String reason, Set<String> only) {
    startedMillis = clock.millis();
    runs.inc();
    ClusterView v = view.get();
    Set<String> peers = peers(v);
    if (only != null) {
      peers.retainAll(only);
    }
    LOG.info(
        "resync started ({}): {} nodes to ask, cluster view {}", reason, peers.size(), v.viewId());
    // Timers the store forgets from now on stand in for it while pages are merged. (The timer
    // thread takes commands in order: this one and resyncFinished's balance whenever they run.)
    CompletableFuture<Void> remembering = node.resyncStarting();
    try {
      String cannotStart = null;
      try {
        awaitTimerThread(remembering, "start remembering forgotten timers");
      } catch (ResyncException e) {
        cannotStart = e.getMessage();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        cannotStart = "interrupted";
      }
      return run(reason, v, peers, only, cannotStart);
    } finally {
      node.resyncFinished();
    }
  }

  /**
   * Waits for the timer thread to finish a command of this resync, at most {@code
   * resync.timerThreadTimeout}: a node whose timer thread is stuck reports it rather than hang the
   * run and everyone waiting for it.
   */
  private void awaitTimerThread(CompletableFuture<?> command, String what)
      throws ResyncException, InterruptedException {
    try {
      command.get(timerThreadTimeout.toMillis(), TimeUnit.MILLISECONDS);
    } catch (java.util.concurrent.TimeoutException e) {
      throw new ResyncException(
          "this node's timer thread did not "
              + what
              + " within "
              + timerThreadTimeout.toMillis()
              + " ms (resync.timerThreadTimeout)");
    } catch (java.util.concurrent.ExecutionException e) {
      if (e.getCause() instanceof InterruptedException) {
        // Interrupted while handing the command over: the node is stopping, not the timer thread.
        Thread.currentThread().interrupt();
        throw new InterruptedException();
      }
      throw new ResyncException("this node's timer thread failed to " + what + ": " + e.getCause());
    }
  }

  /** Why a run ends before a peer: the node is stopping (the resync threads are interrupted). */
  private static final String CUT_SHORT = "not resynced: the node is stopping";

  private boolean stoppingOrInterrupted() {
    return stopping || Thread.currentThread().isInterrupted();
  }

  /**
   * @param cannotStart why no peer can be asked (every peer is then reported failed with it), or
   *     null
   */
  private Finished run(
      String reason, ClusterView v, Set<String> peers, Set<String> only, String cannotStart) {
    Tally tally = new Tally();
    Set<String> notReached = new LinkedHashSet<>();
    nodesRemaining.set(peers.size());
    List<String> failures = new ArrayList<>();
    int contacted = 0;
    // Peers not resynced because the node is stopping: not failures worth a line each, one line
    // for them all.
    int cutShort = 0;
    Map<String, Long> storedFrom = new java.util.HashMap<>();
    for (String peer : peers) {
      boolean cut = cutShort > 0 || stoppingOrInterrupted();
      String failure = null;
      try {
        if (!cut) {
          if (cannotStart != null) {
            throw new ResyncException("not asked: " + cannotStart);
          }
          contacted++;
          long storedBefore = tally.stored.get();
          resyncFrom(peer, v, tally);
          // Its pages are merged by now (each awaited); copies sent on may still be under way.
          storedFrom.put(peer, tally.stored.get() - storedBefore);
        }
      } catch (ResyncException e) {
        cut = stoppingOrInterrupted();
        if (!cut) {
          failure = e.getMessage();
          LOG.warn("resync from {} failed: {}", peer, failure);
        }
      } catch (InterruptedException e) {
        // Stopping: the resync threads are interrupted (and the fetchers' executor shut down,
        // whose refusal, a RuntimeException, counts as the stop below only while stopping).
        Thread.currentThread().interrupt();
        cut = true;
      } catch (RuntimeException e) {
        cut = stoppingOrInterrupted();
        if (!cut) {
          failure = e.toString();
          LOG.error("resync from {} failed", peer, e);
        }
      } finally {
        nodesRemaining.decrementAndGet();
      }
      if (cut) {
        cutShort++;
        failures.add(peer + ": " + CUT_SHORT);
        notReached.add(peer);
      } else if (failure != null) {
        failures.add(peer + ": " + failure);
        notReached.add(peer);
      }
    }
    nodesRemaining.set(0);
    try {
      // The run is over when its copies have reached the other replicas, not when queued.
      tally.awaitCopies();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    ResyncSummary summary =
        new ResyncSummary(
            contacted,
            failures.size(),
            tally.received.get(),
            tally.stored.get(),
            tally.superseded.get(),
            tally.replicated.get(),
            tally.tombstoned.get(),
            tally.copiesFailed.get(),
            tally.malformed.get(),
            clock.millis() - startedMillis,
            List.copyOf(failures));
    if (only == null) {
      last = summary;
    }
    if (cutShort > 0) {
      LOG.info(
          "resync cut short by the node stopping ({}): {} of {} nodes not resynced; {}",
          reason,
          cutShort,
          peers.size(),
          summary);
    } else {
      LOG.info("resync finished ({}): {}", reason, summary);
    }
    Set<String> reached = new LinkedHashSet<>(peers);
    reached.removeAll(notReached);
    return new Finished(
        summary, Set.copyOf(reached), Set.copyOf(notReached), Map.copyOf(storedFrom));
  }

  private static final class Tally {
    final AtomicLong received = new AtomicLong();
    final AtomicLong stored = new AtomicLong();
    final AtomicLong replicated = new AtomicLong();
    final AtomicLong tombstoned = new AtomicLong();
    final AtomicLong malformed = new AtomicLong();
    final AtomicLong copiesFailed = new AtomicLong();
    final AtomicLong superseded = new AtomicLong();
    private final AtomicLong copiesPending = new AtomicLong();

    /**
     * Queues copies in the replicator's urgent lane as snapshots up to {@code lateByMillis} late,
     * counting them until their outcome. Never blocks (the timer thread calls it).
     */
    void sendUrgent(
        Replicator replicator, List<String> to, String path, byte[] body, long lateByMillis) {
      for (String peer : to) {
        copiesPending.incrementAndGet();
        replicator.sendResyncCopy(List.of(peer), path, body, lateByMillis * 1000, this::delivered);
      }
    }

    /**
     * Queues copies in the replicator's bulk lane once it has room; otherwise as above. One call
     * for every peer, so each is told the time since the body was written, waits for room included:
     * a call per peer told the second peer its copy was written after the wait for the first's
     * room, and it took the copy's start to be that much later. (Interrupted, the run is over, and
     * copies not queued are still counted: nothing waits for them.)
     */
    void sendBulk(
        Replicator replicator, List<String> to, String path, byte[] body, long lateByMillis)
        throws InterruptedException {
      if (to.isEmpty()) {
        return;
      }
      copiesPending.addAndGet(to.size());
      replicator.sendBulk(to, path, body, lateByMillis * 1000, this::delivered);
    }

    private void delivered(String peer, boolean ok) {
      if (!ok) {
        copiesFailed.incrementAndGet();
      }
      if (copiesPending.decrementAndGet() == 0) {
        synchronized (this) {
          notifyAll();
        }
      }
    }

    /**
     * Waits until every copy sent was delivered or given up on (after the replicator's retries).
     */
    synchronized void awaitCopies() throws InterruptedException {
      while (copiesPending.get() > 0) {
        wait();
      }
    }
  }

  /**
   * One timer of a page, parsed by the fetcher, with when the peer wrote the page at the latest
   * (what its start-time deltas count from); {@code callbackOut}: the peer was making the copy's
   * next pop as it wrote the page ({@link ResyncSource#CALLBACK_OUT_FIELD}).
   */
  private record Entry(
      long id,
      List<String> oldReplicas,
      TimerRequest request,
      long popTime,
      long writtenMillis,
      boolean callbackOut) {}

  /** What to do with one entry: store it here or not, and which nodes to send it to. */
  private record Plan(
      Entry entry,
      Timer copy,
      boolean store,
      int newIndex,
      List<String> replicateTo,
      List<String> tombstoneTo) {
    boolean sendsOn() {
      return !replicateTo.isEmpty() || !tombstoneTo.isEmpty();
    }
  }

  /**
   * A page as the fetcher hands it on; {@code last} after a 200. {@code transitMillis}: from its
   * request to the moment its start-time deltas are counted from; the peer wrote it in between, so
   * its copies may start up to that much later than the peer's.
   */
  private record FetchedPage(List<Entry> entries, boolean last, long transitMillis) {}

  /**
   * A peer's answer, when the request that got it was sent (by this node's clock), and the time the
   * peer says it held the answer after writing it ({@link Replicator#HELD_HEADER}, 0 if none), and
   * for a page the {@code time-from} of the next ({@link ResyncSource#NEXT_TIME_FROM_HEADER}; null
   * if it had none: an original node, or not a page).
   */
  private record Answer(
      int status, byte[] body, long sentMillis, long heldMicros, Long nextTimeFrom) {}

  /** The fetcher stopped: the reason, handed on after the pages before it. */
  private record FetchFailed(ResyncException reason) {}

  /**
   * Pages through a peer's listing. A fetcher thread asks for each page, parses it and asks for the
   * next as soon as it knows where that starts, while this thread processes the page before it:
   * stores, sends copies (waiting for room in the replicator's bulk lane, which paces the run to
   * what the peers absorb) and merges. At most {@link #PAGES_AHEAD} pages wait in between.
   */
  private void resyncFrom(String peer, ClusterView v, Tally tally)
      throws ResyncException, InterruptedException {
    String local = v.localAddress();
    List<long[]> references = new ArrayList<>();
    BlockingQueue<Object> pages = new ArrayBlockingQueue<>(PAGES_AHEAD);
    Future<?> fetcher = fetchers.submit(() -> fetchAll(peer, v, null, tally, pages));
    long startedNanos = System.nanoTime();
    long taken = 0;
    try {
      while (true) {
        Object next = nextFromFetcher(pages, fetcher);
        if (next instanceof FetchFailed failed) {
          throw failed.reason();
        }
        FetchedPage page = (FetchedPage) next;
        List<Plan> plans = plans(page.entries(), local, tally, peer);
        apply(plans, page.transitMillis(), references, tally);
        if (page.last()) {
          break;
        }
        taken += page.entries().size();
        pace(startedNanos, taken);
      }
    } finally {
      fetcher.cancel(true);
    }
    sendReferences(peer, references, null);
  }

  /**
   * The fetcher's next page or failure. Should the fetcher end without handing either on (a failure
   * while it handed one on), the peer fails rather than the run waiting for it forever.
   */
  private static Object nextFromFetcher(BlockingQueue<Object> pages, Future<?> fetcher)
      throws InterruptedException, ResyncException {
    while (true) {
      Object next = pages.poll(FETCHER_CHECK_MILLIS, TimeUnit.MILLISECONDS);
      if (next != null) {
        return next;
      }
      if (fetcher.isDone()) {
        // What it put before it ended is there to take by now.
        next = pages.poll();
        if (next != null) {
          return next;
        }
        String why;
        try {
          fetcher.get();
          why = "without a page or a reason";
        } catch (ExecutionException e) {
          why = String.valueOf(e.getCause());
        } catch (CancellationException e) {
          why = "cancelled";
        }
        throw new ResyncException("page fetch ended: " + why);
      }
    }
  }

  /** Waits until {@code taken} timers are within {@code resync.maxTimersPerSecond} of the start. */
  private void pace(long startedNanos, long taken) throws InterruptedException {
    if (maxTimersPerSecond <= 0) {
      return;
    }
    long dueNanos = startedNanos + taken * 1_000_000_000L / maxTimersPerSecond;
    long waitNanos = dueNanos - System.nanoTime();
    if (waitNanos > 0) {
      TimeUnit.NANOSECONDS.sleep(waitNanos);
    }
  }

  /**
   * The fetcher: pages in order onto {@code pages}, ending with the last page or a failure. With a
   * {@code warmUpMark} the requests are this node's warm-up ({@link WarmUpGate}), and the timers
   * count in no metric.
   */
  private void fetchAll(
      String peer, ClusterView v, Header warmUpMark, Tally tally, BlockingQueue<Object> pages) {
    try {
      // Where the next page starts: for our peers the listing's pop time (a header the original
      // ignores), for an original the offset from its clock it expects as time-from.
      Long timeFrom = null;
      long maxPopKey = Long.MIN_VALUE;
      long roundTrip = 0;
      Set<Long> lastIds = Set.of();
      // The last page's timers that the next one must hold again, as they lie in its overlap: if
      // none comes back, the request reached the original later than reckoned (see below).
      Map<Long, Long> lastTail = Map.of(); // id -> pop time
      long reachBack = 0; // further back than originalTimeFrom, for a request asked again
      int gapRetries = 0;
      int range = pageSize;
      while (true) {
        Long cursor = timeFrom;
        long lastPopKey = maxPopKey;
        long lastRoundTrip = roundTrip;
        int askFor = range;
        long extraMillis = reachBack;
        Answer answer;
        try {
          answer =
              sendWithRetries(
                  () -> {
                    // With sync-mode, which older originals require, and time-from as the
                    // original reads it, from the clock now (a page may wait here, and a retry
                    // comes later still). '&' between the parameters: the original writes ';',
                    // and its HTTP library, like ours, reads both.
                    String query =
                        "node-for-replicas="
                            + queryValue(v.localAddress())
                            + "&cluster-view-id="
                            + v.viewId()
                            + "&sync-mode=SCALE"
                            + (cursor == null
                                ? ""
                                : "&time-from="
                                    + originalTimeFrom(
                                        lastPopKey - extraMillis, clock.millis(), lastRoundTrip));
                    AsyncRequestBuilder get =
                        AsyncRequestBuilder.get(url(peer) + "/timers?" + query)
                            .addHeader("Range", Integer.toString(askFor))
                            // Pages as they are: a peer has better uses for its CPU than
                            // compressing half a megabyte a page for a link within the site.
                            .addHeader("Accept-Encoding", "identity");
                    if (cursor != null) {
                      get.addHeader(ResyncSource.TIME_FROM_HEADER, Long.toString(cursor));
                    }
                    return marked(get, warmUpMark);
                  });
        } catch (ResyncException e) {
          pages.put(new FetchFailed(e));
          return;
        }
        // Start-time deltas count from when the peer wrote the page: at the latest its arrival
        // (now, not when the page is processed) less the time the peer says it took to send it
        // (0 from an original node), and never before the request went out.
        long received = clock.millis();
        long written = Math.max(answer.sentMillis(), received - answer.heldMicros() / 1000);
        int status = answer.status();
        if (status != 200 && status != 206) {
          pages.put(
              new FetchFailed(
                  new ResyncException(
                      "GET /timers answered " + status + ": " + abbreviate(answer.body()))));
          return;
        }
        ParsedPage parsed;
        try {
          parsed = parsePage(answer.body(), written, tally, peer);
        } catch (ResyncException e) {
          pages.put(new FetchFailed(e));
          return;
        }
        if (warmUpMark == null) {
          timersProcessed.inc(parsed.items());
        }
        long maxPopTime = parsed.maxPopTime();
        boolean last = status == 200;
        // An original's page, last or not, that holds none of the last page's latest timers
        // (which lie in its overlap): the request reached it later than a round trip and
        // ORIGINAL_OVERLAP_MILLIS allow (a pause on either side), and the timers due in between
        // were skipped. Asked again from further back, reckoning with this request's round trip.
        Set<Long> ids = answer.nextTimeFrom() == null ? idsOf(parsed) : Set.of();
        boolean skipped = skippedPast(lastTail, ids, parsed, last, lastPopKey);
        boolean askAgain = skipped && gapRetries < MAX_GAP_RETRIES;
        pages.put(
            new FetchedPage(parsed.entries(), last && !askAgain, written - answer.sentMillis()));
        if (askAgain) {
          gapRetries++;
          reachBack = reachBack == 0 ? GAP_REACH_BACK_MILLIS : 2 * reachBack;
          LOG.info(
              "resync from {}: a page skipped past the last one's end; asking again from {} ms"
                  + " further back",
              peer,
              reachBack);
          maxPopKey = lastPopKey;
          roundTrip = Math.max(lastRoundTrip, Math.max(0, received - answer.sentMillis()));
          continue;
        }
        if (skipped) {
          // Timers gone since the last page (last pops, deletions) look the same: said, not
          // failed.
          LOG.warn(
              "resync from {}: the page after pop time {} held none of the last page's latest"
                  + " timers, even asked for {} times from further back; timers due just after it"
                  + " may be missing here until the next resync",
              peer,
              lastPopKey,
              MAX_GAP_RETRIES);
        }
        if (last) {
          return;
        }
        maxPopKey = parsed.maxPopKey();
        roundTrip = Math.max(0, received - answer.sentMillis());
        if (answer.nextTimeFrom() != null) {
          // Our peer says where its listing goes on: the page's own pop times may be later than
          // timers it has yet to serve (ResyncSource.NEXT_TIME_FROM_HEADER).
          timeFrom = answer.nextTimeFrom();
          if (cursor != null && timeFrom <= cursor) {
            pages.put(notAdvancing("the next page's time-from is " + timeFrom, cursor));
            return;
          }
          continue;
        }
        if (maxPopTime == Long.MIN_VALUE) {
          // A 206 without a usable timer gives no pop time to continue from: say so, rather
          // than end as if the peer had nothing more.
          pages.put(
              new FetchFailed(
                  new ResyncException("206 page without timers: cannot continue paging")));
          return;
        }
        // Asked for what comes after the last page, a peer that sends none but timers of that
        // page would send the same page for ever. (Pop times cannot tell: each copy of the page
        // counts its starts from its own arrival.) Asked again from the same place for more, it
        // gets past them, unless it is broken.
        if (lastIds.containsAll(ids)) {
          if (range >= Math.max(MAX_RANGE_PAGES * pageSize, MAX_RANGE_TIMERS)) {
            pages.put(
                notAdvancing(
                    "pages of up to " + range + " timers held only timers of the page before",
                    maxPopKey));
            return;
          }
          range *= 2;
          maxPopKey = lastPopKey;
          roundTrip = lastRoundTrip;
          continue;
        }
        reachBack = 0;
        gapRetries = 0;
        // The range stays as grown: set back, a peer that is stuck would send the same growing
        // pages over and over before it is found out.
        lastIds = ids;
        // The tail: the latest timers, by id with their pop times.
        lastTail = new java.util.HashMap<>();
        for (Entry e : parsed.entries()) {
          if (popKey(e, peer) >= maxPopKey - ORIGINAL_OVERLAP_MILLIS / 2) {
            lastTail.put(e.id(), e.popTime());
          }
        }
        timeFrom = maxPopTime;
      }
    } catch (InterruptedException e) {
      // The run stopped waiting for pages.
    } catch (RuntimeException | Error e) {
      // An Error too (out of memory parsing a large page): logged here and handed to the run as
      // this peer's failure, rather than kept by the executor.
      LOG.error("resync page fetch from {} failed", peer, e);
      try {
        // Put, as every other ending is: with the queue full, an offer would drop the failure and
        // leave the run waiting for a page that never comes (the run cancels this thread when it
        // stops taking).
        pages.put(new FetchFailed(new ResyncException("page fetch failed: " + e)));
      } catch (InterruptedException stopped) {
        Thread.currentThread().interrupt();
      }
    }
  }

  /**
   * An address as a query parameter: encoded, but for the ':' before its port, which a query may
   * hold as it is and the original writes so (not every release of its HTTP library decodes a
   * parameter before comparing it with its cluster's addresses).
   */
  static String queryValue(String address) {
    return URLEncoder.encode(address, StandardCharsets.UTF_8).replace("%3A", ":");
  }

  private static Set<Long> idsOf(ParsedPage page) {
    Set<Long> ids = new HashSet<>();
    page.entries().forEach(e -> ids.add(e.id()));
    return ids;
  }

  /** A peer's pages that do not get further: the run reports the peer failed and goes on. */
  private static FetchFailed notAdvancing(String what, long cursor) {
    return new FetchFailed(
        new ResyncException(
            "206 pages do not advance (" + what + ", after " + cursor + "); paging stopped"));
  }

  /**
   * A page's entries, how many items it held (malformed ones too), the latest pop time, and the
   * latest pop time as the peer orders its timers (with its own replica delay, see {@link
   * #originalTimeFrom}).
   */
  private record ParsedPage(List<Entry> entries, int items, long maxPopTime, long maxPopKey) {}

  /**
   * How much further back than the last page's end the next {@code time-from} to an original node
   * reaches, beyond the round trips: for a request slower to reach it than the last (a new
   * connection, a pause here between reading the clock and sending).
   */
  static final long ORIGINAL_OVERLAP_MILLIS = 50;

  /**
   * How far {@code Range} grows, in pages, when an original node's page brings no timer the page
   * before had not: the timers between {@code time-from} and that page's end fill a page (the
   * overlap above, a run of equal pop times, a peer that orders by a later delay than this node
   * reckons), and only a longer page gets past them.
   */
  static final int MAX_RANGE_PAGES = 16;

  /**
   * How much further back, beyond the round trips, a request is asked again when its page skipped
   * past the last one's (doubled for each time more, {@link #MAX_GAP_RETRIES} at most).
   */
  static final long GAP_REACH_BACK_MILLIS = 50;

  static final int MAX_GAP_RETRIES = 4;

  /**
   * A tail timer due within this long of the check may have popped since the last page (a timer
   * popped for the last time is gone, one that repeats moved on): it says nothing of a skip.
   */
  static final long TAIL_NOT_BEFORE_MILLIS = 1000;

  /**
   * Whether an original's page skipped past the last one's end: it holds none of the last page's
   * tail timers still due (they lie in its overlap), and it reaches as far as they do, or is the
   * last page. (A page that stops short of them, in a stretch denser than a page, is no skip.)
   */
  private boolean skippedPast(
      Map<Long, Long> lastTail, Set<Long> ids, ParsedPage page, boolean last, long lastPopKey) {
    if (lastTail.isEmpty()
        || (!last && page.maxPopKey() < lastPopKey - ORIGINAL_OVERLAP_MILLIS / 2)) {
      return false;
    }
    // Any tail timer not yet due that came back shows the page did not skip past it (one due
    // already may have popped and come back at a later pop time); only the absence of those still
    // due a second on says it did.
    long now = clock.millis();
    boolean anyDue = false;
    for (Map.Entry<Long, Long> t : lastTail.entrySet()) {
      if (t.getValue() > now && ids.contains(t.getKey())) {
        return false;
      }
      anyDue |= t.getValue() >= now + TAIL_NOT_BEFORE_MILLIS;
    }
    return anyDue;
  }

  /** How far {@code Range} may grow at least, whatever the page size (small pages run out soon). */
  static final int MAX_RANGE_TIMERS = 16_000;

  /**
   * The {@code time-from} an original node expects for the page after one whose latest pop time, as
   * it orders its timers, is {@code maxPopKey}: an offset in ms from its clock when it gets the
   * request, as an unsigned 32-bit number, after that pop time (it never splits a run of equal
   * ones). From {@code nowMillis}, when the request goes (a page may wait for room first, and a
   * retry comes later still), less twice the last request's round trip and {@link
   * #ORIGINAL_OVERLAP_MILLIS}: the key counts from the page's arrival, up to a round trip after the
   * original read its clock for it, and this request may take longer to reach it than the last did.
   * A timer may then come twice, rather than not at all.
   */
  static long originalTimeFrom(long maxPopKey, long nowMillis, long roundTripMillis) {
    if (maxPopKey == Long.MIN_VALUE) {
      return 0;
    }
    long offset = maxPopKey - nowMillis + 1 - 2 * roundTripMillis - ORIGINAL_OVERLAP_MILLIS;
    long clamped = Math.max(Integer.MIN_VALUE, Math.min(Integer.MAX_VALUE, offset));
    return clamped & 0xFFFF_FFFFL;
  }

  /**
   * Parses a page's body; a malformed entry is counted and skipped, a body that is no page fails.
   * {@code writtenMillis}: when the peer wrote it at the latest (start-time deltas count from it).
   */
  private ParsedPage parsePage(byte[] body, long writtenMillis, Tally tally, String peer)
      throws ResyncException {
    JsonNode timers;
    try {
      timers = MAPPER.readTree(body).get("Timers");
    } catch (IOException e) {
      tally.malformed.incrementAndGet();
      throw new ResyncException("malformed page: " + e.getMessage());
    }
    if (timers == null || !timers.isArray()) {
      tally.malformed.incrementAndGet();
      throw new ResyncException("malformed page: no Timers list");
    }
    List<Entry> entries = new ArrayList<>(timers.size());
    long maxPopTime = Long.MIN_VALUE;
    long maxPopKey = Long.MIN_VALUE;
    for (JsonNode item : timers) {
      tally.received.incrementAndGet();
      try {
        Entry entry = parse(item, writtenMillis);
        entries.add(entry);
        maxPopTime = Math.max(maxPopTime, entry.popTime());
        maxPopKey = Math.max(maxPopKey, popKey(entry, peer));
      } catch (BadRequestException | RuntimeException e) {
        tally.malformed.incrementAndGet();
        LOG.debug("skipping malformed timer from {}: {}", peer, e.getMessage());
      }
    }
    return new ParsedPage(entries, timers.size(), maxPopTime, maxPopKey);
  }

  /**
   * The entry's pop time as {@code peer} orders its timers: it pops its copy after its place in the
   * old replicas (last if it is none). (Not counted: a site's delay, which only makes timers come
   * twice.)
   */
  private static long popKey(Entry entry, String peer) {
    int place = entry.oldReplicas().indexOf(peer);
    place = place < 0 ? entry.oldReplicas().size() : place;
    return entry.popTime() + (long) TimerNode.REPLICA_DELAY_MILLIS * place;
  }

  /** The replica-level rules applied to a page's entries; a timer they reject is counted. */
  private List<Plan> plans(List<Entry> entries, String local, Tally tally, String peer) {
    List<Plan> plans = new ArrayList<>(entries.size());
    for (Entry entry : entries) {
      try {
        plans.add(plan(entry, local));
      } catch (BadRequestException | RuntimeException e) {
        tally.malformed.incrementAndGet();
        LOG.debug("skipping malformed timer from {}: {}", peer, e.getMessage());
      }
    }
    return plans;
  }

  /** What {@link #rehearse} went through. */
  record Rehearsal(long received, long malformed, int planned, int copies) {}

  /**
   * For {@link ResyncWarmUp}: what a run does with a page once it has it, short of merging or
   * sending anything, on the calling thread: parse the page, apply the replica rules, hand {@code
   * stores} each copy this node would store, write each copy it would send on and the references it
   * would send back; then what the receiver of the copies does before merging them (decode the
   * batch, parse each copy). Touches neither this node's store nor the network, and counts in no
   * metric.
   */
  Rehearsal rehearse(byte[] page, String local, Consumer<Timer> stores)
      throws ResyncException, InterruptedException {
    Tally tally = new Tally();
    long now = clock.millis();
    ParsedPage parsed = parsePage(page, now, tally, "(warm-up)");
    List<Plan> plans = plans(parsed.entries(), local, tally, "(warm-up)");
    List<String> paths = new ArrayList<>();
    List<byte[]> bodies = new ArrayList<>();
    List<long[]> references = new ArrayList<>(plans.size());
    rehearsePlans(
        plans,
        references,
        stores,
        (path, body) -> {
          paths.add(path);
          bodies.add(body);
        });
    referencesBody(references);
    long[] held = new long[paths.size()];
    long[] snapshot = new long[paths.size()];
    Arrays.fill(snapshot, 1000);
    try {
      for (ReplicationBatch.Entry entry :
          ReplicationBatch.decode(ReplicationBatch.encode(paths, bodies, held, snapshot))) {
        TimerPath path = TimerPath.parse(entry.path().substring("/timers/".length()));
        node.replicaFrom(
            path.id(), path.replicationFactor(), parser.parse(entry.body()), clock.millis());
      }
    } catch (IOException | BadRequestException | RuntimeException e) {
      throw new ResyncException("a copy did not read back: " + e);
    }
    return new Rehearsal(tally.received.get(), tally.malformed.get(), plans.size(), paths.size());
  }

  /** Where a warm-up's copies to send on go: each one's path and body. */
  @FunctionalInterface
  private interface CopySink {
    void send(String path, byte[] body) throws InterruptedException;
  }

  /**
   * A warm-up's page once planned, as a run would apply it short of merging: each timer's reference
   * into {@code references}, the copies to keep to {@code stores}, each copy to send on written and
   * handed to {@code sendOn}. Returns how many copies were handed on.
   */
  private int rehearsePlans(
      List<Plan> plans, List<long[]> references, Consumer<Timer> stores, CopySink sendOn)
      throws InterruptedException {
    int copies = 0;
    for (Plan plan : plans) {
      references.add(new long[] {plan.entry().id(), plan.newIndex()});
      if (plan.store()) {
        stores.accept(plan.copy());
      }
      if (plan.sendsOn()) {
        Timer copy = plan.copy().snapshot();
        sendOn.send(
            TimerPath.location(copy.id(), copy.replicationFactor()),
            TimerJson.write(copy, clock.millis()));
        copies++;
      }
    }
    return copies;
  }

  /**
   * A replicator for {@link #rehearseOverHttp}, started, whose every request is marked as this
   * node's warm-up; the caller stops it.
   */
  Replicator warmUpReplicator() {
    Replicator r = warmUpReplicators.get();
    r.addToEveryRequest(warmUps.mark());
    r.start();
    return r;
  }

  /**
   * For {@link ResyncWarmUp}: as {@link #rehearse}, but over HTTP to this node itself, the way a
   * run talks to a peer, so that the HTTP client's, Jetty's and Jersey's code for a resync's
   * requests and the replicator's bulk lane are compiled too. This node serves {@code page} to its
   * own page request ({@link WarmUpGate}); the run's fetcher fetches and parses it; the copies to
   * keep go to {@code stores}, each copy to send on goes to this node in {@code replicator}'s bulk
   * lane (from {@link #warmUpReplicator}), and the references follow. This node answers those
   * requests from made-up timers or drops them: its store, metrics and peers are not touched.
   * Throws if this node could not be reached or a copy was not taken.
   *
   * @param v the warm-up's made-up cluster, in which this node is {@code v.localAddress()}
   */
  Rehearsal rehearseOverHttp(
      byte[] page, ClusterView v, Consumer<Timer> stores, Replicator replicator)
      throws ResyncException, InterruptedException {
    String self = v.localAddress();
    Tally tally = new Tally();
    warmUps.serve(page);
    try {
      BlockingQueue<Object> pages = new ArrayBlockingQueue<>(PAGES_AHEAD);
      Future<?> fetcher = fetchers.submit(() -> fetchAll(self, v, warmUps.mark(), tally, pages));
      List<long[]> references = new ArrayList<>();
      int planned;
      int copies;
      try {
        Object next = nextFromFetcher(pages, fetcher);
        if (next instanceof FetchFailed failed) {
          throw failed.reason();
        }
        FetchedPage fetched = (FetchedPage) next;
        List<Plan> plans = plans(fetched.entries(), self, tally, "(warm-up)");
        planned = plans.size();
        copies =
            rehearsePlans(
                plans,
                references,
                stores,
                (path, body) ->
                    tally.sendBulk(replicator, List.of(self), path, body, fetched.transitMillis()));
      } finally {
        fetcher.cancel(true);
      }
      tally.awaitCopies();
      if (tally.copiesFailed.get() > 0) {
        throw new ResyncException(
            tally.copiesFailed.get() + " of " + copies + " copies sent to this node failed");
      }
      sendReferences(self, references, warmUps.mark());
      return new Rehearsal(tally.received.get(), tally.malformed.get(), planned, copies);
    } finally {
      warmUps.serve(null);
    }
  }

  /** Parses one entry of a page. */
  private Entry parse(JsonNode entry, long writtenMillis) throws BadRequestException {
    JsonNode idNode = entry.get("TimerID");
    if (idNode == null || !idNode.isIntegralNumber()) {
      throw new BadRequestException("TimerID missing or not a number");
    }
    long id = TimerJson.readId(idNode);
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
    boolean callbackOut = entry.path(ResyncSource.CALLBACK_OUT_FIELD).asBoolean(false);
    return new Entry(
        id, oldReplicas, request, popTime(request, writtenMillis), writtenMillis, callbackOut);
  }

  /**
   * The timer's next pop (the paging cursor), from its start as the node takes it ({@code
   * TimerNode.toTimer}): {@code start-time-delta} first. An original node writes {@code start-time}
   * from its wall clock cut to 32 bits, so a cursor from it sent every page after the first back to
   * 24 days ago (the same page for ever) or past every timer (the rest never copied).
   */
  private static long popTime(TimerRequest request, long writtenMillis) {
    long start =
        request.startTimeDeltaMillis() != null
            ? Math.max(0, writtenMillis + request.startTimeDeltaMillis())
            : request.startTimeMillis() != null ? request.startTimeMillis() : writtenMillis;
    int sequence = request.sequenceNumber() == null ? 0 : request.sequenceNumber();
    return start + (sequence + 1L) * request.intervalMillis();
  }

  /** Applies the replica-level rules to one timer (section 6, step 2). */
  private Plan plan(Entry entry, String local) throws BadRequestException {
    List<String> oldReplicas = entry.oldReplicas();
    TimerRequest request = entry.request();
    List<String> newReplicas = request.replicas();
    int rf = request.replicationFactor() == null ? newReplicas.size() : request.replicationFactor();
    int newIndex = newReplicas.indexOf(local);
    if (newIndex < 0) {
      throw new BadRequestException(
          "this node is not among the timer's new replicas " + newReplicas);
    }
    int oldIndex = oldReplicas.indexOf(local);
    boolean store = oldIndex < 0 || newIndex <= oldIndex;
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
    // The copy carries the new replicas and view id, as the page did.
    Timer copy = node.replicaFrom(entry.id(), rf, request, entry.writtenMillis());
    return new Plan(entry, copy, store, newIndex, replicateTo, tombstoneTo);
  }

  /**
   * Stores a page's timers (on the timer thread, {@link #MERGE_CHUNK} at a time, so it is never
   * held for long), then sends the copies, with the start this node keeps for each. A page is a
   * snapshot taken a moment ago: a timer this node has popped since (or heard popped) is neither
   * stored nor sent on, or the older copy would undo the pop here and on the other replicas, and
   * the timer would pop twice. Copies of timers due within {@link #URGENT_WITHIN_MILLIS} are
   * written and queued in the replicator's urgent lane on the timer thread, right after their
   * merge, so that their replicas learn their new positions before the pop and hear of the pop
   * after the copy, not before (a copy with sequence number 0 arriving after the pop would undo
   * it). The rest go in the bulk lane from this thread, whose room paces the run to what the peers
   * absorb.
   */
  private void apply(List<Plan> plans, long transitMillis, List<long[]> references, Tally tally)
      throws InterruptedException, ResyncException {
    long urgentBefore = clock.millis() + URGENT_WITHIN_MILLIS;
    boolean[] superseded = new boolean[plans.size()];
    // Detached copies for the bulk lane, filled in on the timer thread.
    Timer[] bulk = new Timer[plans.size()];
    List<CompletableFuture<Void>> chunks = new ArrayList<>();
    for (int from = 0; from < plans.size(); from += MERGE_CHUNK) {
      int base = from;
      List<Plan> chunk = plans.subList(from, Math.min(plans.size(), from + MERGE_CHUNK));
      List<Timer> copies = new ArrayList<>(chunk.size());
      boolean[] store = new boolean[chunk.size()];
      boolean[] callbackOut = new boolean[chunk.size()];
      for (int i = 0; i < chunk.size(); i++) {
        copies.add(chunk.get(i).copy());
        store[i] = chunk.get(i).store();
        callbackOut[i] = chunk.get(i).entry().callbackOut();
      }
      chunks.add(
          node.mergeResyncCopies(
              copies,
              store,
              callbackOut,
              transitMillis,
              (i, placed) -> {
                Plan plan = chunk.get(i);
                if (placed == null) {
                  superseded[base + i] = true;
                } else if (plan.sendsOn() && placed.nextDueMillis() < urgentBefore) {
                  // By the copy as placed here, on this node's clock: the page's pop time (the
                  // paging cursor) is on the peer's, which may differ.
                  byte[] body = TimerJson.write(placed, clock.millis());
                  String path = TimerPath.location(placed.id(), placed.replicationFactor());
                  tally.sendUrgent(replicator, plan.replicateTo(), path, body, transitMillis);
                  tally.sendUrgent(replicator, plan.tombstoneTo(), path, body, transitMillis);
                } else if (plan.sendsOn()) {
                  bulk[base + i] = placed.snapshot();
                }
              }));
    }
    for (int c = 0; c < chunks.size(); c++) {
      awaitTimerThread(chunks.get(c), "merge a page");
      int end = Math.min(plans.size(), (c + 1) * MERGE_CHUNK);
      for (int k = c * MERGE_CHUNK; k < end; k++) {
        Plan plan = plans.get(k);
        references.add(new long[] {plan.entry().id(), plan.newIndex()});
        if (superseded[k]) {
          tally.superseded.incrementAndGet();
          continue;
        }
        if (plan.store()) {
          tally.stored.incrementAndGet();
        }
        if (!plan.sendsOn()) {
          continue;
        }
        tally.replicated.addAndGet(plan.replicateTo().size());
        tally.tombstoned.addAndGet(plan.tombstoneTo().size());
        Timer copy = bulk[k];
        if (copy != null) {
          byte[] body = TimerJson.write(copy, clock.millis());
          String path = TimerPath.location(copy.id(), copy.replicationFactor());
          tally.sendBulk(replicator, plan.replicateTo(), path, body, transitMillis);
          tally.sendBulk(replicator, plan.tombstoneTo(), path, body, transitMillis);
        }
      }
    }
  }

  /** Tells the peer which timers this node now holds; {@code warmUpMark}: as in fetchAll. */
  private void sendReferences(String peer, List<long[]> references, Header warmUpMark)
      throws ResyncException, InterruptedException {
    for (int from = 0; from < references.size(); from += REFERENCES_PER_REQUEST) {
      byte[] body =
          referencesBody(
              references.subList(from, Math.min(references.size(), from + REFERENCES_PER_REQUEST)));
      Answer answer =
          sendWithRetries(
              () ->
                  marked(
                      AsyncRequestBuilder.delete(url(peer) + "/timers/references")
                          .setEntity(
                              AsyncEntityProducers.create(body, ContentType.APPLICATION_JSON)),
                      warmUpMark));
      if (answer.status() / 100 != 2) {
        throw new ResyncException(
            "DELETE /timers/references answered "
                + answer.status()
                + ": "
                + abbreviate(answer.body()));
      }
    }
  }

  /**
   * Sends a request (built afresh for each attempt), retrying connection failures, timeouts and 5xx
   * answers after {@link #RETRY_DELAYS_MILLIS}; any other answer is returned.
   */
  private Answer sendWithRetries(Supplier<AsyncRequestProducer> request)
      throws ResyncException, InterruptedException {
    String lastFailure = null;
    for (int attempt = 0; attempt <= RETRY_DELAYS_MILLIS.length; attempt++) {
      if (attempt > 0) {
        Thread.sleep(RETRY_DELAYS_MILLIS[attempt - 1]);
      }
      long sent = clock.millis();
      Future<Message<HttpResponse, byte[]>> future =
          http.execute(
              request.get(), new BasicResponseConsumer<>(new BasicAsyncEntityConsumer()), null);
      try {
        Message<HttpResponse, byte[]> response =
            future.get(requestTimeout.toMillis(), TimeUnit.MILLISECONDS);
        int status = response.getHead().getCode();
        byte[] body = response.getBody() == null ? new byte[0] : response.getBody();
        if (status < 500) {
          return new Answer(
              status,
              body,
              sent,
              heldMicros(response.getHead().getFirstHeader(Replicator.HELD_HEADER)),
              nextTimeFrom(response.getHead().getFirstHeader(ResyncSource.NEXT_TIME_FROM_HEADER)));
        }
        lastFailure = "HTTP " + status;
      } catch (ExecutionException e) {
        lastFailure = String.valueOf(e.getCause());
      } catch (TimeoutException e) {
        future.cancel(true);
        lastFailure = "no answer within " + requestTimeout.toMillis() + " ms";
      } catch (InterruptedException e) {
        future.cancel(true);
        throw e;
      }
    }
    throw new ResyncException(
        "unreachable after " + (RETRY_DELAYS_MILLIS.length + 1) + " attempts: " + lastFailure);
  }

  /** The request, with the warm-up's mark if there is one (null: a real request). */
  private static AsyncRequestProducer marked(AsyncRequestBuilder request, Header warmUpMark) {
    if (warmUpMark != null) {
      request.addHeader(warmUpMark);
    }
    return request.build();
  }

  /** The header's value, or null if it is missing or no number (then the page's pop times do). */
  /** {@code http://host:port} of a peer, with this node's port when it is listed without one. */
  private String url(String peer) {
    return "http://" + Addresses.connectable(peer, defaultPort);
  }

  private static Long nextTimeFrom(Header header) {
    if (header == null) {
      return null;
    }
    try {
      return Long.parseLong(header.getValue().trim());
    } catch (NumberFormatException e) {
      return null;
    }
  }

  private static long heldMicros(Header header) {
    return Replicator.heldMicros(header == null ? null : header.getValue());
  }

  /** {@code {"IDs":[{"ID":<id>,"ReplicaIndex":<index>}...]}}. */
  private static byte[] referencesBody(List<long[]> references) {
    ByteArrayOutputStream out = new ByteArrayOutputStream(48 * references.size());
    try (JsonGenerator g = MAPPER.getFactory().createGenerator(out)) {
      g.writeStartObject();
      g.writeArrayFieldStart("IDs");
      for (long[] ref : references) {
        g.writeStartObject();
        g.writeFieldName("ID");
        TimerJson.writeId(g, ref[0]);
        g.writeNumberField("ReplicaIndex", ref[1]);
        g.writeEndObject();
      }
      g.writeEndArray();
      g.writeEndObject();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return out.toByteArray();
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
