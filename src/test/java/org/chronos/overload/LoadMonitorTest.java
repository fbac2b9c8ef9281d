package org.chronos.overload;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.chronos.testing.ManualClock;
import org.junit.jupiter.api.Test;

/** The token bucket and its latency-driven rate, on a clock moved by hand. */
class LoadMonitorTest {
  private static final long TARGET_MICROS = 500_000;
  private static final org.assertj.core.data.Offset<Double> WITHIN =
      org.assertj.core.data.Offset.offset(1e-6);

  private final ManualClock clock = new ManualClock(1_700_000_000_000L);

  private LoadMonitor monitor(int bucket, double initialRate, double minRate) {
    return new LoadMonitor(clock, TARGET_MICROS, bucket, initialRate, minRate);
  }

  /** Admits up to {@code n} requests now; returns how many were admitted. */
  private static int admitUpTo(LoadMonitor m, int n) {
    int admitted = 0;
    for (int i = 0; i < n; i++) {
      if (m.admit() == 0) {
        admitted++;
      }
    }
    return admitted;
  }

  /**
   * One second of traffic: {@code requests} admits, each answered after {@code latencyMicros}, then
   * the clock moves on a second, so the next call adjusts the rate.
   */
  private void secondOf(LoadMonitor m, int requests, long latencyMicros) {
    for (int i = 0; i < requests; i++) {
      if (m.admit() == 0) {
        m.completed(latencyMicros);
      }
    }
    clock.advance(1000);
  }

  @Test
  void startsFullSoABurstOfBucketSizeIsAdmitted() {
    LoadMonitor m = monitor(20, 10, 10);

    assertThat(admitUpTo(m, 20)).isEqualTo(20);
    assertThat(m.admit()).as("retry after, in seconds").isEqualTo(1);
  }

  @Test
  void refillsAtTheRate() {
    LoadMonitor m = monitor(20, 10, 10);
    admitUpTo(m, 20);

    clock.advance(100);
    assertThat(m.admit()).isZero();
    assertThat(m.admit()).isPositive();
    clock.advance(50);
    assertThat(m.admit()).isPositive();
    clock.advance(50);
    assertThat(m.admit()).isZero();
    clock.advance(1000);
    assertThat(admitUpTo(m, 20)).isEqualTo(10);
  }

  @Test
  void neverHoldsMoreThanTheBucket() {
    LoadMonitor m = monitor(20, 10, 10);
    admitUpTo(m, 20);

    clock.advance(3_600_000);
    assertThat(admitUpTo(m, 100)).isEqualTo(20);
  }

  @Test
  void retryAfterIsTheWholeSecondsUntilTheNextToken() {
    LoadMonitor m = monitor(1, 0.25, 0.1);
    assertThat(m.admit()).isZero();

    assertThat(m.admit()).isEqualTo(4);
    clock.advance(1000);
    assertThat(m.admit()).isEqualTo(3);
    clock.advance(2500);
    assertThat(m.admit()).isEqualTo(1);
    clock.advance(500);
    assertThat(m.admit()).isZero();
  }

  @Test
  void latencyFarAboveTheTargetHalvesTheRateDownToTheMinimum() {
    LoadMonitor m = monitor(1000, 100, 10);
    double[] expected = {50, 25, 12.5, 10, 10};
    for (double rate : expected) {
      secondOf(m, 5, 2 * TARGET_MICROS);
      m.admit(); // the first call after the interval adjusts
      assertThat(m.rate()).isEqualTo(rate);
    }
    assertThat(m.smoothedLatencyMicros()).isEqualTo(2.0 * TARGET_MICROS);
  }

  @Test
  void latencySlightlyAboveTheTargetCutsAtLeastATenth() {
    LoadMonitor m = monitor(1000, 100, 10);
    secondOf(m, 5, TARGET_MICROS + 10_000);
    m.admit();

    assertThat(m.rate()).isEqualTo(90.0);
  }

