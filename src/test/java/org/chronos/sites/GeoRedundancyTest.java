package org.chronos.sites;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.chronos.testing.CallbackServer;
import org.chronos.testing.CallbackServer.Received;
import org.chronos.testing.ChronosClient;
import org.chronos.testing.ClusterHarness;
import org.chronos.testing.ClusterHarness.Node;
import org.chronos.testing.TimerJson;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Timers replicated across sites (PROTOCOL.md section 7): one node per site here, each site its own
 * single-node cluster, linked by [sites] remote_site lines.
 */
class GeoRedundancyTest {
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

  /**
   * Node settings for tests that wait for news a site did not get (a deletion) to be given up on,
   * and so owed to the site's re-send: still retried after 0.2, 1 and 2 s, as by default, but then
   * given up on, not retried every 2 s more until 10 s have passed. A test whose timeline counts on
   * the retries going on that long keeps the default.
   */
  private static final String[] SHORT_RETRIES = {"replication:", "  retryFor: 3500ms"};

  /** Starts n sites of one node each; site i is "site<i>". */
  private void startSites(int n, boolean acrossSites, String... extraYamlLines) {
    boolean[] flags = new boolean[n];
    java.util.Arrays.fill(flags, acrossSites);
    startSites(flags, extraYamlLines);
  }

  /** Starts a site of one node per flag, site i replicating across sites as flag i says. */
  private void startSites(boolean... acrossSitesOfEach) {
    startSites(acrossSitesOfEach, new String[0]);
  }

  private void startSites(boolean[] acrossSitesOfEach, String[] extraYamlLines) {
    cluster = ClusterHarness.create(acrossSitesOfEach.length, extraYamlLines);
    for (Node node : cluster.nodes()) {
      boolean acrossSites = acrossSitesOfEach[cluster.nodes().indexOf(node)];
      node.writeClusterFile("node = " + node.address());
      StringBuilder shared = new StringBuilder("[sites]\nlocal_site = " + site(node) + "\n");
      for (Node other : cluster.nodes()) {
        if (other != node) {
          shared
              .append("remote_site = ")
              .append(site(other))
              .append('=')
              .append(other.address())
              .append('\n');
        }
      }
      shared.append("replicate_timers_across_sites = ").append(acrossSites).append('\n');
      node.writeSharedFile(shared.toString());
      node.start();
    }
  }

  private String site(Node node) {
    return "site" + cluster.nodes().indexOf(node);
  }

  private List<String> createTimers(Node via, int count, int interval, String label) {
    List<String> paths = new ArrayList<>();
    for (int i = 0; i < count; i++) {
      String path = callbacks.newPath(label);
      paths.add(path);
      via.client()
          .createTimer(
              TimerJson.timer().interval(interval).callback(callbacks.url(path), "o").json());
    }
    return paths;
  }

  @Test
  void twoSitesHundredTimersSetInTheFirstEachPopExactlyOnce() {
    startSites(2, true);
    List<String> paths = createTimers(cluster.node(0), 100, 5, "two");
    // Every timer reached the second site before the first pops.
    await().atMost(Duration.ofSeconds(4)).until(() -> cluster.node(1).liveCount() == 100);
    // The second site pops 1 (site index) x 2 (rf) x 2 s after the first: wait past that.
    callbacks.assertEachCalledExactlyOnce(paths, Duration.ofSeconds(15), Duration.ofSeconds(6));
  }

  @Test
  void fourSitesAllButOneStoppedStillPopEveryTimerInTime() {
    startSites(4, true);
    List<String> paths = new ArrayList<>();
    for (Node node : cluster.nodes()) {
      paths.addAll(createTimers(node, 25, 4, site(node)));
    }
    for (Node node : cluster.nodes()) {
      await().until(() -> node.liveCount() == 100);
    }
    long stoppedAt = System.currentTimeMillis();
    for (int i = 1; i < 4; i++) {
      cluster.node(i).stop();
    }
    // Interval 4 s, plus at most site index 3 x rf 2 x 2 s = 12 s, plus slack.
    callbacks.assertEachCalledExactlyOnce(
        paths, Duration.ofSeconds(4 + 12 + 8), Duration.ofSeconds(3));
    assertThat(callbacks.requests())
        .allSatisfy(r -> assertThat(r.arrivalMillis() - stoppedAt).isLessThan(24_000));
  }

