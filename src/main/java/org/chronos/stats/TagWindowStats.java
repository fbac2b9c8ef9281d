package org.chronos.stats;

import com.codahale.metrics.Gauge;
import com.codahale.metrics.MetricRegistry;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.chronos.timer.Clock;
import org.chronos.timer.Tag;
import org.chronos.timer.Timer;
import org.chronos.timer.TimerStore;

/**
 * Per-tag count statistics over 5 s and 5 min windows (PROTOCOL.md section 8); thread-safe: the
 * timer thread reports count changes through {@link #countChanged}, and metrics reporters read from
 * any thread through the gauges or {@link #lastPeriod}.
 *
 * <p><b>Which period is reported.</b> Periods are aligned to multiples of the window length since
 * the Unix epoch, as the original's were, so every node of a cluster reports the same periods. What
 * is reported is the last <em>completed</em> period: a scrape can come at any moment, and a partial
 * period would give an average over a few milliseconds. Until a tag's first period completes, the
 * period before it is reported, all zeros.
 *
 * <p><b>What is computed.</b> The count is a step function of time, so statistics are
 * time-weighted: over a period of length P, average = (1/P)∫c(t)dt and variance = (1/P)∫(c(t) -
 * average)²dt (the population variance of the count over the period). The high- and low-water marks
 * are the highest and lowest counts held for some time within the period, including the count
 * carried in from the period before. A count held for no time at all does not count: a replaced
 * timer is reported as its old tags removed, then its new ones added, and both normally land in the
 * same millisecond, so an update does not show as a dip in the low-water mark. (If they straddle a
 * millisecond boundary, the dip is held for that millisecond and shows.)
 *
 * <p>A tag's count is 0 until it is first seen. A period without changes reports the count held
 * throughout it (variance 0), so a tag that goes idle keeps reporting. Time is the injected {@link
 * Clock}; if it steps back, time stands still here until the clock catches up.
 *
 * <p><b>Locking.</b> One lock per tag. The timer thread is the only writer and reporters read a few
 * times a minute, so the lock is nearly always uncontended; a read takes the lock because it may
 * have to roll an idle tag's windows forward to the present.
 */
public final class TagWindowStats {
  /** The short window: 5 s. */
  public static final long SHORT_WINDOW_MILLIS = 5_000;

  /** The long window: 5 min. */
  public static final long LONG_WINDOW_MILLIS = 300_000;

  private static final List<Long> WINDOWS = List.of(SHORT_WINDOW_MILLIS, LONG_WINDOW_MILLIS);

  /**
   * One completed period of one tag's count.
   *
   * @param startMillis wall-clock start of the period (a multiple of its length)
   */
  public record Period(
      long startMillis, long lengthMillis, double average, long hwm, long lwm, double variance) {}

  private final Clock clock;
  private final MetricRegistry registry;
  private final Map<String, Series> series = new ConcurrentHashMap<>();

  public TagWindowStats(Clock clock, MetricRegistry registry) {
    this.clock = clock;
    this.registry = registry;
  }

  /** A tag's count is now {@code count}. Called on the timer thread after every change. */
  public void countChanged(String tag, long count) {
    long now = clock.millis();
    Series s = series.get(tag);
    if (s == null) {
      s = series.computeIfAbsent(tag, t -> newSeries(t, now));
    }
    s.change(now, count);
  }

  /**
   * The last completed period of a tag for a window length ({@link #SHORT_WINDOW_MILLIS} or {@link
   * #LONG_WINDOW_MILLIS}), as of now; null for a tag never seen.
   */
  public Period lastPeriod(String tag, long windowMillis) {
    int index = WINDOWS.indexOf(windowMillis);
    if (index < 0) {
      throw new IllegalArgumentException(
          "no window of " + windowMillis + " ms; windows are " + WINDOWS);
    }
    Series s = series.get(tag);
    return s == null ? null : s.last(index, clock.millis());
  }

