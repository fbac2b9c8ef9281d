package org.chronos.timer;

import java.util.Arrays;
import java.util.function.Consumer;
import java.util.function.ToIntFunction;

/**
 * An open-addressing map from primitive long keys to values. NOT thread safe.
 *
 * <p>Exists because the timer index ({@link TimerIndex}, keyed by groups of 8 consecutive timer
 * ids) holds up to millions of entries and a {@code HashMap<Long, V>} spends about 50 bytes of
 * boxing and node overhead on each; this spends about 24 (two parallel arrays at load factor
 * 0.35-0.7). Linear probing with backward-shift deletion, so no tombstones.
 *
 * <p>The slot function keeps neighbouring keys together: keys that differ only in their low {@value
 * #GROUP_BITS} bits (a group of 8) share a block of 16 slots, chosen by hashing the rest of the
 * key, and take every other slot of it in key order, starting at a hashed offset. Keys made one
 * after the other (timer ids are {@code millis << 30 | node << 20 | sequence}, see {@link
 * TimerIdGenerator}, and the index's group keys are those ids without their low bits), and later
 * removed in roughly that order, are read and written in the same few cache lines instead of one
 * random line (in each array) per operation. Under G1 that also means one dirty card (512 bytes of
 * the value array) per block rather than per insert, which was most of the cost of a random
 * reference store into a large old array. Leaving every other slot free matters for removal: a
 * group alone in its block has a free slot after each entry, so backward shift stops at once, and a
 * second group landing in the same block either fills the free slots exactly or sits one slot off.
 * (Whole blocks of 16 consecutive keys were tried: a group whose block was taken then sat a block
 * away from home, and removing its entries oldest first moved all the later ones back each time.)
 * Keys with nothing in common, such as one id per millisecond, still spread uniformly: the offset
 * within the block is hashed too.
 *
 * <p>A resumable scan ({@link #beginScan}, {@link #scan}) walks the slots a chunk at a time while
 * the map changes between chunks, and still visits every key that is present from its beginning to
 * its end; see {@link #scan}.
 */
final class LongMap<V> {
  private static final float MAX_LOAD = 0.7f;

  /** Keys equal but for these low bits go to one block, every other slot. */
  static final int GROUP_BITS = 3;

  /** A block holds 2^BLOCK_BITS slots, twice a group. */
  static final int BLOCK_BITS = GROUP_BITS + 1;

  private static final int BLOCK_MASK = (1 << BLOCK_BITS) - 1;
  private static final int GROUP_MASK = (1 << GROUP_BITS) - 1;

  private long[] keys;
  private Object[] values;
  private int mask;
  private int size;
  private int resizeAt;

  // The scan under way, one at a time (0: none), and the last id handed out.
  private long scanId;
  private long lastScanId;
  // The next slot the scan visits. 0 whenever no scan is under way (or it has visited nothing
  // yet), which makes shiftBack's check "moved from the unvisited part to the visited part" false
  // at the cost of one compare.
  private int scanCursor;
  // The table was rebuilt (or too much moved) since the scan's last step: it starts again.
  private boolean scanRestarted;
  // Keys that shiftBack moved from the unvisited part of the table (slot >= cursor) to the
  // visited part: the next step visits them by key.
  private long[] movedKeys = NO_KEYS;
  private int movedCount;

  private static final long[] NO_KEYS = new long[0];

  /**
   * Most keys remembered for a scan between two steps. Only moves across the cursor are remembered,
   * and only removals in the one run of entries around the cursor make them, so a scan that is
   * being stepped stays far below this. It bounds what a scan abandoned without {@link #endScan}
   * costs: past it the scan restarts, which forgets the keys and stops remembering until the next
   * step.
   */
  static final int MAX_MOVED_KEYS = 1 << 16;

  LongMap(int expected) {
    int capacity = Integer.highestOneBit(Math.max(16, (int) (expected / MAX_LOAD)) - 1) << 1;
    allocate(capacity);
  }

  int size() {
    return size;
  }

  @SuppressWarnings("unchecked")
  V get(long key) {
    int i = find(key);
    return i < 0 ? null : (V) values[i];
  }

