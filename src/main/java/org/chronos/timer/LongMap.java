package org.chronos.timer;

import java.util.Arrays;
import java.util.function.Consumer;

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
