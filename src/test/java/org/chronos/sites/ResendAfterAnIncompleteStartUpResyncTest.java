package org.chronos.sites;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.spi.ILoggingEvent;
import com.fasterxml.jackson.databind.JsonNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpHandler;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Collectors;
import org.chronos.cluster.ClusterConfig;
import org.chronos.cluster.ClusterView;
import org.chronos.node.TimerNode;
import org.chronos.resources.TimerPath;
import org.chronos.resync.ResyncService;
import org.chronos.resync.ResyncSummary;
import org.chronos.testing.ClusterHarness;
import org.chronos.testing.ClusterHarness.Node;
import org.chronos.testing.LogCapture;
import org.chronos.testing.LoopbackServer;
import org.chronos.testing.OriginalNode;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * A node that starts while one of its peers fails its resync: its first re-send to another site
 * waits for the start-up resync, so it sends what the other peer gave back, but not the timers it
 * is primary for that only the missed peer holds. Those came back only with a later resync, and no
 * re-send followed: a site that lost its copies while this node was down never got them until each
 * changed. Here {@link OriginalNode}s stand in for the peers (their timers name both sites) and a
 * JDK {@code HttpServer} for the other site, which has not restarted meanwhile (its pings name the
 * same start time throughout).
 */
class ResendAfterAnIncompleteStartUpResyncTest {
  private final OriginalNode reached = new OriginalNode();
  private final OriginalNode missed = new OriginalNode();

  /** The paths of the timers the other site took. */
  private final Set<String> received = ConcurrentHashMap.newKeySet();

  private final HttpServer site =
      LoopbackServer.start("/ping", this::ping, "/timers", (HttpHandler) this::put);
  private ClusterHarness cluster;

  private void ping(HttpExchange exchange) throws IOException {
    try (exchange) {
      exchange.getResponseHeaders().add(SiteReplicator.PING_STARTED_HEADER, "1700000000000");
      exchange.sendResponseHeaders(200, -1);
    }
  }

  private void put(HttpExchange exchange) throws IOException {
    try (exchange) {
      String body = new String(exchange.getRequestBody().readAllBytes(), StandardCharsets.UTF_8);
      if (body.contains("\"Requests\"")) {
        exchange.sendResponseHeaders(404, -1); // as an original node: single PUTs then
        return;
      }
      received.add(exchange.getRequestURI().getPath());
      exchange.sendResponseHeaders(200, -1);
    }
  }

  @AfterEach
  void tearDown() {
    if (cluster != null) {
      cluster.close();
    }
    reached.stop();
    missed.stop();
    site.stop(0);
  }

  private static long count(List<LogCapture> logs, String part) {
    return logs.stream()
        .flatMap(log -> log.events().stream())
        .map(ILoggingEvent::getFormattedMessage)
        .filter(line -> line.contains(part))
        .count();
  }

  /** The locations of the peer's timers that {@code node} is the primary of. */
  private static Set<String> primaryOn(Node node, ClusterView view, OriginalNode peer) {
    return peer.timers.keySet().stream()
        .filter(id -> view.replicasFor(id, 2).get(0).equals(node.address()))
        .map(id -> TimerPath.location(id, 2))
        .collect(Collectors.toSet());
  }

  private Node node;
  private ClusterView view;

  /**
   * The node, in a cluster with both peers and the site as another site, started with {@code
   * resync.onStart} and {@code resync.startUpRetry} as given; the missed peer fails every resync
   * GET until told otherwise.
   */
  private void start(boolean resyncOnStart, String startUpRetry) {
    missed.idSalt = 8;
    missed.failGetsWith = 503;
    for (OriginalNode peer : List.of(reached, missed)) {
      peer.sites = List.of("site0", "site1");
    }
    cluster =
        ClusterHarness.create(
            1,
            "resync:",
            "  onStart: " + resyncOnStart,
            "  startUpRetry: " + startUpRetry,
            "  warmUpTimers: 0",
            "  pageSize: 100");
    node = cluster.node(0);
    List<String> members = List.of(node.address(), reached.address(), missed.address());
    view = new ClusterView(new ClusterConfig(node.address(), members, List.of(), List.of(), 0, 0));
    for (OriginalNode peer : List.of(reached, missed)) {
      peer.fill(node.address(), view.viewId());
      peer.orderReplicasAs(view);
    }
    node.writeClusterFile(
        members.stream().map(a -> "node = " + a).collect(Collectors.joining("\n")));
    node.writeSharedFile(
        "[sites]\nlocal_site = site0\nreplicate_timers_across_sites = true\nremote_site = site1="
            + LoopbackServer.address(site)
            + "\n");
    node.start();
    assertThat(node.view().viewId()).isEqualTo(view.viewId());
  }

