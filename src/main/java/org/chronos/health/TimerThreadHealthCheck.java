package org.chronos.health;

import com.codahale.metrics.health.HealthCheck;
import java.util.function.Supplier;
import org.chronos.timer.Clock;
import org.chronos.timer.SteadyClock;
import org.chronos.timer.TimerService;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Fails when the timer thread is dead, stuck, or popping timers later than {@code maxLag}; says how
 * many timers it holds and how Linux schedules it (whether it got the real-time policy asked for),
 * and whether the system clock has been stepped since the node started (timers keep to the elapsed
 * time, {@link SteadyClock}; the step is logged once when first seen).
 */
public final class TimerThreadHealthCheck extends HealthCheck {
  private static final Logger LOG = LoggerFactory.getLogger(TimerThreadHealthCheck.class);
  private final TimerService service;
  private final Clock clock;
  private final long maxLagMillis;
  private final Supplier<String> scheduling;
  private long loggedAheadMillis;

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
        "%d timers held, %d live; scheduling: %s%s",
        service.heldCount(), service.liveCount(), scheduling.get(), clockStep());
  }

  /** What the health message says of a step of the system clock: nothing if there was none. */
  private synchronized String clockStep() {
    if (!(clock instanceof SteadyClock steady)) {
      return "";
    }
    long ahead = steady.systemAheadMillis();
    if (Math.abs(ahead) < SteadyClock.REPORTED_STEP_MILLIS) {
      loggedAheadMillis = 0; // stepped back: the same step again is logged again
      return "";
    }
    String step =
        String.format(
            "the system clock is %d ms %s the timers' clock (stepped since this node started;"
                + " timers keep to the time that has passed)",
            Math.abs(ahead), ahead > 0 ? "ahead of" : "behind");
    if (Math.abs(ahead - loggedAheadMillis) >= SteadyClock.REPORTED_STEP_MILLIS) {
      loggedAheadMillis = ahead;
      LOG.warn("{}", step);
    }
    return "; " + step;
  }
}
