package org.chronos.timer;

import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The ids of live timers that this node made and still holds when their id comes round again, so
 * that {@link TimerIdGenerator} skips them; thread-safe (the store tells it of timers on the timer
 * thread, the generator asks from request threads).
 *
 * <p>An id keeps 34 bits of its millisecond count (PROTOCOL.md section 2), which repeat every 2^34
 * ms, about 199 days. A timer that lives longer (intervals and repeat-for go up to ten years by
 * default) would otherwise be replaced, on every replica, by whichever new timer this node made in
 * the same millisecond of the next round with the same sequence number: on a busy node, nearly
 * certainly. Only timers with this node's deployment and instance bits can meet ids it makes.
 */
public final class LongLivedIds implements TimerStore.Listener {
  /** How often the millisecond part of an id repeats. */
  static final long WRAP_MILLIS = 1L << 34;

  private static final long NODE_MASK = ((1L << 30) - 1) & ~((1L << 20) - 1);

  private final long nodeBits;
  private final Set<Long> ids = ConcurrentHashMap.newKeySet();

  public LongLivedIds(int deploymentId, int instanceId) {
    this.nodeBits = TimerIdGenerator.nodeBits(deploymentId, instanceId);
  }

  @Override
  public void liveAdded(Timer timer) {
    if (outlivesItsId(timer)) {
      ids.add(timer.id());
    }
  }

  @Override
  public void liveRemoved(Timer timer) {
    if (!ids.isEmpty()) {
      ids.remove(timer.id());
    }
  }

  /** Whether a new id must not be {@code id}. */
  boolean isHeld(long id) {
    return !ids.isEmpty() && ids.contains(id);
  }

  /** How many ids are held back. */
  public int size() {
    return ids.size();
  }

  /**
   * Whether the timer, one of this node's, may still pop when its id next comes round: made at the
   * latest millisecond at or before its start with its id's 34 bits, it pops at the latest at start
   * + repeat-for.
   */
  boolean outlivesItsId(Timer timer) {
    if ((timer.id() & NODE_MASK) != nodeBits) {
      return false;
    }
    long idMillis = timer.id() >>> 30;
    long start = timer.startMillis();
    long made = start - Math.floorMod(start - idMillis, WRAP_MILLIS);
    return start + timer.repeatForMillis() >= made + WRAP_MILLIS;
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
