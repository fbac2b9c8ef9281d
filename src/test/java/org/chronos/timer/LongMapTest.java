package org.chronos.timer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;

class LongMapTest {

  /** A timer id as {@link TimerIdGenerator} lays it out. */
  static long id(long millis, int node, int sequence) {
    return (millis << 30) | ((long) node << 20) | sequence;
  }

  @Test
  void shouldAgreeWithHashMapUnderRandomPutsAndRemoves() {
    LongMap<Long> map = new LongMap<>(4);
    Map<Long, Long> model = new HashMap<>();
    Random random = new Random(42);
    for (int i = 0; i < 200_000; i++) {
      // A small key space forces long probe runs, collisions and removals inside them.
      long key = random.nextInt(5000) * 0x100000000L;
      if (random.nextInt(3) == 0) {
        assertThat(map.remove(key)).isEqualTo(model.remove(key));
      } else {
        long value = random.nextLong();
        assertThat(map.put(key, value)).isEqualTo(model.put(key, value));
      }
    }
    assertThat(map.size()).isEqualTo(model.size());
    map.checkInvariants();
    for (long key = 0; key < 5000; key++) {
      assertThat(map.get(key * 0x100000000L)).isEqualTo(model.get(key * 0x100000000L));
    }
  }

  @Test
  void shouldAgreeWithHashMapOnTimerShapedKeysAtEveryDensity() {
    // One id per millisecond (no two keys share a block) up to a full block per millisecond and
    // beyond, on several nodes, so blocks fill, overflow into their neighbours and get emptied in
    // and out of order.
    for (int perMilli : new int[] {1, 3, 16, 17, 200}) {
      LongMap<Long> map = new LongMap<>(16);
      Map<Long, Long> model = new HashMap<>();
      long[] inserted = new long[100_000];
      int oldest = 0;
      Random random = new Random(perMilli);
      long millis = 1_700_000_000_000L;
      int sequence = 0;
      for (int i = 0; i < inserted.length; i++) {
        if (sequence == perMilli) {
          millis++;
          sequence = 0;
        }
        long key = id(millis, random.nextInt(3), sequence++);
        inserted[i] = key;
        assertThat(map.put(key, (long) i)).isEqualTo(model.put(key, (long) i));
        if (random.nextInt(4) != 0) {
          // Remove mostly in creation order (as expiry does), sometimes anywhere (as DELETE does;
          // possibly a key already gone).
          long victim;
          if (random.nextBoolean()) {
            while (!model.containsKey(inserted[oldest])) {
              oldest++;
            }
            victim = inserted[oldest];
          } else {
            victim = inserted[oldest + random.nextInt(i + 1 - oldest)];
          }
          assertThat(map.remove(victim)).isEqualTo(model.remove(victim));
        }
        if (i % 10_000 == 0) {
          map.checkInvariants();
        }
      }
      map.checkInvariants();
      assertThat(map.size()).isEqualTo(model.size());
      for (long key : inserted) {
        assertThat(map.get(key)).isEqualTo(model.get(key));
      }
      Set<Long> seen = new HashSet<>();
      map.forEachValue(seen::add);
      assertThat(seen).isEqualTo(new HashSet<>(model.values()));
    }
  }

  @Test
  void shouldRemoveOnlyTheSameValue() {
    LongMap<String> map = new LongMap<>(4);
    String a = new String("a");
    String equalToA = new String("a");
    map.put(7L, a);
    assertThat(map.remove(7L, equalToA)).isFalse(); // identity, not equals
    assertThat(map.remove(8L, a)).isFalse();
    assertThat(map.get(7L)).isSameAs(a);
    assertThat(map.remove(7L, a)).isTrue();
    assertThat(map.get(7L)).isNull();
    assertThat(map.size()).isZero();
    assertThat(map.remove(7L, a)).isFalse();
  }

