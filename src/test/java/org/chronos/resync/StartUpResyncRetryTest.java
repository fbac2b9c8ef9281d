package org.chronos.resync;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.spi.ILoggingEvent;
import io.dropwizard.lifecycle.ExecutorServiceManager;
import io.dropwizard.lifecycle.JettyManaged;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.stream.Collectors;
import org.chronos.cluster.ClusterConfig;
import org.chronos.cluster.ClusterView;
import org.chronos.testing.ClusterHarness;
import org.chronos.testing.ClusterHarness.Node;
import org.chronos.testing.LogCapture;
import org.chronos.testing.OriginalNode;
import org.eclipse.jetty.util.component.LifeCycle;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The node's own retries of its start-up resync for the peers it missed ({@code
 * resync.startUpRetry}): a stop cancels the one pending, and one that comes due while another
 * resync runs waits for a later turn. {@link OriginalNode}s stand in for the peers: {@link #first},
 * listed first, is asked first by a resync that asks every peer.
 */
class StartUpResyncRetryTest {
  private final OriginalNode first = new OriginalNode();
  private final OriginalNode missed = new OriginalNode();
  private ClusterHarness cluster;
  private Node node;
  private LogCapture log;

  @AfterEach
  void tearDown() {
    CountDownLatch hold = first.holdGets;
    if (hold != null) {
      hold.countDown();
    }
    if (cluster != null) {
      cluster.close();
    }
    first.stop();
    missed.stop();
    if (log != null) {
      log.close();
    }
  }

  /** The node, with both peers, started with {@code resync.startUpRetry} as given. */
  private void start(String startUpRetry) {
    missed.idSalt = 8;
    cluster =
        ClusterHarness.create(
            1,
            "resync:",
            "  startUpRetry: " + startUpRetry,
            "  warmUpTimers: 0",
            "  pageSize: 100");
    node = cluster.node(0);
    List<String> members = List.of(node.address(), first.address(), missed.address());
    ClusterView view =
        new ClusterView(new ClusterConfig(node.address(), members, List.of(), List.of(), 0, 0));
    for (OriginalNode peer : List.of(first, missed)) {
      peer.fill(node.address(), view.viewId());
      peer.orderReplicasAs(view);
    }
    node.writeClusterFile(
        members.stream().map(a -> "node = " + a).collect(Collectors.joining("\n")));
    node.start();
    // After the start: the node's logging configuration replaces what was there.
    log = LogCapture.of(ResyncService.class, Level.INFO);
  }

  private long logged(String part) {
    return log.events().stream()
        .map(ILoggingEvent::getFormattedMessage)
        .filter(line -> line.contains(part))
        .count();
  }

  /** The node's Dropwizard-managed executor named {@code name}. */
  private ExecutorServiceManager managedExecutor(String name) {
    for (LifeCycle managed : node.environment().lifecycle().getManagedObjects()) {
      if (managed instanceof JettyManaged jetty
          && jetty.getManaged() instanceof ExecutorServiceManager executor
          && executor.getPoolName().contains(name)) {
        return executor;
      }
    }
    throw new AssertionError("no managed executor " + name);
  }

  /**
   * A retry waiting for its turn held every stop of the node for the retry scheduler's grace period
   * (5 s), the scheduler's stop waiting for a task due later still.
   */
  @Test
  void aStopCancelsTheRetryPendingAtOnce() throws Exception {
    missed.failGetsWith = 400; // refused at once, not asked again
    start("30s");
    ExecutorServiceManager retries = managedExecutor("chronos-resync-retry");
    await("the retry scheduled, after the start-up resync missed the peer")
        .atMost(Duration.ofSeconds(30))
        .until(() -> ((ScheduledThreadPoolExecutor) retries.getExecutor()).getQueue().size() == 1);
    assertThat(node.app().resyncService().lastSummary().nodesFailed()).isEqualTo(1);
    long graceMillis = retries.getShutdownPeriod().toMilliseconds();
    assertThat(graceMillis).isGreaterThanOrEqualTo(5000);
    int asked = missed.rawQueries.size();

    long started = System.nanoTime();
    node.stop();
    long tookMillis = (System.nanoTime() - started) / 1_000_000;

    assertThat(tookMillis)
        .as("the stop, with a retry pending (the retry scheduler's grace: %d ms)", graceMillis)
        .isLessThan(graceMillis / 2);
    // Nothing left to ask the peer: the retry is gone with its scheduler, the resync's threads too.
    assertThat(retries.getExecutor().isTerminated()).as("retry scheduler terminated").isTrue();
    assertThat(missed.rawQueries).as("GETs the missed peer got").hasSize(asked);
  }

  /**
   * A retry's turn asks no page of a peer that does not answer {@code GET /ping}: against a host
   * that drops packets, each page request's attempts held the resync thread (and an operator's
   * resync behind it) some 40 s, every turn while the peer was down. Once it answers, the next turn
   * brings its timers.
   */
  @Test
  void aRetryAsksNoPageOfAPeerThatDoesNotAnswerPing() {
    missed.failGetsWith = 400; // refused at once: the start-up resync misses it
    missed.pingRefused = true;
    start("500ms");
    await("two turns skipped")
        .atMost(Duration.ofSeconds(30))
        .until(() -> logged("none of [" + missed.address() + "] answers GET /ping") >= 2);
    assertThat(missed.rawQueries).as("page GETs the missed peer got: the start-up's").hasSize(1);

    missed.failGetsWith = 0;
    missed.pingRefused = false;
    await("the missed peer's timers held after a later retry")
        .atMost(Duration.ofSeconds(30))
        .until(() -> missed.timers.keySet().stream().allMatch(node::holdsLive));
  }

  /**
   * The probe finds a peer that answers though four that never do (their hosts take connections and
   * say nothing) are asked first: on the resync's own four connections, the silent ones held them
   * all until the deadline, and the peer that answers was taken for down at every turn.
   */
  @Test
  void thePingProbeFindsAPeerThatAnswersBehindFourThatNeverDo() throws Exception {
    cluster =
        ClusterHarness.create(
            1, "resync:", "  onStart: false", "  requestTimeout: 1s", "  warmUpTimers: 0");
    node = cluster.node(0);
    node.writeClusterFile("node = " + node.address());
    node.start();
    List<java.net.ServerSocket> silent = new java.util.ArrayList<>();
    try {
      java.util.Set<String> peers = new java.util.LinkedHashSet<>();
      for (int i = 0; i < 4; i++) {
        java.net.ServerSocket socket =
            new java.net.ServerSocket(0, 10, java.net.InetAddress.getLoopbackAddress());
        silent.add(socket);
        peers.add("127.0.0.1:" + socket.getLocalPort());
      }
      peers.add(first.address());

      assertThat(node.app().resyncService().answeringHttp(peers)).containsExactly(first.address());
    } finally {
      for (java.net.ServerSocket socket : silent) {
        socket.close();
      }
    }
  }

  /**
   * A retry whose turn comes while the operator's resync runs (held by the first peer's slow
   * answer) does not run then, nor queue behind it: it tries again at its next turn, and asks the
   * peer then, in one run.
   */
  @Test
  void aRetryDueWhileAnotherResyncRunsSkipsItsTurnAndAsksThePeerLater() {
    missed.failGetsWith = 503; // the start-up resync asks it 4 times over 3 s, then gives up
    start("1s");
    ResyncService resync = node.app().resyncService();
    await("the start-up resync at the missed peer")
        .atMost(Duration.ofSeconds(30))
        .until(() -> !missed.rawQueries.isEmpty());
    CountDownLatch release = new CountDownLatch(1);
    first.holdGets = release;
    CompletableFuture<ResyncSummary> operators = resync.start("test: the operator's");
    assertThat(resync.lastSummary())
        .as("the start-up resync still running, the operator's waits behind it")
        .isNull();

    // The start-up resync ends, with the operator's held at the first peer: the retry is
    // scheduled, its turn comes, and it is scheduled again, the operator's still running.
    ScheduledThreadPoolExecutor retries =
        (ScheduledThreadPoolExecutor) managedExecutor("chronos-resync-retry").getExecutor();
    await("the retry scheduled")
        .atMost(Duration.ofSeconds(30))
        .until(() -> retries.getQueue().size() == 1);
    Runnable firstTurn = retries.getQueue().peek();
    await("the retry's turn come, and the retry scheduled again")
        .atMost(Duration.ofSeconds(20))
        .until(
            () -> {
              Runnable next = retries.getQueue().peek();
              return next != null && next != firstTurn;
            });
    assertThat(operators).as("the operator's resync").isNotDone();
    assertThat(missed.rawQueries).as("GETs the missed peer got, all the start-up's").hasSize(4);
    assertThat(logged("skips its turn")).isPositive();
    // The operator's resync misses that peer too (refused once), and what comes after reaches it.
    missed.getsToFail.set(1);
    missed.failGetsWith = 400;
    first.holdGets = null;
    release.countDown();
    ResyncSummary summary = operators.join();
    assertThat(summary.nodesFailed()).as(summary.toString()).isEqualTo(1);
    int afterOperators = missed.rawQueries.size();

    await("the missed peer's timers held after a later retry")
        .atMost(Duration.ofSeconds(30))
        .until(() -> missed.timers.keySet().stream().allMatch(node::holdsLive));
    List<String> since =
        List.copyOf(missed.rawQueries.subList(afterOperators, missed.rawQueries.size()));
    assertThat(since.stream().filter(query -> !query.contains("time-from")))
        .as("runs that asked the missed peer after the operator's (their first pages): %s", since)
        .hasSize(1);
    assertThat(node.metrics().counter("chronos.resync.runs").getCount())
        .as("runs: the start-up resync, the operator's, one retry")
        .isEqualTo(3);
  }
}
