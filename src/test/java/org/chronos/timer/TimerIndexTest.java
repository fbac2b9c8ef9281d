package org.chronos.timer;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;

class TimerIndexTest {

  static long id(long millis, int node, int sequence) {
    return (millis << 30) | ((long) node << 20) | sequence;
  }

  static Timer timer(long id) {
    return new Timer(id, 2, 0, 1000, 1000, 0, "http://cb/x", new byte[0], List.of());
  }

  @Test
  void shouldKeepALoneIdWithoutAGroupArrayAndFindOnlyThatId() {
    TimerIndex index = new TimerIndex();
    long id = id(1_700_000_000_000L, 1, 0);
    Timer t = timer(id);

    assertThat(index.put(t)).isNull();

    assertThat(index.get(id)).isSameAs(t);
    assertThat(index.get(id + 1)).isNull(); // same group, not held
    assertThat(index.size()).isEqualTo(1);
    assertThat(index.groupCount()).isEqualTo(1);
    assertThat(index.remove(id)).isSameAs(t);
    assertThat(index.get(id)).isNull();
    assertThat(index.size()).isZero();
    assertThat(index.groupCount()).isZero();
  }

  @Test
  void shouldHoldConsecutiveIdsInOneGroupUntilTheLastLeaves() {
    TimerIndex index = new TimerIndex();
    long first = id(1_700_000_000_000L, 1, 8);
    List<Timer> timers = new ArrayList<>();
    for (int i = 0; i < TimerIndex.GROUP_SIZE; i++) {
      Timer t = timer(first + i);
      timers.add(t);
      assertThat(index.put(t)).isNull();
    }
    assertThat(index.groupCount()).isEqualTo(1);
    assertThat(index.size()).isEqualTo(TimerIndex.GROUP_SIZE);

    for (int i = 0; i < TimerIndex.GROUP_SIZE - 1; i++) {
      assertThat(index.remove(timers.get(i))).isTrue();
      assertThat(index.get(first + i)).isNull();
      assertThat(index.groupCount()).isEqualTo(1);
    }
    Timer last = timers.get(TimerIndex.GROUP_SIZE - 1);
    assertThat(index.get(last.id())).isSameAs(last);
    assertThat(index.remove(last)).isTrue();
    assertThat(index.groupCount()).isZero();
    assertThat(index.size()).isZero();
  }

  @Test
  void shouldReplaceTheTimerWithTheSameIdAloneOrInAGroup() {
    TimerIndex index = new TimerIndex();
    long a = id(1_700_000_000_000L, 1, 0);
    Timer a1 = timer(a);
    Timer a2 = timer(a);
    index.put(a1);
    assertThat(index.put(a2)).isSameAs(a1); // lone
    assertThat(index.get(a)).isSameAs(a2);

    Timer b1 = timer(a + 1);
    Timer b2 = timer(a + 1);
    index.put(b1);
    assertThat(index.put(b2)).isSameAs(b1); // in the group array
    assertThat(index.get(a + 1)).isSameAs(b2);
    assertThat(index.get(a)).isSameAs(a2);
    assertThat(index.size()).isEqualTo(2);
  }

  @Test
  void shouldRemoveOnlyTheVeryTimerIndexed() {
    TimerIndex index = new TimerIndex();
    long a = id(1_700_000_000_000L, 1, 0);
    Timer held = timer(a);
    index.put(held);

    assertThat(index.remove(timer(a))).isFalse(); // same id, another object
    assertThat(index.remove(timer(a + 1))).isFalse(); // same group, not held
    assertThat(index.get(a)).isSameAs(held);

    Timer neighbour = timer(a + 1);
    index.put(neighbour);
    assertThat(index.remove(timer(a + 1))).isFalse();
    assertThat(index.remove(timer(a + 2))).isFalse();
    assertThat(index.size()).isEqualTo(2);
    assertThat(index.remove(neighbour)).isTrue();
    assertThat(index.remove(held)).isTrue();
    assertThat(index.size()).isZero();
  }

