package org.chronos.stats;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.net.http.HttpResponse;
import org.chronos.testing.ClusterHarness;
import org.chronos.testing.ClusterHarness.Node;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Metric names that are one in Prometheus form: two sites, {@code dc-2} and {@code dc_2}, both
 * valid names, gave two metric families named {@code chronos_sites_dc_2_...}, and every scrape of
 * {@code /prometheus} failed with a 500, every other metric lost with them.
 */
class PrometheusNamesTest {
  private ClusterHarness cluster;

  @AfterEach
  void tearDown() {
    cluster.close();
  }

  @Test
  void twoSitesWhoseNamesAreOneInPrometheusFormLeaveTheScrapeWhole() {
    cluster = ClusterHarness.create(1);
    Node node = cluster.node(0);
    node.writeClusterFile("node = " + node.address());
    node.writeSharedFile(
        "[sites]\nlocal_site = dc1\nremote_site = dc-2=127.0.0.1:1\nremote_site = dc_2=127.0.0.1:2\n");
    node.start();
    await("both sites' metrics")
        .until(
            () ->
                node.metrics().getGauges().containsKey("chronos.sites.dc-2.answering")
                    && node.metrics().getGauges().containsKey("chronos.sites.dc_2.answering"));

    HttpResponse<String> scrape = node.client().admin("/prometheus");

    assertThat(scrape.statusCode()).as(scrape.body()).isEqualTo(200);
    assertThat(scrape.body())
        .contains("chronos_sites_dc_2_answering ")
        .contains("chronos_timers_live ");

    // A counter and a gauge whose names differ by an ending Prometheus strips are one family too.
    node.metrics().counter("test.a.b").inc();
    node.metrics().gauge("test.a.b_total", () -> () -> 7);
    HttpResponse<String> again = node.client().admin("/prometheus");
    assertThat(again.statusCode()).as(again.body()).isEqualTo(200);
    assertThat(again.body()).contains("chronos_timers_live ");
  }
}
