package org.chronos.replication;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.http.HttpResponse;
import java.util.List;
import org.chronos.testing.TimerJson;
import org.chronos.testing.TwoNodeTest;
import org.chronos.timer.Timer;
import org.junit.jupiter.api.Test;

/**
 * A tombstone replacing a timer a node holds keeps that timer's interval and repeat-for (section
 * 5), and the sequence number and start it came with: it is the timer's last word, and a message
 * about an earlier pop that arrives after it must lose to it.
 */
class TombstoneMergeTest extends TwoNodeTest {
  /** A's message about the timer: started at {@code startMillis}, popped {@code sequence} times. */
  private static String message(long startMillis, int sequence, boolean tombstone) {
    return TimerJson.timer()
        .interval(10)
        .repeatFor(30)
        .started(startMillis, sequence)
        .callback(tombstone ? "" : "http://127.0.0.1:1/cb", tombstone ? "" : "x")
        .replicas(b.view().viewId(), List.of(a.address(), b.address()))
        .json();
  }

  private static void put(long id, String body) {
    HttpResponse<String> r = b.client().put(String.format("/timers/%016x-2", id), body);
    assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
  }

  @Test
  void aLateMessageAboutAnEarlierPopDoesNotBringBackATimerAfterItsLastPop() {
    long id = 0x1234_5678_9abcL << 20;
    // Started 25 s ago: popped twice, the third and last pop due in 5 s.
    long start = System.currentTimeMillis() - 25_000;
    put(id, message(start, 2, false));
    // A tells of the last pop: the timer is over.
    put(id, message(start, 3, true));
    Timer last = b.timer(id);
    assertThat(last.isTombstone()).isTrue();
    assertThat(last.sequence()).as("the tombstone's sequence number").isEqualTo(3);
    assertThat(last.intervalMillis()).isEqualTo(10_000);

    // A retried message about the second pop comes after it.
    put(id, message(start, 2, false));

    assertThat(b.timer(id).isTombstone()).as("still over").isTrue();
  }

  /**
   * A client deletes a repeating timer; news of a pop made before the deletion arrives after it (a
   * retry, or another site's pop passed on). By the version rule alone any pop (sequence number 1
   * or more) beats the deletion's tombstone (0), and the timer would come back to pop again.
   */
  @Test
  void newsOfAPopMadeBeforeAClientsDeletionDoesNotBringTheTimerBack() {
    long id = 0x2345_6789_abcdL << 20;
    // Started 15 s ago: popped once, the second pop due in 5 s.
    long start = System.currentTimeMillis() - 15_000;
    put(id, message(start, 1, false));
    HttpResponse<String> deleted = b.client().delete(String.format("/timers/%016x-2", id));
    assertThat(deleted.statusCode()).isEqualTo(200);
    assertThat(b.timer(id).isTombstone()).isTrue();

    put(id, message(start, 1, false));

    assertThat(b.timer(id).isTombstone()).as("still deleted").isTrue();
  }

  /**
   * A timer made again under the same id after the deletion is a later series: news of its pop is
   * taken.
   */
  @Test
  void newsOfAPopOfATimerMadeAgainAfterADeletionIsTaken() {
    long id = 0x3456_789a_bcdeL << 20;
    long start = System.currentTimeMillis() - 15_000;
    put(id, message(start, 1, false));
    assertThat(b.client().delete(String.format("/timers/%016x-2", id)).statusCode()).isEqualTo(200);

    put(id, message(System.currentTimeMillis(), 1, false));

    assertThat(b.timer(id).isTombstone()).as("made again").isFalse();
  }
}