  @Test
  void timersSetInBothSitesAndDeletedThroughTheSecondNeverPop() {
    startSites(2, true);
    List<String> locations = new ArrayList<>();
    for (int i = 0; i < 20; i++) {
      Node via = cluster.node(i % 2);
      locations.add(
          via.client().createTimer(TimerJson.oneShot(3, callbacks.url("/deleted"), "d" + i)));
    }
    for (Node node : cluster.nodes()) {
      await().until(() -> node.liveCount() == 20);
    }
    for (String location : locations) {
      assertThat(cluster.node(1).client().delete(location).statusCode()).isEqualTo(200);
    }
    for (Node node : cluster.nodes()) {
      await().until(() -> node.liveCount() == 0);
    }
    String marker = callbacks.newPath("marker");
    cluster.node(0).client().createTimer(TimerJson.oneShot(3, callbacks.url(marker), "m"));
    callbacks.awaitRequest(marker);
    await().pollDelay(Duration.ofSeconds(6)).atMost(Duration.ofSeconds(11)).until(() -> true);
    assertThat(callbacks.requestsTo("/deleted")).isEmpty();
  }

  @Test
  void aDeleteFromAnotherSiteReachesTheReplicasAReloadDroppedBeforeAnyResync() {
    // Site A: three nodes, then a fourth added as a plain node line (the older procedure, so no
    // leaving lines name the old replicas) and every node reloaded. Site B: one node. Timers set
    // in A are deleted through B before any resync: the A node that takes the delete must also
    // tell the replicas the timers had before the reload, or those go on to pop them.
    cluster = ClusterHarness.create(5);
    List<Node> siteA = cluster.nodes().subList(0, 4);
    List<Node> firstThree = siteA.subList(0, 3);
    Node b = cluster.node(4);
    for (Node node : siteA) {
      node.writeClusterFile(cluster.nodeLines("node", firstThree));
      node.writeSharedFile(
          "[sites]\nlocal_site = siteA\nremote_site = siteB="
              + b.address()
              + "\nreplicate_timers_across_sites = true\n");
    }
    b.writeClusterFile("node = " + b.address());
    b.writeSharedFile(
        "[sites]\nlocal_site = siteB\nremote_site = siteA="
            + cluster.node(0).address()
            + "\nreplicate_timers_across_sites = true\n");
    firstThree.forEach(Node::start);
    b.start();
    // Due in 8 s: the steps up to their deletion (a node's start, reloads) take about 1 s here.
    List<String> locations = new ArrayList<>();
    for (int i = 0; i < 30; i++) {
      locations.add(
          cluster
              .node(0)
              .client()
              .createTimer(TimerJson.oneShot(8, callbacks.url("/deleted"), "d" + i)));
    }
    await().until(() -> b.liveCount() == 30);
    await().until(() -> firstThree.stream().mapToInt(Node::liveCount).sum() == 60);

    for (Node node : siteA) {
      node.writeClusterFile(cluster.nodeLines("node", siteA));
    }
    cluster.node(3).start();
    for (Node node : firstThree) {
      assertThat(node.reload()).isEqualTo(200);
    }
    for (String location : locations) {
      assertThat(b.client().delete(location).statusCode()).isEqualTo(200);
    }
    String marker = callbacks.newPath("marker");
    cluster.node(0).client().createTimer(TimerJson.oneShot(8, callbacks.url(marker), "m"));

    callbacks.awaitRequest("the marker", r -> r.path().equals(marker), Duration.ofSeconds(30));
    // The deleted timers were due before the marker; a replica pops at most 2 s after its due time.
    await().pollDelay(Duration.ofSeconds(4)).atMost(Duration.ofSeconds(9)).until(() -> true);
    assertThat(callbacks.requestsTo("/deleted")).isEmpty();
  }

  @Test
  void aDeleteThatCouldNotReachTheOtherSiteIsSentWhenThatSiteAnswersAgain() {
    startSites(2, true, SHORT_RETRIES);
    Node first = cluster.node(0);
    Node second = cluster.node(1);
    List<String> locations = new ArrayList<>();
    for (int i = 0; i < 30; i++) {
      locations.add(
          first.client().createTimer(TimerJson.oneShot(30, callbacks.url("/deleted"), "d" + i)));
    }
    await().until(() -> second.liveCount() == 30);
    // The second site becomes unreachable from the first (here: the first's file names a port
    // nothing listens on), and the timers are deleted in the first meanwhile.
    remoteSiteAt(first, second, "127.0.0.1:1");
    for (String location : locations) {
      assertThat(first.client().delete(location).statusCode()).isEqualTo(200);
    }
    await("the deletes given up on")
        .atMost(Duration.ofSeconds(20))
        .until(() -> first.client().counter("chronos.sites.site1.failed") >= 30);
    assertThat(second.liveCount()).isEqualTo(30);

    // It answers again: the first site sends it what it missed, deletions included.
    remoteSiteAt(first, second, second.address());

    await("the second site's copies deleted")
        .atMost(Duration.ofSeconds(15))
        .until(() -> second.liveCount() == 0);
    assertThat(callbacks.requestsTo("/deleted")).isEmpty();
  }

