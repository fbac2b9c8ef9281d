package org.chronos.resync;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;
import static org.awaitility.Awaitility.await;

import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.http.HttpRequest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.chronos.resources.TimerPath;
import org.chronos.testing.CallbackServer;
import org.chronos.testing.ChronosClient;
import org.chronos.testing.ClusterHarness;
import org.chronos.testing.ClusterHarness.Node;
import org.chronos.testing.ManualClock;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * A node runs its resync code on made-up timers after it starts ({@code resync.warmUpTimers}), so
 * that its first real resync runs on compiled code. The made-up timers must go through the real
 * path (the warm-up counts them only when every one parsed and was planned, with copies to send),
 * over HTTP to the node itself when it can reach itself, and nothing of them may reach the node's
 * store, its resync or replication figures or a real resync.
 */
class ResyncWarmUpTest {
  private static final int WARM_UP = 3000;
  private static final Duration WAIT = Duration.ofSeconds(60);

  private ClusterHarness cluster;
  private CallbackServer callbacks;

  @AfterEach
  void tearDown() {
    if (cluster != null) {
      cluster.close();
    }
    if (callbacks != null) {
      callbacks.close();
    }
  }

  @Test
  void aStartingNodeWarmsUpOnMadeUpTimersThatNeverReachItsStoreOrAResyncAfterItsStartUpResync() {
    callbacks = CallbackServer.start();
    cluster = ClusterHarness.create(2, "resync:", "  pageSize: 100", "  warmUpTimers: " + WARM_UP);
    Node first = cluster.node(0);
    Node joining = cluster.node(1);
    first.writeClusterFile(cluster.nodeLines("node", List.of(first)));
    first.start();
    await("the first node's warm-up")
        .atMost(WAIT)
        .until(() -> first.client().counter("chronos.resync.warm-up-timers") == WARM_UP);
    assertThat(first.liveCount()).as("live timers after the warm-up").isZero();
    // Over HTTP: each round of 100 (a page) asked for its page and sent copies and references.
    assertThat(first.client().counter("chronos.resync.warm-up-requests"))
        .isGreaterThanOrEqualTo(3L * WARM_UP / 100);
    assertThat(first.client().metrics().path("counters").fieldNames())
        .toIterable()
        .as("replication metrics")
        .noneMatch(name -> name.startsWith("chronos.replication."));

    List<Long> ids = new ArrayList<>();
    for (int i = 0; i < 250; i++) {
      ids.add(
          ChronosClient.idOf(
              first
                  .client()
                  .createTimer(
                      "{\"timing\":{\"interval\":3600},\"callback\":{\"http\":{\"uri\":\""
                          + callbacks.url("/t")
                          + "\",\"opaque\":\"o"
                          + i
                          + "\"}},\"reliability\":{\"replication-factor\":2}}")));
    }
    // The second node joins: it resyncs when it starts, then warms up.
    String lines =
        cluster.nodeLines("node", List.of(first))
            + "\n"
            + cluster.nodeLines("joining", List.of(joining));
    first.writeClusterFile(lines);
    assertThat(first.reload()).isEqualTo(200);
    joining.writeClusterFile(lines);
    joining.start();

    await("the joining node's warm-up")
        .atMost(WAIT)
        .until(() -> joining.client().counter("chronos.resync.warm-up-timers") == WARM_UP);
    await("the joining node's start-up resync")
        .atMost(WAIT)
        .until(() -> joining.liveCount() == ids.size());
    // A resync asked for now runs as usual and sees only the real timers.
    var summary = joining.resync();
    assertThat(summary.get("timersReceived").asLong()).isEqualTo(ids.size());
    assertThat(summary.get("malformed").asLong()).isZero();
    assertThat(summary.get("failures")).isEmpty();

    assertThat(ids).allMatch(joining::holdsLive);
    assertThat(joining.liveCount()).as("the joining node's live timers").isEqualTo(ids.size());
    assertThat(first.liveCount()).as("the first node's live timers").isEqualTo(ids.size());
    // Two runs of 250 timers each (start-up and asked for); the warm-up counts in no resync figure.
    assertThat(joining.client().counter("chronos.resync.runs")).isEqualTo(2);
    assertThat(joining.client().counter("chronos.resync.timers-processed"))
        .isEqualTo(2L * ids.size());
    assertThat(first.client().counter("chronos.resync.timers-processed")).isZero();
  }

  /**
   * A node that cannot reach itself at its cluster address (here nothing listens there) warms up
   * in-process instead, and is a working node all the same.
   */
  @Test
  void aNodeThatCannotReachItselfWarmsUpInProcess() throws Exception {
    int deadPort;
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      deadPort = s.getLocalPort();
    }
    callbacks = CallbackServer.start();
    cluster = ClusterHarness.create(1, "resync:", "  pageSize: 100", "  warmUpTimers: 300");
    Node node = cluster.node(0);
    String unreachable = "127.0.0.1:" + deadPort;
    node.writeRawClusterFile(
        "[cluster]\nlocalhost = " + unreachable + "\nnode = " + unreachable + "\n");
    node.start();

