package org.chronos.replication;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.chronos.timer.Timer;
import org.junit.jupiter.api.Test;

class VersionRuleTest {
  static final String CURRENT = "42";

  private static final String HERE = "10.0.0.1:7253";

  static Timer copy(int sequence, long start, String viewId) {
    Timer t =
        new Timer(1, 2, start, 1000, 10_000, sequence, "http://cb/", new byte[] {1}, List.of());
    t.setClusterViewId(viewId);
    return t;
  }

  @Test
  void theCopyFromTheCurrentViewWinsOverAnOlderView() {
    assertThat(VersionRule.incomingWins(copy(5, 2000, "old"), copy(0, 1000, CURRENT), CURRENT))
        .isTrue();
  }

  @Test
  void aStoredCopyFromTheCurrentViewDoesNotBeatALaterOneFromAnotherView() {
    // A rolling reload: news of a later pop, or a client's later update, from a node that has
    // not reloaded yet goes by the sequence numbers and start times.
    assertThat(VersionRule.incomingWins(copy(0, 1000, CURRENT), copy(5, 2000, "old"), CURRENT))
        .isTrue();
    assertThat(VersionRule.incomingWins(copy(0, 1000, CURRENT), copy(0, 1500, "old"), CURRENT))
        .isTrue();
    // And an earlier one from there still loses.
    assertThat(VersionRule.incomingWins(copy(0, 1500, CURRENT), copy(0, 1000, "old"), CURRENT))
        .isFalse();
    assertThat(VersionRule.incomingWins(copy(3, 1000, CURRENT), copy(2, 1100, "old"), CURRENT))
        .isFalse();
  }

  @Test
  void withEqualSequenceNumbersTheLaterStartWins() {
    assertThat(VersionRule.incomingWins(copy(1, 1000, CURRENT), copy(1, 1500, CURRENT), CURRENT))
        .isTrue();
    assertThat(VersionRule.incomingWins(copy(1, 1500, CURRENT), copy(1, 1000, CURRENT), CURRENT))
        .isFalse();
  }

  @Test
  void aLowerNonZeroSequenceOfTheSameSeriesLoses() {
    assertThat(VersionRule.incomingWins(copy(3, 1000, CURRENT), copy(2, 1150, CURRENT), CURRENT))
        .isFalse();
  }

  @Test
  void aLowerSequenceOfADifferentSeriesWins() {
    // Start times 200 ms or more apart: a client replaced the timer, which restarts its series.
    assertThat(VersionRule.incomingWins(copy(3, 1000, CURRENT), copy(2, 1200, CURRENT), CURRENT))
        .isTrue();
  }

  @Test
  void sequenceZeroAlwaysCountsAsANewTimer() {
    assertThat(VersionRule.incomingWins(copy(3, 1000, CURRENT), copy(0, 1050, CURRENT), CURRENT))
        .isTrue();
  }

  @Test
  void aHigherSequenceWins() {
    assertThat(VersionRule.incomingWins(copy(1, 1000, CURRENT), copy(2, 1000, CURRENT), CURRENT))
        .isTrue();
  }

  @Test
  void aResyncSnapshotIsSupersededOnlyByALaterPopOfTheSameTimerUnderTheCurrentView() {
    // Popped once since the snapshot: the snapshot's sequence 0 would otherwise win the rule.
    assertThat(VersionRule.incomingWins(copy(1, 1000, CURRENT), copy(0, 1000, CURRENT), CURRENT))
        .isTrue();
    assertThat(VersionRule.isLaterPop(copy(1, 1000, CURRENT), copy(0, 1050, CURRENT), CURRENT, 0))
        .isTrue();
    // Not popped since, another series (a client's update restarts it), or an older view.
    assertThat(VersionRule.isLaterPop(copy(0, 1000, CURRENT), copy(0, 1000, CURRENT), CURRENT, 0))
        .isFalse();
    assertThat(VersionRule.isLaterPop(copy(1, 1000, CURRENT), copy(0, 5000, CURRENT), CURRENT, 0))
        .isFalse();
    assertThat(VersionRule.isLaterPop(copy(1, 1000, "old"), copy(0, 1000, CURRENT), CURRENT, 0))
        .isFalse();
  }

  @Test
  void aSnapshotSlowInTransitIsStillTheSameSeries() {
    // Written 700 ms before it arrived: its start, counted from the arrival, is 700 ms late.
    assertThat(VersionRule.isLaterPop(copy(1, 1000, CURRENT), copy(0, 1700, CURRENT), CURRENT, 700))
        .isTrue();
    assertThat(VersionRule.isLaterPop(copy(1, 1000, CURRENT), copy(0, 1700, CURRENT), CURRENT, 0))
        .isFalse();
    // An earlier start is the same series: this node's copy started late (its replication took
    // a while), or the snapshot is older still.
    assertThat(VersionRule.isLaterPop(copy(1, 1700, CURRENT), copy(0, 1000, CURRENT), CURRENT, 0))
        .isTrue();
    // Beyond the transit and the 200 ms: another series.
    assertThat(VersionRule.isLaterPop(copy(1, 1000, CURRENT), copy(0, 1900, CURRENT), CURRENT, 700))
        .isFalse();
  }

  @Test
  void aDeletionHeldHereSupersedesASnapshotTakenBeforeIt() {
    Timer deleted = copy(0, 1000, CURRENT).toTombstone(1300);
    deleted.setReplicas(List.of(HERE, "peer"));
    // Written before the deletion, 700 ms in transit: its start looks later than the deletion's.
    assertThat(VersionRule.isLaterDelete(deleted, copy(0, 1700, CURRENT), HERE, 700)).isTrue();
    assertThat(VersionRule.incomingWins(deleted, copy(0, 1700, CURRENT), CURRENT)).isTrue();
    // Popped since the series began, then deleted.
    assertThat(VersionRule.isLaterDelete(deleted, copy(3, 1000, CURRENT), HERE, 700)).isTrue();
    // A new timer with that id, made after the deletion, is not a snapshot of the deleted one.
    assertThat(VersionRule.isLaterDelete(deleted, copy(0, 2100, CURRENT), HERE, 700)).isFalse();
    // Nor is a tombstone kept here as no replica (it names the replicas, not this node).
    Timer notAReplica = copy(0, 1000, "old").toTombstone(1300);
    notAReplica.setReplicas(List.of("peer"));
    assertThat(VersionRule.isLaterDelete(notAReplica, copy(0, 1000, CURRENT), HERE, 0)).isFalse();
    assertThat(VersionRule.isLaterDelete(deleted, deleted, HERE, 700)).isFalse();
    // A deletion made under the view before the last reload (through a node not reloaded yet)
    // is one all the same: a snapshot under the current view would otherwise beat it.
    Timer deletedBefore = copy(0, 1000, "old").toTombstone(1300);
    deletedBefore.setReplicas(List.of(HERE, "peer"));
    assertThat(VersionRule.isLaterDelete(deletedBefore, copy(0, 1000, CURRENT), HERE, 0)).isTrue();
    assertThat(VersionRule.incomingWins(deletedBefore, copy(0, 1000, CURRENT), CURRENT)).isTrue();
  }
}