  @Test
  void shouldKeepCollidingKeysReachableAcrossTheEndOfTheTableWhenOneIsRemoved() {
    LongMap<Long> map = new LongMap<>(4); // 16 slots
    int last = map.capacity() - 1;
    List<Long> colliding = new ArrayList<>();
    for (long key = 0; colliding.size() < 5; key++) {
      if (map.slot(key) == last) {
        colliding.add(key);
      }
    }
    // All five start at the last slot, so four of them wrap to slots 0-3.
    for (long key : colliding) {
      map.put(key, key);
    }
    for (int removed = 0; removed < colliding.size(); removed++) {
      long victim = colliding.get(removed);
      assertThat(map.remove(victim)).isEqualTo(victim);
      assertThat(map.get(victim)).isNull();
      for (long key : colliding.subList(removed + 1, colliding.size())) {
        assertThat(map.get(key)).as("key %d after removing %d", key, victim).isEqualTo(key);
      }
      assertThat(map.size()).isEqualTo(colliding.size() - removed - 1);
      map.checkInvariants();
    }
  }

  @Test
  void shouldMoveBackOnlyEntriesThatMayLeaveTheirPlace() {
    // Keys homed at slots 3, 3, 4, 5, 5: removing the first must move the second 3 back but must
    // not move an entry in front of its home slot.
    LongMap<Long> map = new LongMap<>(4);
    Map<Integer, List<Long>> byHome = new HashMap<>();
    for (long key = 0; byHome.values().stream().mapToInt(List::size).sum() < 40; key++) {
      int home = map.slot(key);
      if (home >= 3 && home <= 5) {
        byHome.computeIfAbsent(home, h -> new ArrayList<>()).add(key);
      }
    }
    List<Long> keys =
        List.of(
            byHome.get(3).get(0),
            byHome.get(3).get(1),
            byHome.get(4).get(0),
            byHome.get(5).get(0),
            byHome.get(5).get(1));
    for (long victim : keys) {
      LongMap<Long> m = new LongMap<>(4);
      keys.forEach(k -> m.put(k, k));
      assertThat(m.remove(victim)).isEqualTo(victim);
      for (long key : keys) {
        assertThat(m.get(key)).isEqualTo(key == victim ? null : key);
      }
      long fresh = byHome.get(4).get(1);
      m.put(fresh, fresh); // a later insert still finds a free place and everything stays found
      for (long key : keys) {
        assertThat(m.get(key)).isEqualTo(key == victim ? null : key);
      }
      assertThat(m.get(fresh)).isEqualTo(fresh);
      m.checkInvariants();
    }
  }

  @Test
  void shouldGrowFromTheSmallestTableToMillionsOfEntries() {
    LongMap<Long> map = new LongMap<>(1);
    assertThat(map.capacity()).isEqualTo(16);
    long millis = 1_700_000_000_000L;
    int n = 1_500_000;
    for (int i = 0; i < n; i++) {
      long key = id(millis + i / 16, 5, i % 16);
      assertThat(map.put(key, (long) i)).isNull();
    }
    assertThat(map.size()).isEqualTo(n);
    map.checkInvariants();
    assertThat(map.capacity()).isGreaterThanOrEqualTo((int) (n / 0.7f)).isLessThanOrEqualTo(4 * n);
    for (int i = 0; i < n; i++) {
      assertThat(map.get(id(millis + i / 16, 5, i % 16))).isEqualTo(i);
    }
    assertThat(map.get(id(millis, 6, 0))).isNull();
    for (int i = 0; i < n; i += 2) {
      assertThat(map.remove(id(millis + i / 16, 5, i % 16))).isEqualTo(i);
    }
    assertThat(map.size()).isEqualTo(n / 2);
    map.checkInvariants();
    for (int i = 1; i < n; i += 2) {
      assertThat(map.get(id(millis + i / 16, 5, i % 16))).isEqualTo(i);
    }
    map.clear();
    assertThat(map.size()).isZero();
    assertThat(map.get(id(millis, 5, 1))).isNull();
  }

