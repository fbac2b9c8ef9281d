package org.chronos.bench.cluster;

import java.util.Arrays;

/** Nearest-rank percentiles over exact samples. */
final class Stats {
  private Stats() {}

  /** The nearest-rank percentile of sorted values; 0 for none. */
  static long percentile(long[] sorted, double p) {
    if (sorted.length == 0) {
      return 0;
    }
    int rank = (int) Math.ceil(p * sorted.length);
    return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
  }

  /** p50, p99 and max of unsorted values (sorts a copy). */
  static long[] p50p99max(long[] values, int n) {
    long[] sorted = Arrays.copyOf(values, n);
    Arrays.sort(sorted);
    return new long[] {
      percentile(sorted, 0.50), percentile(sorted, 0.99), n == 0 ? 0 : sorted[n - 1]
    };
  }
}
