package org.chronos.cluster;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;
import static org.chronos.testing.ChronosClient.idOf;

import java.net.http.HttpResponse;
import java.util.List;
import org.chronos.testing.CallbackServer;
import org.chronos.testing.CallbackServer.Received;
import org.chronos.testing.CallbackServer.Reply;
import org.chronos.testing.ClusterHarness;
import org.chronos.testing.ClusterHarness.Node;
import org.chronos.testing.TimerJson;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** Reloading the cluster file: all or nothing, and timers follow the new view. */
class ReloadTest {
  private ClusterHarness cluster;
  private final CallbackServer callbacks = CallbackServer.start();

  @AfterEach
  void tearDown() {
    if (cluster != null) {
      cluster.close();
    }
    callbacks.close();
  }

  @Test
  void aBadFileIsRefusedWithTheReasonAndTheOldViewStays() {
    cluster = ClusterHarness.start(2);
    Node a = cluster.node(0);
    String before = a.view().viewId();
    a.writeRawClusterFile(
        "[cluster]\nlocalhost = "
            + a.address()
            + "\nnode = "
            + a.address()
            + "\nnode = 1.2.3.4:99999\n");
    HttpResponse<String> response = a.client().adminPost("/tasks/reload");
    assertThat(response.statusCode()).isGreaterThanOrEqualTo(400);
    assertThat(response.body()).contains("99999");
    assertThat(a.view().viewId()).isEqualTo(before);
    assertThat(a.view().newCluster())
        .containsExactly(cluster.node(0).address(), cluster.node(1).address());
    // Still serving with the old view.
    a.client().createTimer(TimerJson.oneShot(60, callbacks.url("/x"), "x"));
  }

  @Test
  void aClusterFileFoundGoneOrWithoutNodesIsRefusedAndTheNodeStaysInItsCluster() throws Exception {
    cluster = ClusterHarness.start(2);
    Node a = cluster.node(0);
    String before = a.view().viewId();

    // Caught half rewritten: the [identity] section written, the node lines not yet.
    a.writeRawClusterFile("[cluster]\nlocalhost = " + a.address() + "\n");
    HttpResponse<String> emptied = a.client().adminPost("/tasks/reload");
    assertThat(emptied.statusCode()).isGreaterThanOrEqualTo(400);
    assertThat(emptied.body()).contains("no node, joining or leaving line");
    assertThat(a.view().viewId()).isEqualTo(before);

    a.deleteClusterFile();
    HttpResponse<String> gone = a.client().adminPost("/tasks/reload");
    assertThat(gone.statusCode()).isGreaterThanOrEqualTo(400);
    assertThat(gone.body()).contains("does not exist");
    assertThat(a.view().newCluster())
        .containsExactly(cluster.node(0).address(), cluster.node(1).address());

    // Running alone is still possible, said in so many words.
    a.writeClusterFile(cluster.nodeLines("node", List.of(a)));
    assertThat(a.reload()).isEqualTo(200);
    assertThat(a.view().newCluster()).containsExactly(a.address());
  }

  /**
   * A shared file caught half rewritten, or gone, would make the node a lone "site1": it would stop
   * sending to the other sites and pop their timers' copies as their first site.
   */
  @Test
  void aSharedFileFoundGoneOrWithoutSitesIsRefusedAndTheSitesStay() {
    cluster = ClusterHarness.create(1);
    Node a = cluster.node(0);
    a.writeClusterFile(cluster.nodeLines("node", List.of(a)));
    a.writeSharedFile("[sites]\nlocal_site = east\nremote_site = west=127.0.0.1:1\n");
    a.start();

    a.writeSharedFile("# being rewritten\n");
    HttpResponse<String> emptied = a.client().adminPost("/tasks/reload");
    assertThat(emptied.statusCode()).isGreaterThanOrEqualTo(400);
    assertThat(emptied.body()).contains("no [sites] line");

    a.deleteSharedFile();
    HttpResponse<String> gone = a.client().adminPost("/tasks/reload");
    assertThat(gone.statusCode()).isGreaterThanOrEqualTo(400);
    assertThat(gone.body()).contains("does not exist");
    assertThat(a.app().clusterService().sites().localSite()).isEqualTo("east");
    assertThat(a.app().clusterService().sites().remoteSites()).containsKey("west");

    // Leaving the other sites is still possible, said in so many words.
    a.writeSharedFile("[sites]\nlocal_site = east\n");
    assertThat(a.reload()).isEqualTo(200);
    assertThat(a.app().clusterService().sites().remoteSites()).isEmpty();
  }

  /**
   * A node installed from the package starts before its cluster file is written, with identity 0/0;
   * the file comes later with a reload, as Clearwater's tooling does it. Its ids must carry the new
   * identity from then on, as the original's do: two nodes making ids as 0/0 make the same id
   * whenever both create a timer in the same millisecond, and one timer replaces the other.
   */
  @Test
  void anIdentityChangedByAReloadIsInTheNextTimerIds() {
    cluster = ClusterHarness.create(1);
    Node a = cluster.node(0);
    a.writeRawClusterFile("[cluster]\nlocalhost = " + a.address() + "\n");
    a.start();
    long before = idOf(a.client().createTimer(TimerJson.oneShot(60, callbacks.url("/x"), "x")));
    assertThat(identityBits(before)).isZero();

    a.writeRawClusterFile(
        "[cluster]\nlocalhost = "
            + a.address()
            + "\nnode = "
            + a.address()
            + "\n[identity]\ninstance_id = 5\ndeployment_id = 3\n");
    assertThat(a.reload()).isEqualTo(200);

    long after = idOf(a.client().createTimer(TimerJson.oneShot(60, callbacks.url("/x"), "y")));
    assertThat(identityBits(after)).isEqualTo((3L << 27) | (5L << 20));
  }