  /**
   * Site A has two nodes. Only the one that is not a timer's primary there is cut off from site B
   * when a client deletes the timer through it, so only it owes B the deletion: the primary, whose
   * probes of B never failed, does not re-send B anything. When B answers the first node again it
   * must send the deletion itself, although it still holds the tombstone, or B's copy pops.
   */
  @Test
  void aDeleteOwedByANodeThatIsNotThePrimaryStillReachesTheOtherSite() {
    cluster = ClusterHarness.create(3, SHORT_RETRIES);
    List<Node> siteA = cluster.nodes().subList(0, 2);
    Node b = cluster.node(2);
    startSiteAOfTwoAndB(siteA, b, cluster.node(0));
    String location =
        cluster.node(0).client().createTimer(TimerJson.oneShot(30, callbacks.url("/deleted"), "d"));
    long id = ChronosClient.idOf(location);
    await().until(() -> b.holdsLive(id));
    await().until(() -> siteA.stream().allMatch(n -> n.holdsLive(id)));
    String primary = cluster.node(0).timer(id).replicas().get(0);
    Node other = siteA.stream().filter(n -> !n.address().equals(primary)).findFirst().get();

    siteAReaches(other, "127.0.0.1:1");
    assertThat(other.client().delete(location).statusCode()).isEqualTo(200);
    String owed = "chronos.sites.siteB.deletions-owed";
    await("the deletion owed to site B")
        .atMost(Duration.ofSeconds(20))
        .until(() -> Long.valueOf(1).equals(other.client().gauge(owed)));
    assertThat(other.holdsLive(id)).isFalse();
    assertThat(other.timer(id)).as("the tombstone, still held").isNotNull();
    assertThat(b.holdsLive(id)).isTrue();

    siteAReaches(other, b.address());
    await("site B's copy deleted").atMost(Duration.ofSeconds(15)).until(() -> !b.holdsLive(id));
    assertThat(other.client().gauge(owed)).isZero();
  }

  /**
   * The first site cannot reach the second (the second can reach the first) when a repeating timer
   * is deleted in the first. The second, not knowing, pops it as the first's backup and sends the
   * news, which reaches the first while it still holds the tombstone, and while the deletion is
   * still being retried, or owed already (the first has taken the second for down by then, and so
   * did not send it). By the version rule any pop beats a tombstone: the first must keep the
   * deletion instead, or it holds the timer live again and pops it.
   */
  @Test
  void newsOfAPopFromASiteThatMissedADeletionDoesNotBringTheTimerBack() {
    startSites(2, true);
    Node first = cluster.node(0);
    Node second = cluster.node(1);
    String path = callbacks.newPath("popped-after-a-deletion-elsewhere");
    long set = System.currentTimeMillis();
    String location = everyTenSecondsFromTheFirst(first, second, path);
    long id = ChronosClient.idOf(location);

    remoteSiteAt(first, second, "127.0.0.1:1");
    // Deleted 7 s after it was set: the first's tombstone (which lasts the interval) is held
    // until 17 s after, past the second's pop as backup, 10 + 1 x 1 x 2 s after it was set.
    await().atMost(Duration.ofSeconds(8)).until(() -> System.currentTimeMillis() - set >= 7_000);
    long sent = second.client().counter("chronos.sites.site0.sent");
    assertThat(first.client().delete(location).statusCode()).isEqualTo(200);
    callbacks.awaitRequests(path, 1, Duration.ofSeconds(10));
    await("the second site's news of its pop reached the first")
        .atMost(Duration.ofSeconds(5))
        .until(() -> second.client().counter("chronos.sites.site0.sent") > sent);
    assertThat(first.timer(id)).as("the tombstone, still held").isNotNull();
    assertThat(first.holdsLive(id)).as("the deleted timer back in the first site").isFalse();

    remoteSiteAt(first, second, second.address());
    await("the second site's copy deleted")
        .atMost(Duration.ofSeconds(20))
        .until(() -> !second.holdsLive(id));
    assertThat(callbacks.requestsTo(path)).hasSize(1);
    // The second site's next pop was due within 10 s: none anywhere.
    await().pollDelay(Duration.ofSeconds(10)).atMost(Duration.ofSeconds(11)).until(() -> true);
    assertThat(callbacks.requestsTo(path)).hasSize(1);
    assertThat(first.holdsLive(id)).isFalse();
  }

