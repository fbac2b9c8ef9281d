package org.chronos.timer;

import java.time.Instant;
import java.util.function.LongSupplier;

/**
 * The node's clock ({@link Clock#SYSTEM}): the system's wall-clock time when it was made, carried
 * forward by the monotonic clock ({@link System#nanoTime}, Linux's {@code CLOCK_MONOTONIC}), so
 * that a step of the system clock moves no timer.
 *
 * <p>Timers are held at wall-clock pop times. Read from the system clock directly, a step back (an
 * operator's {@code date -s}, an NTP step, a VM restored from a snapshot) made every timer created
 * afterwards due before the wheel's current time, so it popped at once, early, and every timer
 * created before it pop that much later; a step forward popped at once those due within it.
 * PROTOCOL section 5 exchanges start times relative to the moment of sending, so a node's time for
 * timers need not agree with the system's, and nothing between nodes depends on it (the timer ids'
 * millisecond field included: unique all the same). The monotonic clock runs at the rate NTP gives
 * the system clock, so the two drift apart only by the steps.
 *
 * <p>{@link #systemAheadMillis} says how far the system clock has moved from this one since the
 * node started (the {@code timer-thread} health check reports it); a node restarted takes the
 * system's time again.
 */
public final class SteadyClock implements Clock {
  /** Beyond this the {@code timer-thread} health check says the system clock has been stepped. */
  public static final long REPORTED_STEP_MILLIS = 1000;

  private final LongSupplier wallMicros;
  private final LongSupplier monotonicNanos;
  private final long originMicros;
  private final long originNanos;

  /**
   * A clock that starts at {@code wallMicros}'s time now (microseconds since the Unix epoch) and
   * moves on with {@code monotonicNanos} (nanoseconds, any origin).
   */
  public SteadyClock(LongSupplier wallMicros, LongSupplier monotonicNanos) {
    this.wallMicros = wallMicros;
    this.monotonicNanos = monotonicNanos;
    this.originNanos = monotonicNanos.getAsLong();
    this.originMicros = wallMicros.getAsLong();
  }

  /** On the system's clocks. */
  public static SteadyClock system() {
    return new SteadyClock(SteadyClock::systemMicros, System::nanoTime);
  }

  private static long systemMicros() {
    Instant now = Instant.now();
    return now.getEpochSecond() * 1_000_000L + now.getNano() / 1000;
  }

  @Override
  public long micros() {
    return originMicros + Math.floorDiv(monotonicNanos.getAsLong() - originNanos, 1000);
  }

  @Override
  public long millis() {
    return Math.floorDiv(micros(), 1000);
  }

  @Override
  public long nanos() {
    return monotonicNanos.getAsLong();
  }

  /**
   * How far the system's wall clock is now ahead of this clock, in milliseconds (negative: behind):
   * the sum of its steps since this clock was made.
   */
  public long systemAheadMillis() {
    return Math.floorDiv(wallMicros.getAsLong() - micros(), 1000);
  }
}
