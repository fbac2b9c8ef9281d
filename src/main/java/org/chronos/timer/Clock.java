package org.chronos.timer;

import java.time.Instant;

/**
 * Wall-clock time source injected everywhere below the HTTP layer; implementations are thread-safe.
 *
 * <p>Timers are scheduled in wall-clock milliseconds because the node-to-node protocol exchanges
 * absolute start times. Tests substitute a clock they advance by hand.
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

  /** The system's wall clock. */
  Clock SYSTEM =
      new Clock() {
        @Override
        public long millis() {
          return System.currentTimeMillis();
        }

        @Override
        public long micros() {
          Instant now = Instant.now();
          return now.getEpochSecond() * 1_000_000L + now.getNano() / 1000;
        }

        @Override
        public long nanos() {
          return System.nanoTime();
        }
      };
}
