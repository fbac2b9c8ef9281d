package org.chronos.replication;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.http.HttpResponse;
import org.chronos.testing.ClusterHarness;
import org.chronos.testing.ClusterHarness.Node;
import org.chronos.timer.Timer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A tombstone replacing a timer a node holds keeps that timer's interval and repeat-for (section
 * 5), and the sequence number and start it came with: it is the timer's last word, and a message
 * about an earlier pop that arrives after it must lose to it.
 */
class TombstoneMergeTest {
  private static ClusterHarness cluster;
  private static Node a;
  private static Node b;

  @BeforeAll
  static void start() {
    cluster = ClusterHarness.start(2);
    a = cluster.node(0);
    b = cluster.node(1);
  }

  @AfterAll
  static void stop() {
    cluster.close();
  }

  /** A's message about the timer: started at {@code startMillis}, popped {@code sequence} times. */
  private static String message(long startMillis, int sequence, boolean tombstone) {
    return "{\"timing\":{\"interval\":10,\"repeat-for\":30,\"start-time-delta\":"
        + (startMillis - System.currentTimeMillis())
        + ",\"start-time\":"
        + startMillis
        + ",\"sequence-number\":"
        + sequence
        + "},\"callback\":{\"http\":{\"uri\":\""
        + (tombstone ? "" : "http://127.0.0.1:1/cb")
        + "\",\"opaque\":\""
        + (tombstone ? "" : "x")
        + "\"}},\"reliability\":{\"cluster-view-id\":\""
        + b.view().viewId()
        + "\",\"replicas\":[\""
        + a.address()
        + "\",\""
        + b.address()
        + "\"]}}";
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
}
