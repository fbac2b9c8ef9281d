package org.chronos.resync;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.chronos.testing.CallbackServer;
import org.chronos.testing.CallbackServer.Reply;
import org.chronos.testing.ClusterHarness;
import org.chronos.testing.ClusterHarness.Node;
import org.chronos.testing.TimerJson;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** A resync finishes and reports, whatever its peers do wrong. */
class ResyncFaultsTest {
  private ClusterHarness cluster;
  private CallbackServer fakePeer;

  @AfterEach
  void tearDown() {
    if (cluster != null) {
      cluster.close();
    }
    if (fakePeer != null) {
      fakePeer.close();
    }
  }

  private Node nodeWithPeer(String peerAddress) {
    cluster = ClusterHarness.create(1);
    Node node = cluster.node(0);
    node.writeClusterFile("node = " + node.address() + "\nnode = " + peerAddress);
    node.start();
    return node;
  }

  @Test
  void anUnreachablePeerIsRetriedThenReportedAndTheRunFinishes() throws Exception {
    int deadPort;
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      deadPort = s.getLocalPort();
    }
    Node node = nodeWithPeer("127.0.0.1:" + deadPort);
    JsonNode summary = node.resync();
    assertThat(summary.get("nodesContacted").asInt()).isEqualTo(1);
    assertThat(summary.get("nodesFailed").asInt()).isEqualTo(1);
    assertThat(summary.get("failures").get(0).asText())
        .contains("127.0.0.1:" + deadPort)
        .contains("unreachable after 4 attempts");
  }

  @Test
  void aPeerThatNeverAnswersTimesOutAndIsReported() {
    fakePeer = CallbackServer.start();
    fakePeer.respondByDefault(request -> Reply.stall(Duration.ofSeconds(5)));
    String peer = "127.0.0.1:" + fakePeer.port();
    cluster = ClusterHarness.create(1, "resync:", "  pageSize: 100", "  requestTimeout: 200ms");
    Node node = cluster.node(0);
    node.writeClusterFile("node = " + node.address() + "\nnode = " + peer);
    node.start();
    JsonNode summary = node.resync();
    assertThat(summary.get("nodesFailed").asInt()).isEqualTo(1);
    assertThat(summary.get("failures").get(0).asText())
        .contains(peer)
        .contains("unreachable after 4 attempts")
        .contains("no answer within 200 ms");
  }

  @Test
  void aStuckTimerThreadIsReportedInsteadOfHangingTheRun() throws Exception {
    fakePeer = CallbackServer.start();
    String peer = "127.0.0.1:" + fakePeer.port();
    cluster = ClusterHarness.create(1, "resync:", "  timerThreadTimeout: 300ms");
    Node node = cluster.node(0);
    node.writeClusterFile("node = " + node.address() + "\nnode = " + peer);
    node.start();
    CountDownLatch release = new CountDownLatch(1);
    // A command that holds the node's timer thread until released.
    assertThat(node.app().timerService().execute(store -> awaitQuietly(release))).isTrue();
    try {
      JsonNode summary = node.resync();

      assertThat(summary.get("nodesContacted").asInt()).isZero();
      assertThat(summary.get("nodesFailed").asInt()).isEqualTo(1);
      assertThat(summary.get("failures").get(0).asText())
          .contains(peer)
          .contains("timer thread did not")
          .contains("within 300 ms");
    } finally {
      release.countDown();
    }
  }

  private static void awaitQuietly(CountDownLatch latch) {
    try {
      latch.await(30, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  @Test
  void aMalformedPageIsCountedAndTheRunFinishes() {
    fakePeer = CallbackServer.start();
    fakePeer.respondByDefault(request -> Reply.ok().withBody("{\"Timers\": [ this is not json"));
    Node node = nodeWithPeer("127.0.0.1:" + fakePeer.port());
    JsonNode summary = node.resync();
    assertThat(summary.get("malformed").asLong()).isEqualTo(1);
    assertThat(summary.get("nodesFailed").asInt()).isEqualTo(1);
    assertThat(summary.get("failures").get(0).asText()).contains("malformed page");
  }

  @Test
  void malformedTimersAreSkippedAndTheGoodOnesStored() {
    fakePeer = CallbackServer.start();
    String peer = "127.0.0.1:" + fakePeer.port();
    cluster = ClusterHarness.create(1);
    Node node = cluster.node(0);
    String good = TimerJson.pageEntry(1234, List.of(node.address(), peer));
    fakePeer.respondByDefault(
        request ->
            request.method().equals("GET")
                ? Reply.ok()
                    .withBody(
                        "{\"Timers\":[{\"TimerID\":\"nope\"},{\"TimerID\":5,\"Timer\":[]},"
                            + good
                            + "]}")
                : Reply.status(202));
    node.writeClusterFile("node = " + node.address() + "\nnode = " + peer);
    node.start();
    JsonNode summary = node.resync();
    assertThat(summary.get("timersReceived").asLong()).isEqualTo(3);
    assertThat(summary.get("malformed").asLong()).isEqualTo(2);
    assertThat(summary.get("stored").asLong()).isEqualTo(1);
    assertThat(summary.get("nodesFailed").asInt()).isZero();
    assertThat(node.holdsLive(1234)).isTrue();
    // The peer was told which timer this node now holds.
    assertThat(fakePeer.requests())
        .anySatisfy(
            r -> {
              assertThat(r.method()).isEqualTo("DELETE");
              assertThat(r.path()).isEqualTo("/timers/references");
              assertThat(r.bodyText()).contains("\"ID\":1234").contains("\"ReplicaIndex\":0");
            });
  }
}