  @Test
  void shouldPutConsecutiveIdsIntoOneBlockEveryOtherSlot() {
    LongMap<Long> map = new LongMap<>(1 << 20);
    int block = 1 << LongMap.BLOCK_BITS;
    int group = 1 << LongMap.GROUP_BITS;
    long millis = 1_700_000_000_000L;
    Set<Integer> blocks = new HashSet<>();
    for (long ms = millis; ms < millis + 1000; ms++) {
      int first = map.slot(id(ms, 3, 0));
      for (int sequence = 1; sequence < group; sequence++) {
        int slot = map.slot(id(ms, 3, sequence));
        assertThat(slot / block).isEqualTo(first / block);
        assertThat(Math.floorMod(slot - first, block)).isEqualTo(2 * sequence);
      }
      blocks.add(first / block);
    }
    // ...while different milliseconds go to different blocks (1000 of 65536: expect ~8 repeats).
    assertThat(blocks.size()).isGreaterThan(980);
  }

  @Test
  void shouldSpreadLoneIdsOverEverySlotOfTheirBlocks() {
    // One id per millisecond: all have sequence 0, yet they must not all start their blocks.
    LongMap<Long> map = new LongMap<>(1 << 16);
    int block = 1 << LongMap.BLOCK_BITS;
    int[] perOffset = new int[block];
    int[] perSlot = new int[map.capacity()];
    int n = 200_000;
    for (int i = 0; i < n; i++) {
      int slot = map.slot(id(1_700_000_000_000L + i, 1, 0));
      perOffset[slot % block]++;
      perSlot[slot]++;
    }
    for (int count : perOffset) {
      assertThat(count).isBetween(n / block * 9 / 10, n / block * 11 / 10);
    }
    int max = 0;
    for (int count : perSlot) {
      max = Math.max(max, count);
    }
    // ~1.5 keys per slot on average; a uniform hash puts at most ~12 in one slot here.
    assertThat(max).isLessThan(16);
  }

  @Test
  void shouldKeepEveryKeyFoundWhenBlocksCollide() {
    // Groups of keys whose blocks coincide (a 16-slot table has one block), inserted and removed
    // in every order: runs wrap around the end of the table and removals shift entries back.
    LongMap<Long> map = new LongMap<>(4); // 16 slots, one block: every group shares it
    List<Long> keys = new ArrayList<>();
    for (int group = 0; group < 3; group++) {
      for (int sequence = 0; sequence < 3; sequence++) {
        keys.add(id(1_700_000_000_000L + group, 0, sequence));
      }
    }
    Random random = new Random(3);
    for (int round = 0; round < 200; round++) {
      java.util.Collections.shuffle(keys, random);
      LongMap<Long> m = new LongMap<>(4);
      for (long key : keys) {
        assertThat(m.put(key, key)).isNull();
        m.checkInvariants();
      }
      for (long key : keys) {
        assertThat(m.get(key)).isEqualTo(key);
      }
      java.util.Collections.shuffle(keys, random);
      for (int removed = 0; removed < keys.size(); removed++) {
        assertThat(m.remove(keys.get(removed))).isEqualTo(keys.get(removed));
        m.checkInvariants();
        for (long key : keys.subList(removed + 1, keys.size())) {
          assertThat(m.get(key)).isEqualTo(key);
        }
      }
      assertThat(m.size()).isZero();
    }
    assertThat(map.size()).isZero();
  }

  /** A value that knows its key, one object per put, so a visit names the key and the put. */
  record Entry(long key, int version) {}

