package org.chronos.timer;

import java.util.Arrays;

/**
 * A hierarchical timing wheel. NOT thread safe: one thread owns an instance and calls every method;
 * there is no thread and no clock inside, time is always an argument.
 *
 * <p>After Varghese and Lauck, "Hashed and Hierarchical Timing Wheels" (1987). Eight levels of 256
 * slots cover every non-negative 64-bit tick. An entry sits at the level of the highest byte in
 * which its deadline tick differs from the wheel's current tick, in the slot named by that byte, so
 * placement is exact (no rounds to count) and an entry moves down at most seven times before it
 * expires. Advancing jumps straight to the next slot that holds anything (found in per-level
 * occupancy bitmaps), so an idle wheel, or a clock that leaps ahead by years, costs nothing per
 * empty tick.
 *
 * <p>Each slot is an array of entries, and each entry knows its slot and its position there. Add
 * appends; cancel moves the slot's last entry into the hole. Both are O(1) and touch, besides the
 * entry itself, only the hole and the slot's end, which the latest adds keep in cache (a linked
 * list would touch both neighbours of the cancelled entry, two more cache misses in a large wheel).
 * Moving a slot down a level reads its array front to back, where a list would be one dependent
 * cache miss per entry. Due entries wait in a ready array in the order they became due; cancelling
 * one of those leaves a hole that polling skips.
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
    // position of an unscheduled entry set aside (positions in a wheel are never negative)
    private static final int ASIDE = -1;

    private long deadline;
    // The slot (level * 256 + index) holding the entry, READY, or UNSCHEDULED.
    private int location = UNSCHEDULED;
    // The entry's index in its slot's array, or in the ready array.
    private int position;

    /** The deadline (ms) the entry was last scheduled for. */
    public final long deadline() {
      return deadline;
    }

    /** Whether the entry is currently held by a wheel. */
    public final boolean isScheduled() {
      return location != UNSCHEDULED;
    }

    /**
     * Marks an unscheduled entry as kept aside by its owner, or not; scheduling it clears the mark.
     * The wheel never reads it: it uses the position field, which means nothing while unscheduled.
     */
    public final void setAside(boolean aside) {
      if (location == UNSCHEDULED) {
        position = aside ? ASIDE : 0;
      }
    }

    /** Whether the entry is unscheduled and marked {@link #setAside aside}. */
    public final boolean isAside() {
      return location == UNSCHEDULED && position == ASIDE;
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
  private static final Entry[] NO_ENTRIES = new Entry[0];
  // A slot's first array; arrays up to KEPT_LENGTH stay with their slot once it empties (level 0
  // and 1 slots fill and empty all the time), longer ones are let go.
  private static final int FIRST_LENGTH = 4;
  private static final int KEPT_LENGTH = 16;
  // The ready array is let go when it empties at more than this length (after a burst of pops).
  private static final int READY_KEPT_LENGTH = 1024;

  private final long tickMillis;
  // log2(tickMillis) when it is a power of two (1 ms, the default, is 2^0), else -1: ticks are then
  // a shift away from milliseconds, where a 64-bit division was a measurable share of an add.
  private final int tickShift;
  private final Entry[][] slots = new Entry[LEVELS * SLOTS][];
  private final int[] counts = new int[LEVELS * SLOTS];
  private final long[] occupied = new long[LEVELS * WORDS_PER_LEVEL];
  // Due entries in [readyHead, readyTail), oldest first, with nulls where entries were cancelled;
  // ready[readyHead] is never null, so the range is empty exactly when readyHead == readyTail.
  private Entry[] ready = NO_ENTRIES;
  private int readyHead;
  private int readyTail;
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

  /** Length of the array holding due entries (for tests of its growth). */
  int readyCapacity() {
    return ready.length;
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
      if (readyHead != readyTail) {
        Entry e = ready[readyHead];
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
    if (readyHead != readyTail) {
      return currentMillis();
    }
    long tick = nextEventTick();
    // Saturates: the start of a tick near the end of time is past Long.MAX_VALUE ms for ticks of
    // more than 1 ms.
    return tick > Long.MAX_VALUE / tickMillis ? Long.MAX_VALUE : tick * tickMillis;
  }

  /** The deadline of the oldest due entry not yet polled, or {@link Long#MAX_VALUE}. */
  public long oldestReadyDeadline() {
    return readyHead == readyTail ? Long.MAX_VALUE : ready[readyHead].deadline;
  }

  /**
   * Removes every entry, handing each to the consumer (used at shutdown to count what was held).
   */
  @SuppressWarnings("unchecked")
  public void drain(java.util.function.Consumer<? super E> consumer) {
    while (readyHead != readyTail) {
      Entry e = ready[readyHead];
      unlink(e);
      size--;
      consumer.accept((E) e);
    }
    for (int index = 0; index < slots.length; index++) {
      while (counts[index] > 0) {
        Entry e = slots[index][counts[index] - 1];
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
    Entry[] entries = slots[index];
    int count = counts[index];
    // Detached first: every entry goes to a lower level or the ready array, never back here.
    slots[index] = null;
    counts[index] = 0;
    clearBit(index);
    for (int i = 0; i < count; i++) {
      place(entries[i]);
    }
    if (entries.length <= KEPT_LENGTH) {
      Arrays.fill(entries, 0, count, null);
      slots[index] = entries;
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
    Entry[] entries = slots[index];
    int count = counts[index];
    if (entries == null) {
      entries = new Entry[FIRST_LENGTH];
      slots[index] = entries;
    } else if (count == entries.length) {
      entries = Arrays.copyOf(entries, count * 2);
      slots[index] = entries;
    }
    entries[count] = e;
    counts[index] = count + 1;
    if (count == 0) {
      setBit(index);
    }
    e.location = index;
    e.position = count;
  }

  private void appendReady(Entry e) {
    if (readyTail == ready.length) {
      makeRoomAtTail();
    }
    ready[readyTail] = e;
    e.location = Entry.READY;
    e.position = readyTail++;
  }

  // Called with the ready array full up to its end: moves the entries to the front, leaving out
  // the holes, in place when they take at most half of it, else into one twice as long. Decided by
  // the entries, not the range they span: due entries cancelled and made due again (updates while
  // callbacks push back) would otherwise double the array again and again.
  private void makeRoomAtTail() {
    int held = 0;
    for (int i = readyHead; i < readyTail; i++) {
      if (ready[i] != null) {
        held++;
      }
    }
    Entry[] target =
        held <= ready.length / 2 && ready.length > 0
            ? ready
            : new Entry[Math.max(FIRST_LENGTH, ready.length * 2)];
    int to = 0;
    for (int from = readyHead; from < readyTail; from++) {
      Entry e = ready[from];
      if (e != null) {
        target[to] = e;
        e.position = to++;
      }
    }
    if (target == ready) {
      Arrays.fill(target, to, readyTail, null);
    }
    ready = target;
    readyHead = 0;
    readyTail = to;
  }

  // Puts back an entry the handler refused, ahead of every other due entry.
  private void pushReadyFront(Entry e) {
    if (readyHead == 0) {
      // Only after the ready array emptied and the handler made more entries due (rare): shift.
      if (readyTail == ready.length) {
        makeRoomAtTail();
      }
      System.arraycopy(ready, 0, ready, 1, readyTail);
      readyTail++;
      for (int i = 1; i < readyTail; i++) {
        if (ready[i] != null) {
          ready[i].position = i;
        }
      }
      readyHead = 1;
    }
    ready[--readyHead] = e;
    e.location = Entry.READY;
    e.position = readyHead;
  }

  private void unlink(Entry e) {
    int at = e.position;
    if (e.location == Entry.READY) {
      ready[at] = null;
      if (at == readyHead) {
        do {
          readyHead++;
        } while (readyHead < readyTail && ready[readyHead] == null);
      }
      if (readyHead == readyTail) {
        readyHead = 0;
        readyTail = 0;
        if (ready.length > READY_KEPT_LENGTH) {
          ready = NO_ENTRIES;
        }
      }
    } else {
      int index = e.location;
      Entry[] entries = slots[index];
      int last = counts[index] - 1;
      Entry moved = entries[last];
      entries[at] = moved;
      moved.position = at;
      entries[last] = null;
      counts[index] = last;
      if (last == 0) {
        clearBit(index);
        if (entries.length > KEPT_LENGTH) {
          slots[index] = null;
        }
      } else if (last < entries.length / 4 && entries.length > KEPT_LENGTH) {
        slots[index] = Arrays.copyOf(entries, entries.length / 2);
      }
    }
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
