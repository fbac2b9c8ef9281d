package org.chronos.sites;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.spi.ILoggingEvent;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpHandler;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import org.chronos.node.TimerNode;
import org.chronos.testing.ChronosClient;
import org.chronos.testing.ClusterHarness;
import org.chronos.testing.ClusterHarness.Node;
import org.chronos.testing.LogCapture;
import org.chronos.testing.LoopbackServer;
import org.chronos.testing.TimerJson;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The probe of a remote site whose address reaches several nodes (a DNS name, a load balancer): the
 * answers name each node's own start time in turn, which is no restart. Here a JDK {@code
 * HttpServer} stands in for such a site: its pings name two start times by turns, and it takes the
 * timers sent to it.
 */
class SiteProbeTest {
  private final AtomicInteger pings = new AtomicInteger();
  private final AtomicInteger puts = new AtomicInteger();
  private final HttpServer site =
      LoopbackServer.start("/ping", this::ping, "/timers", (HttpHandler) this::put);
  private ClusterHarness cluster;

  /** The number of the ping answered only after the prober has given up on it; 0: none. */
  private volatile int slowPing;

  private void ping(HttpExchange exchange) throws IOException {
    try (exchange) {
      int n = pings.incrementAndGet();
      if (down) {
        exchange.sendResponseHeaders(503, -1);
        return;
      }
      if (budget.get() <= 0) {
        // Spent: down, its pings failing too (as many in a row as make an outage), until the node
        // has taken it for down; then it answers, and takes more.
        Node node = flapping;
        int failed = pingsFailedWhileSpent.incrementAndGet();
        if (node == null
            || !Integer.valueOf(0).equals(answering(node))
            || failed <= SiteReplicator.PROBES_FAILED_FOR_AN_OUTAGE) {
          exchange.sendResponseHeaders(503, -1);
          return;
        }
        pingsFailedWhileSpent.set(0);
        budget.set(FLAP_BUDGET);
      }
      if (n == slowPing) {
        try {
          Thread.sleep(SiteReplicator.PROBE_TIMEOUT_MILLIS + 500);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
      }
      String named = started;
      exchange
          .getResponseHeaders()
          .add(
              SiteReplicator.PING_STARTED_HEADER,
              named != null ? named : n % 2 == 0 ? "1700000000000" : "1700000005000");
      exchange.sendResponseHeaders(200, -1);
    }
  }

  private void put(HttpExchange exchange) throws IOException {
    try (exchange) {
      timerRequests.incrementAndGet();
      String body = new String(exchange.getRequestBody().readAllBytes(), StandardCharsets.UTF_8);
      if (down) {
        exchange.sendResponseHeaders(503, -1);
        return;
      }
      if (singlePuts && body.contains("\"Requests\"")) {
        exchange.sendResponseHeaders(404, -1); // as an original node: single PUTs then
        return;
      }
      if (busy) {
        exchange.sendResponseHeaders(503, -1); // overloaded: its pings still answer
        return;
      }
      if (budget.getAndUpdate(b -> Math.max(0, b - 1)) <= 0) {
        exchange.sendResponseHeaders(503, -1);
        return;
      }
      received.add(exchange.getRequestURI().getPath());
      if (body.contains(REFUSED)) {
        if (body.contains("\"Requests\"")) {
          exchange.sendResponseHeaders(404, -1); // a batch: as an original node, single PUTs then
          return;
        }
        // As a site whose limits are lower than the sender's refuses a timer (413, 400).
        refusals.incrementAndGet();
        exchange.sendResponseHeaders(413, -1);
        return;
      }
      puts.incrementAndGet();
      taken
          .computeIfAbsent(exchange.getRequestURI().getPath(), p -> new CopyOnWriteArrayList<>())
          .add(body);
      exchange.sendResponseHeaders(200, -1);
    }
  }

  /** The start time the site's pings name; null: two by turns, as two nodes behind one address. */
  private volatile String started;

  /** Whether the site answers batches as an original node does (404), so each timer comes alone. */
  private volatile boolean singlePuts;

  /** Whether the site answers every timer sent to it with 503, as an overloaded one does. */
  private volatile boolean busy;

  /** The paths of the timers the site took. */
  private final Set<String> received = ConcurrentHashMap.newKeySet();

  /** Whether the site answers neither pings nor timers (503), as one that is down. */
  private volatile boolean down;

  /** Requests to {@code /timers} that reached the site, whatever it answered. */
  private final AtomicInteger timerRequests = new AtomicInteger();

  /** The bodies of the single timers the site took, by path, in the order taken. */
  private final Map<String, List<String>> taken = new ConcurrentHashMap<>();

  private static final String NEVER = "http://127.0.0.1:1/never";

  /**
   * How many more timers the site takes before it fails (answers neither timers nor pings) until
   * {@link #flapping} has taken it for down; then it answers again and takes this many more.
   */
  private final AtomicInteger budget = new AtomicInteger(Integer.MAX_VALUE);

  private static final int FLAP_BUDGET = 25;

  /** The site's pings answered 503 since its {@link #budget} was spent. */
  private final AtomicInteger pingsFailedWhileSpent = new AtomicInteger();

  /** The node whose view of the site ends a spent budget's outage; null: none. */
  private volatile Node flapping;

  private static final String REFUSED = "refused-by-the-other-site";
  private final AtomicInteger refusals = new AtomicInteger();

  private void writeTheSite(Node node) {
    node.writeSharedFile(
        "[sites]\nlocal_site = site0\nreplicate_timers_across_sites = true\nremote_site = site1=127.0.0.1:"
            + site.getAddress().getPort()
            + "\n");
  }

  private Node startWithTheSite(String... extraYamlLines) {
    cluster = ClusterHarness.create(1, extraYamlLines);
    Node node = cluster.node(0);
    node.writeClusterFile(cluster.nodeLines("node", List.of(node)));
    writeTheSite(node);
    node.start();
    await().until(() -> pings.get() >= 1);
    return node;
  }

  /** The node's {@code answering} gauge of the site: 1, 0, or null if it has none. */
  private static Object answering(Node node) {
    var gauge = node.metrics().getGauges().get("chronos.sites.site1.answering");
    return gauge == null ? null : gauge.getValue();
  }

  @AfterEach
  void tearDown() {
    if (cluster != null) {
      cluster.close();
    }
    site.stop(0);
  }

  @Test
  void answersFromTheNodesOfOneSiteByTurnsAreNoRestart() {
    Node node = startWithTheSite();
    for (int i = 0; i < 10; i++) {
      node.client().createTimer(TimerJson.oneShot(600, "http://127.0.0.1:1/never", "s" + i));
    }
    await("the timers sent to the other site").until(() -> puts.get() >= 10);

    await("four more probes").atMost(Duration.ofSeconds(30)).until(() -> pings.get() >= 5);

    // Sent once when made; at most once more when the second node's later start was first seen.
    assertThat(puts.get()).isLessThanOrEqualTo(20);
  }

  /**
   * A site that refuses a timer with a 4xx answers all the same. Taken for down, it was sent every
   * timer again each time a probe answered (every 2 s), the refused one among them, which started
   * it over: for good.
   */
  @Test
  void aTimerTheOtherSiteRefusesIsNotSentAgainAndTheSiteStillAnswers() {
    Node node = startWithTheSite();
    // The first answer (first contact) re-sends what the node holds: past it before the timer.
    await().until(() -> pings.get() >= 2);

    node.client().createTimer(TimerJson.oneShot(600, "http://127.0.0.1:1/never", REFUSED));
    await("the other site's refusal").until(() -> refusals.get() >= 1);
    int probes = pings.get();

    await("two more probes, each of which would have sent the timer again")
        .atMost(Duration.ofSeconds(20))
        .until(() -> pings.get() >= probes + 2);
    assertThat(refusals.get()).as("the refused timer's sends").isEqualTo(1);
    assertThat(answering(node)).isEqualTo(1);
    assertThat(node.metrics().counter("chronos.sites.site1.failed").getCount()).isEqualTo(1);

    // A timer it takes still goes.
    node.client().createTimer(TimerJson.oneShot(600, "http://127.0.0.1:1/never", "taken"));
    await("a timer the site takes").until(() -> puts.get() >= 1);
  }

  /**
   * One probe answered too late (a pause on the other side, jitter on a long link) is no outage.
   * Taken for one, the next answer had the node re-send the site every timer it is primary for.
   */
  @Test
  void oneSlowProbeIsNoOutage() {
    Node node = startWithTheSite();
    await().until(() -> pings.get() >= 2);
    for (int i = 0; i < 5; i++) {
      node.client().createTimer(TimerJson.oneShot(600, "http://127.0.0.1:1/never", "t" + i));
    }
    await("the timers sent to the other site").until(() -> puts.get() >= 5);
    int sent = puts.get();

    slowPing = pings.get() + 1;
    await("two probes after the slow one")
        .atMost(Duration.ofSeconds(20))
        .until(() -> pings.get() >= slowPing + 2);

    assertThat(puts.get()).as("timers sent to the site, none again").isEqualTo(sent);
    assertThat(answering(node)).isEqualTo(1);
  }

  /**
   * A site that answers again, or restarted, is sent every timer this node is primary for. Queued
   * all at once, more of them than the replication queue holds failed there ("queue full"), which
   * marked the site down again; its next answer started the re-send over, in the same order, so the
   * timers past the queue's size never reached it, and it flapped between down and answering.
   */
  @Test
  void aSiteThatRestartedGetsEveryTimerEvenWhenTheyOutnumberTheReplicationQueue() {
    started = "1700000000000";
    singlePuts = true;
    Node node = startWithTheSite("replication:", "  maxQueuedPerPeer: 40");
    await().until(() -> pings.get() >= 2); // past the first contact's re-send
    int timers = 200;
    for (int i = 0; i < timers; i += 20) {
      for (int j = i; j < i + 20; j++) {
        node.client().createTimer(TimerJson.oneShot(600, "http://127.0.0.1:1/never", "r" + j));
      }
      int sent = i + 20;
      await("the new timers sent to the site, within the queue")
          .until(() -> received.size() >= sent);
    }
    assertThat(received).hasSize(timers);
    long failedBefore = node.metrics().counter("chronos.sites.site1.failed").getCount();

    received.clear();
    started = "1700000009000"; // the site's node restarted: it holds none of them now

    await("every timer sent to the restarted site")
        .atMost(Duration.ofSeconds(60))
        .until(() -> received.size() >= timers);
    assertThat(node.metrics().counter("chronos.sites.site1.failed").getCount())
        .as("messages to the site that failed")
        .isEqualTo(failedBefore);
    assertThat(answering(node)).isEqualTo(1);
  }

  /**
   * A node that took a client's timer but is not its primary is the only one that sends it to the
   * other site. When that send failed (the site overloaded for a while, its pings still answering),
   * only this node took the site for down, and when it answered again this node re-sent only the
   * timers it is primary for; the primary, which never saw the site fail, sent nothing. The site
   * never got the timer: neither one this node holds as its other replica, nor one it holds no copy
   * of (three nodes, two replicas).
   */
  @Test
  void aTimerWhoseSendFailedOnANodeThatIsNotItsPrimaryIsSentWhenTheSiteAnswersAgain() {
    started = "1700000000000";
    singlePuts = true;
    cluster = ClusterHarness.create(3, "replication:", "  retryFor: 500ms");
    String lines = cluster.nodeLines("node", cluster.nodes());
    for (Node n : cluster.nodes()) {
      n.writeClusterFile(lines);
      writeTheSite(n);
      n.start();
    }
    Node taker = cluster.node(1);
    await("every node past the first contact's re-send")
        .until(
            () -> cluster.nodes().stream().allMatch(n -> Integer.valueOf(1).equals(answering(n))));

    busy = true;
    String heldAsReplica = null;
    String notHeld = null;
    int made = 0;
    while (heldAsReplica == null || notHeld == null) {
      String location = taker.client().createTimer(TimerJson.oneShot(600, NEVER, "b" + made));
      made++;
      List<String> replicas = taker.view().replicasFor(ChronosClient.idOf(location), 2);
      if (!replicas.contains(taker.address())) {
        notHeld = location;
      } else if (!replicas.get(0).equals(taker.address())) {
        heldAsReplica = location;
      }
    }
    int sends = made;
    await("every send of the node that took the timers failed")
        .until(() -> taker.metrics().counter("chronos.sites.site1.failed").getCount() >= sends);
    busy = false;

    Set<String> owed = Set.of(heldAsReplica, notHeld);
    await("the timers sent to the site once it takes timers again")
        .atMost(Duration.ofSeconds(30))
        .until(() -> received.containsAll(owed));
  }

  /**
   * A node that first reaches a site sends it every timer it is primary for, since what the site
   * holds is unknown. A restarted node's first probe is answered long before its start-up resync
   * has brought its timers back: that re-send found the store empty, and a site that lost its
   * copies while the node was down got none of that node's timers until each changed.
   */
  @Test
  void aRestartedNodeReSendsItsTimersToASiteOnlyOnceItsStartUpResyncHasBroughtThemBack() {
    started = "1700000000000";
    singlePuts = true;
    cluster = ClusterHarness.create(2);
    String lines = cluster.nodeLines("node", cluster.nodes());
    for (Node n : cluster.nodes()) {
      n.writeClusterFile(lines);
      writeTheSite(n);
      n.start();
    }
    await("every node past the first contact's re-send")
        .until(
            () -> cluster.nodes().stream().allMatch(n -> Integer.valueOf(1).equals(answering(n))));
    Node restarted = cluster.node(0);
    Node other = cluster.node(1);
    Set<String> itsOwn = new java.util.HashSet<>();
    Set<String> all = new java.util.HashSet<>();
    while (itsOwn.size() < 20) {
      String location = other.client().createTimer(TimerJson.oneShot(600, NEVER, "r" + all.size()));
      all.add(location);
      if (other
          .view()
          .replicasFor(ChronosClient.idOf(location), 2)
          .get(0)
          .equals(restarted.address())) {
        itsOwn.add(location);
      }
    }
    await("every timer sent to the site").until(() -> received.containsAll(all));

    restarted.stop();
    received.clear();
    started = "1700000009000"; // the site restarted too: it holds none of them now
    await("the other node's re-send of the timers it is primary for")
        .atMost(Duration.ofSeconds(30))
        .until(() -> received.size() >= all.size() - itsOwn.size());
    restarted.start();

    await("the restarted node's timers sent to the site")
        .atMost(Duration.ofSeconds(30))
        .until(() -> received.containsAll(itsOwn));
    assertThat(restarted.liveCount())
        .as("timers the restarted node got back")
        .isEqualTo(all.size());
  }

  /**
   * While a site is taken for down, the news of each new timer and deletion for it is owed to the
   * re-send its next answer starts, not queued: queued, each was retried for {@code
   * replication.retryFor} and held in memory meanwhile, up to {@code replication.maxQueuedPerPeer}
   * of them, and a site back within that time got both them and the re-send. Only the probe then
   * tells that the site answers again; every timer reaches it, the deletion too, each new one once.
   */
  @Test
  void newsForASiteTakenForDownIsOwedToItsNextReSendInsteadOfQueued() {
    started = "1700000000000";
    singlePuts = true;
    Node node = startWithTheSite("replication:", "  retryFor: 200ms");
    String deleted = node.client().createTimer(TimerJson.oneShot(600, NEVER, "to-be-deleted"));
    await("the timer sent to the site").until(() -> received.contains(deleted));

    down = true;
    // Its news fails (after a retry): the site is taken for down at once, not two probes later.
    node.client().createTimer(TimerJson.oneShot(600, NEVER, "failed"));
    await("the site taken for down, its news given up on")
        .until(
            () ->
                Integer.valueOf(0).equals(answering(node))
                    && node.metrics().counter("chronos.sites.site1.failed").getCount() == 1);
    int requestsBefore = timerRequests.get();
    List<String> made = new ArrayList<>();
    for (int i = 0; i < 10; i++) {
      made.add(node.client().createTimer(TimerJson.oneShot(600, NEVER, "made-while-down-" + i)));
    }
    assertThat(node.client().delete(deleted).statusCode()).isEqualTo(200);
    await("the deletion owed to the site")
        .atMost(Duration.ofSeconds(20))
        .until(
            () ->
                Long.valueOf(1).equals(node.client().gauge("chronos.sites.site1.deletions-owed")));
    assertThat(timerRequests.get())
        .as("timer messages sent to the site while it was taken for down")
        .isEqualTo(requestsBefore);
    assertThat(node.metrics().counter("chronos.sites.site1.failed").getCount())
        .as("messages the site did not get")
        .isEqualTo(12);

    down = false;
    await("every timer made meanwhile, and the deletion, sent to the site once it answers")
        .atMost(Duration.ofSeconds(15))
        .until(
            () ->
                taken.keySet().containsAll(made)
                    && taken.getOrDefault(deleted, List.of()).stream()
                        .anyMatch(b -> b.contains("\"opaque\":\"\"")));
    for (String location : made) {
      assertThat(taken.get(location)).as("copies of %s the site took", location).hasSize(1);
    }
    assertThat(answering(node)).isEqualTo(1);
  }

  /**
   * A site that fails again during every re-send, sooner than a whole re-send takes: each re-send
   * started over from the head of the store's order, so the timers past what the site took between
   * two failures never reached it. Each goes on where the one before stopped, and a timer changed
   * since it was sent comes round again as it is now.
   */
  @Test
  void aSiteThatFailsDuringEveryReSendStillGetsEveryTimerAsItIsNow() {
    started = "1700000000000";
    singlePuts = true;
    // A chunk of 10 timers; a message the site does not take fails at once.
    Node node = startWithTheSite("replication:", "  maxQueuedPerPeer: 40", "  retryFor: 0ms");
    List<String> made = new ArrayList<>();
    for (int i = 0; i < 60; i += 20) {
      for (int j = i; j < i + 20; j++) {
        made.add(node.client().createTimer(TimerJson.oneShot(600, NEVER, "f" + j)));
      }
      await("the new timers sent to the site, within the queue")
          .until(() -> received.containsAll(made));
    }

    received.clear();
    flapping = node;
    budget.set(FLAP_BUDGET);
    started = "1700000009000"; // the site's node restarted: it holds none of them now
    await("a first timer re-sent").atMost(Duration.ofSeconds(10)).until(() -> !received.isEmpty());
    String changed = received.iterator().next();
    HttpResponse<String> update =
        node.client().put(changed, TimerJson.oneShot(600, NEVER, "changed"));
    assertThat(update.statusCode()).isEqualTo(200);

    await("every timer sent to the site, which fails after every " + FLAP_BUDGET)
        .atMost(Duration.ofSeconds(40))
        .until(() -> received.containsAll(made));
    await("the changed timer sent as it is now")
        .atMost(Duration.ofSeconds(20))
        .until(() -> taken.get(changed).get(taken.get(changed).size() - 1).contains("changed"));
  }

  /**
   * A client's update taken, while the site is down, by a node that held the timer but is no longer
   * one of its replicas (a node was added and a reload moved the timer off it) reaches the site as
   * updated. The node keeps a tombstone of its old copy; that tombstone named the old replicas, so
   * the node took it for its own copy as a replica and sent the site the tombstone instead of the
   * update, which ended the timer there.
   */
  @Test
  void anUpdateTakenByANodeNoLongerAReplicaReachesADownSiteAsUpdated() {
    started = "1700000000000";
    singlePuts = true;
    cluster = ClusterHarness.create(3, "replication:", "  retryFor: 500ms");
    Node taker = cluster.node(0);
    List<Node> two = List.of(taker, cluster.node(1));
    for (Node n : two) {
      n.writeClusterFile(cluster.nodeLines("node", two));
      writeTheSite(n);
      n.start();
    }
    List<String> made = new ArrayList<>();
    for (int i = 0; i < 30; i++) {
      made.add(taker.client().createTimer(TimerJson.oneShot(600, NEVER, "t" + i)));
    }
    await("the new timers sent to the site").until(() -> received.containsAll(made));

    String all = cluster.nodeLines("node", cluster.nodes());
    Node added = cluster.node(2);
    added.writeClusterFile(all);
    writeTheSite(added);
    added.start();
    for (Node n : two) {
      n.writeClusterFile(all);
      assertThat(n.reload()).isEqualTo(200);
    }
    String moved =
        made.stream()
            .filter(
                location ->
                    !taker
                        .view()
                        .replicasFor(ChronosClient.idOf(location), 2)
                        .contains(taker.address()))
            .findFirst()
            .orElseThrow(() -> new AssertionError("no timer moved off the first node"));

    down = true;
    await("every node takes the site for down")
        .atMost(Duration.ofSeconds(20))
        .until(
            () -> cluster.nodes().stream().allMatch(n -> Integer.valueOf(0).equals(answering(n))));
    HttpResponse<String> update =
        taker.client().put(moved, TimerJson.oneShot(600, NEVER, "updated"));
    assertThat(update.statusCode()).isEqualTo(200);
    int before = taken.get(moved).size();
    String siteAddress = "127.0.0.1:" + site.getAddress().getPort();
    try (LogCapture log = LogCapture.of(TimerNode.class, Level.INFO)) {
      down = false;
      await("every node's re-send to the site done, and all it sent answered")
          .atMost(Duration.ofSeconds(30))
          .until(
              () ->
                  log.events().stream()
                              .map(ILoggingEvent::getFormattedMessage)
                              .filter(
                                  line ->
                                      line.equals("site site1: re-send done")
                                          || line.endsWith("this node holds nothing to send it"))
                              .count()
                          >= cluster.nodes().size()
                      && cluster.nodes().stream()
                          .allMatch(n -> n.app().replicator().pending(siteAddress) == 0));
    }
    assertThat(taken.get(moved).stream().skip(before))
        .as("the update reached the site")
        .anyMatch(b -> b.contains("updated"))
        .as("no tombstone of the old copy sent to the site")
        .noneMatch(b -> b.contains("\"uri\":\"\""));
  }

  /**
   * The site re-pointed at other nodes (a standby cluster) on a reload: they hold none of the
   * timers. Their first answer was taken for a restart only if they named a later start time than
   * the old nodes had, so a standby started earlier was sent nothing.
   */
  @Test
  void aSiteMovedToOtherNodesIsSentTheTimersTheyShouldHold() {
    started = "1700000005000";
    singlePuts = true;
    Node node = startWithTheSite();
    await().until(() -> pings.get() >= 2);
    for (int i = 0; i < 5; i++) {
      node.client().createTimer(TimerJson.oneShot(600, "http://127.0.0.1:1/never", "m" + i));
    }
    await("the timers sent to the site").until(() -> received.size() >= 5);
    Set<String> timers = Set.copyOf(received);

    Set<String> standbyReceived = ConcurrentHashMap.newKeySet();
    HttpServer standby =
        LoopbackServer.start(
            "/ping",
            exchange -> {
              try (exchange) {
                exchange
                    .getResponseHeaders()
                    .add(SiteReplicator.PING_STARTED_HEADER, "1700000000000"); // earlier
                exchange.sendResponseHeaders(200, -1);
              }
            },
            "/timers",
            (HttpHandler)
                exchange -> {
                  try (exchange) {
                    String body = new String(exchange.getRequestBody().readAllBytes());
                    if (body.contains("\"Requests\"")) {
                      exchange.sendResponseHeaders(404, -1);
                      return;
                    }
                    standbyReceived.add(exchange.getRequestURI().getPath());
                    exchange.sendResponseHeaders(200, -1);
                  }
                });
    try {
      node.writeSharedFile(
          "[sites]\nlocal_site = site0\nreplicate_timers_across_sites = true\nremote_site = site1="
              + LoopbackServer.address(standby)
              + "\n");
      assertThat(node.reload()).isEqualTo(200);

      await("the timers sent to the site's new nodes")
          .atMost(Duration.ofSeconds(20))
          .until(() -> standbyReceived.containsAll(timers));
    } finally {
      standby.stop(0);
    }
  }

  /** A site taken out of the sites file is no longer reported, frozen, in the metrics. */
  @Test
  void aSiteTakenOutOfTheSitesFileLeavesNoMetricsBehind() {
    Node node = startWithTheSite();
    await("the site answering").until(() -> Integer.valueOf(1).equals(answering(node)));

    node.writeSharedFile("[sites]\nlocal_site = site0\n");
    assertThat(node.reload()).isEqualTo(200);

    await("the site's metrics gone")
        .atMost(Duration.ofSeconds(10))
        .until(
            () ->
                node.metrics().getMetrics().keySet().stream()
                    .noneMatch(name -> name.startsWith("chronos.sites.site1.")));
  }
}
