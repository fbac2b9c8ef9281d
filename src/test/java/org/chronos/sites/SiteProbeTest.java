package org.chronos.sites;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpHandler;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.chronos.testing.ClusterHarness;
import org.chronos.testing.ClusterHarness.Node;
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
      if (n == slowPing) {
        try {
          Thread.sleep(SiteReplicator.PROBE_TIMEOUT_MILLIS + 500);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
      }
      exchange
          .getResponseHeaders()
          .add(SiteReplicator.PING_STARTED_HEADER, n % 2 == 0 ? "1700000000000" : "1700000005000");
      exchange.sendResponseHeaders(200, -1);
    }
  }

  private void put(HttpExchange exchange) throws IOException {
    try (exchange) {
      String body = new String(exchange.getRequestBody().readAllBytes(), StandardCharsets.UTF_8);
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
      exchange.sendResponseHeaders(200, -1);
    }
  }

  private static final String REFUSED = "refused-by-the-other-site";
  private final AtomicInteger refusals = new AtomicInteger();

  private Node startWithTheSite() {
    cluster = ClusterHarness.create(1);
    Node node = cluster.node(0);
    node.writeClusterFile(cluster.nodeLines("node", List.of(node)));
    node.writeSharedFile(
        "[sites]\nlocal_site = site0\nreplicate_timers_across_sites = true\nremote_site = site1=127.0.0.1:"
            + site.getAddress().getPort()
            + "\n");
    node.start();
    await().until(() -> pings.get() >= 1);
    return node;
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
    assertThat(node.metrics().getGauges().get("chronos.sites.site1.answering").getValue())
        .isEqualTo(1);
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
    assertThat(node.metrics().getGauges().get("chronos.sites.site1.answering").getValue())
        .isEqualTo(1);
  }
}