  @Test
  void latencyAboveTheTargetCutsInProportion() {
    LoadMonitor m = monitor(1000, 100, 10);
    secondOf(m, 5, TARGET_MICROS * 8 / 5);
    m.admit();

    assertThat(m.rate()).isEqualTo(62.5);
  }

  @Test
  void smoothingAveragesEachSecondWithThePast() {
    LoadMonitor m = monitor(1000, 100, 10);
    secondOf(m, 4, 250_000);
    m.admit();
    assertThat(m.smoothedLatencyMicros()).isEqualTo(250_000.0);
    assertThat(m.rate()).isEqualTo(100.0);
    secondOf(m, 4, 1_000_000);
    m.admit();
    // (250 ms + 1000 ms) / 2 = 625 ms: over the target, so the rate is cut by 500/625.
    assertThat(m.smoothedLatencyMicros()).isEqualTo(625_000.0);
    assertThat(m.rate()).isEqualTo(80.0);
  }

  @Test
  void lowLatencyRaisesTheRateWhenTheRateLimitedClients() {
    LoadMonitor m = monitor(10, 100, 10);
    // 150 requests a second against 100 tokens a second: some are refused.
    for (int second = 1; second <= 3; second++) {
      for (int i = 0; i < 150; i++) {
        if (m.admit() == 0) {
          m.completed(1000);
        }
        if (i % 15 == 14) {
          clock.advance(100);
        }
      }
      m.admit();
      // 1 ms is far below the 500 ms target: a fifth more each second.
      assertThat(m.rate()).as("second %d", second).isCloseTo(100 * Math.pow(1.2, second), WITHIN);
    }
  }

  @Test
  void latencyNearTheTargetRaisesTheRateByAFixedStep() {
    LoadMonitor m = monitor(10, 100, 10);
    for (int second = 1; second <= 3; second++) {
      for (int i = 0; i < 150; i++) {
        if (m.admit() == 0) {
          m.completed(TARGET_MICROS / 2);
        }
        if (i % 15 == 14) {
          clock.advance(100);
        }
      }
      m.admit();
      assertThat(m.rate()).as("second %d", second).isCloseTo(100 + 2.0 * second, WITHIN);
    }
  }

  @Test
  void aFastNodeStartingAtTheDefaultRateAdmitsTwentyThousandASecondWithinHalfAMinute() {
    LoadMonitor m = new LoadMonitor(clock, TARGET_MICROS, 1000, 500, 10);
    int seconds = 0;
    while (m.rate() < 20_000 && seconds < 60) {
      secondOf(m, 20_000, 2000);
      m.admit();
      seconds++;
    }

    assertThat(seconds).isLessThanOrEqualTo(30);
  }

  @Test
  void lowLatencyRaisesTheRateWhenMostOfItWasUsed() {
    LoadMonitor m = monitor(1000, 100, 10);
    secondOf(m, 60, 1000);
    m.admit();

    assertThat(m.rate()).isCloseTo(120.0, WITHIN);
  }

  @Test
  void lowLatencyLeavesTheRateAloneWhenLittleOfItWasUsed() {
    LoadMonitor m = monitor(1000, 100, 10);
    for (int i = 0; i < 10; i++) {
      secondOf(m, 5, 1000);
    }
    m.admit();

    assertThat(m.rate()).isEqualTo(100.0);
  }

  @Test
  void withoutCompletionsTheRateStays() {
    LoadMonitor m = monitor(5, 100, 10);
    for (int i = 0; i < 10; i++) {
      admitUpTo(m, 500);
      clock.advance(1000);
    }

    assertThat(m.rate()).isEqualTo(100.0);
    assertThat(m.smoothedLatencyMicros()).isNaN();
  }

