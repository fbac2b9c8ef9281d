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
 * A client's update in the window of a rolling reload, where one node runs under the new cluster
 * view and another still under the old one (an operator reloads the nodes one at a time,
 * PROTOCOL.md section 6). A copy made under the receiver's current view must not beat a later
 * update only because that update came from a node not reloaded yet: the deletion was answered 200,
 * and the timer must not pop.
 */
class RollingReloadTest {
  private static final int INTERVAL = 4;

  private ClusterHarness cluster;
  private CallbackServer callbacks;
  private Node reloaded;
  private Node notReloaded;

  @BeforeEach
  void setUp() {
    callbacks = CallbackServer.start();
    cluster = ClusterHarness.start(3);
    reloaded = cluster.node(0);
    notReloaded = cluster.node(1);
    // The third node leaves; only the first node has reloaded so far.
    reloaded.writeClusterFile(
        cluster.nodeLines("node", List.of(reloaded, notReloaded))
            + "\n"
            + cluster.nodeLines("leaving", List.of(cluster.node(2))));
    assertThat(reloaded.reload()).isEqualTo(200);
    assertThat(reloaded.view().viewId()).isNotEqualTo(notReloaded.view().viewId());
  }

  @AfterEach
  void tearDown() {
    cluster.close();
    callbacks.close();
  }

  @Test
  void aDeletionThroughANodeNotYetReloadedEndsATimerMadeUnderTheNewView() {
    long id = anIdHeldByTheFirstTwoNodesUnderBothViews();
    String path = callbacks.newPath("deleted");
    put(reloaded, id, path);
    await().until(() -> notReloaded.holdsLive(id));

    assertThat(notReloaded.client().delete(location(id)).statusCode()).isEqualTo(200);

    assertNoPop(path);
  }

  @Test
  void aDeletionThroughTheReloadedNodeEndsATimerMadeUnderTheOldView() {
    long id = anIdHeldByTheFirstTwoNodesUnderBothViews();
    String path = callbacks.newPath("deleted");
    put(notReloaded, id, path);
    await().until(() -> reloaded.holdsLive(id));

    assertThat(reloaded.client().delete(location(id)).statusCode()).isEqualTo(200);

    assertNoPop(path);
  }

  /**
   * A timer id whose two replicas are the first two nodes under both views (and none extra under
   * the new one), so that each of the two holds it and the leaving node plays no part.
   */
  private long anIdHeldByTheFirstTwoNodesUnderBothViews() {
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

  private static String location(long id) {
    return String.format("/timers/%016x-2", id);
  }

  private void put(Node via, long id, String path) {
    String json =
        TimerJson.timer()
            .interval(INTERVAL)
            .callback(callbacks.url(path), "o")
            .replicationFactor(2)
            .json();
    assertThat(via.client().put(location(id), json).statusCode()).isEqualTo(200);
  }

  /**
   * No callback to {@code path}: a timer made now with an interval past both replicas' pops of the
   * deleted one (the backup pops 2 s after the primary) pops first.
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