  /** The deployment and instance bits of a timer id (PROTOCOL.md section 2). */
  private static long identityBits(long id) {
    return id & (((1L << 30) - 1) & ~((1L << 20) - 1));
  }

  @Test
  void aGoodFilePlacesNewTimersOnTheNewViewAndUpdatesMoveOldOnes() throws Exception {
    cluster = ClusterHarness.create(3);
    Node a = cluster.node(0);
    Node b = cluster.node(1);
    Node c = cluster.node(2);
    List<Node> two = List.of(a, b);
    for (Node n : two) {
      n.writeClusterFile(cluster.nodeLines("node", two));
      n.start();
    }
    // rf 1: each timer lives on exactly one node, so where it lives is easy to see.
    String location = null;
    long id = 0;
    for (int i = 0; i < 200 && location == null; i++) {
      String candidate =
          a.client()
              .createTimer(
                  TimerJson.timer()
                      .interval(300)
                      .callback(callbacks.url("/moved"), "v1")
                      .replicationFactor(1)
                      .json());
      long candidateId = idOf(candidate);
      ClusterView three =
          new ClusterView(
              ClusterConfig.parse(
                  "[cluster]\nlocalhost = "
                      + c.address()
                      + "\n"
                      + cluster.nodeLines("node", cluster.nodes()),
                  "test",
                  7253));
      if (three.replicasFor(candidateId, 1).get(0).equals(c.address())) {
        location = candidate;
        id = candidateId;
      }
    }
    assertThat(location).as("some timer belongs to the third node under the new view").isNotNull();
    long movedId = id;
    Node oldHome = cluster.byAddress(a.view().replicasFor(movedId, 1).get(0));
    await().until(() -> oldHome.holdsLive(movedId));

    for (Node n : cluster.nodes()) {
      n.writeClusterFile(cluster.nodeLines("node", cluster.nodes()));
    }
    c.start();
    assertThat(a.reload()).isEqualTo(200);
    assertThat(b.reload()).isEqualTo(200);
    assertThat(a.view().viewId()).isEqualTo(c.view().viewId());

    // New timers use the new view: some of 30 rf-1 timers land on the new node.
    for (int i = 0; i < 30; i++) {
      a.client()
          .createTimer(
              TimerJson.timer()
                  .interval(300)
                  .callback(callbacks.url("/new"), "n")
                  .replicationFactor(1)
                  .json());
    }
    await().until(() -> c.liveCount() > 0);

    // An update through any node moves the timer to its new home; the old copy dies.
    assertThat(
            b.client()
                .put(
                    location,
                    TimerJson.timer()
                        .interval(300)
                        .callback(callbacks.url("/moved"), "v2")
                        .replicationFactor(1)
                        .json())
                .statusCode())
        .isEqualTo(200);
    await().until(() -> c.holdsLive(movedId));
    await().until(() -> !oldHome.holdsLive(movedId));
  }

  /**
   * A reload that moves a timer's backup to a joining node that holds nothing yet (no resync
   * since): the old backup keeps its copy until the primary's callback has succeeded, so when that
   * callback fails the old backup still pops the timer 2 s later.
   */
  @Test
  void aCallbackThatFailsRightAfterAReloadIsMadeByTheBackupTheReloadDropped() throws Exception {
    cluster = ClusterHarness.create(3);
    Node a = cluster.node(0);
    Node b = cluster.node(1);
    Node c = cluster.node(2); // never started: joining on paper only, as before its resync
    List<Node> two = List.of(a, b);
    for (Node n : two) {
      n.writeClusterFile(cluster.nodeLines("node", two));
      n.start();
    }
    String joinedLines =
        cluster.nodeLines("node", two) + "\n" + cluster.nodeLines("joining", List.of(c));
    ClusterView joined =
        new ClusterView(
            ClusterConfig.parse(
                "[cluster]\nlocalhost = " + a.address() + "\n" + joinedLines, "test", 7253));
    long id = 1;
    while (!(a.view().replicasFor(id, 2).equals(List.of(a.address(), b.address()))
        && joined.replicasFor(id, 2).equals(List.of(a.address(), c.address())))) {
      id++;
    }
    String path = callbacks.newPath("dropped-backup");
    callbacks.respondByNumber(path, n -> n == 1 ? Reply.status(500) : Reply.ok());
    String location = String.format("/timers/%016x-2", id);
    assertThat(
            a.client()
                .put(location, TimerJson.oneShot(4, callbacks.url(path), "once"))
                .statusCode())
        .isEqualTo(200);
    long timerId = id;
    await().until(() -> b.holdsLive(timerId));

    for (Node n : two) {
      n.writeClusterFile(joinedLines);
    }
    assertThat(a.reload()).isEqualTo(200);
    assertThat(b.reload()).isEqualTo(200);
    assertThat(callbacks.requestsTo(path)).as("nothing popped before both reloads").isEmpty();

    // A pops first (its primary before and after) and gets a 500: A drops its copy, C has none,
    // so only B, the backup until this pop, can still make it.
    List<Received> calls = callbacks.awaitRequests(path, 2);
    assertThat(calls.get(1).bodyText()).isEqualTo("once");
  }
}
