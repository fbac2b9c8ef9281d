package org.chronos.timer;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The ids of timers that this node made, or holds, and that are still live when their id comes
 * round again, so that {@link TimerIdGenerator} skips them; thread-safe (creates tell it from
 * request threads, the store from the timer thread).
 *
 * <p>An id keeps 34 bits of its millisecond count (PROTOCOL.md section 2), which repeat every 2^34
 * ms, about 199 days. A timer that lives longer (intervals and repeat-for go up to ten years by
 * default) would otherwise be replaced, on every replica, by whichever new timer this node made in
 * the same millisecond of the next round with the same sequence number: on a busy node, nearly
 * certainly. Only timers with this node's deployment and instance bits can meet ids it makes.
 *
 * <p>The node that makes an id need not hold the timer (it may be no replica of it), so a create
 * reserves the id as well as the store's copies. An id stays reserved until its timer's last pop
 * could have happened, with {@link #SLACK_MILLIS} for replicas' pop delays and late pops, even if
 * the timer is deleted before: one sequence number skipped costs nothing.
 */
public final class LongLivedIds implements TimerStore.Listener {
  /** How often the millisecond part of an id repeats. */
  static final long WRAP_MILLIS = 1L << 34;

  /** Kept past a timer's last pop time: replicas pop seconds later, and pops may be late. */
  static final long SLACK_MILLIS = 3600_000;

  private static final long NODE_MASK = ((1L << 30) - 1) & ~((1L << 20) - 1);

  private volatile long nodeBits;
  private final Clock clock;
  private final Map<Long, Long> untilMillis = new ConcurrentHashMap<>();
  private volatile int sweepAt = 1024;

  public LongLivedIds(int deploymentId, int instanceId, Clock clock) {
    this.nodeBits = TimerIdGenerator.nodeBits(deploymentId, instanceId);
    this.clock = clock;
  }

  /**
   * This node's ids carry these deployment and instance bits from now on: only ids with them can
   * meet the ids it makes. Those kept back with the earlier bits stay until their time is up.
   */
  void setIdentity(long bits) {
    nodeBits = bits;
  }

  /** A timer this node made or stored: its id is reserved if the timer outlives the id's round. */
  public void made(Timer timer) {
    if (outlivesItsId(timer)) {
      untilMillis.merge(
          timer.id(), timer.startMillis() + timer.repeatForMillis() + SLACK_MILLIS, Math::max);
      if (untilMillis.size() >= sweepAt) {
        sweep();
      }
    }
  }

  @Override
  public void liveAdded(Timer timer) {
    made(timer);
  }

  @Override
  public void liveRemoved(Timer timer) {
    // Kept until its time is up: the node that made the id may hold no copy at all.
  }

  /** Whether a new id must not be {@code id}. */
  boolean isHeld(long id) {
    if (untilMillis.isEmpty()) {
      return false;
    }
    Long until = untilMillis.get(id);
    return until != null && until >= clock.millis();
  }

  /** How many ids are reserved. */
  public int size() {
    return untilMillis.size();
  }

  private synchronized void sweep() {
    long now = clock.millis();
    untilMillis.values().removeIf(until -> until < now);
    sweepAt = Math.max(1024, untilMillis.size() * 2);
  }

  /**
   * Whether the timer, one of this node's, may still pop when its id next comes round: made at the
   * latest millisecond at or before its start with its id's 34 bits, it pops at the latest at start
   * + repeat-for (replicas a little later).
   */
  boolean outlivesItsId(Timer timer) {
    if ((timer.id() & NODE_MASK) != nodeBits || timer.isTombstone()) {
      return false;
    }
    long idMillis = timer.id() >>> 30;
    long start = timer.startMillis();
    long made = start - Math.floorMod(start - idMillis, WRAP_MILLIS);
    return start + timer.repeatForMillis() + SLACK_MILLIS >= made + WRAP_MILLIS;
  }

  /** Tells {@code first}, then {@code second}. */
  public static TimerStore.Listener both(TimerStore.Listener first, TimerStore.Listener second) {
    return new TimerStore.Listener() {
      @Override
      public void liveAdded(Timer timer) {
        first.liveAdded(timer);
        second.liveAdded(timer);
      }

      @Override
      public void liveRemoved(Timer timer) {
        first.liveRemoved(timer);
        second.liveRemoved(timer);
      }
    };
  }
}
