package org.chronos.bench;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.Locale;
import org.chronos.stats.TimerMetrics;

/**
 * A node's pop count and its late-pop counters ({@code chronos.pops.late-over-<T>us} and {@code
 * -<T>ms}, T in {@link TimerMetrics#LATE_OVER_MICROS}) as read from its admin {@code /metrics}, or
 * the difference of two readings: the counters count every pop, so a difference gives an interval's
 * exact figures.
 */
public record LatePops(long pops, long[] over) {
  /** The reading in a node's {@code /metrics} JSON. */
  public static LatePops read(JsonNode metrics) {
    long[] over = new long[TimerMetrics.LATE_OVER_MICROS.length];
    for (int i = 0; i < over.length; i++) {
      over[i] =
          metrics
              .path("counters")
              .path(TimerMetrics.lateOverName(TimerMetrics.LATE_OVER_MICROS[i]))
              .path("count")
              .asLong();
    }
    return new LatePops(
        metrics.path("meters").path("chronos.timers.popped").path("count").asLong(), over);
  }

  /** The pops between {@code before} and this reading. */
  public LatePops since(LatePops before) {
    long[] diff = new long[over.length];
    for (int i = 0; i < diff.length; i++) {
      diff[i] = over[i] - before.over[i];
    }
    return new LatePops(pops - before.pops, diff);
  }

  /** Two intervals' (or two nodes') pops together. */
  public LatePops plus(LatePops other) {
    long[] sum = new long[over.length];
    for (int i = 0; i < sum.length; i++) {
      sum[i] = over[i] + other.over[i];
    }
    return new LatePops(pops + other.pops, sum);
  }

  /**
   * The smallest threshold (us) that at most {@code percent}% of the pops passed, a bound on that
   * percentile (99: p99 <= it); -1 if none.
   */
  public long atMostMicros(int percent) {
    for (int i = 0; i < over.length; i++) {
      if (over[i] * 100 <= pops * (100L - percent)) {
        return TimerMetrics.LATE_OVER_MICROS[i];
      }
    }
    return -1;
  }

  /**
   * The largest threshold (us) that more than {@code 100 - percent}% of the pops passed, so that
   * percentile is above it (99: p99 > it); 0 if none (the percentile may be anything from 0 up).
   */
  public long aboveMicros(int percent) {
    long above = 0;
    for (int i = 0; i < over.length; i++) {
      if (over[i] * 100 > pops * (100L - percent)) {
        above = TimerMetrics.LATE_OVER_MICROS[i];
      }
    }
    return above;
  }

  /**
   * The range the ratio of this interval's p99 to {@code base}'s p99 lies in, from the bounds the
   * counters put on each: "between 1.2x and 2.0x (p99 in (150, 200] us against (100, 125] us)".
   */
  public String p99RatioTo(LatePops base) {
    long lo = aboveMicros(99);
    long hi = atMostMicros(99);
    long baseLo = base.aboveMicros(99);
    long baseHi = base.atMostMicros(99);
    String low = baseHi <= 0 ? "?" : String.format(Locale.ROOT, "%.1fx", (double) lo / baseHi);
    String high =
        hi < 0 || baseLo == 0
            ? "unbounded"
            : String.format(Locale.ROOT, "%.1fx", (double) hi / baseLo);
    return String.format(
        Locale.ROOT,
        "between %s and %s (p99 in (%d, %s] us against (%d, %s] us)",
        low,
        high,
        lo,
        hi < 0 ? "inf" : Long.toString(hi),
        baseLo,
        baseHi < 0 ? "inf" : Long.toString(baseHi));
  }

  /** Counts and shares per threshold, and the bounds they give p50 and p99. */
  public String describe() {
    StringBuilder sb = new StringBuilder(String.format(Locale.ROOT, "%,d pops; more than", pops));
    for (int i = 0; i < over.length; i++) {
      sb.append(
          String.format(
              Locale.ROOT,
              " %s: %d (%.2f%%)%s",
              threshold(TimerMetrics.LATE_OVER_MICROS[i]),
              over[i],
              pops == 0 ? 0.0 : 100.0 * over[i] / pops,
              i + 1 < over.length ? "," : ""));
    }
    return sb.append("; p50 ").append(bound(50)).append(", p99 ").append(bound(99)).toString();
  }

  private static String threshold(long micros) {
    return micros % 1000 == 0 ? micros / 1000 + " ms" : micros + " us";
  }

  private String bound(int percent) {
    long micros = atMostMicros(percent);
    return micros < 0 ? "over 1 s" : "<= " + threshold(micros);
  }
}
