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
    reload(reloaded);
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
    long id = anIdOnTheFirstTwoBeforeAndTheSecondAndJoiningAfter();
    String path = callbacks.newPath("deleted");
    put(notReloaded, id, path, 10 * INTERVAL);
    await().until(() -> reloaded.holdsLive(id) && notReloaded.holdsLive(id));
    // Placed under the new view by the reloaded node: every copy names the joining node now.
    put(reloaded, id, path, 10 * INTERVAL);
    await().until(() -> joining.holdsLive(id));

    // The node not reloaded tells the replicas its copy names, and the others of its view.
    assertThat(notReloaded.client().delete(location(id)).statusCode()).isEqualTo(200);

    assertNoPop(path);
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

  /** Old view {first, second}; new view {second, joining}. */
  private long anIdOnTheFirstTwoBeforeAndTheSecondAndJoiningAfter() {
    for (long id = 1; ; id++) {
      long candidate = id << 20;
      if (Set.copyOf(notReloaded.view().replicasFor(candidate, 2))
              .equals(Set.of(reloaded.address(), notReloaded.address()))
          && Set.copyOf(reloaded.view().replicasFor(candidate, 2))
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
