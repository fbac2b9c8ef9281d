package org.chronos.timer;

/**
 * Wall-clock time source injected everywhere below the HTTP layer; implementations are thread-safe.
 *
 * <p>Timers are scheduled in milliseconds since the Unix epoch (the older form of a replication
 * message carries an absolute {@code start-time}). Tests substitute a clock they advance by hand.
 */
public interface Clock {

  /** Milliseconds since the Unix epoch. */
  long millis();

  /** Microseconds since the Unix epoch, for measuring pop lateness below one millisecond. */
  default long micros() {
    return millis() * 1000L;
  }

  /**
   * A monotonic reading in nanoseconds, only for measuring how long something took (its origin is
   * arbitrary): how long a replication message waited before it was sent, say. Clocks moved by hand
   * measure in their own steps.
   */
  default long nanos() {
    return millis() * 1_000_000L;
  }

  /**
   * The system's wall-clock time at the node's start, carried forward by the monotonic clock: a
   * step of the system clock moves no timer ({@link SteadyClock}).
   */
  Clock SYSTEM = SteadyClock.system();
}
