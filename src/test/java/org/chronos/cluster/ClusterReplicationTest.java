package org.chronos.cluster;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;
import static org.chronos.testing.ChronosClient.idOf;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.chronos.testing.CallbackServer;
import org.chronos.testing.CallbackServer.Received;
import org.chronos.testing.CallbackServer.Reply;
import org.chronos.testing.ClusterHarness;
import org.chronos.testing.ClusterHarness.Node;
import org.chronos.testing.TimerJson;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Replication between real nodes on loopback (PROTOCOL.md section 5): every timer pops exactly once
 * whichever node took the request, whatever happened to its replicas.
 */
class ClusterReplicationTest {
  /** A replica at position i pops 2 s after the one before it; this covers three and slack. */
  static final Duration AFTER_ALL_REPLICAS = Duration.ofSeconds(6);

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

  private List<String> createTimers(
      Node via, int count, int intervalSeconds, int rf, String label) {
    List<String> paths = new ArrayList<>();
    for (int i = 0; i < count; i++) {
      String path = callbacks.newPath(label);
      paths.add(path);
      via.client()
          .createTimer(
              TimerJson.timer()
                  .interval(intervalSeconds)
                  .callback(callbacks.url(path), "o" + i)
                  .replicationFactor(rf)
                  .json());
    }
    return paths;
  }

  @Test
  void threeNodesHundredTimersWithReplicationFactorThreeEachPopExactlyOnce() {
    cluster = ClusterHarness.start(3);
    List<String> paths = createTimers(cluster.node(0), 100, 1, 3, "rf3");
    callbacks.assertEachCalledExactlyOnce(paths, Duration.ofSeconds(20), AFTER_ALL_REPLICAS);
  }

  @Test
  void timersCreatedInABurstReachTheOtherNodeInBatchesAndEachPopsExactlyOnce() throws Exception {
    // One replication request in flight at a time, so that a burst of creates queues up behind it
    // and the queue travels as POST /timers/batch.
    cluster = ClusterHarness.start(2, "replication:", "  maxInFlightPerPeer: 1");
    Node a = cluster.node(0);
    Node b = cluster.node(1);
    HttpClient http = HttpClient.newHttpClient();
    List<String> paths = new ArrayList<>();
    List<CompletableFuture<HttpResponse<String>>> creates = new ArrayList<>();
    for (int i = 0; i < 200; i++) {
      String path = callbacks.newPath("burst");
      paths.add(path);
      String body = TimerJson.timer().interval(4).callback(callbacks.url(path), "b" + i).json();
      creates.add(
          http.sendAsync(
              HttpRequest.newBuilder(URI.create("http://" + a.address() + "/timers"))
                  .POST(HttpRequest.BodyPublishers.ofString(body))
                  .build(),
              HttpResponse.BodyHandlers.ofString()));
    }
    List<Long> ids = new ArrayList<>();
    for (CompletableFuture<HttpResponse<String>> create : creates) {
      HttpResponse<String> response = create.get(20, TimeUnit.SECONDS);
      assertThat(response.statusCode()).isEqualTo(200);
      ids.add(idOf(response.headers().firstValue("Location").orElseThrow()));
    }

    await()
        .atMost(Duration.ofSeconds(3))
        .untilAsserted(() -> assertThat(ids).allMatch(b::holdsLive));
    assertThat(a.client().counter("chronos.replication." + b.address() + ".batches"))
        .as("batches node 0 sent node 1")
        .isPositive();
    callbacks.assertEachCalledExactlyOnce(paths, Duration.ofSeconds(20), AFTER_ALL_REPLICAS);
  }

  @Test
  void timersDeletedThroughAnotherNodeNeverPop() {
    cluster = ClusterHarness.start(3);
    List<String> locations = new ArrayList<>();
    for (int i = 0; i < 100; i++) {
      locations.add(
          cluster
              .node(0)
              .client()
              .createTimer(
                  TimerJson.timer()
                      .interval(3)
                      .callback(callbacks.url("/deleted"), "d" + i)
                      .replicationFactor(2)
                      .json()));
    }
    for (String location : locations) {
      assertThat(cluster.node(1).client().delete(location).statusCode()).isEqualTo(200);
    }
    // A marker created after the deletes pops after them; by then any surviving copy would have
    // too.
    String marker = callbacks.newPath("marker");
    cluster.node(1).client().createTimer(TimerJson.oneShot(3, callbacks.url(marker), "m"));
    callbacks.awaitRequest(marker);
    await()
        .pollDelay(AFTER_ALL_REPLICAS)
        .atMost(AFTER_ALL_REPLICAS.plusSeconds(5))
        .until(() -> true);
    assertThat(callbacks.requestsTo("/deleted")).isEmpty();
    for (Node node : cluster.nodes()) {
      for (String location : locations) {
        assertThat(node.holdsLive(idOf(location))).as("%s holds %s", node, location).isFalse();
      }
    }
  }