  /** Associates the key with a non-null value; returns the previous value or null. */
  @SuppressWarnings("unchecked")
  V put(long key, V value) {
    if (value == null) {
      throw new IllegalArgumentException("null values are not supported");
    }
    int i = slot(key);
    while (true) {
      Object v = values[i];
      if (v == null) {
        keys[i] = key;
        values[i] = value;
        if (++size > resizeAt) {
          allocateAndRehash(values.length << 1);
        }
        return null;
      }
      if (keys[i] == key) {
        values[i] = value;
        return (V) v;
      }
      i = (i + 1) & mask;
    }
  }

  @SuppressWarnings("unchecked")
  V remove(long key) {
    int i = find(key);
    if (i < 0) {
      return null;
    }
    Object v = values[i];
    shiftBack(i);
    return (V) v;
  }

  /**
   * Removes the key only if it maps to this very value (identity): one probe where {@code get} then
   * {@code remove} would take two. Returns whether it was removed.
   */
  boolean remove(long key, V value) {
    int i = find(key);
    if (i < 0 || values[i] != value) {
      return false;
    }
    shiftBack(i);
    return true;
  }

  @SuppressWarnings("unchecked")
  void forEachValue(Consumer<? super V> consumer) {
    for (Object v : values) {
      if (v != null) {
        consumer.accept((V) v);
      }
    }
  }

  void clear() {
    Arrays.fill(values, null);
    size = 0;
  }

  /**
   * Begins a resumable scan of the values and returns its id for {@link #scan}. One scan at a time:
   * this ends any scan under way, whose next {@link #scan} then fails.
   */
  long beginScan() {
    endScan(scanId);
    scanId = ++lastScanId;
    return scanId;
  }

  /**
   * Ends the scan if it is still the one under way (so the map stops tracking moves for it);
   * otherwise does nothing. A scan that returned {@link ScanStep#DONE} is already over.
   */
  void endScan(long id) {
    if (id != scanId || id == 0) {
      return;
    }
    scanId = 0;
    scanCursor = 0;
    scanRestarted = false;
    movedKeys = NO_KEYS;
    movedCount = 0;
  }

  /**
   * One step of the scan: visits the values of at most {@code maxSlots} more slots, or fewer once
   * the visitor's answers (the cost of each value, e.g. how many items it holds) add up to {@code
   * maxCost}; at least one slot. The visitor must not change the map. The map may change in any way
   * between steps.
   *
   * <p>Every key present from {@link #beginScan} to the step that returns {@link ScanStep#DONE} is
   * visited at least once, with its value as of that visit. Keys added or removed meanwhile may be
   * visited or not, and a key may be visited more than once: callers that care keep the last visit.
   * Why nothing present throughout is missed: entries only move when a removal shifts later entries
   * of its run back into the gap (an insert takes a free slot, a put of a present key replaces the
   * value in place), and when the table grows. A backward shift from a slot at or after the cursor
   * to a gap before it would carry an unvisited entry into the visited part, so shiftBack remembers
   * that key and the next step visits it by key; any other shift either stays on one side of the
   * cursor or (wrapping around the end of the table) carries a visited entry to the unvisited part,
   * which only visits it twice. Growth rebuilds the table, so the next step returns {@link
   * ScanStep#RESTARTED} and the scan begins again on the new table (growth doubles the table, so
   * this happens a few times at most however much the map grows).
   *
   * @throws IllegalStateException if the scan has ended or another has begun since
   */
  @SuppressWarnings("unchecked")
  ScanStep scan(long id, int maxSlots, int maxCost, ToIntFunction<? super V> visitor) {
    if (id != scanId || id == 0) {
      throw new IllegalStateException("scan " + id + " is not under way: ended or replaced");
    }
    if (maxSlots < 1) {
      throw new IllegalArgumentException("maxSlots must be >= 1: " + maxSlots);
    }
    if (scanRestarted) {
      scanRestarted = false;
      return ScanStep.RESTARTED;
    }
    int cost = 0;
    for (int k = 0; k < movedCount; k++) {
      Object v = get(movedKeys[k]);
      if (v != null) {
        cost += visitor.applyAsInt((V) v);
      }
    }
    movedCount = 0;
    int i = scanCursor;
    int end = (int) Math.min((long) i + maxSlots, values.length);
    do {
      Object v = values[i++];
      if (v != null) {
        cost += visitor.applyAsInt((V) v);
      }
    } while (i < end && cost < maxCost);
    if (i == values.length) {
      endScan(id);
      return ScanStep.DONE;
    }
    scanCursor = i;
    return ScanStep.MORE;
  }