  /**
   * Site A has two nodes; only the second is cut off from site B when a client deletes a repeating
   * timer through it, so only it owes B the deletion. B, not knowing, pops the timer as A's backup
   * and sends the news to the first node, whose tombstone has expired by then (it lasts the timer's
   * interval): that node takes the pop, as the version rule says, and passes it on to the second.
   * The second must not take it, and must tell the first the deletion again, or the timer lives
   * again in site A, the second holds it live and never sends B the deletion, and the timer pops on
   * in both sites for good.
   */
  @Test
  void aDeletionOwedByOneNodeOfASiteIsNotUndoneThroughAnotherNodeOfThatSite() {
    cluster = ClusterHarness.create(3);
    List<Node> siteA = cluster.nodes().subList(0, 2);
    Node b = cluster.node(2);
    Node receiver = cluster.node(0); // B's address for site A
    Node owing = cluster.node(1);
    startSiteAOfTwoAndB(siteA, b, receiver);
    String path = callbacks.newPath("deleted-through-one-node");
    String location =
        receiver
            .client()
            .createTimer(
                TimerJson.timer()
                    .interval(2)
                    .repeatFor(600)
                    .callback(callbacks.url(path), "p")
                    .json());
    long id = ChronosClient.idOf(location);
    await().until(() -> b.holdsLive(id) && siteA.stream().allMatch(n -> n.holdsLive(id)));
    // Deleted after its first pop: a deletion within 200 ms of the start would be of the same
    // series as the timer's popped copies, by the version rule's allowance, and they would keep it.
    callbacks.awaitRequests(path, 1, Duration.ofSeconds(10));

    siteAReaches(owing, "127.0.0.1:1");
    assertThat(owing.client().delete(location).statusCode()).isEqualTo(200);
    String owed = "chronos.sites.siteB.deletions-owed";
    await("the deletion owed to site B")
        .atMost(Duration.ofSeconds(20))
        .until(() -> Long.valueOf(1).equals(owing.client().gauge(owed)));
    // By now B has popped the timer as site A's backup, and told the receiver, whose tombstone
    // had expired; without the fix the receiver took the pop and passed it on, and site A would
    // pop the timer on. News that reaches the owing node makes it hold the deletion again (or a
    // node of A still holding its tombstone refused it, and sent B the deletion itself; the next
    // pop may then never come, so the test does not wait for one).
    await("the deletion held in site A again")
        .atMost(Duration.ofSeconds(15))
        .until(() -> siteA.stream().noneMatch(n -> n.holdsLive(id)));

    siteAReaches(owing, b.address());
    await("site B's copy deleted").atMost(Duration.ofSeconds(15)).until(() -> !b.holdsLive(id));
    await("nothing owed")
        .atMost(Duration.ofSeconds(30))
        .until(() -> owing.client().gauge(owed) == 0);
    noMorePops(path, id);
  }

  /**
   * A timer deleted in site A through a node that is not its replica there, while site B cannot be
   * reached, and then made again under the same id through its replica: B, not knowing, pops the
   * old timer as A's backup and sends the news to the deleting node, which refuses it and tells A's
   * replicas the deletion again. The timer made again since must survive that.
   */
  @Test
  void aTimerMadeAgainSinceADeletionOwedToAnotherSiteSurvivesTheDeletionToldAgain() {
    cluster = ClusterHarness.create(3, SHORT_RETRIES);
    List<Node> siteA = cluster.nodes().subList(0, 2);
    Node owing = cluster.node(0); // B's address for site A
    Node replica = cluster.node(1);
    Node b = cluster.node(2);
    startSiteAOfTwoAndB(siteA, b, owing);
    long id = 0x1234_5678_0000_0000L;
    while (!owing.view().replicasFor(id, 1).get(0).equals(replica.address())) {
      id++;
    }
    long x = id;
    String location = String.format("/timers/%016x-1", x);
    assertThat(
            replica
                .client()
                .put(location, everyTwoSeconds(callbacks.newPath("the-old-timer")))
                .statusCode())
        .isEqualTo(200);
    await().until(() -> b.holdsLive(x) && replica.holdsLive(x));

    siteA.forEach(node -> siteAReaches(node, "127.0.0.1:1"));
    assertThat(owing.client().delete(location).statusCode()).isEqualTo(200);
    await("the deletion owed to site B")
        .atMost(Duration.ofSeconds(20))
        .until(
            () ->
                Long.valueOf(1).equals(owing.client().gauge("chronos.sites.siteB.deletions-owed")));
    String made = callbacks.newPath("made-again");
    assertThat(replica.client().put(location, everyTwoSeconds(made)).statusCode()).isEqualTo(200);

    // B pops the old timer as A's backup and tells the deleting node, which refuses the news.
    await("the old timer's news refused")
        .atMost(Duration.ofSeconds(15))
        .until(
            () ->
                owing
                        .client()
                        .metrics()
                        .path("meters")
                        .path("chronos.sites.deletions-kept")
                        .path("count")
                        .asLong()
                    > 0);
    int popped = callbacks.requestsTo(made).size();
    callbacks.awaitRequests(made, popped + 2, Duration.ofSeconds(10));
    assertThat(replica.holdsLive(x)).isTrue();
  }

