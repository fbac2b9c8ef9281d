package org.chronos.sites;

import static org.assertj.core.api.Assertions.assertThat;

import com.codahale.metrics.MetricRegistry;
import java.util.List;
import java.util.Set;
import org.chronos.timer.Timer;
import org.junit.jupiter.api.Test;

/**
 * Deletions owed to a site that did not answer: kept per site, one per timer (the latest), at most
 * the configured number with the oldest let go (and counted), and handed over once when the site
 * answers again.
 */
class OwedDeletionsTest {
  private final MetricRegistry metrics = new MetricRegistry();

  private static Timer tombstone(long id, long at) {
    return Timer.tombstone(id, 2, at);
  }

  private long gauge(String site) {
    return ((Number)
            metrics.getGauges().get("chronos.sites." + site + ".deletions-owed").getValue())
        .longValue();
  }

  @Test
  void keepsTheLatestTombstoneOfEachTimerPerSiteUntilTheSiteIsSentThem() {
    OwedDeletions owed = new OwedDeletions(10, metrics);
    owed.add("east", tombstone(1, 100));
    owed.add("east", tombstone(2, 200));
    owed.add("west", tombstone(1, 100));
    owed.add("east", tombstone(1, 300)); // the same timer again: replaces the first

    assertThat(gauge("east")).isEqualTo(2);
    List<Timer> east = owed.take("east", 0);
    assertThat(east).extracting(Timer::id).containsExactly(2L, 1L);
    assertThat(east.get(1).startMillis()).isEqualTo(300);
    assertThat(owed.take("east", 0)).isEmpty();
    assertThat(gauge("east")).isZero();
    assertThat(owed.take("west", 0)).extracting(Timer::id).containsExactly(1L);
    assertThat(owed.take("north", 0)).isEmpty();
  }

  @Test
  void anEarlierTombstoneAddedAgainDoesNotReplaceALaterOne() {
    OwedDeletions owed = new OwedDeletions(10, metrics);
    owed.add("east", tombstone(1, 300));
    owed.add("east", tombstone(1, 100)); // a resend of an older deletion that failed again
    assertThat(owed.take("east", 0)).extracting(Timer::startMillis).containsExactly(300L);
  }

  @Test
  void beyondTheLimitTheOldestAreLetGoAndCounted() {
    OwedDeletions owed = new OwedDeletions(3, metrics);
    for (long id = 1; id <= 5; id++) {
      owed.add("east", tombstone(id, id));
    }
    assertThat(owed.take("east", 0)).extracting(Timer::id).containsExactly(3L, 4L, 5L);
    assertThat(metrics.counter("chronos.sites.east.deletions-dropped").getCount()).isEqualTo(2);
  }

  @Test
  void whatIsOwedToASiteNoLongerConfiguredIsLetGoAndItsGaugeRemoved() {
    OwedDeletions owed = new OwedDeletions(10, metrics);
    owed.add("east", tombstone(1, 1));
    owed.add("west", tombstone(2, 2));

    owed.keepOnly(Set.of("west"));

    assertThat(owed.owedTo("east")).isZero();
    assertThat(metrics.getGauges()).doesNotContainKey("chronos.sites.east.deletions-owed");
    assertThat(gauge("west")).isEqualTo(1);
    // Configured again later, it is owed what it misses from then on.
    owed.add("east", tombstone(3, 3));
    assertThat(gauge("east")).isEqualTo(1);
    assertThat(owed.take("east", 0)).extracting(Timer::id).containsExactly(3L);
  }

  @Test
  void aClientsDeletionCountsWhileOwedAndForAWhileAfterItIsSent() {
    OwedDeletions owed = new OwedDeletions(10, metrics);
    assertThat(owed.deletionOf(1, 0)).isNull();
    owed.add("east", tombstone(1, 100));
    owed.add("west", tombstone(1, 300));
    assertThat(owed.deletionOf(1, 1_000).startMillis()).as("the latest of any site").isEqualTo(300);
    assertThat(owed.deletionOf(2, 1_000)).isNull();

    owed.take("west", 1_000);
    owed.take("east", 2_000);
    assertThat(owed.deletionOf(1, 2_000).startMillis())
        .as("the later one, sent first, still counts")
        .isEqualTo(300);
    assertThat(owed.deletionOf(1, 2_000 + OwedDeletions.SENT_KEPT_MILLIS - 1)).isNotNull();
    assertThat(owed.deletionOf(1, 2_000 + OwedDeletions.SENT_KEPT_MILLIS)).isNull();
  }

  @Test
  void aSiteOwedATimersDeletionIsOwedAnEarlierOneButNotALaterOne() {
    OwedDeletions owed = new OwedDeletions(10, metrics);
    owed.add("east", tombstone(1, 200));
    assertThat(owed.isOwed("east", tombstone(1, 200))).isTrue();
    assertThat(owed.isOwed("east", tombstone(1, 100))).isTrue();
    assertThat(owed.isOwed("east", tombstone(1, 300))).isFalse();
    assertThat(owed.isOwed("west", tombstone(1, 200))).isFalse();
    assertThat(owed.isOwed("east", tombstone(2, 200))).isFalse();
  }

  @Test
  void aLastPopsTombstoneIsNoClientsDeletion() {
    OwedDeletions owed = new OwedDeletions(10, metrics);
    Timer lastPop = Timer.tombstone(1, 2, 100).toTombstone(100, 3);
    owed.add("east", lastPop);
    assertThat(owed.deletionOf(1, 200)).isNull();
    owed.take("east", 200);
    assertThat(owed.deletionOf(1, 300)).isNull();
  }

  @Test
  void aLimitOfZeroKeepsNone() {
    OwedDeletions owed = new OwedDeletions(0, metrics);
    owed.add("east", tombstone(1, 1));
    assertThat(owed.take("east", 0)).isEmpty();
    assertThat(owed.owedTo("east")).isZero();
  }
}