  @Test
  void shouldAgreeWithHashMapUnderRandomPutsAndRemovesAtEveryDensity() {
    // From one id per millisecond (every group alone) to dense groups on several nodes.
    for (int perMilli : new int[] {1, 3, 8, 17, 200}) {
      TimerIndex index = new TimerIndex();
      Map<Long, Timer> model = new HashMap<>();
      List<Long> known = new ArrayList<>();
      Random random = new Random(perMilli);
      long millis = 1_700_000_000_000L;
      int sequence = 0;
      for (int i = 0; i < 100_000; i++) {
        int op = random.nextInt(10);
        if (op < 5 || known.isEmpty()) {
          if (sequence == perMilli) {
            millis++;
            sequence = 0;
          }
          long id = id(millis, random.nextInt(3), sequence++);
          Timer t = timer(id);
          assertThat(index.put(t)).isSameAs(model.put(id, t));
          known.add(id);
        } else if (op < 7) {
          long id = known.get(random.nextInt(known.size()));
          Timer t = timer(id);
          assertThat(index.put(t)).isSameAs(model.put(id, t));
        } else if (op < 9) {
          long id = known.get(random.nextInt(known.size()));
          assertThat(index.remove(id)).isSameAs(model.remove(id));
        } else {
          long id = known.get(random.nextInt(known.size()));
          assertThat(index.get(id)).isSameAs(model.get(id));
        }
      }
      assertThat(index.size()).isEqualTo(model.size());
      Map<Long, Timer> listed = new HashMap<>();
      index.forEach(t -> assertThat(listed.put(t.id(), t)).isNull());
      assertThat(listed).isEqualTo(model);
      for (long id : known) {
        assertThat(index.get(id)).isSameAs(model.get(id));
      }
      index.clear();
      assertThat(index.size()).isZero();
      assertThat(index.get(known.get(0))).isNull();
    }
  }

  @Test
  void shouldHandOverEveryTimerHeldThroughoutAScanWhateverChangesBetweenSteps() {
    Random random = new Random(11);
    int restarts = 0;
    for (int round = 0; round < 100; round++) {
      // Ids in full groups, part groups and alone, about as many groups as the index's first
      // table holds, so runs are long and some rounds grow the table mid-scan.
      List<Long> pool = new ArrayList<>();
      long millis = 1_700_000_000_000L;
      while (pool.size() < 6000) {
        int perMilli = random.nextInt(3) == 0 ? 1 + random.nextInt(8) : 1;
        for (int sequence = 0; sequence < perMilli; sequence++) {
          pool.add(id(millis, 1, sequence));
        }
        millis++;
      }
      TimerIndex index = new TimerIndex();
      Map<Long, Timer> model = new HashMap<>();
      Set<Timer> everPut = Collections.newSetFromMap(new IdentityHashMap<>());
      // Mostly as many puts as removals between steps; every fourth round mostly puts, from a
      // table not yet grown, so that it grows mid-scan.
      boolean growing = round % 4 == 0;
      int start = growing ? 2500 : 2000 + random.nextInt(2000);
      for (int i = 0; i < start; i++) {
        Timer t = timer(pool.get(random.nextInt(pool.size())));
        index.put(t);
        model.put(t.id(), t);
        everPut.add(t);
      }
      Set<Long> throughout = new HashSet<>(model.keySet());
      List<Timer> visited = new ArrayList<>();
      long scan = index.beginScan();
      while (true) {
        ScanStep step =
            index.scan(scan, 1 + random.nextInt(40), 1 + random.nextInt(20), visited::add);
        if (step == ScanStep.DONE) {
          break;
        }
        if (step == ScanStep.RESTARTED) {
          visited.clear();
          restarts++;
        }
        for (int change = random.nextInt(growing ? 20 : 12); change > 0; change--) {
          long id = pool.get(random.nextInt(pool.size()));
          if (random.nextInt(4) < (growing ? 1 : 2)) {
            for (int tries = 0; tries < 4 && !model.containsKey(id); tries++) {
              id = pool.get(random.nextInt(pool.size())); // rather one held
            }
            assertThat(index.remove(id)).isSameAs(model.remove(id));
            throughout.remove(id);
          } else {
            Timer t = timer(id);
            assertThat(index.put(t)).isSameAs(model.put(id, t));
            everPut.add(t);
          }
        }
      }
      Set<Long> visitedIds = new HashSet<>();
      for (Timer t : visited) {
        assertThat(everPut.contains(t)).as("a timer never put: %s", t.id()).isTrue();
        visitedIds.add(t.id());
      }
      assertThat(visitedIds).as("round %d", round).containsAll(throughout);
    }
    assertThat(restarts).as("scans restarted by growth").isPositive();
  }
}
