package org.chronos.timer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class TimerWheelTest {

  static final class Item extends TimerWheel.Entry {
    final String name;

    Item(String name) {
      this.name = name;
    }

    @Override
    public String toString() {
      return name;
    }
  }

  private final List<Item> popped = new ArrayList<>();
  private final List<Long> poppedAt = new ArrayList<>();
  private long now;

  private int pollTo(TimerWheel<Item> wheel, long time) {
    now = time;
    return wheel.poll(
        time,
        e -> {
          popped.add(e);
          poppedAt.add(now);
          return true;
        },
        Integer.MAX_VALUE);
  }

  /** Adds {@code count} new items named prefix0, prefix1, ..., all due at {@code deadline}. */
  private static List<Item> addAll(
      TimerWheel<Item> wheel, String prefix, int count, long deadline) {
    List<Item> items = new ArrayList<>();
    for (int i = 0; i < count; i++) {
      Item item = new Item(prefix + i);
      items.add(item);
      wheel.add(item, deadline);
    }
    return items;
  }

  @Test
  void shouldNeverPopBeforeTheDeadline() {
    TimerWheel<Item> wheel = new TimerWheel<>(1, 1000);
    Item a = new Item("a");
    wheel.add(a, 1500);
    for (long t = 1000; t < 1500; t++) {
      pollTo(wheel, t);
      assertThat(popped).as("at %d", t).isEmpty();
    }
    pollTo(wheel, 1500);
    assertThat(popped).containsExactly(a);
    assertThat(a.isScheduled()).isFalse();
    assertThat(wheel.size()).isZero();
  }

  @Test
  void shouldPopManyTimersDueInTheSameTick() {
    TimerWheel<Item> wheel = new TimerWheel<>(1, 0);
    List<Item> items = addAll(wheel, "i", 10_000, 777);
    pollTo(wheel, 776);
    assertThat(popped).isEmpty();
    pollTo(wheel, 777);
    assertThat(popped).hasSize(10_000).containsExactlyInAnyOrderElementsOf(items);
  }

  @ParameterizedTest
  @ValueSource(
      longs = {
        1,
        254,
        255,
        256,
        257,
        511,
        512,
        65_535,
        65_536,
        65_537,
        16_777_215,
        16_777_216,
        16_777_217,
        4_294_967_295L,
        4_294_967_296L,
        1L << 40,
        (1L << 48) + 3
      })
  void shouldPopExactlyOnBucketEdgesAndAcrossLevels(long delay) {
    long start = 123_456_789L;
    TimerWheel<Item> wheel = new TimerWheel<>(1, start);
    Item item = new Item("edge");
    wheel.add(item, start + delay);
    pollTo(wheel, start + delay - 1);
    assertThat(popped).isEmpty();
    pollTo(wheel, start + delay);
    assertThat(popped).containsExactly(item);
  }

  @Test
  void shouldHandleMultipleRoundsWhenTimeAdvancesInSmallSteps() {
    TimerWheel<Item> wheel = new TimerWheel<>(1, 0);
    List<Long> deadlines = List.of(3L, 300L, 70_000L, 70_001L, 200_000L, 1_000_000L);
    for (long d : deadlines) {
      wheel.add(new Item("d" + d), d);
    }
    for (long t = 0; t <= 1_000_000; t += 7) {
      pollTo(wheel, t);
    }
    pollTo(wheel, 1_000_001);
    assertThat(popped).extracting(i -> i.deadline()).containsExactlyElementsOf(deadlines);
    for (int i = 0; i < popped.size(); i++) {
      assertThat(poppedAt.get(i))
          .isGreaterThanOrEqualTo(popped.get(i).deadline())
          .isLessThan(popped.get(i).deadline() + 7);
    }
  }

  @Test
  void shouldPopYearsLongTimersWhenTheClockLeapsAhead() {
    long year = 365L * 24 * 3600 * 1000;
    long start = 1_700_000_000_000L;
    TimerWheel<Item> wheel = new TimerWheel<>(1, start);
    Item tenYears = new Item("10y");
    Item oneYear = new Item("1y");
    wheel.add(tenYears, start + 10 * year);
    wheel.add(oneYear, start + year);
    pollTo(wheel, start + year - 1);
    assertThat(popped).isEmpty();
    pollTo(wheel, start + 5 * year);
    assertThat(popped).containsExactly(oneYear);
    pollTo(wheel, start + 10 * year - 1);
    assertThat(popped).containsExactly(oneYear);
    pollTo(wheel, start + 10 * year);
    assertThat(popped).containsExactly(oneYear, tenYears);
  }

  @Test
  void shouldPopInDeadlineOrderAcrossTicksEvenAfterALongPause() {
    TimerWheel<Item> wheel = new TimerWheel<>(1, 0);
    long[] deadlines = {90_000, 5, 256, 65_536, 1, 300, 70_000};
    for (long d : deadlines) {
      wheel.add(new Item("d" + d), d);
    }
    pollTo(wheel, 100_000);
    assertThat(popped).extracting(TimerWheel.Entry::deadline).isSorted().hasSize(deadlines.length);
  }

  @ParameterizedTest
  @ValueSource(longs = {10, 300, 70_000, 20_000_000, 5_000_000_000L})
  void shouldCancelAtEveryLevel(long delay) {
    TimerWheel<Item> wheel = new TimerWheel<>(1, 0);
    Item cancelled = new Item("cancelled");
    Item kept = new Item("kept");
    wheel.add(cancelled, delay);
    wheel.add(kept, delay);
    assertThat(wheel.cancel(cancelled)).isTrue();
    assertThat(wheel.cancel(cancelled)).isFalse();
    assertThat(wheel.size()).isEqualTo(1);
    pollTo(wheel, delay * 2);
    assertThat(popped).containsExactly(kept);
  }

  @Test
  void shouldCancelAnEntryThatIsDueButNotYetPolled() {
    TimerWheel<Item> wheel = new TimerWheel<>(1, 0);
    Item a = new Item("a");
    Item b = new Item("b");
    wheel.add(a, 5);
    wheel.add(b, 5);
    wheel.poll(
        10,
        e -> {
          popped.add(e);
          return true;
        },
        1);
    Item remaining = popped.get(0) == a ? b : a;
    assertThat(remaining.isScheduled()).isTrue();
    assertThat(wheel.cancel(remaining)).isTrue();
    pollTo(wheel, 20);
    assertThat(popped).hasSize(1);
  }

  @Test
  void shouldMoveAnEntryWhenItIsCancelledAndAddedAgain() {
    TimerWheel<Item> wheel = new TimerWheel<>(1, 0);
    Item a = new Item("a");
    wheel.add(a, 100_000);
    wheel.cancel(a);
    wheel.add(a, 50);
    pollTo(wheel, 50);
    assertThat(popped).containsExactly(a);
    pollTo(wheel, 200_000);
    assertThat(popped).containsExactly(a);
  }

  @Test
  void shouldRefuseToScheduleAnEntryTwice() {
    TimerWheel<Item> wheel = new TimerWheel<>(1, 0);
    Item a = new Item("a");
    wheel.add(a, 10);
    assertThatThrownBy(() -> wheel.add(a, 20)).isInstanceOf(IllegalStateException.class);
  }

  @Test
  void shouldStopAtTheLimitAndContinueOnTheNextPoll() {
    TimerWheel<Item> wheel = new TimerWheel<>(1, 0);
    for (int i = 0; i < 10; i++) {
      wheel.add(new Item("i" + i), i + 1);
    }
    List<Item> got = new ArrayList<>();
    assertThat(wheel.poll(100, e -> got.add(e), 4)).isEqualTo(4);
    assertThat(got).hasSize(4);
    assertThat(wheel.poll(100, e -> got.add(e), 100)).isEqualTo(6);
    assertThat(got)
        .extracting(TimerWheel.Entry::deadline)
        .containsExactly(1L, 2L, 3L, 4L, 5L, 6L, 7L, 8L, 9L, 10L);
  }

  @Test
  void shouldKeepARefusedEntryDueAndOfferItFirstNextTime() {
    TimerWheel<Item> wheel = new TimerWheel<>(1, 0);
    Item first = new Item("first");
    Item second = new Item("second");
    wheel.add(first, 1);
    wheel.add(second, 2);
    assertThat(wheel.poll(10, e -> false, 10)).isZero();
    assertThat(first.isScheduled()).isTrue();
    assertThat(wheel.size()).isEqualTo(2);
    assertThat(wheel.nextWorkMillis()).isLessThanOrEqualTo(10);
    assertThat(wheel.oldestReadyDeadline()).isEqualTo(1);
    pollTo(wheel, 10);
    assertThat(popped).containsExactly(first, second);
  }

  @Test
  void shouldLetTheHandlerRescheduleTheEntryItWasHanded() {
    TimerWheel<Item> wheel = new TimerWheel<>(1, 0);
    Item repeating = new Item("repeating");
    wheel.add(repeating, 1000);
    List<Long> pops = new ArrayList<>();
    for (long t = 0; t <= 5000; t += 100) {
      long at = t;
      wheel.poll(
          t,
          e -> {
            pops.add(at);
            if (pops.size() < 5) {
              wheel.add(e, e.deadline() + 1000);
            }
            return true;
          },
          100);
    }
    assertThat(pops).containsExactly(1000L, 2000L, 3000L, 4000L, 5000L);
    assertThat(wheel.size()).isZero();
  }

  @Test
  void shouldRoundDeadlinesUpToTheTickSoPopsAreNeverEarly() {
    TimerWheel<Item> wheel = new TimerWheel<>(10, 0);
    Item a = new Item("a");
    wheel.add(a, 15);
    pollTo(wheel, 15);
    pollTo(wheel, 19);
    assertThat(popped).isEmpty();
    pollTo(wheel, 20);
    assertThat(popped).containsExactly(a);
  }

  @ParameterizedTest(name = "tick {0} ms")
  @ValueSource(longs = {1, 8, 10, 1024})
  void shouldPopAtTheFirstTickAtOrAfterTheDeadlineWhateverTheTickSize(long tick) {
    long start = 3 * tick + 1;
    TimerWheel<Item> wheel = new TimerWheel<>(tick, start);
    Item onEdge = new Item("onEdge");
    Item pastEdge = new Item("pastEdge");
    wheel.add(onEdge, 700 * tick);
    wheel.add(pastEdge, 700 * tick + 1);
    pollTo(wheel, 700 * tick - 1);
    assertThat(popped).isEmpty();
    pollTo(wheel, 700 * tick);
    assertThat(popped).containsExactly(onEdge);
    pollTo(wheel, 701 * tick - 1);
    assertThat(popped).containsExactly(onEdge);
    pollTo(wheel, 701 * tick);
    assertThat(popped).containsExactly(onEdge, pastEdge);
  }

  @ParameterizedTest(name = "tick {0} ms")
  @ValueSource(longs = {1, 8, 10})
  void shouldHoldDeadlinesNearTheEndOfTimeWithoutOverflowing(long tick) {
    TimerWheel<Item> wheel = new TimerWheel<>(tick, 0);
    Item last = new Item("last");
    wheel.add(last, Long.MAX_VALUE - 1);
    pollTo(wheel, Long.MAX_VALUE / 2);
    assertThat(popped).isEmpty();
    assertThat(wheel.nextWorkMillis()).isPositive();
    assertThat(last.isScheduled()).isTrue();
  }

  @Test
  void shouldPopAnEntryAddedInThePastAtTheNextPoll() {
    TimerWheel<Item> wheel = new TimerWheel<>(1, 0);
    pollTo(wheel, 10_000);
    Item late = new Item("late");
    wheel.add(late, 5);
    assertThat(wheel.nextWorkMillis()).isEqualTo(10_000);
    pollTo(wheel, 10_000);
    assertThat(popped).containsExactly(late);
  }

  @Test
  void shouldReportWhenItNextHasWork() {
    TimerWheel<Item> wheel = new TimerWheel<>(1, 0);
    assertThat(wheel.nextWorkMillis()).isEqualTo(Long.MAX_VALUE);
    wheel.add(new Item("a"), 100);
    assertThat(wheel.nextWorkMillis()).isBetween(1L, 100L);
    pollTo(wheel, 99);
    assertThat(wheel.nextWorkMillis()).isEqualTo(100);
  }

  @Test
  void shouldNameTheBadValueInConstructorErrors() {
    assertThatThrownBy(() -> new TimerWheel<Item>(0, 0))
        .hasMessageContaining("tickMillis")
        .hasMessageContaining("0");
    assertThatThrownBy(() -> new TimerWheel<Item>(1, -5)).hasMessageContaining("-5");
  }

  @Test
  void shouldHandOutEverythingHeldWhenDrained() {
    TimerWheel<Item> wheel = new TimerWheel<>(1, 0);
    for (int i = 0; i < 100; i++) {
      wheel.add(new Item("i" + i), i * 1000L);
    }
    List<Item> drained = new ArrayList<>();
    wheel.drain(drained::add);
    assertThat(drained).hasSize(100);
    assertThat(wheel.size()).isZero();
    assertThat(wheel.nextWorkMillis()).isEqualTo(Long.MAX_VALUE);
  }

  @Test
  void shouldCancelTheRightDueEntriesAfterTheDueListIsCompacted() {
    TimerWheel<Item> wheel = new TimerWheel<>(1, 100);
    List<Item> due = new ArrayList<>();
    for (int i = 0; i < 8; i++) {
      Item item = new Item("due" + i);
      due.add(item);
      wheel.add(item, 50 + i);
    }
    List<Item> got = new ArrayList<>();
    assertThat(wheel.poll(100, got::add, 5)).isEqualTo(5);
    // Three due entries left at the back of the due list; one more moves them to its front.
    Item late = new Item("late");
    wheel.add(late, 99);
    assertThat(wheel.cancel(due.get(6))).isTrue();
    assertThat(wheel.cancel(late)).isTrue();
    pollTo(wheel, 100);
    assertThat(popped).containsExactly(due.get(5), due.get(7));
    assertThat(wheel.size()).isZero();
  }

  @Test
  void shouldNotGrowTheDueListWhileDueEntriesAreUpdatedAndCallbacksPushBack() {
    TimerWheel<Item> wheel = new TimerWheel<>(1, 1000);
    List<Item> due = addAll(wheel, "due", 100, 500);
    // Callbacks push back (every pop refused), while clients keep updating timers already due:
    // each update cancels one and makes it due again.
    assertThat(wheel.poll(1000, e -> false, 10)).isZero();
    SplittableRandom random = new SplittableRandom(3);
    for (int i = 0; i < 100_000; i++) {
      Item item = due.get(random.nextInt(due.size()));
      wheel.cancel(item);
      wheel.add(item, 900);
    }
    assertThat(wheel.size()).isEqualTo(100);
    assertThat(wheel.readyCapacity()).isLessThanOrEqualTo(512);
    pollTo(wheel, 1000);
    assertThat(popped).containsExactlyInAnyOrderElementsOf(due);
  }

  @Test
  void shouldCancelTheRightEntryAfterARefusedOneWentBackInFront() {
    TimerWheel<Item> wheel = new TimerWheel<>(1, 0);
    Item refusedOne = new Item("refused");
    Item addedByHandler = new Item("added by the handler");
    Item other = new Item("other");
    wheel.add(refusedOne, 5);
    assertThat(
            wheel.poll(
                10,
                e -> {
                  // The due list is empty now; the handler makes two more entries due, then
                  // refuses the one it was handed, which goes back in front of them.
                  wheel.add(addedByHandler, 3);
                  wheel.add(other, 4);
                  return false;
                },
                10))
        .isZero();
    assertThat(wheel.oldestReadyDeadline()).isEqualTo(5);
    assertThat(wheel.cancel(addedByHandler)).isTrue();
    pollTo(wheel, 10);
    assertThat(popped).containsExactly(refusedOne, other);
    assertThat(wheel.size()).isZero();
  }

  /**
   * Random adds, cancels, polls with small limits, refusals and handler re-adds against a model
   * (the set of scheduled entries and their deadlines): nothing comes out early, nothing due stays
   * in after a poll that stopped for no limit or refusal, nothing cancelled comes out, and a
   * refused entry comes out first next time. Thousands of entries share a few slots, so cancels
   * move a slot's last entry into holes, due entries pile up in the ready array with holes, and
   * slot arrays grow and shrink.
   */
  @ParameterizedTest
  @ValueSource(longs = {1, 10})
  void shouldMatchAModelUnderRandomAddsCancelsAndPolls(long tick) {
    SplittableRandom random = new SplittableRandom(tick * 31 + 7);
    TimerWheel<Item> wheel = new TimerWheel<>(tick, 0);
    Map<Item, Long> model = new IdentityHashMap<>();
    List<Item> all = new ArrayList<>();
    for (int i = 0; i < 4000; i++) {
      all.add(new Item("i" + i));
    }
    long time = 0;
    Item refused = null;
    for (int step = 0; step < 60_000; step++) {
      int op = random.nextInt(10);
      Item item = all.get(random.nextInt(all.size()));
      if (op < 5) {
        if (!item.isScheduled()) {
          // Mostly a few slots ahead, sometimes far ahead, sometimes already past.
          long deadline =
              switch (random.nextInt(4)) {
                case 0 -> time + random.nextLong(50);
                case 1 -> time + random.nextLong(5_000);
                case 2 -> time + random.nextLong(2_000_000);
                default -> Math.max(0, time - random.nextLong(100));
              };
          wheel.add(item, deadline);
          model.put(item, deadline);
        }
      } else if (op < 8) {
        assertThat(wheel.cancel(item)).isEqualTo(model.remove(item) != null);
        if (item == refused) {
          refused = null;
        }
      } else {
        time += random.nextLong(tick * 30);
        long now = time;
        int limit = random.nextInt(4) == 0 ? 1 + random.nextInt(20) : Integer.MAX_VALUE;
        Item expectFirst = refused;
        refused = null;
        List<Item> out = new ArrayList<>();
        Item[] lastRefused = {null};
        int accepted =
            wheel.poll(
                now,
                e -> {
                  assertThat(model.get(e))
                      .as("deadline of %s", e)
                      .isNotNull()
                      .isLessThanOrEqualTo(now);
                  if (out.isEmpty() && expectFirst != null) {
                    assertThat(e)
                        .as("the entry refused last time comes first")
                        .isSameAs(expectFirst);
                  }
                  if (random.nextInt(50) == 0) {
                    lastRefused[0] = e;
                    return false;
                  }
                  out.add(e);
                  model.remove(e);
                  if (random.nextInt(5) == 0) {
                    // A repeating timer: scheduled again from the handler, sometimes already due.
                    long next = Math.max(0, now + random.nextLong(-20, 3_000));
                    wheel.add(e, next);
                    model.put(e, next);
                  }
                  return true;
                },
                limit);
        assertThat(accepted).isEqualTo(out.size());
        refused = lastRefused[0];
        if (refused == null && accepted < limit) {
          long floorNow = now / tick * tick;
          // Everything due by the start of the current tick came out, including entries a
          // handler made due again during this poll.
          for (Map.Entry<Item, Long> e : model.entrySet()) {
            assertThat(e.getValue())
                .as("%s left in after a poll to %d", e.getKey(), now)
                .isGreaterThan(floorNow);
          }
          assertThat(wheel.oldestReadyDeadline()).isEqualTo(Long.MAX_VALUE);
        }
      }
      assertThat(wheel.size()).isEqualTo(model.size());
    }
    List<Item> drained = new ArrayList<>();
    wheel.drain(drained::add);
    assertThat(drained).containsExactlyInAnyOrderElementsOf(model.keySet());
    assertThat(wheel.size()).isZero();
  }
}
