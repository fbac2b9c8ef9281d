package org.chronos.stats;

import com.codahale.metrics.Counter;
import com.codahale.metrics.Gauge;
import com.codahale.metrics.Histogram;
import com.codahale.metrics.Meter;
import com.codahale.metrics.MetricRegistry;
import com.codahale.metrics.SlidingWindowReservoir;
import org.chronos.callback.CallbackClient;
import org.chronos.timer.CallbackOutcome;
import org.chronos.timer.Pop;
import org.chronos.timer.Timer;
import org.chronos.timer.TimerEvents;
import org.chronos.timer.TimerService;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Timer totals, callback outcomes and pop lateness as Dropwizard metrics, plus the log lines that
 * explain what happened to a timer. Event methods run on the timer thread.
 */
public final class TimerMetrics implements TimerEvents {
  private static final Logger LOG = LoggerFactory.getLogger(TimerMetrics.class);

  private final Meter popped;
  private final Counter succeeded;
  private final Counter failed;
  private final Meter dropped;
  private final Histogram latenessMicros;

  /** How many of the latest pops the lateness histogram's percentiles are taken over. */
  public static final int LATENESS_SAMPLES = 10_000;

  /**
   * Thresholds, in microseconds, of the counters {@code chronos.pops.late-over-<T>us} (below 1 ms)
   * and {@code chronos.pops.late-over-<T>ms}: pops more than T late since the node started. Unlike
   * the histogram's percentiles they cover every pop, so the difference of two readings says
   * exactly how many pops of that interval were late (an alert on {@code rate(late-over-5ms) /
   * rate(popped)}, a benchmark's phase). The steps below 1 ms are fine enough to tell a p99 of 100
   * us from one of 150 us over any interval; 3 ms sits between 2 and 5 so that, on a machine whose
   * p99 is a few milliseconds, two intervals' p99 can be told apart within a factor of 2.
   */
  public static final long[] LATE_OVER_MICROS = {
    50, 75, 100, 125, 150, 200, 300, 500, 1_000, 2_000, 3_000, 5_000, 10_000, 20_000, 50_000,
    100_000, 1_000_000
  };

  private final Counter[] lateOver = new Counter[LATE_OVER_MICROS.length];

  public TimerMetrics(MetricRegistry registry) {
    this.popped = registry.meter("chronos.timers.popped");
    this.succeeded = registry.counter("chronos.callbacks.succeeded");
    this.failed = registry.counter("chronos.callbacks.failed");
    this.dropped = registry.meter("chronos.timers.dropped");
    // The last LATENESS_SAMPLES pops, all of them: the default reservoir keeps ~1,028 samples
    // biased over 5 minutes, so its p99 rested on about ten pops and on pops minutes old.
    this.latenessMicros =
        registry.histogram(
            "chronos.pops.lateness-micros",
            () -> new Histogram(new SlidingWindowReservoir(LATENESS_SAMPLES)));
    for (int i = 0; i < lateOver.length; i++) {
      lateOver[i] = registry.counter(lateOverName(LATE_OVER_MICROS[i]));
    }
  }

  /**
   * The name of the counter of pops more than {@code micros} late: in whole ms where it is one
   * ({@code late-over-5ms}), else in us ({@code late-over-150us}).
   */
  public static String lateOverName(long micros) {
    return micros % 1000 == 0
        ? "chronos.pops.late-over-" + micros / 1000 + "ms"
        : "chronos.pops.late-over-" + micros + "us";
  }

  /** Gauges read from the service's published state. */
  public static void registerGauges(MetricRegistry registry, TimerService service) {
    registry.register("chronos.timers.live", (Gauge<Integer>) service::liveCount);
    registry.register("chronos.timers.held", (Gauge<Integer>) service::heldCount);
    registry.register("chronos.timers.queued-commands", (Gauge<Integer>) service::queuedCommands);
    registry.register(
        "chronos.callbacks.waiting-for-target", (Gauge<Integer>) service::waitingForTargetCount);
    registry.register(
        "chronos.callbacks.waiting-for-target-oldest-millis",
        (Gauge<Long>) service::oldestWaitingForTargetLateMillis);
  }

  @Override
  public void popped(Timer timer, Pop pop, long lateness) {
    popped.mark();
    latenessMicros.update(Math.max(0, lateness));
    for (int i = 0; i < lateOver.length && lateness > LATE_OVER_MICROS[i]; i++) {
      lateOver[i].inc();
    }
  }

  @Override
  public void callbackSucceeded(Pop pop, Timer timer) {
    succeeded.inc();
  }

  @Override
  public void callbackFailed(Pop pop, CallbackOutcome outcome, boolean wasDropped) {
    failed.inc();
    if (wasDropped) {
      dropped.mark();
    }
    LOG.info(
        "callback for timer {} (pop {}) to {} failed: {}; {}",
        String.format("%016x", pop.timerId()),
        pop.sequence(),
        CallbackClient.withoutCredentials(pop.uri()),
        outcome.detail(),
        wasDropped
            ? "dropped this node's copy so the next replica pops it"
            : "timer had already changed");
  }
}