  // shiftBack moved this key from the unvisited part of the table to the visited part.
  private void movedBehindScan(long key) {
    if (movedCount == movedKeys.length) {
      if (movedCount == MAX_MOVED_KEYS) {
        restartScan();
        return;
      }
      movedKeys = Arrays.copyOf(movedKeys, Math.max(16, movedCount * 2));
    }
    movedKeys[movedCount++] = key;
  }

  private void restartScan() {
    scanCursor = 0;
    scanRestarted = true;
    movedKeys = NO_KEYS;
    movedCount = 0;
  }

  // The slot holding the key, or -1.
  private int find(long key) {
    int i = slot(key);
    while (true) {
      if (values[i] == null) {
        return -1;
      }
      if (keys[i] == key) {
        return i;
      }
      i = (i + 1) & mask;
    }
  }

  // Closes the gap by moving back any later entry of the same run that may not stay behind the
  // gap, so lookups never need tombstones. The whole rest of the run must be looked at, and with
  // whole blocks of consecutive keys a run can span several blocks, so the hash is computed once
  // per group of keys rather than once per slot.
  private void shiftBack(int gap) {
    int i = gap;
    long group = 0;
    long mixed = 0;
    boolean haveMix = false;
    while (true) {
      i = (i + 1) & mask;
      Object v = values[i];
      if (v == null) {
        break;
      }
      long k = keys[i];
      if (!haveMix || (k >>> GROUP_BITS) != group) {
        group = k >>> GROUP_BITS;
        mixed = mix(group);
        haveMix = true;
      }
      int home = slot(k, mixed);
      boolean movable = gap <= i ? (home <= gap || home > i) : (home <= gap && home > i);
      if (movable) {
        if (gap < scanCursor && i >= scanCursor) {
          movedBehindScan(k);
        }
        keys[gap] = k;
        values[gap] = v;
        gap = i;
      }
    }
    values[gap] = null;
    size--;
  }

  /** Checks (for tests) that every entry is reachable: no free slot between its home and it. */
  void checkInvariants() {
    int count = 0;
    for (int i = 0; i < values.length; i++) {
      if (values[i] == null) {
        continue;
      }
      count++;
      for (int j = slot(keys[i]); j != i; j = (j + 1) & mask) {
        if (values[j] == null) {
          throw new IllegalStateException("free slot " + j + " between the home and slot " + i);
        }
      }
    }
    if (count != size) {
      throw new IllegalStateException(count + " entries, size " + size);
    }
  }

  // The block comes from a strong mix of the key without its low bits (MurmurHash3's finalizer),
  // the position inside the block from twice the low bits plus a hashed offset, so a group fills
  // every other slot of its block in key order from a random place and a lone key lands anywhere.
  int slot(long key) {
    return slot(key, mix(key >>> GROUP_BITS));
  }

  private int slot(long key, long mixed) {
    int inBlock = ((int) (mixed >>> 48) + (((int) key & GROUP_MASK) << 1)) & BLOCK_MASK;
    return (((int) mixed << BLOCK_BITS) | inBlock) & mask;
  }

  private static long mix(long h) {
    h = (h ^ (h >>> 33)) * 0xFF51AFD7ED558CCDL;
    h = (h ^ (h >>> 33)) * 0xC4CEB9FE1A85EC53L;
    return h ^ (h >>> 33);
  }

  int capacity() {
    return values.length;
  }

  private void allocate(int capacity) {
    keys = new long[capacity];
    values = new Object[capacity];
    mask = capacity - 1;
    resizeAt = (int) (capacity * MAX_LOAD);
  }

  private void allocateAndRehash(int capacity) {
    long[] oldKeys = keys;
    Object[] oldValues = values;
    allocate(capacity);
    if (scanId != 0) {
      restartScan();
    }
    for (int i = 0; i < oldValues.length; i++) {
      Object v = oldValues[i];
      if (v != null) {
        rehashOne(oldKeys[i], v);
      }
    }
  }

  // put() for a key known to be absent, without counting or resizing.
  private void rehashOne(long key, Object value) {
    int i = slot(key);
    while (values[i] != null) {
      i = (i + 1) & mask;
    }
    keys[i] = key;
    values[i] = value;
  }
}
