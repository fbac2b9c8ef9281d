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
 * A scale-up from three nodes to four in the window of its rolling reload: the first node has
 * reloaded (the fourth, joining, runs under the new view from its start), the second and third have
 * not. A node not reloaded does not know the joining node, so what a client sends through it
 * reaches the joining node only through a reloaded node that passes it on; otherwise the joining
 * node, a replica under the new view, pops a timer the client deleted, and its pops' news brings
 * the timer back on the others.
 */
class RollingReloadWithAJoiningNodeTest {
  private static final int INTERVAL = 4;

  private ClusterHarness cluster;
  private CallbackServer callbacks;
  private Node reloaded;
  private Node notReloaded;
  private Node notReloadedNoReplica;
  private Node joining;

  @BeforeEach
  void setUp() {
    callbacks = CallbackServer.start();
    cluster = ClusterHarness.create(4);
    reloaded = cluster.node(0);
    notReloaded = cluster.node(1);
    notReloadedNoReplica = cluster.node(2);
    joining = cluster.node(3);
    List<Node> old = List.of(reloaded, notReloaded, notReloadedNoReplica);
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
    assertThat(reloaded.reload()).isEqualTo(200);
    assertThat(reloaded.view().viewId()).isNotEqualTo(notReloaded.view().viewId());
  }

  @AfterEach
  void tearDown() {
    cluster.close();
    callbacks.close();
  }

  @Test
  void aDeletionThroughANodeNotReloadedReachesTheJoiningReplica() {
    long id = anIdOnTheFirstTwoBeforeAndTheSecondAndJoiningAfter();
    String path = callbacks.newPath("deleted");
    put(notReloaded, id, path);
    await().until(() -> notReloaded.holdsLive(id));
    put(reloaded, id, path); // placed under the new view: the joining node holds it too
    await().until(() -> joining.holdsLive(id));

    // Through a node that holds no copy and has not reloaded: it tells the old view's replicas.
    assertThat(notReloadedNoReplica.client().delete(location(id)).statusCode()).isEqualTo(200);

    await().until(() -> joining.timer(id).isTombstone());
    String control = callbacks.newPath("control");
    reloaded
        .client()
        .createTimer(
            TimerJson.timer().interval(INTERVAL + 3).callback(callbacks.url(control), "c").json());
    callbacks.awaitRequests(control, 1, Duration.ofSeconds(INTERVAL + 15));
    assertThat(callbacks.requestsTo(path)).as("pops of the deleted timer").isEmpty();
  }

  @Test
  void aTimerMadeThroughANodeNotReloadedReachesTheJoiningReplica() {
    long id = anIdOnTheFirstTwoBeforeAndTheSecondAndJoiningAfter();
    String path = callbacks.newPath("made");
    put(notReloaded, id, path);

    // Passed on by the reloaded node, placed as that node places what a client sends it: the
    // joining node and the second hold it, the reloaded node no replica under the new view.
    await().until(() -> joining.holdsLive(id) && notReloaded.holdsLive(id));
    assertThat(reloaded.holdsLive(id)).isFalse();
    callbacks.awaitRequests(path, 1, Duration.ofSeconds(INTERVAL + 15));
  }

  @Test
  void anUpdateThroughANodeNotReloadedReachesTheJoiningReplica() {
    long id = anIdOnTheFirstTwoBeforeAndTheSecondAndJoiningAfter();
    String before = callbacks.newPath("before");
    put(reloaded, id, before);
    await().until(() -> joining.holdsLive(id) && notReloaded.holdsLive(id));

    String after = callbacks.newPath("after");
    put(notReloadedNoReplica, id, after);

    callbacks.awaitRequests(after, 1, Duration.ofSeconds(INTERVAL + 15));
    // The joining node's copy names the new callback, so neither replica can pop the old one.
    await().until(() -> joining.timer(id).callbackUri().equals(callbacks.url(after)));
    assertThat(callbacks.requestsTo(before)).as("pops of the replaced timer").isEmpty();
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

  private void put(Node via, long id, String path) {
    String json =
        TimerJson.timer()
            .interval(INTERVAL)
            .repeatFor(10 * INTERVAL)
            .callback(callbacks.url(path), "o")
            .replicationFactor(2)
            .json();
    assertThat(via.client().put(location(id), json).statusCode()).isEqualTo(200);
  }
}