  @Test
  void anUpdateThroughAnotherNodeReplacesEveryReplicasCopy() {
    cluster = ClusterHarness.start(3);
    String oldPath = callbacks.newPath("old");
    String newPath = callbacks.newPath("new");
    String location =
        cluster
            .node(0)
            .client()
            .createTimer(
                TimerJson.timer()
                    .interval(3)
                    .callback(callbacks.url(oldPath), "v1")
                    .replicationFactor(3)
                    .json());
    long id = idOf(location);
    await().until(() -> cluster.nodes().stream().allMatch(n -> n.holdsLive(id)));
    assertThat(
            cluster
                .node(1)
                .client()
                .put(
                    location,
                    TimerJson.timer()
                        .interval(2)
                        .callback(callbacks.url(newPath), "v2")
                        .replicationFactor(3)
                        .json())
                .statusCode())
        .isEqualTo(200);
    await().until(() -> cluster.nodes().stream().allMatch(n -> "v2".equals(opaqueAt(n, id))));
    callbacks.assertEachCalledExactlyOnce(
        List.of(newPath), Duration.ofSeconds(20), AFTER_ALL_REPLICAS);
    assertThat(callbacks.requestsTo(newPath).get(0).bodyText()).isEqualTo("v2");
  }

  private static String opaqueAt(Node node, long id) {
    var t = node.timer(id);
    return t == null || t.isTombstone()
        ? null
        : new String(t.opaque(), java.nio.charset.StandardCharsets.UTF_8);
  }

  @Test
  void aFailedCallbackIsPoppedOnceMoreByTheNextReplicaAndTheThirdStaysQuiet() {
    cluster = ClusterHarness.start(3);
    callbacks.respondByDefault(request -> request.number() == 1 ? Reply.status(503) : Reply.ok());
    List<String> paths = createTimers(cluster.node(0), 10, 1, 3, "flaky");
    await()
        .atMost(Duration.ofSeconds(20))
        .until(() -> paths.stream().allMatch(p -> callbacks.requestsTo(p).size() >= 2));
    await()
        .pollDelay(AFTER_ALL_REPLICAS)
        .atMost(AFTER_ALL_REPLICAS.plusSeconds(5))
        .until(() -> true);
    for (String path : paths) {
      List<Received> calls = callbacks.requestsTo(path);
      assertThat(calls).as(path).hasSize(2);
      long gap = calls.get(1).arrivalMillis() - calls.get(0).arrivalMillis();
      assertThat(gap).as("backup pops about 2 s after the primary failed").isBetween(1000L, 4000L);
      assertThat(calls.get(1).sequenceNumber()).isEqualTo(1);
    }
  }

  @Test
  void aPopWhoseCallbackFailsWhileTheOneBeforeWasStillOutIsMadeByTheNextReplica() {
    // Pops every second, three times. The client takes 1.3 s to answer the first, so the second
    // goes out before the first has succeeded; it refuses the second 0.5 s later, after the first
    // succeeded and before the third is due. The news of the first's success must not tell the
    // backup that the second was made too: the backup makes it 2 s after it was due.
    cluster = ClusterHarness.start(2);
    String path = callbacks.newPath("slow-then-failing");
    callbacks.respondByNumber(
        path,
        n ->
            switch (n) {
              case 1 -> Reply.stall(Duration.ofMillis(1300));
              case 2 -> Reply.status(503).after(Duration.ofMillis(500));
              default -> Reply.ok();
            });
    cluster
        .node(0)
        .client()
        .createTimer(
            TimerJson.timer()
                .interval(1)
                .repeatFor(3)
                .callback(callbacks.url(path), "o")
                .replicationFactor(2)
                .json());

    callbacks.awaitRequests(path, 4, Duration.ofSeconds(20));
    await()
        .pollDelay(AFTER_ALL_REPLICAS)
        .atMost(AFTER_ALL_REPLICAS.plusSeconds(5))
        .until(() -> true);
    // 1 (answered late), 2 (refused), 2 again from the backup, then 3.
    assertThat(callbacks.requestsTo(path))
        .as("%s", callbacks.requestsTo(path))
        .extracting(Received::sequenceNumber)
        .containsExactly(1, 2, 2, 3);
  }

