package org.chronos.stats;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.chronos.stats.TagWindowStats.LONG_WINDOW_MILLIS;
import static org.chronos.stats.TagWindowStats.SHORT_WINDOW_MILLIS;

import com.codahale.metrics.Gauge;
import com.codahale.metrics.MetricRegistry;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.chronos.stats.TagWindowStats.Period;
import org.chronos.testing.ManualClock;
import org.chronos.timer.Tag;
import org.chronos.timer.Timer;
import org.chronos.timer.TimerStore;
import org.junit.jupiter.api.Test;

/** Known sequences of counts on a hand-advanced clock give exactly the expected statistics. */
class TagWindowStatsTest {
  /** A multiple of both window lengths, so both windows' periods start here. */
  private static final long T0 = 5_700_000L * LONG_WINDOW_MILLIS;

  private final ManualClock clock = new ManualClock(T0);
  private final MetricRegistry registry = new MetricRegistry();
  private final TagWindowStats stats = new TagWindowStats(clock, registry);

  private void at(long offsetMillis, String tag, long count) {
    clock.set(T0 + offsetMillis);
    stats.countChanged(tag, count);
  }

  private Period shortPeriod(String tag) {
    return stats.lastPeriod(tag, SHORT_WINDOW_MILLIS);
  }

  private Period longPeriod(String tag) {
    return stats.lastPeriod(tag, LONG_WINDOW_MILLIS);
  }

  @Test
  void theLastCompletedPeriodIsTimeWeighted() {
    at(0, "CALL", 2);
    at(1250, "CALL", 4);
    at(3750, "CALL", 1);
    clock.set(T0 + 5000);

    // 2 for 1250 ms, 4 for 2500 ms, 1 for 1250 ms.
    assertThat(shortPeriod("CALL")).isEqualTo(new Period(T0, 5000, 2.75, 4, 1, 1.6875));
  }

  @Test
  void beforeAnyPeriodCompletesThePreviousOneIsReportedAsZeros() {
    at(0, "CALL", 7);
    clock.set(T0 + 4999);

    assertThat(shortPeriod("CALL")).isEqualTo(new Period(T0 - 5000, 5000, 0, 0, 0, 0));
    assertThat(longPeriod("CALL")).isEqualTo(new Period(T0 - 300_000, 300_000, 0, 0, 0, 0));
  }

  @Test
  void changesInTheCurrentPeriodShowOnlyAfterItEnds() {
    at(0, "CALL", 2);
    at(2500, "CALL", 6);
    clock.set(T0 + 5000);
    Period first = shortPeriod("CALL");

    at(6250, "CALL", 102);
    clock.set(T0 + 9999);
    assertThat(shortPeriod("CALL")).isEqualTo(first).isEqualTo(new Period(T0, 5000, 4, 6, 2, 4));

    clock.set(T0 + 10_000);
    // 6 for 1250 ms carried in, then 102 for 3750 ms.
    assertThat(shortPeriod("CALL")).isEqualTo(new Period(T0 + 5000, 5000, 78, 102, 6, 1728));
  }

  @Test
  void theCountCarriedIntoAPeriodCountsForItsMarks() {
    at(0, "CALL", 10);
    at(5000, "CALL", 10); // no change of value at the boundary
    at(7500, "CALL", 12);
    clock.set(T0 + 10_000);

    assertThat(shortPeriod("CALL")).isEqualTo(new Period(T0 + 5000, 5000, 11, 12, 10, 1));
  }

  @Test
  void aTagCreatedMidPeriodWasZeroBefore() {
    at(1000, "REG", 5);
    clock.set(T0 + 5000);

    // 0 for 1000 ms, 5 for 4000 ms.
    assertThat(shortPeriod("REG")).isEqualTo(new Period(T0, 5000, 4, 5, 0, 4));
  }

  @Test
  void aCountHeldForNoTimeDoesNotMoveTheMarks() {
    at(0, "CALL", 3);
    // A replaced timer: its old tags leave and its new ones arrive in the same millisecond.
    at(2500, "CALL", 0);
    at(2500, "CALL", 3);
    at(2500, "CALL", 9);
    at(2500, "CALL", 3);
    clock.set(T0 + 5000);

    assertThat(shortPeriod("CALL")).isEqualTo(new Period(T0, 5000, 3, 3, 3, 0));
  }

