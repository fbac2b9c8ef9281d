package org.chronos.timer;

import java.util.Arrays;
import java.util.function.Consumer;

/**
 * An open-addressing map from primitive long keys to values. NOT thread safe.
 *
 * <p>Exists because the timer index holds millions of entries and a {@code HashMap<Long, V>} spends
 * about 50 bytes of boxing and node overhead on each; this spends about 24 (two parallel arrays at
 * load factor 0.5-0.7). Linear probing with backward-shift deletion, so no tombstones.
 */
final class LongMap<V> {
  private static final float MAX_LOAD = 0.7f;

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
    int i = slot(key);
    while (true) {
      Object v = values[i];
      if (v == null) {
        return null;
      }
      if (keys[i] == key) {
        return (V) v;
      }
      i = (i + 1) & mask;
    }
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
    int i = slot(key);
    while (true) {
      Object v = values[i];
      if (v == null) {
        return null;
      }
      if (keys[i] == key) {
        shiftBack(i);
        size--;
        return (V) v;
      }
      i = (i + 1) & mask;
    }
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

  // Closes the gap at i by moving back any later entry of the same probe run that may not
  // stay behind the gap, so lookups never need tombstones.
  private void shiftBack(int gap) {
    int i = gap;
    while (true) {
      i = (i + 1) & mask;
      Object v = values[i];
      if (v == null) {
        break;
      }
      int home = slot(keys[i]);
      boolean movable = gap <= i ? (home <= gap || home > i) : (home <= gap && home > i);
      if (movable) {
        keys[gap] = keys[i];
        values[gap] = v;
        gap = i;
      }
    }
    values[gap] = null;
  }

  private int slot(long key) {
    long h = key * 0x9E3779B97F4A7C15L;
    return (int) (h ^ (h >>> 32)) & mask;
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
        int j = slot(oldKeys[i]);
        while (values[j] != null) {
          j = (j + 1) & mask;
        }
        keys[j] = oldKeys[i];
        values[j] = v;
      }
    }
  }
}