  /** The start-up resync's summary, once it has finished. */
  private ResyncSummary startUpSummary() {
    await("the start-up resync")
        .atMost(Duration.ofSeconds(30))
        .until(() -> node.app().resyncService().lastSummary() != null);
    return node.app().resyncService().lastSummary();
  }

  @Test
  void aResyncThatReachesThePeerTheStartUpResyncMissedSendsItsTimersToTheOtherSite() {
    start(true, "0s"); // no retry by itself: the operator's resyncs here
    Set<String> fromReached = primaryOn(node, view, reached);
    Set<String> fromMissed = primaryOn(node, view, missed);
    assertThat(fromReached).hasSizeGreaterThan(10);
    assertThat(fromMissed).hasSizeGreaterThan(10);
    try (LogCapture nodeLog = LogCapture.of(TimerNode.class, Level.INFO);
        LogCapture resyncLog = LogCapture.of(ResyncService.class, Level.INFO)) {
      List<LogCapture> log = List.of(nodeLog, resyncLog);
      // The start-up resync gives up on the missed peer after its retries; the site's first
      // re-send, which waited for it, has what the other peer gave back.
      ResyncSummary startUp = startUpSummary();
      assertThat(startUp.nodesFailed()).as(startUp.toString()).isEqualTo(1);
      await("the site's first re-send")
          .atMost(Duration.ofSeconds(10))
          .until(() -> received.containsAll(fromReached));
      assertThat(received).isEqualTo(fromReached);

      // A resync that misses that peer again brings nothing the site lacks: no re-send, though
      // it stored the other peer's timers again.
      JsonNode again = node.resync();
      assertThat(again.get("nodesFailed").asInt()).as(again.toString()).isEqualTo(1);
      assertThat(again.get("stored").asLong()).as(again.toString()).isPositive();
      assertThat(count(log, "it reached no peer the start-up resync missed")).isEqualTo(1);
      assertThat(count(log, "re-sending to the sites that answer")).isZero();

      missed.failGetsWith = 0;
      JsonNode summary = node.resync();

      assertThat(summary.get("nodesFailed").asInt()).as(summary.toString()).isZero();
      Set<String> all = new java.util.HashSet<>(fromReached);
      all.addAll(fromMissed);
      await("every timer the node is primary for sent to the site")
          .atMost(Duration.ofSeconds(20))
          .until(() -> received.containsAll(all));
      assertThat(received).as("timers sent to the site").isEqualTo(all);
      assertThat(count(log, "re-sending to the sites that answer [site1]")).isEqualTo(1);

      // Every peer has been reached since the start: the next resync sends the site nothing.
      String after = "resync after an incomplete start-up resync";
      long told = count(log, after);
      assertThat(node.resync().get("nodesFailed").asInt()).isZero();
      assertThat(count(log, after)).as("lines after the last resync").isEqualTo(told);
    }
  }