  private String everyTwoSeconds(String path) {
    return TimerJson.timer()
        .interval(2)
        .repeatFor(600)
        .replicationFactor(1)
        .callback(callbacks.url(path), "o")
        .json();
  }

  /**
   * Sets a timer popping every 10 s for 10 minutes, replication factor 1, in the first of two
   * sites, and returns its location once the second site holds it too.
   */
  private String everyTenSecondsFromTheFirst(Node first, Node second, String path) {
    return setInOneSiteUntilTheOtherHoldsIt(
        first,
        second,
        TimerJson.timer()
            .interval(10)
            .repeatFor(600)
            .replicationFactor(1)
            .callback(callbacks.url(path), "p")
            .json());
  }

  /** Sets the timer through {@code site} and returns its location once {@code other} holds it. */
  private static String setInOneSiteUntilTheOtherHoldsIt(Node site, Node other, String json) {
    String location = site.client().createTimer(json);
    long id = ChronosClient.idOf(location);
    await().until(() -> other.holdsLive(id));
    return location;
  }

  /** Cuts two sites off from each other: each is told the other is where nothing listens. */
  private void cutOff(Node first, Node second) {
    remoteSiteAt(first, second, "127.0.0.1:1");
    remoteSiteAt(second, first, "127.0.0.1:1");
  }

  /**
   * Sets a timer popping every 2 s in the first of two sites, cuts the sites off from each other,
   * deletes the timer in the first, and waits until the first owes the second the deletion, its own
   * tombstone has expired (it lasts the interval), and the second, not knowing, has popped it.
   */
  private long deletedWhileCutOffUntilItsTombstoneExpired(Node first, Node second, String path) {
    String location =
        setInOneSiteUntilTheOtherHoldsIt(
            first,
            second,
            TimerJson.timer().interval(2).repeatFor(600).callback(callbacks.url(path), "p").json());
    long id = ChronosClient.idOf(location);

    cutOff(first, second);
    assertThat(first.client().delete(location).statusCode()).isEqualTo(200);
    await("the deletion owed to the second site")
        .atMost(Duration.ofSeconds(20))
        .until(
            () ->
                Long.valueOf(1).equals(first.client().gauge("chronos.sites.site1.deletions-owed")));
    await("the first site's tombstone expired").until(() -> first.timer(id) == null);
    // Cut off, the second site pops the timer as its backup.
    callbacks.awaitRequests(path, 1, Duration.ofSeconds(15));
    return id;
  }

  /**
   * Three intervals of a 2 s timer later, nothing more has popped anywhere, and no node holds the
   * timer live.
   */
  private void noMorePops(String path, long id) {
    int popped = callbacks.requestsTo(path).size();
    await().pollDelay(Duration.ofSeconds(6)).atMost(Duration.ofSeconds(7)).until(() -> true);
    assertThat(callbacks.requestsTo(path)).hasSize(popped);
    assertThat(cluster.nodes()).noneMatch(n -> n.holdsLive(id));
  }

  /**
   * Starts site A of two nodes, in one cluster, and site B of one node, whose address for site A is
   * {@code entry}, and waits until both A nodes find B answering.
   */
  private void startSiteAOfTwoAndB(List<Node> siteA, Node b, Node entry) {
    for (Node node : siteA) {
      node.writeClusterFile(cluster.nodeLines("node", siteA));
      siteAReaches(node, b.address());
    }
    b.writeClusterFile("node = " + b.address());
    b.writeSharedFile(
        "[sites]\nlocal_site = siteB\nremote_site = siteA="
            + entry.address()
            + "\nreplicate_timers_across_sites = true\n");
    cluster.nodes().forEach(Node::start);
    for (Node node : siteA) {
      await("site B answering " + node)
          .until(
              () -> Long.valueOf(1).equals(node.client().gauge("chronos.sites.siteB.answering")));
    }
  }

