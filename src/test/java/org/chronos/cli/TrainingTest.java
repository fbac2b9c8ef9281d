package org.chronos.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

/**
 * The training an AOT cache is recorded from must run what a node runs, resyncs included; an AOT
 * cache of a training that failed half-way would hold the profiles of half the work.
 */
class TrainingTest {

  @Test
  void runsClientWorkPopsAndEveryResyncOnTwoRealNodes() throws Exception {
    int timers = 300;
    Training.Summary s = new Training(new Training.Settings(timers, 2, 500)).run();

    assertThat(s.created()).as("creates answered 200").isEqualTo(2 * timers);
    // of the 270 long-lived timers created in a round, one in twenty is updated, the next deleted
    assertThat(s.updated()).isEqualTo(2 * 14);
    assertThat(s.deleted()).isEqualTo(2 * 14);
    // one in ten pops after 1 s, and its callback reached the training's target
    assertThat(s.shortTimers()).isEqualTo(2 * 30);
    assertThat(s.callbacks()).isGreaterThanOrEqualTo(s.shortTimers());
    // B joins (one resync), then in each round A and B resync from each other; each one receives
    // every timer it replicates: with two nodes and rf 2, every long-lived timer held then
    int longLivedPerRound = timers - 30 - 14;
    assertThat(s.timersReceivedPerResync()).hasSize(5);
    assertThat(s.timersReceivedPerResync().subList(0, 3))
        .allSatisfy(n -> assertThat(n).isGreaterThanOrEqualTo(longLivedPerRound));
    assertThat(s.timersReceivedPerResync().subList(3, 5))
        .allSatisfy(n -> assertThat(n).isGreaterThanOrEqualTo(2L * longLivedPerRound));
  }

  @Test
  void refusesSettingsThatWouldTrainNothing() {
    assertThatThrownBy(() -> new Training.Settings(5, 1, 0))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> new Training.Settings(100, 0, 0))
        .isInstanceOf(IllegalArgumentException.class);
  }
}
