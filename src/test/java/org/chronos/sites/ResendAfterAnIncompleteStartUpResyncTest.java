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
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Collectors;
import org.chronos.node.TimerNode;
import org.chronos.resources.TimerPath;
import org.chronos.resync.ResyncSummary;
import org.chronos.testing.ClusterHarness;
import org.chronos.testing.ClusterHarness.Node;
import org.chronos.testing.LogCapture;
import org.chronos.testing.LoopbackServer;
import org.chronos.testing.OriginalNode;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * A node that starts while its only peer fails its resync: its first re-send to another site waits
 * for the start-up resync, which stores nothing, so it sends nothing. The timers it is primary for
 * came back only with a later resync, and no re-send followed: a site that lost its copies while
 * this node was down never got them until each changed. Here an {@link OriginalNode} stands in for
 * the peer (its timers name both sites) and a JDK {@code HttpServer} for the other site, which has
 * not restarted meanwhile (its pings name the same start time throughout).
 */
class ResendAfterAnIncompleteStartUpResyncTest {
  private final OriginalNode peer = new OriginalNode();
  private final AtomicInteger pings = new AtomicInteger();

  /** The paths of the timers the other site took. */
  private final Set<String> received = ConcurrentHashMap.newKeySet();

  private final HttpServer site =
      LoopbackServer.start("/ping", this::ping, "/timers", (HttpHandler) this::put);
  private ClusterHarness cluster;

  private void ping(HttpExchange exchange) throws IOException {
    try (exchange) {
      pings.incrementAndGet();
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
    peer.stop();
    site.stop(0);
  }

  private static long count(LogCapture log, String part) {
    return log.events().stream()
        .map(ILoggingEvent::getFormattedMessage)
        .filter(line -> line.contains(part))
        .count();
  }

  @Test
  void aResyncThatBringsTheTimersAfterAFailedStartUpResyncSendsThemToTheOtherSite() {
    peer.failGetsWith = 503;
    peer.sites = List.of("site0", "site1");
    cluster =
        ClusterHarness.create(
            1, "resync:", "  onStart: true", "  warmUpTimers: 0", "  pageSize: 100");
    Node node = cluster.node(0);
    node.writeClusterFile("node = " + node.address() + "\nnode = " + peer.address());
    node.writeSharedFile(
        "[sites]\nlocal_site = site0\nreplicate_timers_across_sites = true\nremote_site = site1="
            + LoopbackServer.address(site)
            + "\n");
    node.start();
    try (LogCapture log = LogCapture.of(TimerNode.class, Level.INFO)) {
      // The start-up resync gives up on the peer after its retries, and the site's first re-send,
      // which waited for it, finds nothing to send.
      await("the start-up resync")
          .atMost(Duration.ofSeconds(30))
          .until(() -> node.app().resyncService().lastSummary() != null);
      ResyncSummary startUp = node.app().resyncService().lastSummary();
      assertThat(startUp.nodesFailed()).as(startUp.toString()).isEqualTo(1);
      await("the site's first re-send, of nothing")
          .atMost(Duration.ofSeconds(10))
          .until(() -> count(log, "site site1 answers: this node holds nothing to send it") == 1);
      assertThat(received).isEmpty();

      // The peer serves its timers now, each under the replicas the node's view gives it.
      peer.fill(node.address(), node.view().viewId());
      peer.orderReplicasAs(node.view());
      peer.failGetsWith = 0;
      Set<Long> primaryHere =
          peer.timers.keySet().stream()
              .filter(id -> node.view().replicasFor(id, 2).get(0).equals(node.address()))
              .collect(Collectors.toSet());
      assertThat(primaryHere).hasSizeBetween(50, OriginalNode.TIMERS - 50);
      Set<String> toSend =
          primaryHere.stream().map(id -> TimerPath.location(id, 2)).collect(Collectors.toSet());

      JsonNode summary = node.resync();

      assertThat(summary.get("nodesFailed").asInt()).as(summary.toString()).isZero();
      assertThat(summary.get("stored").asLong()).as(summary.toString()).isPositive();
      await("every timer the node is primary for sent to the site")
          .atMost(Duration.ofSeconds(20))
          .until(() -> received.containsAll(toSend));
      assertThat(received).as("timers sent to the site").isEqualTo(toSend);

      // That resync reached every peer: the next one sends the site nothing more.
      String after = "resync after an incomplete start-up resync";
      assertThat(count(log, after)).isEqualTo(1);
      assertThat(node.resync().get("nodesFailed").asInt()).isZero();
      assertThat(count(log, after)).as("re-sends after the second resync").isEqualTo(1);
    }
  }
}
