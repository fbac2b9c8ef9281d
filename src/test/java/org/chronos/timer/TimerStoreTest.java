package org.chronos.timer;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class TimerStoreTest {
  static final long T0 = 1_000_000L;

  private final Map<String, Long> tagCounts = new HashMap<>();
  private final TimerStore store =
      new TimerStore(
          1,
          T0,
          new TimerStore.Listener() {
            @Override
            public void liveAdded(Timer timer) {
              timer.tags().forEach(t -> tagCounts.merge(t.type(), t.count(), Long::sum));
            }

            @Override
            public void liveRemoved(Timer timer) {
              timer.tags().forEach(t -> tagCounts.merge(t.type(), -t.count(), Long::sum));
            }
          });

  static Timer timer(long id, long intervalMs, long repeatForMs, List<Tag> tags) {
    return new Timer(
        id,
        2,
        T0,
        intervalMs,
        repeatForMs,
        0,
        "http://cb/x",
        "o".getBytes(StandardCharsets.UTF_8),
        tags);
  }

  private List<Timer> pollTo(long now) {
    List<Timer> due = new ArrayList<>();
    store.poll(
        now,
        t -> {
          if (!t.hasMorePops()) {
            store.expire(t);
          } else {
            due.add(t);
            store.popped(t, now);
          }
          return true;
        },
        1000);
    return due;
  }

  @Test
  void repeatingTimerPopsAtEachIntervalUntilRepeatForThenLeavesATombstoneForOneInterval() {
    store.put(timer(1, 1000, 3000, List.of()));
    assertThat(pollTo(T0 + 999)).isEmpty();
    for (int k = 1; k <= 3; k++) {
      List<Timer> due = pollTo(T0 + k * 1000L);
      assertThat(due).hasSize(1);
      assertThat(due.get(0).sequence()).isEqualTo(k);
    }
    assertThat(store.get(1).isTombstone()).isTrue();
    assertThat(store.liveCount()).isZero();
    assertThat(store.size()).isEqualTo(1);
    pollTo(T0 + 4000);
    assertThat(store.get(1)).isNull();
    assertThat(store.size()).isZero();
  }

  /**
   * A last pop's tombstone stored from another replica's news, which arrived late (after retries,
   * or the pop was made late): its would-be next pop has passed, but it is kept an interval from
   * when it was stored, so that late news of an earlier pop cannot bring the timer back.
   */
  @Test
  void aLastPopsTombstoneToldLateIsKeptAnIntervalFromWhenItIsStored() {
    Timer lastPop = timer(1, 1000, 1000, List.of()).toTombstone(T0, 1);
    long now = T0 + 5000; // its would-be next pop, T0 + 2000, has passed
    store.put(lastPop, now);
    pollTo(now + 999);
    assertThat(store.get(1)).as("kept until an interval from now").isSameAs(lastPop);
    pollTo(now + 1000);
    assertThat(store.get(1)).isNull();
  }

  /**
   * So is a client's deletion (sequence number 0) stored late: told after retries, or held again
   * when another site's copy from before it arrives; forgotten at once, a later copy of the timer
   * from before the deletion would bring it back.
   */
  @Test
  void aDeletionsTombstoneStoredLateIsKeptAnIntervalFromWhenItIsStored() {
    Timer deletion = timer(1, 1000, 1000, List.of()).toTombstone(T0);
    long now = T0 + 5000; // its start plus its interval has passed
    store.put(deletion, now);
    pollTo(now + 999);
    assertThat(store.get(1)).as("kept until an interval from now").isSameAs(deletion);
    pollTo(now + 1000);
    assertThat(store.get(1)).isNull();
  }

  @Test
  void replacingATimerCancelsTheOldVersion() {
    store.put(timer(7, 1000, 1000, List.of()));
    Timer replacement = timer(7, 5000, 5000, List.of());
    store.put(replacement);
    assertThat(pollTo(T0 + 4999)).isEmpty();
    assertThat(pollTo(T0 + 5000)).containsExactly(replacement);
    assertThat(store.size()).isEqualTo(1);
  }

  @Test
  void removeOnlyRemovesTheVersionItWasGiven() {
    Timer first = timer(9, 1000, 1000, List.of());
    store.put(first);
    Timer second = timer(9, 2000, 2000, List.of());
    store.put(second);
    assertThat(store.remove(first)).isFalse();
    assertThat(store.get(9)).isSameAs(second);
    assertThat(store.remove(second)).isTrue();
    assertThat(store.get(9)).isNull();
    assertThat(pollTo(T0 + 10_000)).isEmpty();
  }

  @Test
  void tagCountsFollowLiveTimersThroughReplaceTombstoneAndLastPop() {
    store.put(timer(1, 1000, 1000, List.of(new Tag("CALL", 2))));
    store.put(timer(2, 1000, 2000, List.of(new Tag("CALL", 1), new Tag("REG", 1))));
    assertThat(tagCounts).containsEntry("CALL", 3L).containsEntry("REG", 1L);
    store.put(store.get(2).toTombstone(T0));
    assertThat(tagCounts).containsEntry("CALL", 2L).containsEntry("REG", 0L);
    pollTo(T0 + 1000);
    assertThat(tagCounts).containsEntry("CALL", 0L);
  }

  @Test
  void zeroIntervalTimerPopsOnceImmediately() {
    store.put(timer(3, 0, 0, List.of()));
    List<Timer> due = pollTo(T0);
    assertThat(due).hasSize(1);
    assertThat(due.get(0).sequence()).isEqualTo(1);
    assertThat(pollTo(T0 + 60_000)).isEmpty();
    assertThat(store.size()).isZero();
  }

  @Test
  void repeatForBelowIntervalNeverPops() {
    Timer t = timer(4, 5000, 1000, List.of());
    assertThat(t.maxPops()).isZero();
    store.put(t);
    assertThat(store.liveCount()).isEqualTo(1);
    assertThat(pollTo(T0 + 60_000)).isEmpty();
    assertThat(store.size()).isZero();
    assertThat(store.liveCount()).isZero();
  }

  @Test
  void timerAtAReplicaPositionPopsLaterByItsDelay() {
    Timer t = timer(5, 1000, 1000, List.of());
    t.setPopDelayMillis(2000);
    store.put(t);
    assertThat(pollTo(T0 + 2999)).isEmpty();
    assertThat(pollTo(T0 + 3000)).hasSize(1);
  }

  /** Due timers handed out by a poll and set aside, as the timer thread does for a busy target. */
  private List<Timer> setAsideDueBy(long now) {
    List<Timer> aside = new ArrayList<>();
    store.poll(
        now,
        t -> {
          store.setAside(t);
          aside.add(t);
          return true;
        },
        1000);
    return aside;
  }

  /**
   * A timer set aside is still stored and counted until it is popped, rescheduled, replaced (by
   * another copy or by itself), removed or the store is cleared; and no poll hands it out again.
   */
  @Test
  void aTimerSetAsideIsCountedUntilItIsPoppedReplacedOrRemoved() {
    for (long id = 1; id <= 6; id++) {
      store.put(timer(id, 1000, 3000, List.of()));
    }
    List<Timer> aside = setAsideDueBy(T0 + 1000);
    assertThat(aside).hasSize(6);
    assertThat(store.asideCount()).isEqualTo(6);
    assertThat(aside).allMatch(Timer::isAside).noneMatch(Timer::isScheduled);
    assertThat(store.size()).isEqualTo(6);
    assertThat(setAsideDueBy(T0 + 5000)).as("not handed out again").isEmpty();

    Map<Long, Timer> byId = new HashMap<>();
    aside.forEach(t -> byId.put(t.id(), t));
    store.popped(byId.get(1L), T0 + 1000);
    store.reschedule(byId.get(2L), T0 + 1500);
    store.put(timer(3, 1000, 3000, List.of())); // another copy
    store.put(byId.get(4L)); // the same copy again
    store.remove(byId.get(5L));
    assertThat(store.asideCount()).isEqualTo(1);
    assertThat(byId.get(6L).isAside()).isTrue();
    assertThat(List.of(1L, 2L, 3L, 4L, 5L))
        .allMatch(id -> !byId.get(id).isAside(), "no longer aside");
    assertThat(List.of(1L, 2L, 3L, 4L))
        .allMatch(id -> store.get(id).isScheduled(), "back in the wheel");

    store.clear();
    assertThat(store.asideCount()).isZero();
    assertThat(byId.get(6L).isAside()).isFalse();
  }
}