  @Test
  void aTimerWhoseBodyIsRightAtTheLimitStillReachesItsOtherReplica() {
    cluster = ClusterHarness.start(2, "timers:", "  maxBodySize: 1KiB");
    Node a = cluster.node(0);
    Node b = cluster.node(1);
    String path = callbacks.newPath("at-the-limit");
    String shell = TimerJson.timer().interval(3).callback(callbacks.url(path), "").json();
    // The node adds start times, sequence number, view id and replicas when it sends the timer
    // on: the copy is larger than the 1,024 bytes the client sent.
    String atTheLimit =
        TimerJson.timer()
            .interval(3)
            .callback(callbacks.url(path), "x".repeat(1024 - shell.length()))
            .json();
    assertThat(atTheLimit).hasSize(1024);

    long id = idOf(a.client().createTimer(atTheLimit));

    await().until(() -> b.holdsLive(id));
    // A client's body over the limit is still refused, on POST and on PUT.
    HttpResponse<String> over = a.client().post("/timers", atTheLimit + " ");
    assertThat(over.statusCode()).isEqualTo(413);
    assertThat(over.body()).contains("1024");
    HttpResponse<String> overPut =
        a.client().put(String.format("/timers/%016x-2", id), atTheLimit + " ");
    assertThat(overPut.statusCode()).isEqualTo(413);
    assertThat(overPut.body()).contains("1024");
  }

  @Test
  void timersStillPopExactlyOnceWhenTheNodeThatTookThemIsKilled() throws Exception {
    cluster = ClusterHarness.create(3);
    String lines = cluster.nodeLines("node", cluster.nodes());
    for (Node node : cluster.nodes()) {
      node.writeClusterFile(lines);
    }
    Node victim = cluster.node(0);
    victim.startProcess();
    cluster.node(1).start();
    cluster.node(2).start();
    List<String> paths = new ArrayList<>();
    List<Long> ids = new ArrayList<>();
    for (int i = 0; i < 30; i++) {
      String path = callbacks.newPath("survivor");
      paths.add(path);
      ids.add(
          idOf(
              victim
                  .client()
                  .createTimer(
                      TimerJson.timer()
                          .interval(3)
                          .callback(callbacks.url(path), "o")
                          .replicationFactor(2)
                          .json())));
    }
    // Every timer has reached each of its other replicas before the node goes.
    ClusterView view = cluster.node(1).view();
    await()
        .until(
            () ->
                ids.stream()
                    .allMatch(
                        id ->
                            view.replicasFor(id, 2).stream()
                                .filter(address -> !address.equals(victim.address()))
                                .allMatch(address -> cluster.byAddress(address).holdsLive(id))));
    victim.kill();
    callbacks.assertEachCalledExactlyOnce(paths, Duration.ofSeconds(20), AFTER_ALL_REPLICAS);
  }

  @Test
  void aRepeatingTimerKeepsItsSequenceThroughTheBackupWhenThePrimaryDies() {
    cluster = ClusterHarness.start(2);
    String path = callbacks.newPath("series");
    String location =
        cluster
            .node(0)
            .client()
            .createTimer(
                TimerJson.timer()
                    .interval(2)
                    .repeatFor(6)
                    .callback(callbacks.url(path), "s")
                    .replicationFactor(2)
                    .json());
    long id = idOf(location);
    Node primary = cluster.byAddress(cluster.node(0).view().replicasFor(id, 2).get(0));
    Node backup = primary == cluster.node(0) ? cluster.node(1) : cluster.node(0);
    callbacks.awaitRequests(path, 1);
    // The backup has heard of the successful pop before the primary goes.
    await().until(() -> backup.timer(id) != null && backup.timer(id).sequence() == 1);
    primary.stop();
    callbacks.awaitRequests(path, 3, Duration.ofSeconds(15));
    await()
        .pollDelay(AFTER_ALL_REPLICAS)
        .atMost(AFTER_ALL_REPLICAS.plusSeconds(5))
        .until(() -> true);
    assertThat(callbacks.requestsTo(path))
        .extracting(Received::sequenceNumber)
        .containsExactly(1, 2, 3);
  }
}
