package org.chronos.stats;

import com.codahale.metrics.CachedGauge;
import com.codahale.metrics.Clock;
import com.codahale.metrics.Gauge;
import com.codahale.metrics.MetricRegistry;
import com.codahale.metrics.health.HealthCheck;
import com.codahale.metrics.health.HealthCheckRegistry;
import com.codahale.metrics.jvm.ThreadDeadlockDetector;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/**
 * The JVM's thread deadlock check, at most once per {@link #INTERVAL_SECONDS}, behind the metrics
 * {@code jvm.threads.deadlock.count} and {@code jvm.threads.deadlocks} and the health check {@code
 * deadlocks} that Dropwizard registers by default. Thread-safe.
 *
 * <p>Why: Dropwizard's versions look for deadlocks on every read, and the JVM can only do that by
 * stopping every thread at a safepoint, the timer thread included. Each read of {@code /metrics}
 * (or a Prometheus scrape) did it twice. On a busy node reaching the safepoint took 2-16 ms, which
 * is how late every timer due meanwhile popped: in the resync benchmark, where {@code /metrics} is
 * read every second, these were 54 of the 77 safepoints on the joining node in the 24 s around the
 * resync ({@code bench/cluster/README.md}, 2e). A deadlock does not go away, so finding it a minute
 * later loses nothing.
 */
public final class DeadlockWatch {
  /** How long a finding stands before the next look. */
  public static final long INTERVAL_SECONDS = 60;

  static final String COUNT = "jvm.threads.deadlock.count";
  static final String THREADS = "jvm.threads.deadlocks";
  static final String HEALTH_CHECK = "deadlocks";

  private final CachedGauge<Set<String>> deadlocked;

  /**
   * @param detector the deadlocked threads, each described (an empty set when there are none)
   */
  DeadlockWatch(Clock clock, long interval, TimeUnit unit, Supplier<Set<String>> detector) {
    this.deadlocked =
        new CachedGauge<>(clock, interval, unit) {
          @Override
          protected Set<String> loadValue() {
            return detector.get();
          }
        };
  }

  /** Replaces Dropwizard's deadlock metrics and health check with ones that look once a minute. */
  public static void install(MetricRegistry metrics, HealthCheckRegistry healthChecks) {
    ThreadDeadlockDetector detector = new ThreadDeadlockDetector();
    new DeadlockWatch(
            Clock.defaultClock(),
            INTERVAL_SECONDS,
            TimeUnit.SECONDS,
            detector::getDeadlockedThreads)
        .register(metrics, healthChecks);
  }

  void register(MetricRegistry metrics, HealthCheckRegistry healthChecks) {
    metrics.remove(COUNT);
    metrics.remove(THREADS);
    metrics.register(COUNT, (Gauge<Integer>) () -> deadlocked.getValue().size());
    metrics.register(THREADS, deadlocked);
    healthChecks.unregister(HEALTH_CHECK);
    healthChecks.register(HEALTH_CHECK, healthCheck());
  }

  private HealthCheck healthCheck() {
    return new HealthCheck() {
      @Override
      protected Result check() {
        Set<String> threads = deadlocked.getValue();
        return threads.isEmpty()
            ? Result.healthy()
            : Result.unhealthy("deadlocked threads (checked once a minute): %s", threads);
      }
    };
  }
}