    await("the warm-up")
        .atMost(WAIT)
        .until(() -> node.client().counter("chronos.resync.warm-up-timers") == 300);
    assertThat(node.client().counter("chronos.resync.warm-up-requests")).isZero();
    assertThat(node.liveCount()).isZero();
    String path = callbacks.newPath("after-an-in-process-warm-up");
    node.client()
        .createTimer(
            "{\"timing\":{\"interval\":0},\"callback\":{\"http\":{\"uri\":\""
                + callbacks.url(path)
                + "\",\"opaque\":\"o\"}}}");
    callbacks.awaitRequest(path);
  }

  /**
   * Only the node's own secret marks a warm-up request: with any other value a request is an
   * ordinary one, answered and applied as such.
   */
  @Test
  void aRequestWithAnotherWarmUpMarkIsAnOrdinaryRequest() {
    cluster = ClusterHarness.create(2, "resync:", "  pageSize: 100", "  warmUpTimers: 200");
    Node node = cluster.node(0);
    Node other = cluster.node(1);
    node.writeClusterFile(cluster.nodeLines("node", List.of(node, other)));
    node.start();
    await("the warm-up")
        .atMost(WAIT)
        .until(() -> node.client().counter("chronos.resync.warm-up-timers") == 200);
    String forged = "0123456789abcdef0123456789abcdef";
    long answered = node.client().counter("chronos.resync.warm-up-requests");

    // A replicated timer is stored, as without the header.
    long id = 0x0123456789abcdefL;
    String replicas = "[\"" + node.address() + "\",\"" + other.address() + "\"]";
    var put =
        node.client()
            .send(
                "PUT",
                TimerPath.location(id, 2),
                HttpRequest.BodyPublishers.ofString(
                    "{\"timing\":{\"interval\":3600,\"repeat-for\":3600,\"start-time-delta\":0},"
                        + "\"callback\":{\"http\":{\"uri\":\"http://127.0.0.1:1/x\",\"opaque\":\"o\"}},"
                        + "\"reliability\":{\"replicas\":"
                        + replicas
                        + "}}"),
                WarmUpGate.HEADER,
                forged,
                "Content-Type",
                "application/json");
    assertThat(put.statusCode()).isEqualTo(200);
    assertThat(node.holdsLive(id)).isTrue();
    // A page request gets this node's real timers, as without the header.
    var page =
        node.client()
            .send(
                "GET",
                "/timers?node-for-replicas="
                    + other.address()
                    + "&cluster-view-id="
                    + node.view().viewId(),
                HttpRequest.BodyPublishers.noBody(),
                WarmUpGate.HEADER,
                forged);
    assertThat(page.statusCode()).isEqualTo(200);
    assertThat(page.body()).contains("\"TimerID\":" + id);
    assertThat(node.client().counter("chronos.resync.warm-up-requests"))
        .as("warm-up requests answered")
        .isEqualTo(answered);
  }

  /** A node whose own address is the made-up peer's still warms up (with another made-up peer). */
  @Test
  void aNodeAtTheMadeUpPeersAddressStillGetsAMadeUpCluster() {
    ManualClock clock = new ManualClock(1_700_000_000_000L);
    assertThatCode(() -> new ResyncWarmUp(null, clock, ResyncWarmUp.PEER, 10, 100))
        .doesNotThrowAnyException();
  }

  /**
   * Whatever goes wrong in the warm-up's set-up is the warm-up's problem alone: it ends having run
   * no timers, and the failure does not reach the thread that started it (the node's start-up).
   */
  @Test
  void aWarmUpWhoseSetUpFailsEndsWithNoTimersAndLetsTheNodeGoOn() throws Exception {
    List<Long> counted = new ArrayList<>();
    CompletableFuture<Long> done =
        ResyncWarmUp.run(
            () -> {
              throw new IllegalStateException("no memory for made-up timers");
            },
            1000,
            Runnable::run,
            counted::add);
    assertThat(done.get(5, TimeUnit.SECONDS)).isZero();
    assertThat(counted).isEmpty();
  }

  /** A node stopping before its warm-up began: nothing runs, and the warm-up is over. */
  @Test
  void aWarmUpRefusedByItsExecutorEndsWithNoTimers() throws Exception {
    ExecutorService stopped = Executors.newSingleThreadExecutor();
    stopped.shutdown();
    List<Long> counted = new ArrayList<>();
    CompletableFuture<Long> done =
        ResyncWarmUp.run(
            () -> {
              throw new AssertionError("set up on a refused executor");
            },
            1000,
            stopped,
            counted::add);
    assertThat(done.get(5, TimeUnit.SECONDS)).isZero();
    assertThat(counted).isEmpty();
  }
}