  /** Writes a site A node's shared file with site B at {@code address}, and reloads if running. */
  private void siteAReaches(Node node, String address) {
    node.writeSharedFile(
        "[sites]\nlocal_site = siteA\nremote_site = siteB="
            + address
            + "\nreplicate_timers_across_sites = true\n");
    if (node.isRunning()) {
      assertThat(node.reload()).isEqualTo(200);
    }
  }

  /**
   * A site taken out of the sites file is sent nothing more; the deletions it was owed while it did
   * not answer are let go rather than held, and shown as owed, until the node restarts.
   */
  @Test
  void deletionsOwedToASiteTakenOutOfTheSitesFileAreLetGo() {
    startSites(2, true, SHORT_RETRIES);
    Node first = cluster.node(0);
    Node second = cluster.node(1);
    String location =
        first.client().createTimer(TimerJson.oneShot(30, callbacks.url("/deleted"), "d"));
    await().until(() -> second.liveCount() == 1);
    remoteSiteAt(first, second, "127.0.0.1:1");
    assertThat(first.client().delete(location).statusCode()).isEqualTo(200);
    String owed = "chronos.sites.site1.deletions-owed";
    await("the deletion owed to the second site")
        .atMost(Duration.ofSeconds(20))
        .until(() -> Long.valueOf(1).equals(first.client().gauge(owed)));

    first.writeSharedFile("[sites]\nlocal_site = site0\n");
    assertThat(first.reload()).isEqualTo(200);

    await("the owed deletion let go")
        .atMost(Duration.ofSeconds(10))
        .until(() -> first.client().gauge(owed) == null);
  }

  /**
   * Waits until the node has sent the news of its pop to a site it was cut off from (it is then
   * being retried at the dead port), or owed it to the site's re-send without sending it, the site
   * being taken for down already: re-pointed sooner, the node would send it to the live site.
   */
  private static void awaitNewsToADeadSite(Node node, String site) {
    String peer = "chronos.replication.127.0.0.1:1.";
    await("the pop's news sent to the dead port, or owed")
        .atMost(Duration.ofSeconds(5))
        .until(
            () -> {
              Long queued = node.client().gauge(peer + "queued");
              return (queued != null && queued > 0)
                  || node.client().counter(peer + "failed") > 0
                  || node.client().counter("chronos.sites." + site + ".failed") > 0;
            });
  }

  /** Points the node's remote site at {@code address} (a dead port cuts the node off from it). */
  private void remoteSiteAt(Node node, Node remote, String address) {
    node.writeSharedFile(
        "[sites]\nlocal_site = "
            + site(node)
            + "\nreplicate_timers_across_sites = true\nremote_site = "
            + site(remote)
            + "="
            + address
            + "\n");
    assertThat(node.reload()).isEqualTo(200);
  }

  /**
   * The two sites cannot reach each other while a repeating timer is deleted in the first; the
   * second, not knowing, pops it meanwhile. By the time they can again, the first's tombstone has
   * expired (it lasts the timer's interval). The first still sends the deletion it owes the second,
   * so the second's copy stops popping, and no pop's news brings the timer back to the first.
   */
  @Test
  void aDeleteWhoseTombstoneExpiredBeforeTheOtherSiteAnsweredAgainStillReachesIt() {
    startSites(2, true, SHORT_RETRIES);
    Node first = cluster.node(0);
    Node second = cluster.node(1);
    String path = callbacks.newPath("deleted-in-a-partition");
    long id = deletedWhileCutOffUntilItsTombstoneExpired(first, second, path);

    // The first site reaches the second again (the second not yet the first): the deletion goes.
    remoteSiteAt(first, second, second.address());
    await("the second site's copy deleted")
        .atMost(Duration.ofSeconds(15))
        .until(() -> !second.holdsLive(id));
    assertThat(first.client().gauge("chronos.sites.site1.deletions-owed")).isZero();
    remoteSiteAt(second, first, first.address());
    noMorePops(path, id);
  }

