package org.chronos.stats;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import io.dropwizard.testing.junit5.DropwizardAppExtension;
import io.dropwizard.testing.junit5.DropwizardExtensionsSupport;
import java.net.http.HttpResponse;
import java.time.Duration;
import org.chronos.ChronosConfiguration;
import org.chronos.testing.CallbackServer;
import org.chronos.testing.ChronosClient;
import org.chronos.testing.ClockedNode;
import org.chronos.testing.ManualClock;
import org.chronos.testing.SingleNodeApp;
import org.chronos.testing.TimerJson;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * After a known sequence of requests on a node whose clock the test moves, admin {@code /metrics}
 * and {@code /prometheus} report exactly the expected values: lifecycle counts, callback outcomes
 * and latency, pop lateness, tag counts and their 5 s and 5 min statistics.
 */
@ExtendWith(DropwizardExtensionsSupport.class)
class MetricsEndpointsTest {
  /** A multiple of 5 min, so the 5 s and 5 min periods both start here. */
  private static final long T0 = 5_700_000L * 300_000;

  private static final ManualClock CLOCK = new ManualClock(T0);
  private static final CallbackServer CALLBACKS = CallbackServer.start();
  static final DropwizardAppExtension<ChronosConfiguration> APP = SingleNodeApp.create(CLOCK);
  private static final ClockedNode NODE = new ClockedNode(APP, CLOCK);

  @AfterAll
  static void closeCallbacks() {
    CALLBACKS.close();
  }

  @Test
  void countsAndTagStatisticsAfterAKnownSequence() {
    ChronosClient client = ChronosClient.of(APP);
    String popPath = CALLBACKS.newPath("pops");

    // T0: three timers. A and B are far off; C pops after 1 s.
    String a =
        client.createTimer(
            TimerJson.timer()
                .interval(3600)
                .callback(CALLBACKS.url("/a"), "a")
                .tag("CALL", 2)
                .json());
    String b =
        client.createTimer(
            TimerJson.timer()
                .interval(3600)
                .callback(CALLBACKS.url("/b"), "b")
                .tag("REG", 3)
                .json());
    client.createTimer(
        TimerJson.timer().interval(1).callback(CALLBACKS.url(popPath), "c").tag("SUB", 1).json());
    settle();

    // T0 + 1 s: C pops; its callback is answered 200.
    moveTo(1000);
    CALLBACKS.awaitRequest(popPath);
    await("the callback's outcome")
        .atMost(Duration.ofSeconds(10))
        .pollInterval(Duration.ofMillis(10))
        .until(() -> client.counter("chronos.callbacks.succeeded") == 1);

    // T0 + 2.5 s: A is updated to 5 CALLs.
    moveTo(2500);
    assertThat(
            client
                .put(
                    a,
                    TimerJson.timer()
                        .interval(3600)
                        .callback(CALLBACKS.url("/a"), "a2")
                        .tag("CALL", 5)
                        .json())
                .statusCode())
        .isEqualTo(200);
    settle();

    // T0 + 3.75 s: B is deleted.
    moveTo(3750);
    assertThat(client.delete(b).statusCode()).isEqualTo(200);
    settle();

    moveTo(5000);
    JsonNode metrics = client.metrics();
    assertThat(count(metrics, "meters", "chronos.timers.created")).isEqualTo(3);
    assertThat(count(metrics, "meters", "chronos.timers.updated")).isEqualTo(1);
    assertThat(count(metrics, "meters", "chronos.timers.deleted")).isEqualTo(1);
    assertThat(count(metrics, "meters", "chronos.timers.popped")).isEqualTo(1);
    assertThat(count(metrics, "meters", "chronos.timers.dropped")).isZero();
    assertThat(count(metrics, "counters", "chronos.callbacks.succeeded")).isEqualTo(1);
    assertThat(count(metrics, "counters", "chronos.callbacks.failed")).isZero();
    assertThat(count(metrics, "histograms", "chronos.pops.lateness-micros")).isEqualTo(1);
    assertThat(count(metrics, "timers", "chronos.callbacks.latency")).isEqualTo(1);
    assertThat(count(metrics, "meters", "chronos.overload.rejected")).isZero();
    assertThat(gauge(metrics, "chronos.timers.live").asLong()).isEqualTo(1);
    assertThat(gauge(metrics, "chronos.callbacks.in-flight").asLong()).isZero();
    assertThat(gauge(metrics, "chronos.overload.rate").asDouble()).isEqualTo(500.0);
    assertThat(gauge(metrics, "chronos.tags.CALL.count").asLong()).isEqualTo(5);
    assertThat(gauge(metrics, "chronos.tags.REG.count").asLong()).isZero();
    assertThat(gauge(metrics, "chronos.tags.SUB.count").asLong()).isZero();

    // [T0, T0 + 5 s): CALL 2 then 5 at 2.5 s; REG 3 then 0 at 3.75 s; SUB 1 then 0 at 1 s.
    assertWindow(metrics, "CALL", "5s", 3.5, 5, 2, 2.25);
    assertWindow(metrics, "REG", "5s", 2.25, 3, 0, 1.6875);
    assertWindow(metrics, "SUB", "5s", 0.2, 1, 0, 0.16);
    // No 5 min period has completed yet: the one before T0, when no tag had been seen.
    assertWindow(metrics, "CALL", "5m", 0, 0, 0, 0);

    String prometheus = prometheus(client);
    assertThat(prometheus)
        .contains("chronos_timers_creations_total 3.0\n")
        .contains("chronos_timers_updated_total 1.0\n")
        .contains("chronos_timers_deleted_total 1.0\n")
        .contains("chronos_timers_popped_total 1.0\n")
        .contains("chronos_callbacks_succeeded_total 1.0\n")
        .contains("chronos_pops_lateness_micros_count 1\n")
        .contains("chronos_callbacks_latency_count 1\n")
        .contains("chronos_timers_live 1.0\n")
        .contains("chronos_tags_CALL_count 5.0\n")
        .contains("chronos_tags_CALL_5s_average 3.5\n")
        .contains("chronos_tags_CALL_5s_hwm 5.0\n")
        .contains("chronos_tags_CALL_5s_lwm 2.0\n")
        .contains("chronos_tags_CALL_5s_variance 2.25\n")
        .contains("chronos_tags_REG_5s_lwm 0.0\n")
        .contains("chronos_overload_rate 500.0\n")
        .contains("chronos_overload_rejected_total 0.0\n")
        .contains("chronos_resync_runs_total 0.0\n")
        .doesNotContain("chronos_timers_total");

    // T0 + 5 min: the first 5 min period is complete; the last 5 s one held steady.
    moveTo(300_000);
    metrics = client.metrics();
    // CALL: 2 for 2.5 s, then 5 for 297.5 s.
    assertWindow(metrics, "CALL", "5m", 4.975, 5, 2, 0.074375);
    assertWindow(metrics, "CALL", "5s", 5, 5, 5, 0);
    assertWindow(metrics, "REG", "5s", 0, 0, 0, 0);
    assertWindow(
        metrics, "SUB", "5m", 1000.0 / 300_000, 1, 0, 1000.0 / 300_000 * (1 - 1000.0 / 300_000));
    assertThat(count(metrics, "meters", "chronos.timers.popped"))
        .as("A and B never popped")
        .isEqualTo(1);
  }

