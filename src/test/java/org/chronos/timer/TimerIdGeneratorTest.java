package org.chronos.timer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.HashSet;
import java.util.Set;
import org.chronos.testing.ManualClock;
import org.junit.jupiter.api.Test;

class TimerIdGeneratorTest {

  @Test
  void layoutCarriesTheIdentityAndTheMilliseconds() {
    ManualClock clock = new ManualClock(1_700_000_000_123L);
    long id = new TimerIdGenerator(clock, 5, 99).next();
    assertThat((id >>> 27) & 7).isEqualTo(5);
    assertThat((id >>> 20) & 127).isEqualTo(99);
    assertThat(id >>> 30).isEqualTo(1_700_000_000_123L & ((1L << 34) - 1));
  }

  @Test
  void idsStayUniqueWhenMoreThanASequenceWorthArriveInOneMillisecondOrTheClockStepsBack() {
    ManualClock clock = new ManualClock(1_700_000_000_000L);
    TimerIdGenerator ids = new TimerIdGenerator(clock, 0, 1);
    Set<Long> seen = new HashSet<>();
    for (int i = 0; i < (1 << 20) + 10; i++) {
      assertThat(seen.add(ids.next())).isTrue();
    }
    clock.advance(-60_000);
    for (int i = 0; i < 1000; i++) {
      assertThat(seen.add(ids.next())).isTrue();
    }
  }

  @Test
  void aRestartedNodeDoesNotRepeatIdsItHandedOutBefore() {
    ManualClock clock = new ManualClock(1_700_000_000_000L);
    Set<Long> seen = new HashSet<>();
    TimerIdGenerator before = new TimerIdGenerator(clock, 0, 1);
    for (int i = 0; i < 1000; i++) {
      seen.add(before.next());
    }
    clock.advance(1); // a restart takes at least a millisecond of wall-clock time
    TimerIdGenerator after = new TimerIdGenerator(clock, 0, 1);
    for (int i = 0; i < 1000; i++) {
      assertThat(seen.add(after.next())).isTrue();
    }
  }

  @Test
  void rejectsIdentityOutOfRange() {
    ManualClock clock = new ManualClock(0);
    assertThatThrownBy(() -> new TimerIdGenerator(clock, 8, 0)).hasMessageContaining("8");
    assertThatThrownBy(() -> new TimerIdGenerator(clock, 0, 128)).hasMessageContaining("128");
  }
}
