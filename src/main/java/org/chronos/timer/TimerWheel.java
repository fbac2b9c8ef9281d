package org.chronos.timer;

/**
 * A hierarchical timing wheel. NOT thread safe: one thread owns an instance and calls every method;
 * there is no thread and no clock inside, time is always an argument.
 *
 * <p>After Varghese and Lauck, "Hashed and Hierarchical Timing Wheels" (1987). Eight levels of 256
 * slots cover every non-negative 64-bit tick. An entry sits at the level of the highest byte in
 * which its deadline tick differs from the wheel's current tick, in the slot named by that byte, so
 * placement is exact (no rounds to count) and an entry moves down at most seven times before it
 * expires. Add and cancel are O(1): entries are intrusive doubly linked list nodes. Advancing jumps
 * straight to the next slot that holds anything (found in per-level occupancy bitmaps), so an idle
 * wheel, or a clock that leaps ahead by years, costs nothing per empty tick.
 *
 * <p>Guarantees: an entry is never handed out before its deadline ({@code deadline <= now}); it may
 * be late by up to one tick. Entries due in the same tick come out in no particular order; entries
 * due in different ticks come out in deadline order.
 *
 * <p>Caveats: times must be non-negative; the handler may re-add or cancel entries (including the
 * one it was handed) but must not call {@link #poll} re-entrantly.
 *
 * @param <E> the entry type; an entry belongs to at most one wheel at a time
 */
public final class TimerWheel<E extends TimerWheel.Entry> {

  /** An intrusive wheel node. Subclass it; the wheel owns these fields. */
  public abstract static class Entry {
    private static final int UNSCHEDULED = -1;
    private static final int READY = -2;

    private long deadline;
    private Entry prev;
    private Entry next;
    private int location = UNSCHEDULED;

    /** The deadline (ms) the entry was last scheduled for. */
    public final long deadline() {
      return deadline;
    }

    /** Whether the entry is currently held by a wheel. */
    public final boolean isScheduled() {
      return location != UNSCHEDULED;
    }
  }

  /** Receives expired entries. */
  @FunctionalInterface
  public interface Handler<E> {
    /**
     * Called for an expired entry, which is no longer scheduled when this runs.
     *
     * @return false to refuse it: the entry goes back to the head of the ready list and the poll
     *     stops, so a full downstream pushes back instead of dropping
     */
    boolean onExpiry(E entry);
  }

  private static final int SLOT_BITS = 8;
  private static final int SLOTS = 1 << SLOT_BITS;
  private static final int LEVELS = 64 / SLOT_BITS;
  private static final int WORDS_PER_LEVEL = SLOTS / 64;

  private final long tickMillis;
  // log2(tickMillis) when it is a power of two (1 ms, the default, is 2^0), else -1: ticks are then
  // a shift away from milliseconds, where a 64-bit division was a measurable share of an add.
  private final int tickShift;
  private final Entry[] heads = new Entry[LEVELS * SLOTS];
  private final long[] occupied = new long[LEVELS * WORDS_PER_LEVEL];
  private Entry readyHead;
  private Entry readyTail;
  private long currentTick;
  private int size;

  /**
   * @param tickMillis resolution in milliseconds, at least 1
   * @param startMillis the time (ms, non-negative) the wheel starts at
   */
  public TimerWheel(long tickMillis, long startMillis) {
    if (tickMillis < 1) {
      throw new IllegalArgumentException("tickMillis must be >= 1: " + tickMillis);
    }
    if (startMillis < 0) {
      throw new IllegalArgumentException("startMillis must be >= 0: " + startMillis);
    }
    this.tickMillis = tickMillis;
    this.tickShift = Long.bitCount(tickMillis) == 1 ? Long.numberOfTrailingZeros(tickMillis) : -1;
    this.currentTick = floorTick(startMillis);
  }

  /** Number of scheduled entries, due or not. */
  public int size() {
    return size;
  }

  /** The wheel's current time in ms (the start of its current tick). */
  public long currentMillis() {
    return currentTick * tickMillis;
  }

