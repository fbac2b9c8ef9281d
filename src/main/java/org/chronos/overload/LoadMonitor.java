package org.chronos.overload;

import org.chronos.timer.Clock;

/**
 * Admission control for client requests (PROTOCOL.md section 8): a token bucket whose refill rate
 * follows the latency of the requests it admitted; thread-safe. Request threads call {@link #admit}
 * before doing any work and {@link #completed} once answered; metrics read {@link #rate}. Every
 * method holds the monitor's lock for a few arithmetic operations: far less than the HTTP work
 * around it, so one lock for all request threads is cheap enough.
 *
 * <p><b>Bucket.</b> Holds up to {@code bucketSize} tokens and starts full, so a burst of that size
 * is admitted at once; it refills continuously at the current rate. A request takes one token or is
 * refused, with the whole seconds until a token is expected (for {@code Retry-After}).
 *
 * <p><b>Adaptation.</b> At most once per {@value #ADJUST_INTERVAL_MILLIS} ms, on the first admit or
 * completion after the interval, and only if requests completed in it (no evidence, no change): the
 * mean latency of the interval is averaged with the previous smoothed value (weight one half each).
 * Above the target, the rate is multiplied by target/smoothed, kept between {@value #MAX_DECREASE}
 * and {@value #MIN_DECREASE}, so it falls faster the further latency is over, but never below
 * {@code minRate}. At or below the target, the rate rises, but only if the rate was what limited
 * clients: some request was refused, or at least half the rate was used. Without that condition an
 * idle node's rate would creep up without bound and admit a huge burst later. Near the target it
 * rises by a fixed step ({@value #INCREASE_FRACTION} of the initial rate, at least 1/s), as the
 * original's does; far below it (under {@value #FAST_BELOW} of the target) by {@value
 * #FAST_INCREASE} of itself (at least the step). Improvement on the original: with its defaults
 * (500/s, +10/s a second) a node able to take 20,000 requests a second refused most of them for
 * over half an hour; this way it admits them within about 20 seconds of demand. After {@value
 * #FORGET_AFTER_MILLIS} ms with nothing admitted or answered, the smoothed latency is forgotten,
 * and if the first second back is within the target, the rate is at least the initial rate again.
 *
 * <p>Time is the injected wall {@link Clock}. If it steps back, the bucket and the adjustment
 * interval restart from the new time: a refill is lost, but nothing stalls until the clock catches
 * up.
 */
public final class LoadMonitor {
  static final long ADJUST_INTERVAL_MILLIS = 1000;
  static final double MAX_DECREASE = 0.5;
  static final double MIN_DECREASE = 0.9;
  static final double INCREASE_FRACTION = 0.02;
  static final double FAST_BELOW = 0.25;
  static final double FAST_INCREASE = 0.2;
  static final long FORGET_AFTER_MILLIS = 10_000;

  private final Clock clock;
  private final long targetLatencyMicros;
  private final double bucketSize;
  private final double minRate;
  private final double increaseStep;
  private final double initialRate;

  private double rate;
  private double tokens;
  private long lastRefillMillis;
  private long lastAdjustMillis;
  private long lastActivityMillis;
  private boolean backAfterQuiet;
  private double smoothedLatencyMicros = Double.NaN;
  private long latencySumMicros;
  private long samples;
  private long admitted;
  private long refused;

  public LoadMonitor(
      Clock clock, long targetLatencyMicros, int bucketSize, double initialRate, double minRate) {
    if (targetLatencyMicros < 1) {
      throw new IllegalArgumentException(
          "target latency must be positive: " + targetLatencyMicros + " us");
    }
    if (bucketSize < 1) {
      throw new IllegalArgumentException("bucket size must be at least 1: " + bucketSize);
    }
    if (!(minRate > 0) || Double.isInfinite(minRate)) {
      throw new IllegalArgumentException("minimum rate must be positive: " + minRate);
    }
    if (!(initialRate >= minRate) || Double.isInfinite(initialRate)) {
      throw new IllegalArgumentException(
          "initial rate " + initialRate + " must be at least the minimum rate " + minRate);
    }
    this.clock = clock;
    this.targetLatencyMicros = targetLatencyMicros;
    this.bucketSize = bucketSize;
    this.minRate = minRate;
    this.increaseStep = Math.max(1, initialRate * INCREASE_FRACTION);
    this.rate = initialRate;
    this.initialRate = initialRate;
    this.tokens = bucketSize;
    long now = clock.millis();
    this.lastRefillMillis = now;
    this.lastAdjustMillis = now;
    this.lastActivityMillis = now;
  }

