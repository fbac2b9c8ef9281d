package org.chronos.timer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.chronos.testing.ChronosClient.idOf;

import io.dropwizard.testing.junit5.DropwizardAppExtension;
import io.dropwizard.testing.junit5.DropwizardExtensionsSupport;
import org.chronos.ChronosConfiguration;
import org.chronos.testing.CallbackServer;
import org.chronos.testing.ChronosClient;
import org.chronos.testing.ClockedNode;
import org.chronos.testing.ManualClock;
import org.chronos.testing.SingleNodeApp;
import org.chronos.testing.TimerJson;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Timer ids keep 34 bits of their millisecond count, which come round again after about 199 days
 * (PROTOCOL.md section 2); a timer that lives longer keeps its id, and a new timer made in the same
 * millisecond of the next round gets another, instead of replacing it.
 */
@ExtendWith(DropwizardExtensionsSupport.class)
class IdWrapTest {
  private static final long T0 = 1_800_000_000_000L;
  private static final long DAY = 24 * 3600 * 1000L;
  private static final ManualClock CLOCK = new ManualClock(T0);
  private static final CallbackServer CALLBACKS = CallbackServer.start();
  static final DropwizardAppExtension<ChronosConfiguration> APP = SingleNodeApp.create(CLOCK);
  private static final ClockedNode NODE = new ClockedNode(APP, CLOCK);

  private static final ManualClock ELSEWHERE_CLOCK = new ManualClock(T0);
  static final DropwizardAppExtension<ChronosConfiguration> ELSEWHERE =
      SingleNodeApp.notAReplica(ELSEWHERE_CLOCK);
  private static final ClockedNode ELSEWHERE_NODE = new ClockedNode(ELSEWHERE, ELSEWHERE_CLOCK);

  @AfterAll
  static void closeCallbacks() {
    CALLBACKS.close();
  }

  @Test
  void aTimerLongerThanTheIdsRoundKeepsItsIdAndPops() {
    ChronosClient client = ChronosClient.of(APP);
    String longPath = CALLBACKS.newPath("three-hundred-days");
    String shortPath = CALLBACKS.newPath("one-minute");
    NODE.moveTo(T0 + 5); // a millisecond no other timer of this node was made in
    long first =
        idOf(
            client.createTimer(
                TimerJson.oneShot(300 * 24 * 3600, CALLBACKS.url(longPath), "long")));
    assertThat(first & 0xFFFFF).as("the first id of its millisecond").isZero();

    NODE.moveTo(T0 + 5 + LongLivedIds.WRAP_MILLIS); // the same 34 bits of milliseconds again
    long second =
        idOf(client.createTimer(TimerJson.oneShot(60, CALLBACKS.url(shortPath), "short")));

    // The same millisecond bits, the next sequence number: the id the first timer still holds was
    // skipped.
    assertThat(second).isEqualTo(first + 1);
    NODE.moveTo(T0 + 301 * DAY);
    assertThat(CALLBACKS.awaitRequest(shortPath).bodyText()).isEqualTo("short");
    assertThat(CALLBACKS.awaitRequest(longPath).bodyText()).isEqualTo("long");
  }

  @Test
  void theNodeThatMadeTheIdKeepsItFromNewTimersThoughItHoldsNoCopy() {
    ChronosClient client = ChronosClient.of(ELSEWHERE);
    ELSEWHERE_NODE.moveTo(T0 + 5);
    long first =
        idOf(client.createTimer(TimerJson.oneShot(300 * 24 * 3600, CALLBACKS.url("/x"), "long")));
    assertThat(first & 0xFFFFF).as("the first id of its millisecond").isZero();
    assertThat(ELSEWHERE_NODE.application().timerService().heldCount())
        .as("no replica here")
        .isZero();

    ELSEWHERE_NODE.moveTo(T0 + 5 + LongLivedIds.WRAP_MILLIS);
    long second = idOf(client.createTimer(TimerJson.oneShot(60, CALLBACKS.url("/y"), "short")));

    assertThat(second).isEqualTo(first + 1);
  }
}
