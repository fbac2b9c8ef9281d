package org.chronos.stats;

import com.codahale.metrics.Counter;
import com.codahale.metrics.Gauge;
import com.codahale.metrics.Histogram;
import com.codahale.metrics.Meter;
import com.codahale.metrics.MetricRegistry;
import com.codahale.metrics.SlidingWindowReservoir;
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
   * Thresholds, in ms, of the counters {@code chronos.pops.late-over-<T>ms}: pops more than T ms
   * late since the node started. Unlike the histogram's percentiles they cover every pop, so the
   * difference of two readings says exactly how many pops of that interval were late (an alert on
   * {@code rate(late-over-5ms) / rate(popped)}, a benchmark's phase).
   */
  public static final int[] LATE_OVER_MILLIS = {1, 2, 5, 10, 20, 50, 100, 1000};

  private final Counter[] lateOver = new Counter[LATE_OVER_MILLIS.length];

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
      lateOver[i] = registry.counter(lateOverName(LATE_OVER_MILLIS[i]));
    }
  }

  /** The name of the counter of pops more than {@code millis} ms late. */
  public static String lateOverName(int millis) {
    return "chronos.pops.late-over-" + millis + "ms";
  }

  /** Gauges read from the service's published state. */
  public static void registerGauges(MetricRegistry registry, TimerService service) {
    registry.register("chronos.timers.live", (Gauge<Integer>) service::liveCount);
    registry.register("chronos.timers.held", (Gauge<Integer>) service::heldCount);
    registry.register("chronos.timers.queued-commands", (Gauge<Integer>) service::queuedCommands);
  }

  @Override
  public void popped(Timer timer, Pop pop, long lateness) {
    popped.mark();
    latenessMicros.update(Math.max(0, lateness));
    for (int i = 0; i < lateOver.length && lateness > LATE_OVER_MILLIS[i] * 1000L; i++) {
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
        pop.uri(),
        outcome.detail(),
        wasDropped
            ? "dropped this node's copy so the next replica pops it"
            : "timer had already changed");
  }
}
