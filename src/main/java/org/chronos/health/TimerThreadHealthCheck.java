package org.chronos.health;

import com.codahale.metrics.health.HealthCheck;
import java.util.function.Supplier;
import org.chronos.timer.Clock;
import org.chronos.timer.TimerService;

/**
 * Fails when the timer thread is dead, stuck, or popping timers later than {@code maxLag}; says how
 * many timers it holds and how Linux schedules it (whether it got the real-time policy asked for).
 */
public final class TimerThreadHealthCheck extends HealthCheck {
  private final TimerService service;
  private final Clock clock;
  private final long maxLagMillis;
  private final Supplier<String> scheduling;

  public TimerThreadHealthCheck(
      TimerService service, Clock clock, long maxLagMillis, Supplier<String> scheduling) {
    this.service = service;
    this.clock = clock;
    this.maxLagMillis = maxLagMillis;
    this.scheduling = scheduling;
  }

  @Override
  protected Result check() {
    if (!service.isAlive()) {
      return Result.unhealthy("timer thread is not running");
    }
    long now = clock.millis();
    long silent = now - service.heartbeatMillis();
    if (silent > maxLagMillis) {
      return Result.unhealthy("timer thread has not completed a round for %d ms", silent);
    }
    long oldestDue = service.oldestDueMillis();
    if (oldestDue != Long.MAX_VALUE && now - oldestDue > maxLagMillis) {
      return Result.unhealthy(
          "timer thread is %d ms behind (limit %d ms)", now - oldestDue, maxLagMillis);
    }
    return Result.healthy(
        "%d timers held, %d live; scheduling: %s",
        service.heldCount(), service.liveCount(), scheduling.get());
  }
}
