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
 * time) are counted in every {@code chronos.pops.late-over-<T>us} and {@code -<T>ms} counter whose
 * threshold they pass, and in no other, in admin {@code /metrics} and {@code /prometheus}.
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
    // Four timers due at T0 + 1 s ... T0 + 4 s, popped on time, 7 ms late, 150 ms late and 300 us
    // late: the clock jumps straight past the due time, as a stalled node would see it.
    String onTime = CALLBACKS.newPath("on-time");
    String late7 = CALLBACKS.newPath("late-7");
    String late150 = CALLBACKS.newPath("late-150");
    String late300us = CALLBACKS.newPath("late-300us");
    create(client, 1, onTime);
    create(client, 2, late7);
    create(client, 3, late150);
    create(client, 4, late300us);
    settle();

    moveTo(1000);
    CALLBACKS.awaitRequest(onTime);
    assertThat(lateOverCounts(client)).allSatisfy((name, count) -> assertThat(count).isZero());

    moveTo(2007);
    CALLBACKS.awaitRequest(late7);
    moveTo(3150);
    CALLBACKS.awaitRequest(late150);
    NODE.moveToMicros((T0 + 4000) * 1000 + 300);
    CALLBACKS.awaitRequest(late300us);

    Map<String, Long> expected = new LinkedHashMap<>();
    // More than T: 300 us late passes 50-200 us, not 300 us.
    expected.put("50us", 3L);
    expected.put("75us", 3L);
    expected.put("100us", 3L);
    expected.put("125us", 3L);
    expected.put("150us", 3L);
    expected.put("200us", 3L);
    expected.put("300us", 2L);
    expected.put("500us", 2L);
    expected.put("1ms", 2L);
    expected.put("2ms", 2L);
    expected.put("3ms", 2L);
    expected.put("5ms", 2L);
    expected.put("10ms", 1L);
    expected.put("20ms", 1L);
    expected.put("50ms", 1L);
    expected.put("100ms", 1L);
    expected.put("1000ms", 0L);
    assertThat(lateOverCounts(client)).isEqualTo(expected);
    assertThat(client.metrics().path("meters").path("chronos.timers.popped").path("count").asLong())
        .isEqualTo(4);

    String prometheus = client.admin("/prometheus").body();
    assertThat(prometheus)
        .contains("chronos_pops_late_over_300us_total 2.0\n")
        .contains("chronos_pops_late_over_5ms_total 2.0\n")
        .contains("chronos_pops_late_over_100ms_total 1.0\n")
        .contains("chronos_pops_late_over_1000ms_total 0.0\n");
  }

  private static void create(ChronosClient client, int intervalSeconds, String path) {
    client.createTimer(
        TimerJson.timer().interval(intervalSeconds).callback(CALLBACKS.url(path), path).json());
  }

  private static Map<String, Long> lateOverCounts(ChronosClient client) {
    Map<String, Long> counts = new LinkedHashMap<>();
    for (long micros : TimerMetrics.LATE_OVER_MICROS) {
      String name = TimerMetrics.lateOverName(micros);
      counts.put(name.substring("chronos.pops.late-over-".length()), client.counter(name));
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