  /**
   * Schedules an entry. An entry whose deadline has passed becomes due at once.
   *
   * @throws IllegalStateException if the entry is already scheduled
   */
  public void add(E added, long deadlineMillis) {
    Entry entry = added;
    if (entry.location != Entry.UNSCHEDULED) {
      throw new IllegalStateException("entry is already scheduled");
    }
    if (deadlineMillis < 0) {
      throw new IllegalArgumentException("deadline must be >= 0: " + deadlineMillis);
    }
    entry.deadline = deadlineMillis;
    place(entry);
    size++;
  }

  /** Unschedules an entry; false if it was not scheduled. O(1). */
  public boolean cancel(E cancelled) {
    Entry entry = cancelled;
    if (entry.location == Entry.UNSCHEDULED) {
      return false;
    }
    unlink(entry);
    size--;
    return true;
  }

  /**
   * Hands every entry whose deadline is at or before {@code nowMillis} to the handler, up to {@code
   * limit} of them, in deadline order (by tick).
   *
   * @return the number of entries the handler accepted
   */
  @SuppressWarnings("unchecked")
  public int poll(long nowMillis, Handler<? super E> handler, int limit) {
    long targetTick = floorTick(Math.max(nowMillis, 0));
    int accepted = 0;
    while (accepted < limit) {
      Entry e = readyHead;
      if (e != null) {
        unlink(e);
        size--;
        if (!handler.onExpiry((E) e)) {
          if (e.location == Entry.UNSCHEDULED) {
            pushReadyFront(e);
            size++;
          }
          break;
        }
        accepted++;
        continue;
      }
      if (currentTick >= targetTick || !advanceOneStep(targetTick)) {
        break;
      }
    }
    return accepted;
  }

  /**
   * The earliest time (ms) at which {@link #poll} may have work: now if something is due, the start
   * of the next occupied slot otherwise (which may only cascade entries down), or {@link
   * Long#MAX_VALUE} when the wheel is empty.
   */
  public long nextWorkMillis() {
    if (readyHead != null) {
      return currentMillis();
    }
    long tick = nextEventTick();
    // Saturates: the start of a tick near the end of time is past Long.MAX_VALUE ms for ticks of
    // more than 1 ms.
    return tick > Long.MAX_VALUE / tickMillis ? Long.MAX_VALUE : tick * tickMillis;
  }

  /** The deadline of the oldest due entry not yet polled, or {@link Long#MAX_VALUE}. */
  public long oldestReadyDeadline() {
    return readyHead == null ? Long.MAX_VALUE : readyHead.deadline;
  }

  /**
   * Removes every entry, handing each to the consumer (used at shutdown to count what was held).
   */
  @SuppressWarnings("unchecked")
  public void drain(java.util.function.Consumer<? super E> consumer) {
    while (readyHead != null) {
      Entry e = readyHead;
      unlink(e);
      size--;
      consumer.accept((E) e);
    }
    for (int i = 0; i < heads.length; i++) {
      while (heads[i] != null) {
        Entry e = heads[i];
        unlink(e);
        size--;
        consumer.accept((E) e);
      }
    }
  }

  // Moves time to the next occupied slot at or before targetTick, cascading that slot; false if
  // nothing is occupied up to targetTick, in which case time simply moves to targetTick.
  private boolean advanceOneStep(long targetTick) {
    long next = nextEventTick();
    if (next > targetTick) {
      currentTick = targetTick;
      return false;
    }
    currentTick = next;
    int level = levelOfEvent(next);
    int index = level * SLOTS + (int) ((next >>> (level * SLOT_BITS)) & (SLOTS - 1));
    Entry e = heads[index];
    heads[index] = null;
    clearBit(index);
    while (e != null) {
      Entry following = e.next;
      e.prev = null;
      e.next = null;
      place(e);
      e = following;
    }
    return true;
  }

