package org.chronos.resync;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;
import static org.chronos.testing.ChronosClient.idOf;

import com.fasterxml.jackson.databind.JsonNode;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.IntStream;
import org.chronos.testing.CallbackServer;
import org.chronos.testing.CallbackServer.Received;
import org.chronos.testing.CallbackServer.Reply;
import org.chronos.testing.ClusterHarness;
import org.chronos.testing.ClusterHarness.Node;
import org.chronos.testing.TimerJson;
import org.chronos.timer.Timer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Timers keep popping exactly once while a resync moves many others. */
class ResyncUnderLoadTest {
  private ClusterHarness cluster;
  private CallbackServer callbacks;
  private CallbackServer fakePeer;

  @BeforeEach
  void setUp() {
    callbacks = CallbackServer.start();
  }

  @AfterEach
  void tearDown() {
    if (cluster != null) {
      cluster.close();
    }
    callbacks.close();
    if (fakePeer != null) {
      fakePeer.close();
    }
  }

  @Test
  void shortTimersPopOnceWhileAJoiningNodeResyncsThousandsOfTimers() throws Exception {
    cluster = ClusterHarness.create(2);
    Node a = cluster.node(0);
    Node b = cluster.node(1);
    a.writeClusterFile(cluster.nodeLines("node", List.of(a)));
    a.start();
    String longTimer =
        TimerJson.timer().interval(600).callback(callbacks.url("/never"), "x").json();
    // Faster than the node's overload control admits (a burst of 1,000, then 500/s at first):
    // a 503 is retried a little later.
    IntStream.range(0, 4000)
        .parallel()
        .forEach(
            i -> {
              int status;
              while ((status = a.client().post("/timers", longTimer).statusCode()) == 503) {
                try {
                  Thread.sleep(100);
                } catch (InterruptedException e) {
                  throw new IllegalStateException(e);
                }
              }
              assertThat(status).isEqualTo(200);
            });
    assertThat(a.liveCount()).isEqualTo(4000);
    String joined =
        cluster.nodeLines("node", List.of(a)) + "\n" + cluster.nodeLines("joining", List.of(b));
    a.writeClusterFile(joined);
    b.writeClusterFile(joined);
    b.start();
    assertThat(a.reload()).isEqualTo(200);

    // The background: one-shot 1 s timers created on A all through the resync; under the joined
    // view about half have B as primary, and each pop is replicated to the other node.
    List<String> paths = Collections.synchronizedList(new ArrayList<>());
    AtomicBoolean creating = new AtomicBoolean(true);
    Thread background =
        new Thread(
            () -> {
              for (int i = 0; creating.get(); i++) {
                String path = callbacks.newPath("bg");
                a.client().createTimer(TimerJson.oneShot(1, callbacks.url(path), "bg" + i));
                paths.add(path);
                try {
                  Thread.sleep(10);
                } catch (InterruptedException e) {
                  return;
                }
              }
            });
    background.start();
    await().until(() -> paths.size() >= 100); // pops are under way before the resync starts
    JsonNode summary = b.resync();
    Thread.sleep(1000); // and go on for a while after it
    creating.set(false);
    background.join();

    assertThat(summary.get("nodesFailed").asInt()).as(summary.toString()).isZero();
    assertThat(summary.get("copiesFailed").asLong()).as(summary.toString()).isZero();
    assertThat(b.liveCount()).as("B holds the long timers").isGreaterThanOrEqualTo(4000);
    callbacks.assertEachCalledExactlyOnce(
        List.copyOf(paths), Duration.ofSeconds(20), ScalingTest.AFTER_ALL_REPLICAS);
  }