  @Test
  void theRateRecoversAfterLatencyFalls() {
    LoadMonitor m = monitor(1000, 100, 10);
    for (int i = 0; i < 6; i++) {
      secondOf(m, 5, 10 * TARGET_MICROS);
    }
    m.admit();
    assertThat(m.rate()).isEqualTo(10.0);

    // Demand above the rate, fast answers: the smoothed latency halves each second, and once it
    // is under the target the rate climbs (by 2/s a second, then by a fifth once far below).
    double before = m.rate();
    for (int i = 0; i < 20; i++) {
      secondOf(m, 200, 1000);
    }
    m.admit();
    assertThat(m.smoothedLatencyMicros()).isLessThan(TARGET_MICROS);
    assertThat(m.rate()).isGreaterThan(before);
  }

  @Test
  void aClockSteppingBackDoesNotStallTheBucket() {
    LoadMonitor m = monitor(20, 10, 10);
    admitUpTo(m, 20);

    clock.advance(-3_600_000);
    assertThat(m.admit()).isPositive();
    clock.advance(100);
    assertThat(m.admit()).isZero();
  }

  @Test
  void badSettingsAreRefusedByName() {
    assertThatThrownBy(() -> new LoadMonitor(clock, 0, 10, 10, 1))
        .hasMessageContaining("target latency");
    assertThatThrownBy(() -> monitor(0, 10, 1))
        .hasMessageContaining("bucket size")
        .hasMessageContaining("0");
    assertThatThrownBy(() -> monitor(10, 10, 0)).hasMessageContaining("minimum rate");
    assertThatThrownBy(() -> monitor(10, 5, 10)).hasMessageContaining("initial rate 5.0");
  }

  /**
   * After an incident and a quiet spell, the limit starts again from the initial rate: the old
   * latency, averaged into the first second back, cut the limit again, and from the minimum it took
   * some 40 s of mostly refused requests to reach 20,000/s.
   */
  @Test
  void aQuietSpellForgetsAnIncidentsLatencyAndLimit() {
    LoadMonitor m = monitor(100, 500, 10);
    for (int i = 0; i < 10; i++) {
      secondOf(m, 100, 20 * TARGET_MICROS); // far over the target: the limit falls to the minimum
    }
    assertThat(m.rate()).isEqualTo(10, WITHIN);

    clock.advance(LoadMonitor.FORGET_AFTER_MILLIS); // nothing at all
    secondOf(m, 100, TARGET_MICROS / 10);
    secondOf(m, 100, TARGET_MICROS / 10);

    assertThat(m.rate()).as("at least the initial rate again").isGreaterThanOrEqualTo(500);
    assertThat(m.smoothedLatencyMicros()).isLessThan(TARGET_MICROS);
  }

  @Test
  void aQuietSpellDoesNotRaiseTheLimitOfANodeStillSlowAfterIt() {
    LoadMonitor m = monitor(1000, 500, 10);
    for (int i = 0; i < 10; i++) {
      secondOf(m, 100, 20 * TARGET_MICROS);
    }
    admitUpTo(m, 5000); // the bucket emptied

    clock.advance(LoadMonitor.FORGET_AFTER_MILLIS);
    assertThat(admitUpTo(m, 1000))
        .as("the quiet spell refilled at the limit then, 10/s, not the initial 500/s")
        .isLessThan(200);
    clock.advance(1000);
    secondOf(m, 10, 20 * TARGET_MICROS);
    secondOf(m, 10, 20 * TARGET_MICROS);

    assertThat(m.rate()).isEqualTo(10, WITHIN);
  }

  @Test
  void aShorterLullForgetsNothing() {
    LoadMonitor m = monitor(100, 500, 10);
    for (int i = 0; i < 10; i++) {
      secondOf(m, 100, 20 * TARGET_MICROS);
    }

    clock.advance(LoadMonitor.FORGET_AFTER_MILLIS - 2000);
    secondOf(m, 100, TARGET_MICROS / 10);

    assertThat(m.rate()).isLessThan(500);
  }
}
