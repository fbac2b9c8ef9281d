package org.chronos.timer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.List;
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
    List<Item> items = new ArrayList<>();
    for (int i = 0; i < 10_000; i++) {
      Item item = new Item("i" + i);
      items.add(item);
      wheel.add(item, 777);
    }
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
}