  private static void moveTo(long offsetMillis) {
    NODE.moveTo(T0 + offsetMillis);
  }

  private static void settle() {
    NODE.settle();
  }

  private static String prometheus(ChronosClient client) {
    HttpResponse<String> response = client.admin("/prometheus");
    assertThat(response.statusCode())
        .as("GET admin /prometheus: %s", response.body())
        .isEqualTo(200);
    assertThat(response.headers().firstValue("Content-Type").orElse("")).startsWith("text/plain");
    return response.body();
  }

  private static long count(JsonNode metrics, String kind, String name) {
    JsonNode count = metrics.path(kind).path(name).path("count");
    assertThat(count.isMissingNode()).as("%s %s is registered", kind, name).isFalse();
    return count.asLong();
  }

  private static JsonNode gauge(JsonNode metrics, String name) {
    JsonNode value = metrics.path("gauges").path(name).path("value");
    assertThat(value.isMissingNode()).as("gauge %s is registered", name).isFalse();
    return value;
  }

  private static void assertWindow(
      JsonNode metrics,
      String tag,
      String window,
      double average,
      long hwm,
      long lwm,
      double variance) {
    String base = "chronos.tags." + tag + "." + window + ".";
    assertThat(gauge(metrics, base + "average").asDouble())
        .as(base + "average")
        .isCloseTo(average, within(1e-9));
    assertThat(gauge(metrics, base + "hwm").asLong()).as(base + "hwm").isEqualTo(hwm);
    assertThat(gauge(metrics, base + "lwm").asLong()).as(base + "lwm").isEqualTo(lwm);
    assertThat(gauge(metrics, base + "variance").asDouble())
        .as(base + "variance")
        .isCloseTo(variance, within(1e-9));
  }
}