  @Test
  void aPageOlderThanALocalPopDoesNotUndoIt() {
    Node node = nodeWithFakePeer();

    String path = callbacks.newPath("popped");
    String location = node.client().createTimer(TimerJson.oneShot(1, callbacks.url(path), "once"));
    long id = idOf(location);
    Timer created = node.timer(id);
    callbacks.awaitRequest(path);
    await().until(() -> node.timer(id).sequence() == 1);
    // The pop's replication reached the peer.
    await()
        .until(
            () ->
                fakePeer.requests().stream()
                    .anyMatch(r -> r.method().equals("PUT") && r.path().equals(location)));

    // The peer's page still has the timer as it was before that pop (sequence 0).
    String page =
        "{\"Timers\":[" + entry(node, created, 1, created.startMillis(), path, "once") + "]}";
    int putsBefore =
        (int) fakePeer.requests().stream().filter(r -> r.method().equals("PUT")).count();
    servePage(page);
    JsonNode summary = node.resync();

    assertThat(node.holdsLive(id)).as("the pop is not undone").isFalse();
    callbacks.assertEachCalledExactlyOnce(
        List.of(path), Duration.ofSeconds(5), ScalingTest.AFTER_ALL_REPLICAS);
    List<Received> puts =
        fakePeer.requests().stream().filter(r -> r.method().equals("PUT")).toList();
    assertThat(puts.subList(putsBefore, puts.size()))
        .as("the older copy is not sent on either")
        .isEmpty();
    assertThat(summary.get("timersReceived").asLong()).as(summary.toString()).isEqualTo(1);
    assertThat(summary.get("superseded").asLong()).as(summary.toString()).isEqualTo(1);
  }

  @Test
  void aPageCopyOfAHeldTimerShiftedByItsTimeInTransitKeepsTheHeldStart() {
    Node node = nodeWithFakePeer();
    String slightly = node.client().createTimer(TimerJson.oneShot(600, callbacks.url("/a"), "a"));
    String much = node.client().createTimer(TimerJson.oneShot(600, callbacks.url("/b"), "b"));
    Timer a = node.timer(idOf(slightly));
    Timer b = node.timer(idOf(much));

    // The peer lists both with a later start: 150 ms (a page's time in transit), and 5 s (another
    // version of the timer).
    String page =
        "{\"Timers\":["
            + entry(node, a, 600, a.startMillis() + 150, "/a", "a")
            + ","
            + entry(node, b, 600, b.startMillis() + 5000, "/b", "b")
            + "]}";
    servePage(page);
    JsonNode summary = node.resync();

    assertThat(summary.get("stored").asLong()).as(summary.toString()).isEqualTo(2);
    assertThat(node.timer(a.id()).startMillis()).isEqualTo(a.startMillis());
    assertThat(node.timer(b.id()).startMillis()).isEqualTo(b.startMillis() + 5000);
  }

  /**
   * A node whose cluster file lists a fake peer, which takes replication (PUT) and references
   * (DELETE); what it lists for a resync is set with {@link #servePage}.
   */
  private Node nodeWithFakePeer() {
    fakePeer = CallbackServer.start();
    cluster = ClusterHarness.create(1);
    Node node = cluster.node(0);
    node.writeClusterFile("node = " + node.address() + "\nnode = 127.0.0.1:" + fakePeer.port());
    node.start();
    servePage(null);
    return node;
  }

  /** The fake peer answers resync listings with this page (null: no listing). */
  private void servePage(String page) {
    fakePeer.respondByDefault(
        request ->
            page != null && request.method().equals("GET")
                ? Reply.ok().withBody(page)
                : Reply.status(request.method().equals("PUT") ? 200 : 202));
  }

  /** A resync page entry for {@code held}, at sequence 0, with the given interval and start. */
  private String entry(
      Node node, Timer held, int intervalSeconds, long startMillis, String path, String opaque) {
    String replicas =
        new com.fasterxml.jackson.databind.ObjectMapper().valueToTree(held.replicas()).toString();
    return "{\"TimerID\":"
        + Long.toUnsignedString(held.id())
        + ",\"OldReplicas\":"
        + replicas
        + ",\"Timer\":{\"timing\":{\"interval\":"
        + intervalSeconds
        + ",\"repeat-for\":"
        + intervalSeconds
        + ",\"start-time\":"
        + startMillis
        + ",\"sequence-number\":0},\"callback\":{\"http\":{\"uri\":\""
        + callbacks.url(path)
        + "\",\"opaque\":\""
        + opaque
        + "\"}},\"reliability\":{\"cluster-view-id\":\""
        + node.view().viewId()
        + "\",\"replicas\":"
        + replicas
        + "}}}";
  }
}