  @Test
  void shouldVisitEveryKeyPresentThroughoutAScanWhateverChangesBetweenSteps() {
    Random random = new Random(7);
    int restarts = 0;
    for (int round = 0; round < 20_000; round++) {
      // Small tables and a small key space: long runs, wrap-around at the end of the table and
      // backward shifts across the cursor between nearly every two steps.
      int keySpace = 8 + random.nextInt(40);
      boolean mayGrow = random.nextInt(8) == 0;
      LongMap<Entry> map = new LongMap<>(4);
      Map<Long, Entry> model = new HashMap<>();
      Set<Entry> everPut = java.util.Collections.newSetFromMap(new IdentityHashMap<>());
      int version = 0;
      int start = random.nextInt(12);
      for (int i = 0; i < start; i++) {
        long key = randomKey(random, keySpace);
        Entry e = new Entry(key, version++);
        map.put(key, e);
        model.put(key, e);
        everPut.add(e);
      }
      Set<Long> throughout = new HashSet<>(model.keySet());
      List<Entry> visited = new ArrayList<>();
      long scan = map.beginScan();
      while (true) {
        ScanStep step =
            map.scan(
                scan,
                1 + random.nextInt(4),
                1 + random.nextInt(3),
                e -> {
                  visited.add(e);
                  return 1;
                });
        if (step == ScanStep.DONE) {
          break;
        }
        if (step == ScanStep.RESTARTED) {
          visited.clear();
          restarts++;
        }
        for (int change = random.nextInt(4); change > 0; change--) {
          long key = randomKey(random, keySpace);
          if (random.nextBoolean()) {
            assertThat(map.remove(key)).isSameAs(model.remove(key));
            throughout.remove(key);
          } else if (mayGrow || model.containsKey(key) || model.size() < 11) {
            Entry e = new Entry(key, version++);
            assertThat(map.put(key, e)).isSameAs(model.put(key, e));
            everPut.add(e);
          }
        }
      }
      Set<Long> visitedKeys = new HashSet<>();
      for (Entry e : visited) {
        assertThat(everPut.contains(e)).as("a value never put: %s", e).isTrue();
        visitedKeys.add(e.key());
      }
      assertThat(visitedKeys).as("round %d", round).containsAll(throughout);
      map.checkInvariants();
    }
    assertThat(restarts).as("scans restarted by growth").isGreaterThan(100);
  }

  private static long randomKey(Random random, int keySpace) {
    // Some lone keys, some in groups sharing a block (as timer ids do).
    int k = random.nextInt(keySpace);
    return k < keySpace / 2 ? k * 0x100000000L : id(1_700_000_000_000L + k / 8, 0, k % 8);
  }

  @Test
  void shouldRestartTheScanWhenTheTableGrowsMidScan() {
    LongMap<Long> map = new LongMap<>(4);
    for (long key = 0; key < 10; key++) {
      map.put(key, key);
    }
    long scan = map.beginScan();
    assertThat(map.scan(scan, 8, Integer.MAX_VALUE, v -> 1)).isEqualTo(ScanStep.MORE);
    int capacity = map.capacity();
    for (long key = 10; map.capacity() == capacity; key++) {
      map.put(key, key);
    }
    List<Long> visited = new ArrayList<>();
    assertThat(
            map.scan(
                scan,
                8,
                Integer.MAX_VALUE,
                v -> {
                  visited.add(v);
                  return 1;
                }))
        .isEqualTo(ScanStep.RESTARTED);
    assertThat(visited).isEmpty();
    ScanStep step;
    do {
      step =
          map.scan(
              scan,
              8,
              Integer.MAX_VALUE,
              v -> {
                visited.add(v);
                return 1;
              });
    } while (step == ScanStep.MORE);
    assertThat(step).isEqualTo(ScanStep.DONE);
    Set<Long> all = new HashSet<>();
    map.forEachValue(all::add);
    assertThat(visited).containsExactlyInAnyOrderElementsOf(all);
  }

  @Test
  void shouldStopAStepOnceTheVisitorsCostsReachTheLimit() {
    LongMap<Long> map = new LongMap<>(64);
    for (long key = 0; key < 40; key++) {
      map.put(key * 0x100000000L, key);
    }
    long scan = map.beginScan();
    List<Long> visited = new ArrayList<>();
    int steps = 0;
    ScanStep step;
    do {
      int before = visited.size();
      step =
          map.scan(
              scan,
              map.capacity(),
              3,
              v -> {
                visited.add(v);
                return 1;
              });
      assertThat(visited.size() - before).isLessThanOrEqualTo(3);
      steps++;
    } while (step == ScanStep.MORE);
    assertThat(visited).hasSize(40).doesNotHaveDuplicates();
    assertThat(steps).isGreaterThanOrEqualTo(14);
  }

