package org.chronos.resync;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.chronos.testing.CallbackServer;
import org.chronos.testing.ChronosClient;
import org.chronos.testing.ClusterHarness;
import org.chronos.testing.ClusterHarness.Node;
import org.chronos.testing.TimerJson;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Elastic scaling as an operator runs it (PROTOCOL.md section 6, seeds/clustering-v2.txt): edit the
 * cluster files, reload, resync, finish. Real nodes, real callbacks; every timer pops once.
 */
class ScalingTest {
  static final Duration AFTER_ALL_REPLICAS = Duration.ofSeconds(6);

  /**
   * The one-shot timers' interval: they must come due only once the scaling steps are done (here
   * those take 0.5 to 2 s, starting nodes included), so that the nodes it leaves pop them. Five
   * times that and more, for a slow machine; every second of it is waited for in each test.
   */
  static final int INTERVAL = 10;

  private ClusterHarness cluster;
  private CallbackServer callbacks;

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
  }

  /** One-shot timers, due in {@link #INTERVAL} s. */
  private List<String> createTimers(Node via, int count, int rf) {
    return createTimers(via, count, rf, INTERVAL, INTERVAL);
  }

  /** Timers popping every {@code intervalSeconds} for {@code repeatForSeconds}; their paths. */
  private List<String> createTimers(
      Node via, int count, int rf, int intervalSeconds, int repeatForSeconds) {
    List<String> paths = new ArrayList<>();
    for (int i = 0; i < count; i++) {
      String path = callbacks.newPath("t");
      paths.add(path);
      via.client()
          .createTimer(
              TimerJson.timer()
                  .interval(intervalSeconds)
                  .repeatFor(repeatForSeconds)
                  .callback(callbacks.url(path), "o" + i)
                  .replicationFactor(rf)
                  .json());
    }
    return paths;
  }

  /** The X-Sequence-Number of every callback to {@code path} since {@code sinceMillis}. */
  private List<Integer> sequencesSince(String path, long sinceMillis) {
    return callbacks.requestsTo(path).stream()
        .filter(r -> r.arrivalMillis() >= sinceMillis)
        .map(CallbackServer.Received::sequenceNumber)
        .toList();
  }

  /** Cluster lines: {@code nodes} as node lines, then {@code joining} as joining lines. */
  private String withJoining(List<Node> nodes, List<Node> joining) {
    return cluster.nodeLines("node", nodes) + "\n" + cluster.nodeLines("joining", joining);
  }

  private void configure(List<Node> nodes, String lines) {
    for (Node n : nodes) {
      n.writeClusterFile(lines);
    }
  }

  private void reload(List<Node> nodes) {
    for (Node n : nodes) {
      assertThat(n.reload()).as("reload on %s", n).isEqualTo(200);
    }
  }

  private void waitForReplication(List<Node> nodes, int liveCopies) {
    await().until(() -> nodes.stream().mapToInt(Node::liveCount).sum() >= liveCopies);
  }

  @Test
  void scaleUpFromTwoToFour() {
    cluster = ClusterHarness.create(4);
    List<Node> old = List.of(cluster.node(0), cluster.node(1));
    List<Node> joining = List.of(cluster.node(2), cluster.node(3));
    configure(old, cluster.nodeLines("node", old));
    old.forEach(Node::start);
    List<String> paths = createTimers(cluster.node(0), 60, 2);
    waitForReplication(old, 120);

    String during = withJoining(old, joining);
    configure(cluster.nodes(), during);
    joining.forEach(Node::start);
    reload(old);
    for (Node n : cluster.nodes()) {
      JsonNode summary = n.resync();
      assertThat(summary.get("nodesFailed").asInt()).as("%s: %s", n, summary).isZero();
    }
    configure(cluster.nodes(), cluster.nodeLines("node", cluster.nodes()));
    reload(cluster.nodes());

    assertThat(joining.stream().mapToInt(Node::liveCount).sum())
        .as("timers moved to the new nodes")
        .isPositive();
    callbacks.assertEachCalledExactlyOnce(
        paths, Duration.ofSeconds(INTERVAL + 30), AFTER_ALL_REPLICAS);
  }

  @Test
  void repeatingTimersPopOnceEachTimeThroughAScaleUpThatTakesItsTime() {
    // Seven pops each, every 2 s. Between the reload and the resync every timer pops twice under
    // the joining view: a third of them by a node that is no replica of them under it (it was
    // their primary before), which must then leave them to their new replicas. The final view is
    // in place after those two pops and a resync (4.5 s here): the pops after it come under it.
    cluster = ClusterHarness.create(3);
    List<Node> old = List.of(cluster.node(0), cluster.node(1));
    Node joining = cluster.node(2);
    configure(old, cluster.nodeLines("node", old));
    old.forEach(Node::start);
    List<String> paths = createTimers(cluster.node(0), 30, 2, 2, 14);
    waitForReplication(old, 60);

    configure(cluster.nodes(), withJoining(old, List.of(joining)));
    joining.start();
    long reloaded = System.currentTimeMillis();
    reload(old);
    await("two pops of every timer since the reload")
        .atMost(Duration.ofSeconds(15))
        .until(() -> paths.stream().allMatch(p -> sequencesSince(p, reloaded).size() >= 2));
    for (Node n : cluster.nodes()) {
      JsonNode summary = n.resync();
      assertThat(summary.get("nodesFailed").asInt()).as("%s: %s", n, summary).isZero();
    }
    configure(cluster.nodes(), cluster.nodeLines("node", cluster.nodes()));
    reload(cluster.nodes());

    await("every timer's last pop")
        .atMost(Duration.ofSeconds(40))
        .until(() -> paths.stream().allMatch(p -> sequencesSince(p, 0).contains(7)));
    await("no late second pop")
        .pollDelay(AFTER_ALL_REPLICAS)
        .atMost(AFTER_ALL_REPLICAS.plusSeconds(5))
        .until(() -> true);
    for (String path : paths) {
      assertThat(sequencesSince(path, 0))
          .as("the pops of %s, by X-Sequence-Number", path)
          .containsExactlyInAnyOrder(1, 2, 3, 4, 5, 6, 7);
    }
  }

  @Test
  void aTimerPoppedByANodeNoLongerItsReplicaIsNotLostWhenItsNewReplicaCannotBeReached() {
    // One copy of each timer (rf 1), on node 0. A reload adds node 1 as joining, but node 1 never
    // starts: node 0, no replica of the timers placed on node 1 now, still pops them (their
    // primary before), and its news of each pop cannot reach node 1. Keeping only a tombstone
    // then would lose the timer: no node would make its next pop.
    cluster = ClusterHarness.create(2, "replication:", "  retryFor: 1s");
    Node only = cluster.node(0);
    configure(List.of(only), cluster.nodeLines("node", List.of(only)));
    only.start();
    // Four pops each: the first's news fails, and the three after it show the timer kept.
    List<String> paths = createTimers(only, 20, 1, 2, 8);
    configure(List.of(only), withJoining(List.of(only), List.of(cluster.node(1))));
    reload(List.of(only));

    await("four pops of every timer")
        .atMost(Duration.ofSeconds(40))
        .until(() -> paths.stream().allMatch(p -> sequencesSince(p, 0).size() >= 4));
    for (String path : paths) {
      assertThat(sequencesSince(path, 0))
          .as("the pops of %s, by X-Sequence-Number", path)
          .containsExactlyInAnyOrder(1, 2, 3, 4);
    }
    assertThat(only.metrics().meter("chronos.pops.kept-for-unreachable-replicas").getCount())
        .as("pops whose news no new replica took, the timer kept live")
        .isPositive();
  }

  /**
   * A joining node's resync reads the old node while that node's callbacks of timers now placed on
   * the joining node are out (slow targets). The page holds each such timer as it was before that
   * pop, overdue: the joining node, their primary now, must wait for the old node's news of the pop
   * (as a backup waits), not make it again at once.
   */
  @Test
  void aTimerWhoseCallbackIsOutWhileAJoiningNodeReadsItsPeerPopsOnce() {
    cluster = ClusterHarness.create(2, "resync:", "  onStart: false", "  warmUpTimers: 0");
    Node old = cluster.node(0);
    Node joining = cluster.node(1);
    configure(List.of(old), cluster.nodeLines("node", List.of(old)));
    old.start();
    callbacks.respondByDefault(request -> CallbackServer.Reply.stall(Duration.ofMillis(1500)));
    List<String> paths = new ArrayList<>();
    List<Long> ids = new ArrayList<>();
    for (int i = 0; i < 12; i++) {
      String path = callbacks.newPath("slow");
      paths.add(path);
      ids.add(
          ChronosClient.idOf(
              old.client().createTimer(TimerJson.oneShot(4, callbacks.url(path), "s" + i))));
    }

    configure(cluster.nodes(), withJoining(List.of(old), List.of(joining)));
    joining.start();
    reload(List.of(old));
    List<String> placedOnTheJoiningNode = new ArrayList<>();
    for (int i = 0; i < ids.size(); i++) {
      if (joining.view().replicasFor(ids.get(i), 2).get(0).equals(joining.address())) {
        placedOnTheJoiningNode.add(paths.get(i));
      }
    }
    assertThat(placedOnTheJoiningNode)
        .as("timers whose primary is now the joining node")
        .isNotEmpty();
    // The old node, their backup now, pops them 2 s after they are due; their callbacks take 1.5 s.
    await("the old node's callbacks of timers now placed on the joining node")
        .atMost(Duration.ofSeconds(15))
        .until(
            () ->
                placedOnTheJoiningNode.stream().allMatch(p -> !callbacks.requestsTo(p).isEmpty()));
    JsonNode summary = joining.resync();
    assertThat(summary.get("nodesFailed").asInt()).as("%s", summary).isZero();
    assertThat(joining.metrics().meter("chronos.resync.pops-in-progress-held").getCount())
        .as("copies of pops in progress on the old node (else the page came after the callbacks)")
        .isPositive();

    callbacks.assertEachCalledExactlyOnce(paths, Duration.ofSeconds(10), AFTER_ALL_REPLICAS);
  }

  @Test
  void timersDueRightAfterANodeIsAddedWithoutJoiningLinesPopOnce() {
    // The older procedure (seeds/clustering-v1.txt): the new node goes straight in as a node line
    // and every node reloads; the timers below pop before any resync. Where the new node takes a
    // timer's backup place, the old backup hears of it only from the primary's pop, and must take
    // that as news of the current view, or it pops the timer again 2 s later.
    cluster = ClusterHarness.create(4);
    List<Node> old = List.of(cluster.node(0), cluster.node(1), cluster.node(2));
    configure(old, cluster.nodeLines("node", old));
    old.forEach(Node::start);
    // Due in 5 s: the new node's start and the reloads take about 0.5 s here.
    List<String> paths = createTimers(cluster.node(0), 60, 2, 5, 5);
    waitForReplication(old, 120);

    configure(cluster.nodes(), cluster.nodeLines("node", cluster.nodes()));
    cluster.node(3).start();
    reload(old);

    callbacks.assertEachCalledExactlyOnce(paths, Duration.ofSeconds(30), AFTER_ALL_REPLICAS);
  }

  @Test
  void scaleDownFromFourToTwo() {
    cluster = ClusterHarness.start(4);
    List<Node> staying = List.of(cluster.node(0), cluster.node(1));
    List<Node> leaving = List.of(cluster.node(2), cluster.node(3));
    List<String> paths = createTimers(cluster.node(2), 60, 2);
    waitForReplication(cluster.nodes(), 120);

    configure(
        cluster.nodes(),
        cluster.nodeLines("node", staying) + "\n" + cluster.nodeLines("leaving", leaving));
    reload(cluster.nodes());
    for (Node n : staying) {
      JsonNode summary = n.resync();
      assertThat(summary.get("nodesFailed").asInt()).as("%s: %s", n, summary).isZero();
    }
    // Leaving nodes drop their copies once every new replica holds them.
    await().until(() -> leaving.stream().mapToInt(Node::liveCount).sum() == 0);
    leaving.forEach(Node::stop);
    configure(staying, cluster.nodeLines("node", staying));
    reload(staying);
    callbacks.assertEachCalledExactlyOnce(
        paths, Duration.ofSeconds(INTERVAL + 30), AFTER_ALL_REPLICAS);
  }

  @Test
  void scaleUpThenDownEndingOnTheTwoNewNodesOnly() {
    cluster = ClusterHarness.create(4);
    List<Node> first = List.of(cluster.node(0), cluster.node(1));
    List<Node> second = List.of(cluster.node(2), cluster.node(3));
    configure(first, cluster.nodeLines("node", first));
    first.forEach(Node::start);
    List<String> paths = createTimers(cluster.node(1), 40, 2);
    waitForReplication(first, 80);

    configure(cluster.nodes(), withJoining(first, second));
    second.forEach(Node::start);
    reload(first);
    cluster.nodes().forEach(Node::resync);
    configure(cluster.nodes(), cluster.nodeLines("node", cluster.nodes()));
    reload(cluster.nodes());

    configure(
        cluster.nodes(),
        cluster.nodeLines("node", second) + "\n" + cluster.nodeLines("leaving", first));
    reload(cluster.nodes());
    second.forEach(Node::resync);
    await().until(() -> first.stream().mapToInt(Node::liveCount).sum() == 0);
    first.forEach(Node::stop);
    configure(second, cluster.nodeLines("node", second));
    reload(second);
    assertThat(second.stream().mapToInt(Node::liveCount).sum()).isEqualTo(80);
    callbacks.assertEachCalledExactlyOnce(
        paths, Duration.ofSeconds(INTERVAL + 30), AFTER_ALL_REPLICAS);
  }

  @Test
  void scaleUpFromOneToTwoThenLoseTheOriginalNode() {
    cluster = ClusterHarness.create(2);
    Node original = cluster.node(0);
    Node added = cluster.node(1);
    configure(List.of(original), cluster.nodeLines("node", List.of(original)));
    original.start();
    List<String> paths = createTimers(original, 50, 2);

    configure(cluster.nodes(), withJoining(List.of(original), List.of(added)));
    added.start();
    reload(List.of(original));
    cluster.nodes().forEach(Node::resync);
    configure(cluster.nodes(), cluster.nodeLines("node", cluster.nodes()));
    reload(cluster.nodes());
    assertThat(added.liveCount()).isEqualTo(50);
    assertThat(callbacks.requests()).as("pops while the original node still ran").isEmpty();
    original.stop();
    callbacks.assertEachCalledExactlyOnce(
        paths, Duration.ofSeconds(INTERVAL + 30), AFTER_ALL_REPLICAS);
  }

  @Test
  void aRestartedNodeRecoversItsTimersAndSurvivesItsPartnerDying() {
    cluster = ClusterHarness.start(2);
    Node a = cluster.node(0);
    Node b = cluster.node(1);
    List<String> paths = createTimers(b, 50, 2);
    waitForReplication(cluster.nodes(), 100);
    a.stop();
    a.start();
    // The resync a node runs when it starts brings its copies back from its partner.
    await().atMost(Duration.ofSeconds(20)).until(() -> a.liveCount() == 50);
    assertThat(callbacks.requests()).as("pops while the partner still ran").isEmpty();
    b.stop();
    callbacks.assertEachCalledExactlyOnce(
        paths, Duration.ofSeconds(INTERVAL + 30), AFTER_ALL_REPLICAS);
  }

  /**
   * A thousand timers on node 0 alone, then node 1 joining and node 0 reloaded; returns node 1's
   * resync summary.
   */
  private JsonNode aThousandTimersResyncedToAJoiningNode() {
    Node a = cluster.node(0);
    Node b = cluster.node(1);
    configure(List.of(a), cluster.nodeLines("node", List.of(a)));
    a.start();
    for (int i = 0; i < 1000; i++) {
      a.client()
          .createTimer(
              TimerJson.timer().interval(600).callback(callbacks.url("/never"), "p" + i).json());
    }
    configure(cluster.nodes(), withJoining(List.of(a), List.of(b)));
    b.start();
    reload(List.of(a));
    return b.resync();
  }

  @Test
  void aThousandTimersMoveInOneResyncAcrossManyPages() {
    cluster = ClusterHarness.create(2);

    JsonNode summary = aThousandTimersResyncedToAJoiningNode();

    // The harness asks for pages of 100, so this took at least ten pages.
    assertThat(summary.get("timersReceived").asLong()).as(summary.toString()).isEqualTo(1000);
    assertThat(summary.get("stored").asLong()).isEqualTo(1000);
    assertThat(summary.get("malformed").asLong()).isZero();
    assertThat(cluster.node(1).liveCount()).isEqualTo(1000);
  }

  @Test
  void aPacedResyncTakesAtLeastWhatItsPaceAllowsAndStillMovesEveryTimer() {
    cluster =
        ClusterHarness.create(
            2, "resync:", "  pageSize: 100", "  onStart: false", "  maxTimersPerSecond: 200");

    JsonNode summary = aThousandTimersResyncedToAJoiningNode();

    // Ten pages of 100; each but the last waits for its place at 200 timers a second: 4.5 s.
    assertThat(summary.get("durationMillis").asLong())
        .as(summary.toString())
        .isBetween(4400L, 60_000L);
    assertThat(summary.get("stored").asLong()).isEqualTo(1000);
    assertThat(cluster.node(1).liveCount()).isEqualTo(1000);
  }
}