  /**
   * Takes a token for one request.
   *
   * @return 0 if the request is admitted; otherwise the whole seconds (at least 1) until a token is
   *     expected at the current rate
   */
  public synchronized long admit() {
    long now = clock.millis();
    refill(now); // at the rate of the quiet spell, before an adjustment changes it
    forgetIfQuiet(now);
    adjustIfDue(now);
    if (tokens >= 1) {
      tokens -= 1;
      admitted++;
      return 0;
    }
    refused++;
    return Math.max(1, (long) Math.ceil((1 - tokens) / rate));
  }

  /** An admitted request was answered after {@code latencyMicros}. */
  public synchronized void completed(long latencyMicros) {
    long now = clock.millis();
    forgetIfQuiet(now);
    latencySumMicros += Math.max(0, latencyMicros);
    samples++;
    adjustIfDue(now);
  }

  /** The latency the rate is steered to. */
  public long targetLatencyMicros() {
    return targetLatencyMicros;
  }

  /** Tokens added per second now. */
  public synchronized double rate() {
    return rate;
  }

  /** The latency the last adjustment compared with the target; NaN before the first. */
  public synchronized double smoothedLatencyMicros() {
    return smoothedLatencyMicros;
  }

  /** Tokens in the bucket as of the last admit. */
  synchronized double tokens() {
    return tokens;
  }

  /**
   * After {@link #FORGET_AFTER_MILLIS} with nothing admitted, refused or answered, an incident's
   * latency no longer describes the node: averaged into the first requests after the quiet, it
   * would cut the limit again, to climb back from there at 20% a second. The limit is raised to the
   * initial rate only once the first second back shows a latency within the target: the quiet may
   * have been clients kept away (a load balancer) from a node still busy. The interval's samples,
   * from before the quiet, go too.
   */
  private void forgetIfQuiet(long now) {
    if (now - lastActivityMillis >= FORGET_AFTER_MILLIS) {
      smoothedLatencyMicros = Double.NaN;
      backAfterQuiet = true;
      startInterval(now);
    }
    lastActivityMillis = now;
  }

  private void refill(long now) {
    if (now > lastRefillMillis) {
      tokens = Math.min(bucketSize, tokens + rate * (now - lastRefillMillis) / 1000.0);
    }
    lastRefillMillis = now;
  }

  private void adjustIfDue(long now) {
    long elapsed = now - lastAdjustMillis;
    if (elapsed < 0) {
      lastAdjustMillis = now;
      return;
    }
    if (elapsed < ADJUST_INTERVAL_MILLIS) {
      return;
    }
    if (samples > 0) {
      double mean = (double) latencySumMicros / samples;
      smoothedLatencyMicros =
          Double.isNaN(smoothedLatencyMicros) ? mean : (smoothedLatencyMicros + mean) / 2;
      if (smoothedLatencyMicros > targetLatencyMicros) {
        double factor =
            Math.min(
                MIN_DECREASE, Math.max(MAX_DECREASE, targetLatencyMicros / smoothedLatencyMicros));
        rate = Math.max(minRate, rate * factor);
      } else if (backAfterQuiet) {
        rate = Math.max(rate, initialRate);
      } else if (refused > 0 || admitted >= 0.5 * rate * elapsed / 1000.0) {
        rate +=
            smoothedLatencyMicros < targetLatencyMicros * FAST_BELOW
                ? Math.max(increaseStep, rate * FAST_INCREASE)
                : increaseStep;
      }
      backAfterQuiet = false;
    }
    startInterval(now);
  }

  /** Begins an adjustment interval at {@code now}, with nothing counted in it yet. */
  private void startInterval(long now) {
    latencySumMicros = 0;
    samples = 0;
    admitted = 0;
    refused = 0;
    lastAdjustMillis = now;
  }
}