  /**
   * A store listener that updates {@code counts} and then reports the changed tags here, so the
   * statistics follow the counts without {@link TagCounts} knowing about them.
   */
  public TimerStore.Listener after(TagCounts counts) {
    return new TimerStore.Listener() {
      @Override
      public void liveAdded(Timer timer) {
        counts.liveAdded(timer);
        report(timer);
      }

      @Override
      public void liveRemoved(Timer timer) {
        counts.liveRemoved(timer);
        report(timer);
      }

      private void report(Timer timer) {
        for (Tag tag : timer.tags()) {
          if (counts.isCounted(tag.type())) {
            countChanged(tag.type(), counts.count(tag.type()));
          }
        }
      }
    };
  }

  private Series newSeries(String tag, long now) {
    Series s = new Series(now);
    for (int i = 0; i < WINDOWS.size(); i++) {
      int index = i;
      String base = MetricRegistry.name("chronos", "tags", tag, label(WINDOWS.get(i)));
      registry.register(
          base + ".average", (Gauge<Double>) () -> s.last(index, clock.millis()).average());
      registry.register(base + ".hwm", (Gauge<Long>) () -> s.last(index, clock.millis()).hwm());
      registry.register(base + ".lwm", (Gauge<Long>) () -> s.last(index, clock.millis()).lwm());
      registry.register(
          base + ".variance", (Gauge<Double>) () -> s.last(index, clock.millis()).variance());
    }
    return s;
  }

  private static String label(long windowMillis) {
    return windowMillis % 60_000 == 0 ? windowMillis / 60_000 + "m" : windowMillis / 1000 + "s";
  }

  /** One tag: its current count and a window per length, under the series' lock. */
  private static final class Series {
    private final Window[] windows = new Window[WINDOWS.size()];
    private long value;

    /** Time up to which every window has accounted for {@link #value}. */
    private long accountedTo;

    Series(long now) {
      for (int i = 0; i < windows.length; i++) {
        windows[i] = new Window(WINDOWS.get(i), now);
      }
      accountedTo = now;
    }

    synchronized void change(long now, long newValue) {
      advance(now);
      value = newValue;
    }

    synchronized Period last(int window, long now) {
      advance(now);
      return windows[window].completed;
    }

    private void advance(long now) {
      if (now <= accountedTo) {
        return; // same millisecond, or the clock stepped back
      }
      for (Window w : windows) {
        w.hold(value, accountedTo, now);
      }
      accountedTo = now;
    }
  }

  /**
   * The period being accumulated for one window length, and the last completed one. Sums are of the
   * count minus the count at the period's start, which keeps them small when a large count moves a
   * little (the usual case), so the variance does not drown in rounding.
   */
  private static final class Window {
    private final long length;
    private long start;
    private long reference;
    private double sum;
    private double sumOfSquares;
    private long hwm;
    private long lwm;
    private Period completed;

    Window(long length, long now) {
      this.length = length;
      this.start = Math.floorDiv(now, length) * length;
      this.completed = new Period(start - length, length, 0, 0, 0, 0);
      reset(start, 0);
      add(0, now - start); // the count was 0 before the tag was seen
    }

    /** The count was {@code value} over [from, to); {@code from} is within the current period. */
    void hold(long value, long from, long to) {
      long end = start + length;
      if (to < end) {
        add(value, to - from);
        return;
      }
      add(value, end - from);
      completed = summary();
      long next = Math.floorDiv(to, length) * length;
      if (next > end) {
        // Whole periods went by without a change.
        completed = new Period(next - length, length, value, value, value, 0);
      }
      reset(next, value);
      add(value, to - next);
    }

    private void add(long value, long millis) {
      if (millis <= 0) {
        return;
      }
      double d = value - reference;
      sum += d * millis;
      sumOfSquares += d * d * millis;
      hwm = Math.max(hwm, value);
      lwm = Math.min(lwm, value);
    }

    private Period summary() {
      double meanShift = sum / length;
      double variance = Math.max(0, sumOfSquares / length - meanShift * meanShift);
      return new Period(start, length, reference + meanShift, hwm, lwm, variance);
    }

    private void reset(long newStart, long value) {
      start = newStart;
      reference = value;
      sum = 0;
      sumOfSquares = 0;
      hwm = Long.MIN_VALUE;
      lwm = Long.MAX_VALUE;
    }
  }
}
