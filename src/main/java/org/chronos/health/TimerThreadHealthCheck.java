package org.chronos.health;

import com.codahale.metrics.health.HealthCheck;
import org.chronos.timer.Clock;
import org.chronos.timer.TimerService;

/** Fails when the timer thread is dead, stuck, or popping timers later than {@code maxLag}. */
public final class TimerThreadHealthCheck extends HealthCheck {
  private final TimerService service;
  private final Clock clock;
  private final long maxLagMillis;

  public TimerThreadHealthCheck(TimerService service, Clock clock, long maxLagMillis) {
    this.service = service;
    this.clock = clock;
    this.maxLagMillis = maxLagMillis;
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
    return Result.healthy("%d timers held, %d live", service.heldCount(), service.liveCount());
  }
}