  @Test
  void aReplacedTimerFedThroughTheStoreListenerDoesNotDip() {
    TagCounts counts = new TagCounts(registry);
    TimerStore.Listener listener = stats.after(counts);
    Timer before = timer(1, new Tag("CALL", 2));
    Timer after = timer(1, new Tag("CALL", 3));
    listener.liveAdded(before);
    clock.set(T0 + 2500);
    listener.liveRemoved(before);
    listener.liveAdded(after);
    clock.set(T0 + 5000);

    assertThat(counts.count("CALL")).isEqualTo(3);
    assertThat(shortPeriod("CALL")).isEqualTo(new Period(T0, 5000, 2.5, 3, 2, 0.25));
  }

  @Test
  void anIdleTagKeepsReportingItsLastCount() {
    at(0, "CALL", 4);
    at(1000, "CALL", 8);
    clock.set(T0 + 3_600_000 + 1234);

    assertThat(shortPeriod("CALL")).isEqualTo(new Period(T0 + 3_600_000 - 5000, 5000, 8, 8, 8, 0));
    assertThat(longPeriod("CALL"))
        .isEqualTo(new Period(T0 + 3_600_000 - 300_000, 300_000, 8, 8, 8, 0));
  }

  @Test
  void aGapOfExactlyOnePeriodReportsThePeriodWithTheChange() {
    at(0, "CALL", 4);
    at(2500, "CALL", 8);
    clock.set(T0 + 9999); // the next period is not over yet

    assertThat(shortPeriod("CALL")).isEqualTo(new Period(T0, 5000, 6, 8, 4, 4));
    clock.set(T0 + 10_000);
    assertThat(shortPeriod("CALL")).isEqualTo(new Period(T0 + 5000, 5000, 8, 8, 8, 0));
  }

  @Test
  void theLongWindowAggregatesFiveMinutes() {
    at(0, "CALL", 2);
    at(75_000, "CALL", 6);
    at(225_000, "CALL", 2);
    clock.set(T0 + 300_000);

    // 2 for a quarter, 6 for a half, 2 for a quarter.
    assertThat(longPeriod("CALL")).isEqualTo(new Period(T0, 300_000, 4, 6, 2, 4));
    // Meanwhile the short window saw only the last 5 s.
    assertThat(shortPeriod("CALL")).isEqualTo(new Period(T0 + 295_000, 5000, 2, 2, 2, 0));
  }

  @Test
  void largeCountsKeepAnExactVariance() {
    long big = 1_000_000_000_000L;
    at(0, "CALL", big);
    clock.set(T0 + 5000);
    at(5000, "CALL", big + 1);
    at(7500, "CALL", big);
    clock.set(T0 + 10_000);

    Period p = shortPeriod("CALL");
    assertThat(p.average()).isEqualTo(big + 0.5);
    assertThat(p.variance()).isEqualTo(0.25);
    assertThat(p.hwm()).isEqualTo(big + 1);
    assertThat(p.lwm()).isEqualTo(big);
  }

  @Test
  void aClockThatStepsBackMakesTimeStandStill() {
    at(0, "CALL", 2);
    at(2500, "CALL", 4);
    clock.set(T0 + 1000); // stepped back: the change is taken as at 2500
    stats.countChanged("CALL", 6);
    clock.set(T0 + 5000);

    assertThat(shortPeriod("CALL")).isEqualTo(new Period(T0, 5000, 4, 6, 2, 4));
  }

