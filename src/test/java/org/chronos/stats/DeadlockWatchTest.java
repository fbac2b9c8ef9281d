package org.chronos.stats;

import static org.assertj.core.api.Assertions.assertThat;

import com.codahale.metrics.Clock;
import com.codahale.metrics.Gauge;
import com.codahale.metrics.MetricRegistry;
import com.codahale.metrics.health.HealthCheck;
import com.codahale.metrics.health.HealthCheckRegistry;
import com.codahale.metrics.health.jvm.ThreadDeadlockHealthCheck;
import com.codahale.metrics.jvm.ThreadStatesGaugeSet;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/**
 * The deadlock check behind the JVM metrics and the {@code deadlocks} health check runs at most
 * once per interval however often they are read (each run stops every thread at a safepoint).
 */
class DeadlockWatchTest {
  private static final class StepClock extends Clock {
    long nanos;

    @Override
    public long getTick() {
      return nanos;
    }
  }

  private final StepClock clock = new StepClock();
  private final AtomicInteger looks = new AtomicInteger();
  private final AtomicReference<Set<String>> found = new AtomicReference<>(Set.of());
  private final MetricRegistry metrics = new MetricRegistry();
  private final HealthCheckRegistry healthChecks = new HealthCheckRegistry();

  /** Registered the way Dropwizard does (Bootstrap and AdminEnvironment), then replaced. */
  private DeadlockWatch installed() {
    metrics.register("jvm.threads", new ThreadStatesGaugeSet());
    healthChecks.register("deadlocks", new ThreadDeadlockHealthCheck());
    DeadlockWatch watch =
        new DeadlockWatch(
            clock,
            60,
            TimeUnit.SECONDS,
            () -> {
              looks.incrementAndGet();
              return found.get();
            });
    watch.register(metrics, healthChecks);
    return watch;
  }

  @SuppressWarnings("unchecked")
  private Object gauge(String name) {
    return ((Gauge<Object>) metrics.getGauges().get(name)).getValue();
  }

  @Test
  void readingTheMetricsAndHealthCheckOftenLooksOncePerInterval() {
    installed();

    for (int i = 0; i < 10; i++) {
      assertThat(gauge(DeadlockWatch.COUNT)).isEqualTo(0);
      assertThat((Set<?>) gauge(DeadlockWatch.THREADS)).isEmpty();
      assertThat(healthChecks.runHealthCheck(DeadlockWatch.HEALTH_CHECK).isHealthy()).isTrue();
      clock.nanos += TimeUnit.SECONDS.toNanos(5); // 50 s in all: still the first look
    }
    assertThat(looks).hasValue(1);

    clock.nanos += TimeUnit.SECONDS.toNanos(11);
    gauge(DeadlockWatch.COUNT);
    assertThat(looks).hasValue(2);
  }

  @Test
  void aDeadlockShowsInTheMetricsAndMakesTheHealthCheckFailAtTheNextLook() {
    installed();
    assertThat(healthChecks.runHealthCheck(DeadlockWatch.HEALTH_CHECK).isHealthy()).isTrue();

    found.set(Set.of("worker-1 locked on a Foo (owned by worker-2)"));
    clock.nanos += TimeUnit.SECONDS.toNanos(61);

    HealthCheck.Result result = healthChecks.runHealthCheck(DeadlockWatch.HEALTH_CHECK);
    assertThat(result.isHealthy()).isFalse();
    assertThat(result.getMessage()).contains("worker-1 locked on a Foo");
    assertThat(gauge(DeadlockWatch.COUNT)).isEqualTo(1);
  }

  @Test
  void theOtherThreadMetricsStayAsDropwizardRegisteredThem() {
    installed();

    assertThat(metrics.getGauges())
        .containsKeys("jvm.threads.count", "jvm.threads.runnable.count", DeadlockWatch.COUNT);
    assertThat(healthChecks.getNames()).containsExactly(DeadlockWatch.HEALTH_CHECK);
  }
}