  @Test
  void shouldRefuseStepsOfAScanThatEndedOrWasReplaced() {
    LongMap<Long> map = new LongMap<>(4);
    map.put(1L, 1L);
    long first = map.beginScan();
    long second = map.beginScan();
    assertThatThrownBy(() -> map.scan(first, 1, 1, v -> 1))
        .isInstanceOf(IllegalStateException.class);
    map.endScan(first); // no longer under way: does nothing
    assertThat(map.scan(second, 1, 1, v -> 1)).isEqualTo(ScanStep.MORE);
    map.endScan(second);
    assertThatThrownBy(() -> map.scan(second, 1, 1, v -> 1))
        .isInstanceOf(IllegalStateException.class);
    long third = map.beginScan();
    assertThat(map.scan(third, map.capacity(), Integer.MAX_VALUE, v -> 1)).isEqualTo(ScanStep.DONE);
    assertThatThrownBy(() -> map.scan(third, 1, 1, v -> 1))
        .isInstanceOf(IllegalStateException.class);
  }

  @Test
  void shouldBoundWhatAnAbandonedScanRemembers() {
    // Two keys homed at the slot before the cursor: removing the first moves the second (which
    // sits at the cursor, unvisited) behind it, and the scan must remember it. Done over and over
    // with nobody stepping the scan, it stops remembering at a bound and restarts instead.
    LongMap<Long> map = new LongMap<>(4); // 16 slots
    int home = 7;
    List<Long> homed = keysHomedAt(map, home, 2);
    long scan = map.beginScan();
    assertThat(map.scan(scan, home + 1, Integer.MAX_VALUE, v -> 1)).isEqualTo(ScanStep.MORE);
    long a = homed.get(0);
    long b = homed.get(1);
    map.put(a, a);
    for (int i = 0; i < LongMap.MAX_MOVED_KEYS + 1; i++) {
      map.put(b, b); // the slot after its home, the cursor
      map.remove(a); // b moves back into its home, behind the cursor
      long swap = a;
      a = b;
      b = swap;
    }
    List<Long> visited = new ArrayList<>();
    assertThat(
            map.scan(
                scan,
                1,
                1,
                v -> {
                  visited.add(v);
                  return 1;
                }))
        .isEqualTo(ScanStep.RESTARTED);
    assertThat(visited).isEmpty();
  }

  @Test
  void shouldVisitAKeyMovedBehindTheCursorBetweenSteps() {
    LongMap<Long> map = new LongMap<>(4); // 16 slots
    int home = 7;
    List<Long> homed = keysHomedAt(map, home, 2);
    long a = homed.get(0);
    long b = homed.get(1);
    map.put(a, a); // slot 7
    map.put(b, b); // slot 8
    long scan = map.beginScan();
    List<Long> visited = new ArrayList<>();
    assertThat(
            map.scan(
                scan,
                home + 1,
                Integer.MAX_VALUE,
                v -> {
                  visited.add(v);
                  return 1;
                }))
        .isEqualTo(ScanStep.MORE);
    assertThat(visited).containsExactly(a); // slots 0-7
    map.remove(a); // b moves from slot 8 (not visited yet) to 7 (visited)
    assertThat(
            map.scan(
                scan,
                map.capacity(),
                Integer.MAX_VALUE,
                v -> {
                  visited.add(v);
                  return 1;
                }))
        .isEqualTo(ScanStep.DONE);
    assertThat(visited).containsExactly(a, b);
  }

  /** The first {@code count} keys (0, 1, 2...) whose home is the slot. */
  private static List<Long> keysHomedAt(LongMap<?> map, int home, int count) {
    List<Long> homed = new ArrayList<>();
    for (long key = 0; homed.size() < count; key++) {
      if (map.slot(key) == home) {
        homed.add(key);
      }
    }
    return homed;
  }
}