  @Test
  void manyTagsAreKeptApartAndEachGetsItsGauges() {
    int tags = 200;
    for (int i = 0; i < tags; i++) {
      at(0, name(i), i);
    }
    for (int i = 0; i < tags; i++) {
      at(2500, name(i), 2L * i);
    }
    clock.set(T0 + 5000);

    for (int i = 0; i < tags; i++) {
      double variance = i * i / 4.0;
      assertThat(shortPeriod(name(i)))
          .as(name(i))
          .isEqualTo(new Period(T0, 5000, 1.5 * i, 2L * i, i, variance));
    }
    assertThat(registry.getGauges().keySet())
        .filteredOn(n -> n.startsWith("chronos.tags."))
        .hasSize(tags * 8)
        .contains(
            "chronos.tags.AB.5s.average",
            "chronos.tags.AB.5s.hwm",
            "chronos.tags.AB.5s.lwm",
            "chronos.tags.AB.5s.variance",
            "chronos.tags.AB.5m.average",
            "chronos.tags.AB.5m.hwm",
            "chronos.tags.AB.5m.lwm",
            "chronos.tags.AB.5m.variance");
    String tag = name(10);
    assertThat(gauge("chronos.tags." + tag + ".5s.average")).isEqualTo(15.0);
    assertThat(gauge("chronos.tags." + tag + ".5s.hwm")).isEqualTo(20L);
    assertThat(gauge("chronos.tags." + tag + ".5s.lwm")).isEqualTo(10L);
    assertThat(gauge("chronos.tags." + tag + ".5s.variance")).isEqualTo(25.0);
    assertThat(gauge("chronos.tags." + tag + ".5m.average")).isEqualTo(0.0);
  }

  @Test
  void aTagNeverSeenHasNoPeriodAndAnUnknownWindowIsRefused() {
    assertThat(shortPeriod("NEVER")).isNull();
    assertThatThrownBy(() -> stats.lastPeriod("NEVER", 60_000))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("60000");
  }

  @Test
  void readersOnOtherThreadsSeeConsistentPeriodsWhileTheTimerThreadWrites() throws Exception {
    AtomicBoolean done = new AtomicBoolean();
    AtomicReference<Throwable> failure = new AtomicReference<>();
    CountDownLatch readersStarted = new CountDownLatch(4);
    List<Thread> readers = new ArrayList<>();
    for (int r = 0; r < 4; r++) {
      Thread reader =
          new Thread(
              () -> {
                readersStarted.countDown();
                try {
                  while (!done.get()) {
                    for (long window : new long[] {SHORT_WINDOW_MILLIS, LONG_WINDOW_MILLIS}) {
                      Period p = stats.lastPeriod("CALL", window);
                      if (p == null) {
                        continue;
                      }
                      // Counts alternate between 0 and 100, so every period lies within them.
                      assertThat(p.lwm()).isBetween(0L, 100L);
                      assertThat(p.hwm()).isBetween(p.lwm(), 100L);
                      assertThat(p.average()).isBetween((double) p.lwm(), (double) p.hwm());
                      assertThat(p.variance()).isBetween(0.0, 2500.0 + 1e-6);
                      assertThat(p.startMillis() % window).isZero();
                    }
                  }
                } catch (Throwable t) {
                  failure.compareAndSet(null, t);
                }
              });
      reader.start();
      readers.add(reader);
    }
    readersStarted.await();
    for (int i = 0; i < 200_000; i++) {
      clock.advance(7);
      stats.countChanged("CALL", i % 2 == 0 ? 100 : 0);
    }
    done.set(true);
    for (Thread reader : readers) {
      reader.join();
    }
    assertThat(failure.get()).isNull();
    // Two periods on, the last completed one lies wholly after the writer's last change (to 0).
    clock.advance(2 * LONG_WINDOW_MILLIS);
    assertThat(longPeriod("CALL").hwm()).isZero();
  }

  private Object gauge(String name) {
    Gauge<?> g = registry.getGauges().get(name);
    assertThat(g).as(name).isNotNull();
    return g.getValue();
  }

  /** Distinct tag types of letters only: AA, AB, ... */
  private static String name(int i) {
    return "" + (char) ('A' + i / 26) + (char) ('A' + i % 26);
  }

  private static Timer timer(long id, Tag... tags) {
    return new Timer(
        id, 1, T0, 60_000, 60_000, 0, "http://127.0.0.1/cb", new byte[0], List.of(tags));
  }
}
