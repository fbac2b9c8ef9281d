package org.chronos.replication;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.time.Duration;
import java.util.List;
import java.util.Set;
import org.chronos.testing.CallbackServer;
import org.chronos.testing.ClusterHarness;
import org.chronos.testing.ClusterHarness.Node;
import org.chronos.testing.TimerJson;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A client's request in the window of a rolling reload, where one node runs under the new cluster
 * view and others still under the old one (an operator reloads the nodes one at a time, PROTOCOL.md
 * section 6). A copy made under the receiver's current view must not beat a later update only
 * because that update came from a node on the other view: a deletion answered 200 would be lost,
 * and the timer pop on.
 */
class RollingReloadTest {
  private static final int INTERVAL = 4;

  private ClusterHarness cluster;
  private CallbackServer callbacks;
  private Node reloaded;
  private Node notReloaded;
  private Node third; // leaving, or not reloaded (in a scale-up)
  private Node joining;

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

  /** Three nodes; the third leaves, and only the first has reloaded so far. */
  private void scaleDownFromThreeWithTheFirstReloaded() {
    cluster = ClusterHarness.start(3);
    reloaded = cluster.node(0);
    notReloaded = cluster.node(1);
    third = cluster.node(2);
    reloaded.writeClusterFile(
        cluster.nodeLines("node", List.of(reloaded, notReloaded))
            + "\n"
            + cluster.nodeLines("leaving", List.of(third)));
    reload(reloaded);
  }

  /**
   * Three nodes and a fourth joining, which runs under the new view from its start; only the first
   * of the three has reloaded so far.
   */
  private void scaleUpFromThreeWithTheFirstReloaded() {
    scaleUpFromThree();
    reload(reloaded);
  }

  /** As {@link #scaleUpFromThreeWithTheFirstReloaded}, but none of the three reloaded yet. */
  private void scaleUpFromThree() {
    cluster = ClusterHarness.create(4);
    reloaded = cluster.node(0);
    notReloaded = cluster.node(1);
    third = cluster.node(2);
    joining = cluster.node(3);
    List<Node> old = List.of(reloaded, notReloaded, third);
    for (Node n : old) {
      n.writeClusterFile(cluster.nodeLines("node", old));
    }
    old.forEach(Node::start);
    String during =
        cluster.nodeLines("node", old) + "\n" + cluster.nodeLines("joining", List.of(joining));
    for (Node n : cluster.nodes()) {
      n.writeClusterFile(during);
    }
    joining.start();
  }

  private void reload(Node node) {
    assertThat(node.reload()).isEqualTo(200);
    assertThat(reloaded.view().viewId()).isNotEqualTo(notReloaded.view().viewId());
  }

  @Test
  void aDeletionThroughANodeNotYetReloadedEndsATimerMadeUnderTheNewView() {
    scaleDownFromThreeWithTheFirstReloaded();
    long id = anIdOnTheFirstTwoUnderBothViews();
    String path = callbacks.newPath("deleted");
    put(reloaded, id, path, INTERVAL);
    await().until(() -> notReloaded.holdsLive(id));

    assertThat(notReloaded.client().delete(location(id)).statusCode()).isEqualTo(200);

    assertNoPop(path);
  }

  @Test
  void aDeletionThroughTheReloadedNodeEndsATimerMadeUnderTheOldView() {
    scaleDownFromThreeWithTheFirstReloaded();
    long id = anIdOnTheFirstTwoUnderBothViews();
    String path = callbacks.newPath("deleted");
    put(notReloaded, id, path, INTERVAL);
    await().until(() -> reloaded.holdsLive(id));

    assertThat(reloaded.client().delete(location(id)).statusCode()).isEqualTo(200);

    assertNoPop(path);
  }

  @Test
  void aDeletionThroughANodeNotReloadedEndsTheTimerOnTheJoiningReplicaItsCopyNames() {
    scaleUpFromThreeWithTheFirstReloaded();
    String path = callbacks.newPath("deleted");
    long id = aTimerPlacedUnderBothViews(path);

    // The node not reloaded tells the replicas its copy names, and the others of its view.
    assertThat(notReloaded.client().delete(location(id)).statusCode()).isEqualTo(200);

    assertNoPop(path);
  }

  /**
   * A deletion through a node not reloaded and holding no copy reaches only the old view's
   * replicas: the joining node, a replica under the new view, never hears of it and pops the timer.
   * Its pop's news, which by the version rule beats the tombstones of the other view, is refused by
   * the nodes that hold the deletion, and they tell the joining node: one pop, then none, and the
   * timer is not brought back (it popped every interval, from every node, before).
   */
  @Test
  void aDeletionTheJoiningReplicaNeverHeardOfEndsAtItsFirstPop() throws InterruptedException {
    scaleUpFromThreeWithTheFirstReloaded();
    String path = callbacks.newPath("deleted");
    long id = aTimerPlacedUnderBothViews(path);

    deleteThroughTheThirdAndAssertOnePopAtMost(id, path);
  }

  /**
   * As above, with none of the old nodes reloaded: the joining node, which took the timer from a
   * client, is told the deletion by those that refuse its pop's news though their view does not
   * make it a replica (it is one of the replicas the news names).
   */
  @Test
  void aDeletionTheJoiningReplicaNeverHeardOfEndsAtItsFirstPopWithNoNodeReloaded()
      throws InterruptedException {
    scaleUpFromThree();
    long id = anIdOnTheFirstTwoBeforeAndTheSecondAndJoiningAfter();
    String path = callbacks.newPath("deleted");
    put(joining, id, path, 10 * INTERVAL);
    await().until(() -> notReloaded.holdsLive(id));

    deleteThroughTheThirdAndAssertOnePopAtMost(id, path);
  }

