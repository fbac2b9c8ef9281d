package org.chronos.timer;

import java.util.concurrent.atomic.AtomicLong;

/**
 * Makes timer ids (PROTOCOL.md section 2); thread-safe, called from request threads.
 *
 * <p>Layout: {@code (milliseconds << 30) | (deployment_id << 27) | (instance_id << 20) | sequence}
 * with a 20-bit sequence. Unlike the original, the milliseconds are wall-clock time and never go
 * backwards within a process, so ids stay unique across restarts of the same node unless the wall
 * clock is stepped back by more than the downtime. (The 34 bits kept of the millisecond count wrap
 * about every 199 days, as in the original layout; ids of timers still live by then are skipped,
 * {@link LongLivedIds}.) More than 2^20 ids in one millisecond borrow the next millisecond rather
 * than repeat.
 */
public final class TimerIdGenerator {
  private static final int SEQUENCE_BITS = 20;
  private static final long SEQUENCE_MASK = (1L << SEQUENCE_BITS) - 1;

  private final Clock clock;
  private volatile long nodeBits;
  private final LongLivedIds held;
  // (millis << 20) | sequence of the last id handed out.
  private final AtomicLong last = new AtomicLong(Long.MIN_VALUE);

  public TimerIdGenerator(Clock clock, int deploymentId, int instanceId) {
    this(clock, deploymentId, instanceId, null);
  }

  /**
   * @param held ids not to hand out, of timers still live when their id comes round again (null:
   *     none)
   */
  public TimerIdGenerator(Clock clock, int deploymentId, int instanceId, LongLivedIds held) {
    this.clock = clock;
    this.nodeBits = nodeBits(deploymentId, instanceId);
    this.held = held;
  }

  /**
   * Tells the generator of a timer this node made (stored here or not): its id is not handed out
   * again while the timer may live ({@link LongLivedIds}).
   */
  public void made(Timer timer) {
    if (held != null) {
      held.made(timer);
    }
  }

  /**
   * Makes ids with this identity from now on (a reload that changed [identity], as the original
   * applies it); the ids it keeps back are of timers made with the new identity too.
   */
  public void setIdentity(int deploymentId, int instanceId) {
    long bits = nodeBits(deploymentId, instanceId);
    if (held != null) {
      held.setIdentity(bits);
    }
    nodeBits = bits;
  }

  /** The deployment and instance bits of this node's ids. */
  static long nodeBits(int deploymentId, int instanceId) {
    if (deploymentId < 0 || deploymentId > 7) {
      throw new IllegalArgumentException("deployment_id must be 0-7: " + deploymentId);
    }
    if (instanceId < 0 || instanceId > 127) {
      throw new IllegalArgumentException("instance_id must be 0-127: " + instanceId);
    }
    return ((long) deploymentId << 27) | ((long) instanceId << 20);
  }

  public long next() {
    while (true) {
      long prev = last.get();
      long nowState = clock.millis() << SEQUENCE_BITS;
      long candidate = Math.max(nowState, prev == Long.MIN_VALUE ? nowState : prev + 1);
      if (last.compareAndSet(prev, candidate)) {
        long millis = candidate >>> SEQUENCE_BITS;
        long id = (millis << 30) | nodeBits | (candidate & SEQUENCE_MASK);
        if (held == null || !held.isHeld(id)) {
          return id;
        }
        // A live timer still has this id from the last round: take the next sequence number.
      }
    }
  }
}
