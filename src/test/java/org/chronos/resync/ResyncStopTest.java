package org.chronos.resync;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.spi.ILoggingEvent;
import com.codahale.metrics.Counter;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.chronos.testing.CallbackServer;
import org.chronos.testing.CallbackServer.Reply;
import org.chronos.testing.ClusterHarness;
import org.chronos.testing.ClusterHarness.Node;
import org.chronos.testing.FreePorts;
import org.chronos.testing.LogCapture;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** A node stopping while resyncs run or wait: they end, quietly, and nobody is left waiting. */
class ResyncStopTest {
  private ClusterHarness cluster;
  private CallbackServer fakePeer;
  private LogCapture log;

  @AfterEach
  void tearDown() {
    if (cluster != null) {
      cluster.close();
    }
    if (fakePeer != null) {
      fakePeer.close();
    }
    if (log != null) {
      log.close();
    }
  }

  /** A node with the given peers (never resynced at start), started. */
  private Node nodeWithPeers(List<String> peers, String... resyncLines) {
    String[] yaml = new String[resyncLines.length + 4];
    yaml[0] = "resync:";
    yaml[1] = "  pageSize: 100";
    yaml[2] = "  warmUpTimers: 0";
    yaml[3] = "  onStart: false";
    System.arraycopy(resyncLines, 0, yaml, 4, resyncLines.length);
    cluster = ClusterHarness.create(1, yaml);
    Node node = cluster.node(0);
    StringBuilder lines = new StringBuilder("node = " + node.address());
    peers.forEach(p -> lines.append("\nnode = ").append(p));
    node.writeClusterFile(lines.toString());
    node.start();
    return node;
  }

  /**
   * The node stops while a resync waits for its timer thread: the run ends with one line saying the
   * stop cut it short, not a failure logged for every peer left (a stop made the run log an ERROR
   * with a stack trace, or a warning, per peer).
   */
  @Test
  void aStopCutsARunShortWithOneLineNotAFailurePerPeer() throws Exception {
    List<String> peers = List.of("127.0.0.1:" + FreePorts.next(), "127.0.0.1:" + FreePorts.next());
    Node node = nodeWithPeers(peers, "  timerThreadTimeout: 30s");
    log = LogCapture.of(ResyncService.class, Level.INFO);
    CountDownLatch release = new CountDownLatch(1);
    // A command that holds the node's timer thread until released: the run waits for it.
    assertThat(node.app().timerService().execute(store -> awaitQuietly(release))).isTrue();
    Counter runs = node.metrics().counter("chronos.resync.runs");
    CompletableFuture<ResyncSummary> run = node.app().resyncService().start("test");
    await().until(() -> runs.getCount() == 1);

    CompletableFuture<Void> stopped = CompletableFuture.runAsync(node::stop);
    try {
      await().atMost(Duration.ofSeconds(5)).until(run::isDone);
    } finally {
      release.countDown();
    }
    stopped.get(10, TimeUnit.SECONDS);

    List<ILoggingEvent> lines = log.events();
    assertThat(lines)
        .filteredOn(e -> e.getLevel().isGreaterOrEqual(Level.WARN))
        .map(ILoggingEvent::getFormattedMessage)
        .isEmpty();
    assertThat(lines)
        .map(ILoggingEvent::getFormattedMessage)
        .filteredOn(line -> line.contains("cut short by the node stopping"))
        .singleElement()
        .satisfies(line -> assertThat(line).contains("2 of 2 nodes not resynced"));
    assertThat(run.get().failures())
        .hasSize(2)
        .allSatisfy(f -> assertThat(f).contains("the node is stopping"));
  }

  /**
   * The node stops while a run waits for a peer that does not answer, with another run and a
   * warm-up queued behind it: both are answered (an open {@code POST /tasks/resync} waited forever
   * for the queued run, and a warm-up round dropped so never closed its replicator).
   */
  @Test
  void aStopAnswersTheRunAndTheWarmUpQueuedBehindTheRunningOne() throws Exception {
    fakePeer = CallbackServer.start();
    fakePeer.respondByDefault(request -> Reply.stall(Duration.ofSeconds(30)));
    Node node = nodeWithPeers(List.of("127.0.0.1:" + fakePeer.port()), "  requestTimeout: 30s");
    ResyncService resync = node.app().resyncService();
    CompletableFuture<ResyncSummary> first = resync.start("first");
    fakePeer.awaitRequest("/timers");
    CompletableFuture<ResyncSummary> second = resync.start("second");
    CompletableFuture<Long> warmUp = resync.warmUp(100);

    CompletableFuture<Void> stopped = CompletableFuture.runAsync(node::stop);

    await().atMost(Duration.ofSeconds(5)).until(() -> second.isDone() && warmUp.isDone());
    stopped.get(10, TimeUnit.SECONDS);
    // The run ends on its own thread, which the stop does not wait for.
    assertThat(first.get(5, TimeUnit.SECONDS).failures())
        .singleElement()
        .satisfies(f -> assertThat(f).contains("the node is stopping"));
    assertThat(second)
        .failsWithin(Duration.ZERO)
        .withThrowableThat()
        .withMessageContaining("the node is stopping");
    assertThat(warmUp).isCompletedWithValue(0L);
  }

  private static void awaitQuietly(CountDownLatch latch) {
    try {
      latch.await(30, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