  /**
   * As the first above, and the reloads then finish and the second node resyncs (as a rule before
   * the joining node's first pop): the deletions the second and first hold were made under the view
   * before their reloads, and a resync page or news of a pop under the new one would beat them by
   * the version rule, and bring the timer back.
   */
  @Test
  void aDeletionMadeBeforeTheReloadsFinishedIsKeptOverTheJoiningReplicasCopy()
      throws InterruptedException {
    scaleUpFromThreeWithTheFirstReloaded();
    String path = callbacks.newPath("deleted");
    long id = aTimerPlacedUnderBothViews(path);

    deleteThroughTheThirdAndAssertOnePopAtMost(
        id,
        path,
        () -> {
          assertThat(notReloaded.reload()).isEqualTo(200);
          assertThat(third.reload()).isEqualTo(200);
          assertThat(notReloaded.resync().get("nodesFailed").asInt()).isZero();
          assertThat(notReloaded.holdsLive(id)).as("the timer back after the resync").isFalse();
        });
  }

  private void deleteThroughTheThirdAndAssertOnePopAtMost(long id, String path)
      throws InterruptedException {
    deleteThroughTheThirdAndAssertOnePopAtMost(id, path, () -> {});
  }

  /**
   * Deletes the timer through the third node (not reloaded, no copy of it: it tells the old view's
   * replicas only), runs {@code then}, and checks the timer pops once at most (the joining node's
   * first pop), then never again and nowhere, past two more of its intervals.
   */
  private void deleteThroughTheThirdAndAssertOnePopAtMost(long id, String path, Runnable then)
      throws InterruptedException {
    // The client deletes it a while later: a deletion within 200 ms of the series' start is taken
    // for the same series as a pop's copy (VersionRule.isLaterPop), and loses to the pop.
    Thread.sleep(VersionRule.SAME_START_MILLIS + 100);

    assertThat(third.client().delete(location(id)).statusCode()).isEqualTo(200);
    then.run();

    await("the joining node told of the deletion")
        .atMost(Duration.ofSeconds(INTERVAL + 15))
        .until(() -> joining.timer(id).isTombstone());
    String control = callbacks.newPath("control");
    reloaded
        .client()
        .createTimer(
            TimerJson.timer()
                .interval(2 * INTERVAL + 3)
                .callback(callbacks.url(control), "c")
                .json());
    callbacks.awaitRequests(control, 1, Duration.ofSeconds(2 * INTERVAL + 15));
    assertThat(callbacks.requestsTo(path)).as("pops of the deleted timer").hasSizeLessThan(2);
    for (Node n : cluster.nodes()) {
      assertThat(n.holdsLive(id)).as("%s holds the deleted timer", n).isFalse();
    }
  }

  /**
   * A timer id whose two replicas are the first two nodes under both views (and none extra under
   * the new one), so that each of the two holds it and the leaving node plays no part.
   */
  private long anIdOnTheFirstTwoUnderBothViews() {
    Set<String> both = Set.of(reloaded.address(), notReloaded.address());
    for (long id = 1; ; id++) {
      long candidate = id << 20;
      if (Set.copyOf(reloaded.view().replicasFor(candidate, 2)).equals(both)
          && reloaded.view().extraReplicasFor(candidate, 2).isEmpty()
          && Set.copyOf(notReloaded.view().replicasFor(candidate, 2)).equals(both)) {
        return candidate;
      }
    }
  }

  /**
   * A timer made through the node not reloaded, then updated through the reloaded one, which places
   * it under the new view: every copy names the joining node then. Its id.
   */
  private long aTimerPlacedUnderBothViews(String path) {
    long id = anIdOnTheFirstTwoBeforeAndTheSecondAndJoiningAfter();
    put(notReloaded, id, path, 10 * INTERVAL);
    await().until(() -> reloaded.holdsLive(id) && notReloaded.holdsLive(id));
    put(reloaded, id, path, 10 * INTERVAL);
    await().until(() -> joining.holdsLive(id));
    return id;
  }

  /** Old view {first, second}; new view {second, joining}. */
  private long anIdOnTheFirstTwoBeforeAndTheSecondAndJoiningAfter() {
    for (long id = 1; ; id++) {
      long candidate = id << 20;
      if (Set.copyOf(notReloaded.view().replicasFor(candidate, 2))
              .equals(Set.of(reloaded.address(), notReloaded.address()))
          && Set.copyOf(joining.view().replicasFor(candidate, 2))
              .equals(Set.of(notReloaded.address(), joining.address()))) {
        return candidate;
      }
    }
  }

  private static String location(long id) {
    return String.format("/timers/%016x-2", id);
  }

  /** A timer popping every {@link #INTERVAL} s for {@code repeatFor} s. */
  private void put(Node via, long id, String path, int repeatFor) {
    String json =
        TimerJson.timer()
            .interval(INTERVAL)
            .repeatFor(repeatFor)
            .callback(callbacks.url(path), "o")
            .replicationFactor(2)
            .json();
    assertThat(via.client().put(location(id), json).statusCode()).isEqualTo(200);
  }

  /**
   * No callback to {@code path}: a timer made now with an interval past both replicas' first pops
   * of the deleted one (the backup pops 2 s after the primary) pops first.
   */
  private void assertNoPop(String path) {
    String control = callbacks.newPath("control");
    reloaded
        .client()
        .createTimer(
            TimerJson.timer().interval(INTERVAL + 3).callback(callbacks.url(control), "c").json());
    callbacks.awaitRequests(control, 1, Duration.ofSeconds(INTERVAL + 15));
    assertThat(callbacks.requestsTo(path)).as("pops of the deleted timer").isEmpty();
  }
}