  /**
   * As above, but the second site answers the first again only after the first's tombstone has
   * expired (it lasts the timer's interval), and before the first answers the second, so before the
   * first sends the deletion it owes. Neither the second's re-sent copy nor the news of its pops
   * meanwhile may bring the timer back in the first: it would pop there, and the first, then
   * holding it live, would never send the deletion, and the timer would live on in both sites.
   */
  @Test
  void aCopyReSentBeforeTheDeletionOwedForItDoesNotBringBackATimerWhoseTombstoneExpired() {
    startSites(2, true, SHORT_RETRIES);
    Node first = cluster.node(0);
    Node second = cluster.node(1);
    String path = callbacks.newPath("deleted-and-expired-while-cut-off");
    long id = deletedWhileCutOffUntilItsTombstoneExpired(first, second, path);
    String owed = "chronos.sites.site1.deletions-owed";

    // The second reaches the first first: its copy, and news of its next pops, arrive while the
    // first holds nothing of the timer but the deletion it owes.
    long sent = second.client().counter("chronos.sites.site0.sent");
    remoteSiteAt(second, first, first.address());
    await("the second site's copy re-sent to the first")
        .atMost(Duration.ofSeconds(15))
        .until(() -> second.client().counter("chronos.sites.site0.sent") > sent);
    int poppedBefore = callbacks.requestsTo(path).size();
    await("the second site's next pop")
        .atMost(Duration.ofSeconds(10))
        .until(() -> callbacks.requestsTo(path).size() > poppedBefore);
    await("its news sent to the first")
        .atMost(Duration.ofSeconds(10))
        .until(() -> second.client().counter("chronos.sites.site0.sent") > sent + 1);
    assertThat(first.holdsLive(id)).as("the deleted timer back in the first site").isFalse();
    assertThat(first.client().gauge(owed)).isEqualTo(1);

    remoteSiteAt(first, second, second.address());
    await("the second site's copy deleted")
        .atMost(Duration.ofSeconds(15))
        .until(() -> !second.holdsLive(id));
    await("nothing owed")
        .atMost(Duration.ofSeconds(30))
        .until(() -> first.client().gauge(owed) == 0);
    noMorePops(path, id);
  }

  /**
   * Two sites cut off from each other; the second pops its own timer, and the first, not hearing of
   * it, still holds the timer unpopped. When they answer each other again each re-sends the other
   * its copies: the first's, unpopped, must not undo the second's pop (by the version rule a
   * sequence number 0 wins), or the second pops the timer again at once.
   */
  @Test
  void aCopyReSentWhenTwoSitesAnswerEachOtherAgainDoesNotUndoAPopMadeMeanwhile() {
    startSites(2, true);
    Node first = cluster.node(0);
    Node second = cluster.node(1);
    String path = callbacks.newPath("popped-while-cut-off");
    // Replication factor 8: the first site, second in the site list, pops 1 x 8 x 2 s = 16 s
    // after the second, long after the sites answer each other again. Interval 10 s: the second
    // site keeps its last pop's tombstone that long.
    String location =
        setInOneSiteUntilTheOtherHoldsIt(
            second,
            first,
            TimerJson.timer()
                .interval(10)
                .replicationFactor(8)
                .callback(callbacks.url(path), "p")
                .json());
    long id = ChronosClient.idOf(location);

    cutOff(first, second);
    callbacks.awaitRequests(path, 1, Duration.ofSeconds(15));
    awaitNewsToADeadSite(second, "site0");
    assertThat(first.holdsLive(id)).as("the first site did not hear of the pop").isTrue();

    // The first reaches the second first, so its copy arrives before news of the pop leaves.
    remoteSiteAt(first, second, second.address());
    await("the first site's copy re-sent to the second")
        .atMost(Duration.ofSeconds(15))
        .until(() -> first.client().counter("chronos.sites.site1.sent") >= 1);
    remoteSiteAt(second, first, first.address());
    await("the second site's pop reached the first")
        .atMost(Duration.ofSeconds(15))
        .until(() -> !first.holdsLive(id));
    // Popped again, it would have been at once: its due time has passed.
    await().pollDelay(Duration.ofSeconds(2)).atMost(Duration.ofSeconds(3)).until(() -> true);
    assertThat(callbacks.requestsTo(path)).hasSize(1);
    assertThat(second.holdsLive(id)).isFalse();
  }

