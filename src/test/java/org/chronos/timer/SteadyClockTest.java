package org.chronos.timer;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/**
 * The node's clock starts at the system's wall-clock time and moves only with the monotonic clock,
 * so steps of the system clock leave it alone and are reported as how far the system clock is ahead
 * of it.
 */
class SteadyClockTest {
  private static final long WALL_MICROS = 1_790_000_000_000_000L; // 2026-09-21
  private final AtomicLong wall = new AtomicLong(WALL_MICROS);
  private final AtomicLong monotonic = new AtomicLong(-123_456_789L); // any origin
  private final SteadyClock clock = new SteadyClock(wall::get, monotonic::get);

  /**
   * Both clocks move on together by {@code nanos}, as they do while nobody steps the wall clock.
   */
  private void elapse(long nanos) {
    monotonic.addAndGet(nanos);
    wall.addAndGet(nanos / 1000);
  }

  @Test
  void startsAtTheWallClockAndMovesWithTheMonotonicClock() {
    assertThat(clock.micros()).isEqualTo(WALL_MICROS);
    assertThat(clock.millis()).isEqualTo(WALL_MICROS / 1000);
    elapse(1_500_250_000L);
    assertThat(clock.micros()).isEqualTo(WALL_MICROS + 1_500_250);
    assertThat(clock.millis()).isEqualTo(WALL_MICROS / 1000 + 1500);
    assertThat(clock.nanos()).isEqualTo(monotonic.get());
    assertThat(clock.systemAheadMillis()).isZero();
  }

  @Test
  void aStepOfTheWallClockEitherWayMovesNothingAndIsReported() {
    elapse(2_000_000_000L);
    long before = clock.millis();

    wall.addAndGet(-3_600_000_000L); // an hour back
    assertThat(clock.millis()).isEqualTo(before);
    assertThat(clock.systemAheadMillis()).isEqualTo(-3_600_000L);

    elapse(10_000_000L);
    assertThat(clock.millis()).isEqualTo(before + 10);

    wall.addAndGet(7_200_000_000L); // two hours forward: an hour ahead of where it started
    assertThat(clock.millis()).isEqualTo(before + 10);
    assertThat(clock.systemAheadMillis()).isEqualTo(3_600_000L);
  }
}