  /**
   * A resync that got every page of the missed peer but failed after (its references refused) does
   * not count as reaching it; the next one, which does, stores those timers again, held here as
   * they are by then, and the site still gets them: with the re-send gated on the timers a run
   * changed, it never followed.
   */
  @Test
  void aResyncThatReachesTheMissedPeerAfterOneThatFailedPartWaySendsItsTimersToTheOtherSite() {
    start(true, "0s");
    Set<String> all = new java.util.HashSet<>(primaryOn(node, view, reached));
    all.addAll(primaryOn(node, view, missed));
    assertThat(startUpSummary().nodesFailed()).isEqualTo(1);
    missed.failGetsWith = 0;
    missed.failDeletesWith = 500;
    JsonNode partWay = node.resync();
    assertThat(partWay.get("nodesFailed").asInt()).as(partWay.toString()).isEqualTo(1);
    assertThat(missed.timers.keySet().stream().allMatch(node::holdsLive))
        .as("the missed peer's timers merged before its references failed")
        .isTrue();

    missed.failDeletesWith = 0;
    JsonNode summary = node.resync();

    assertThat(summary.get("nodesFailed").asInt()).as(summary.toString()).isZero();
    await("every timer the node is primary for sent to the site")
        .atMost(Duration.ofSeconds(20))
        .until(() -> received.containsAll(all));
  }

  /**
   * A node restarted while a peer did not answer held one copy fewer of that peer's timers, and
   * sent other sites none of those it is primary for, until an operator ran a resync. It now
   * resyncs from the peers it missed by itself ({@code resync.startUpRetry}), and sends them on.
   */
  @Test
  void theStartUpResyncIsRetriedForThePeersItMissedByItself() {
    start(true, "1s");
    ResyncSummary startUp = startUpSummary();
    assertThat(startUp.nodesFailed()).isEqualTo(1);
    int askedOfReached = reached.rawQueries.size();
    missed.failGetsWith = 0;
    Set<String> all = primaryOn(node, view, reached);
    all.addAll(primaryOn(node, view, missed));

    await("the missed peer's timers held, and sent on to the site")
        .atMost(Duration.ofSeconds(30))
        .until(
            () ->
                missed.timers.keySet().stream().allMatch(node::holdsLive)
                    && received.containsAll(all));
    assertThat(received).isEqualTo(all);
    assertThat(reached.rawQueries)
        .as("pages asked of the peer reached at start")
        .hasSize(askedOfReached);
    // wait-sync and the health check still answer with the last run that asked every peer.
    assertThat(node.app().resyncService().lastSummary()).isSameAs(startUp);
    assertThat(node.app().resyncService().awaitCurrent().join()).isSameAs(startUp);
  }

  /**
   * A peer still unreachable at the first retry is asked again at the next, twice as late, and the
   * node gets its timers then.
   */
  @Test
  void aPeerStillMissedAtTheFirstRetryIsAskedAgainLater() {
    start(true, "1s");
    startUpSummary();
    int askedAtStart = missed.rawQueries.size();
    await("the first retry's attempts, all refused")
        .atMost(Duration.ofSeconds(30))
        .until(() -> missed.rawQueries.size() >= 2 * askedAtStart);
    missed.failGetsWith = 0;

    await("the missed peer's timers held after a later retry")
        .atMost(Duration.ofSeconds(30))
        .until(() -> missed.timers.keySet().stream().allMatch(node::holdsLive));
  }

  /**
   * A node that runs no start-up resync ({@code resync.onStart: false}) sends another site only
   * what has been sent to it since; the operator's first resync brings the rest, which goes on to
   * the site.
   */
  @Test
  void theFirstResyncOfANodeThatRanNoneAtStartSendsWhatItBringsToTheOtherSite() {
    start(false, "1s");
    missed.failGetsWith = 0;
    Set<String> all = primaryOn(node, view, reached);
    all.addAll(primaryOn(node, view, missed));
    await("the site's first contact")
        .until(
            () -> {
              var gauge = node.metrics().getGauges().get("chronos.sites.site1.answering");
              return gauge != null && Integer.valueOf(1).equals(gauge.getValue());
            });
    assertThat(received).as("timers sent to the site before any resync").isEmpty();

    assertThat(node.resync().get("nodesFailed").asInt()).isZero();

    await("every timer the node is primary for sent to the site")
        .atMost(Duration.ofSeconds(20))
        .until(() -> received.containsAll(all));
    assertThat(received).isEqualTo(all);
  }
}