  // The level whose slot the event tick found by nextEventTick belongs to: the lowest level with
  // an occupied slot after the current position (levels below it are empty by construction).
  private int levelOfEvent(long tick) {
    for (int level = 0; level < LEVELS; level++) {
      int pos = (int) ((tick >>> (level * SLOT_BITS)) & (SLOTS - 1));
      if (isBitSet(level * SLOTS + pos)) {
        return level;
      }
    }
    throw new IllegalStateException("no occupied slot at tick " + tick);
  }

  private long nextEventTick() {
    for (int level = 0; level < LEVELS; level++) {
      int shift = level * SLOT_BITS;
      int pos = (int) ((currentTick >>> shift) & (SLOTS - 1));
      int slot = nextOccupiedAfter(level, pos);
      if (slot >= 0) {
        long upperMask = shift + SLOT_BITS >= 64 ? 0L : -1L << (shift + SLOT_BITS);
        return (currentTick & upperMask) | ((long) slot << shift);
      }
    }
    return Long.MAX_VALUE;
  }

  private int nextOccupiedAfter(int level, int pos) {
    int from = pos + 1;
    if (from >= SLOTS) {
      return -1;
    }
    int base = level * WORDS_PER_LEVEL;
    int word = from >>> 6;
    long bits = occupied[base + word] & (-1L << (from & 63));
    while (true) {
      if (bits != 0) {
        return (word << 6) + Long.numberOfTrailingZeros(bits);
      }
      if (++word == WORDS_PER_LEVEL) {
        return -1;
      }
      bits = occupied[base + word];
    }
  }

  private void place(Entry e) {
    long tick = ceilTick(e.deadline);
    if (tick <= currentTick) {
      appendReady(e);
      return;
    }
    int level = (63 - Long.numberOfLeadingZeros(tick ^ currentTick)) / SLOT_BITS;
    int index = level * SLOTS + (int) ((tick >>> (level * SLOT_BITS)) & (SLOTS - 1));
    Entry head = heads[index];
    e.next = head;
    e.prev = null;
    if (head != null) {
      head.prev = e;
    } else {
      setBit(index);
    }
    heads[index] = e;
    e.location = index;
  }

  private void appendReady(Entry e) {
    e.location = Entry.READY;
    e.next = null;
    e.prev = readyTail;
    if (readyTail == null) {
      readyHead = e;
    } else {
      readyTail.next = e;
    }
    readyTail = e;
  }

  private void pushReadyFront(Entry e) {
    e.location = Entry.READY;
    e.prev = null;
    e.next = readyHead;
    if (readyHead == null) {
      readyTail = e;
    } else {
      readyHead.prev = e;
    }
    readyHead = e;
  }

  private void unlink(Entry e) {
    Entry p = e.prev;
    Entry n = e.next;
    if (e.location == Entry.READY) {
      if (p == null) {
        readyHead = n;
      } else {
        p.next = n;
      }
      if (n == null) {
        readyTail = p;
      } else {
        n.prev = p;
      }
    } else {
      int index = e.location;
      if (p == null) {
        heads[index] = n;
        if (n == null) {
          clearBit(index);
        }
      } else {
        p.next = n;
      }
      if (n != null) {
        n.prev = p;
      }
    }
    e.prev = null;
    e.next = null;
    e.location = Entry.UNSCHEDULED;
  }

  // The tick a non-negative time falls in.
  private long floorTick(long millis) {
    return tickShift >= 0 ? millis >>> tickShift : millis / tickMillis;
  }

  // The first tick that starts at or after a non-negative time: an entry placed there is never
  // handed out early. Written without adding tickMillis - 1 first, which overflows near
  // Long.MAX_VALUE (deadlines saturate there).
  private long ceilTick(long millis) {
    long tick = floorTick(millis);
    return tick * tickMillis == millis ? tick : tick + 1;
  }

  private void setBit(int index) {
    occupied[index >>> 6] |= 1L << (index & 63);
  }

  private void clearBit(int index) {
    occupied[index >>> 6] &= ~(1L << (index & 63));
  }

  private boolean isBitSet(int index) {
    return (occupied[index >>> 6] & (1L << (index & 63))) != 0;
  }
}
