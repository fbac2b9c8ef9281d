package org.chronos.stats;

import static org.assertj.core.api.Assertions.assertThat;

import io.dropwizard.testing.junit5.DropwizardAppExtension;
import io.dropwizard.testing.junit5.DropwizardExtensionsSupport;
import java.util.LinkedHashMap;
import java.util.Map;
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
 * Pops late by a known amount (the test holds the node's clock back and then moves it past the due
 * time) are counted in every {@code chronos.pops.late-over-<T>ms} counter whose threshold they
 * pass, and in no other, in admin {@code /metrics} and {@code /prometheus}.
 */
@ExtendWith(DropwizardExtensionsSupport.class)
class PopLatenessTest {
  private static final long T0 = 1_800_000_000_000L;
  private static final ManualClock CLOCK = new ManualClock(T0);
  private static final CallbackServer CALLBACKS = CallbackServer.start();
  static final DropwizardAppExtension<ChronosConfiguration> APP = SingleNodeApp.create(CLOCK);
  private static final ClockedNode NODE = new ClockedNode(APP, CLOCK);

  @AfterAll
  static void closeCallbacks() {
    CALLBACKS.close();
  }

  @Test
  void eachPopIsCountedOverEveryThresholdItsLatenessPasses() {
    ChronosClient client = ChronosClient.of(APP);
    // Three timers due at T0 + 1 s, T0 + 2 s and T0 + 3 s, popped on time, 7 ms late and 150 ms
    // late: the clock jumps straight past the due time, as a stalled node would see it.
    String onTime = CALLBACKS.newPath("on-time");
    String late7 = CALLBACKS.newPath("late-7");
    String late150 = CALLBACKS.newPath("late-150");
    create(client, 1, onTime);
    create(client, 2, late7);
    create(client, 3, late150);
    settle();

    moveTo(1000);
    CALLBACKS.awaitRequest(onTime);
    assertThat(lateOverCounts(client)).allSatisfy((name, count) -> assertThat(count).isZero());

    moveTo(2007);
    CALLBACKS.awaitRequest(late7);
    moveTo(3150);
    CALLBACKS.awaitRequest(late150);

    Map<Integer, Long> expected = new LinkedHashMap<>();
    expected.put(1, 2L);
    expected.put(2, 2L);
    expected.put(5, 2L);
    expected.put(10, 1L);
    expected.put(20, 1L);
    expected.put(50, 1L);
    expected.put(100, 1L);
    expected.put(1000, 0L);
    assertThat(lateOverCounts(client)).isEqualTo(expected);
    assertThat(client.metrics().path("meters").path("chronos.timers.popped").path("count").asLong())
        .isEqualTo(3);

    String prometheus = client.admin("/prometheus").body();
    assertThat(prometheus)
        .contains("chronos_pops_late_over_5ms_total 2.0\n")
        .contains("chronos_pops_late_over_100ms_total 1.0\n")
        .contains("chronos_pops_late_over_1000ms_total 0.0\n");
  }

  private static void create(ChronosClient client, int intervalSeconds, String path) {
    client.createTimer(
        TimerJson.timer().interval(intervalSeconds).callback(CALLBACKS.url(path), path).json());
  }

  private static Map<Integer, Long> lateOverCounts(ChronosClient client) {
    Map<Integer, Long> counts = new LinkedHashMap<>();
    for (int millis : TimerMetrics.LATE_OVER_MILLIS) {
      counts.put(millis, client.counter(TimerMetrics.lateOverName(millis)));
    }
    return counts;
  }

  private static void moveTo(long offsetMillis) {
    NODE.moveTo(T0 + offsetMillis);
  }

  private static void settle() {
    NODE.settle();
  }
}
