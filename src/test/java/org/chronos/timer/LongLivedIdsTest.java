package org.chronos.timer;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Which held timers a new id must not replace, and that the generator steps past them. */
class LongLivedIdsTest {
  private static final long T0 = 1_800_000_000_000L;
  private static final long DAY = 24 * 3600 * 1000L;

  private final long[] now = {T0};
  private final Clock clock = () -> now[0];
  private final LongLivedIds longLived = new LongLivedIds(0, 3, clock);

  private static long id(long madeMillis, int deploymentId, int instanceId, int sequence) {
    return (madeMillis << 30) | TimerIdGenerator.nodeBits(deploymentId, instanceId) | sequence;
  }

  private static Timer timer(long id, long startMillis, long repeatForMillis) {
    return new Timer(
        id,
        2,
        startMillis,
        Math.min(repeatForMillis, 3600_000),
        repeatForMillis,
        0,
        "http://cb/x",
        "o".getBytes(StandardCharsets.UTF_8),
        List.of());
  }

  @Test
  void onlyThisNodesTimersThatLiveUntilTheirIdComesRoundAreHeld() {
    long round = LongLivedIds.WRAP_MILLIS - LongLivedIds.SLACK_MILLIS; // replicas pop later
    assertThat(longLived.outlivesItsId(timer(id(T0, 0, 3, 0), T0, round - 1))).isFalse();
    assertThat(longLived.outlivesItsId(timer(id(T0, 0, 3, 0), T0, round))).isTrue();
    // Another node's ids never meet this node's.
    assertThat(longLived.outlivesItsId(timer(id(T0, 0, 4, 0), T0, 300 * DAY))).isFalse();
    assertThat(longLived.outlivesItsId(timer(id(T0, 1, 3, 0), T0, 300 * DAY))).isFalse();
    // Replaced 100 days after its id was made (a PUT restarts it): its id comes round 99 days on.
    assertThat(longLived.outlivesItsId(timer(id(T0, 0, 3, 0), T0 + 100 * DAY, 100 * DAY))).isTrue();
    assertThat(longLived.outlivesItsId(timer(id(T0, 0, 3, 0), T0 + 100 * DAY, 98 * DAY))).isFalse();
    // A tombstone (a deleted timer) needs no id of its own.
    assertThat(longLived.outlivesItsId(Timer.tombstone(id(T0, 0, 3, 0), 2, T0 + 300 * DAY)))
        .isFalse();
  }

  @Test
  void theGeneratorSkipsAnIdWhileItsTimerMayLiveEvenIfThisNodeHoldsNoCopy() {
    TimerIdGenerator ids = new TimerIdGenerator(clock, 0, 3, longLived);
    long first = ids.next();
    Timer made = timer(first, T0, 300 * DAY);
    ids.made(made);
    longLived.liveRemoved(made); // rebalanced away, or never stored here: still reserved

    now[0] = T0 + LongLivedIds.WRAP_MILLIS;
    assertThat(ids.next()).isEqualTo(first + 1);

    // The next round, 397 days on: the timer's 300 days are over.
    now[0] = T0 + 2 * LongLivedIds.WRAP_MILLIS;
    assertThat(ids.next()).isEqualTo(first);
  }
}