  /**
   * Two sites cut off from each other; a repeating timer is deleted in the first and popped
   * meanwhile by the second, which did not hear of the deletion. The second answers the first again
   * before the first answers it, while the first still holds the tombstone: the second's re-sent
   * copy, popped more often than the deletion, must not bring the timer back in the first (by the
   * version rule any pop beats a tombstone).
   */
  @Test
  void aCopyReSentAfterAPartitionDoesNotBringBackATimerDeletedMeanwhile() {
    startSites(2, true);
    Node first = cluster.node(0);
    Node second = cluster.node(1);
    String path = callbacks.newPath("deleted-while-cut-off");
    long set = System.currentTimeMillis();
    String location = everyTenSecondsFromTheFirst(first, second, path);
    long id = ChronosClient.idOf(location);

    cutOff(first, second);
    // Deleted 7 s after it was set, so that the first's tombstone (which lasts the interval) is
    // still held 17 s after; the first would pop it 10 s after it was set.
    await().atMost(Duration.ofSeconds(8)).until(() -> System.currentTimeMillis() - set >= 7_000);
    assertThat(first.client().delete(location).statusCode()).isEqualTo(200);
    // Cut off, the second site pops the timer as its backup, 10 + 1 x 1 x 2 s after it was set,
    // and 10 s later again: the news of that next pop would bring the timer back in the first
    // (PROTOCOL section 5's rule, README "Sites"), so everything below happens before it.
    callbacks.awaitRequests(path, 1, Duration.ofSeconds(10));
    awaitNewsToADeadSite(second, "site0");

    // The second reaches the first first: its copy arrives while the first holds the tombstone.
    long sent = second.client().counter("chronos.sites.site0.sent");
    remoteSiteAt(second, first, first.address());
    await("the second site's copy re-sent to the first")
        .atMost(Duration.ofSeconds(15))
        .until(() -> second.client().counter("chronos.sites.site0.sent") > sent);
    assertThat(first.holdsLive(id)).as("the deleted timer back in the first site").isFalse();
    remoteSiteAt(first, second, second.address());
    await("the second site's copy deleted")
        .atMost(Duration.ofSeconds(15))
        .until(() -> !second.holdsLive(id));
    assertThat(callbacks.requestsTo(path)).hasSize(1);

    // The second site's next pop was due within 10 s: none anywhere.
    await().pollDelay(Duration.ofSeconds(10)).atMost(Duration.ofSeconds(11)).until(() -> true);
    assertThat(callbacks.requestsTo(path)).hasSize(1);
    assertThat(first.holdsLive(id)).isFalse();
    assertThat(second.holdsLive(id)).isFalse();
  }

  /**
   * Replication across sites on in one site and off in the other, as while an operator turns it on
   * one site at a time: the second site still gets the first's timers and keeps its place in their
   * site list, so it pops only if the first site does not, and each timer pops once.
   */
  @Test
  void aSiteWithReplicationAcrossSitesOffPopsAnotherSitesTimersOnlyAfterIt() {
    startSites(true, false);
    List<String> paths = createTimers(cluster.node(0), 20, 2, "sent-to-a-site-that-does-not-send");
    await().until(() -> cluster.node(1).liveCount() == 20);

    callbacks.assertEachCalledExactlyOnce(paths, Duration.ofSeconds(15), Duration.ofSeconds(6));
  }

  @Test
  void withReplicationAcrossSitesOffAStoppedSitesTimersAreNotPoppedByTheOther() {
    startSites(2, false);
    createTimers(cluster.node(0), 20, 2, "local-only");
    String marker = callbacks.newPath("marker");
    cluster.node(1).client().createTimer(TimerJson.oneShot(2, callbacks.url(marker), "m"));
    assertThat(cluster.node(1).liveCount()).isEqualTo(1);
    cluster.node(0).stop();
    callbacks.awaitRequest(marker);
    await().pollDelay(Duration.ofSeconds(6)).atMost(Duration.ofSeconds(11)).until(() -> true);
    assertThat(callbacks.requests()).extracting(Received::path).containsExactly(marker);
  }

  @Test
  void aRestartedSiteGetsItsTimersBackAndThenTheOriginalSiteDyingLosesNothing() {
    startSites(2, true);
    Node first = cluster.node(0);
    Node second = cluster.node(1);
    // Due in 12 s: the restart, and the first site's re-send, take about 2 s here.
    List<String> paths = createTimers(first, 30, 12, "recovered");
    await().until(() -> second.liveCount() == 30);
    second.stop();
    second.start();
    assertThat(second.liveCount()).isZero();
    // The first site notices the restart and sends the second its timers again.
    await().atMost(Duration.ofSeconds(15)).until(() -> second.liveCount() == 30);
    assertThat(callbacks.requests()).as("pops while the first site still ran").isEmpty();
    first.stop();
    callbacks.assertEachCalledExactlyOnce(paths, Duration.ofSeconds(45), Duration.ofSeconds(3));
  }
}
