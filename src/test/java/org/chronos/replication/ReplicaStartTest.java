package org.chronos.replication;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.http.HttpRequest.BodyPublishers;
import java.net.http.HttpResponse;
import org.chronos.testing.ChronosClient;
import org.chronos.testing.TwoNodeTest;
import org.junit.jupiter.api.Test;

/**
 * Where a replica's timer starts: a copy's {@code start-time-delta} counts from when its sender
 * wrote it, which a real node takes to be the copy's arrival less the time the sender says it held
 * the message ({@link Replicator#HELD_HEADER}, a batch entry's {@code Held}). Without that, every
 * replica of a timer would pop later than its primary by however long replication took.
 */
class ReplicaStartTest extends TwoNodeTest {
  /** A replication body for a timer that started {@code -deltaMillis} ms before it was written. */
  private static String copy(long deltaMillis) {
    return copy(deltaMillis, 600);
  }

  private static String copy(long deltaMillis, int intervalSeconds) {
    return "{\"timing\":{\"interval\":"
        + intervalSeconds
        + ",\"repeat-for\":"
        + intervalSeconds
        + ",\"start-time-delta\":"
        + deltaMillis
        + ",\"sequence-number\":0},\"callback\":{\"http\":{\"uri\":\"http://127.0.0.1:1/cb\","
        + "\"opaque\":\"x\"}},\"reliability\":{\"cluster-view-id\":\""
        + b.view().viewId()
        + "\",\"replicas\":[\""
        + a.address()
        + "\",\""
        + b.address()
        + "\"]}}";
  }

  private static String path(long id) {
    return String.format("/timers/%016x-2", id);
  }

  /**
   * PUTs the copy to B with the held header and checks that B starts the timer between {@code
   * earlier} ms before the request went and {@code earlier} ms before its answer came.
   */
  private static void assertPutStartsEarlierBy(long id, String copy, String held, long earlier) {
    long before = System.currentTimeMillis();
    HttpResponse<String> r =
        b.client()
            .send(
                "PUT",
                path(id),
                BodyPublishers.ofString(copy),
                "Content-Type",
                "application/json",
                Replicator.HELD_HEADER,
                held);
    long after = System.currentTimeMillis();

    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(b.timer(id).startMillis()).isBetween(before - earlier, after - earlier);
  }

  @Test
  void aSinglePutCountsTheDeltaFromItsArrivalLessTheTimeItsSenderHeldIt() {
    // Written at the latest 400 ms before it arrived, started 1000 ms before it was written.
    assertPutStartsEarlierBy(0x0123456789ab0001L, copy(-1000), "400000", 1400);
  }

  @Test
  void anAbsurdHeldTimeCountsAsAnHourAndTheCopyIsStillStored() {
    // Not due yet although it started an hour back.
    assertPutStartsEarlierBy(
        0x0123456789ab0004L, copy(-1000, 7200), "999999999999999999", 3_601_000);
  }

  @Test
  void aBatchEntryCountsTheDeltaFromTheBatchsArrivalLessItsHeldTime() {
    long held = 0x0123456789ab0002L;
    long notHeld = 0x0123456789ab0003L;
    String batch =
        "{\"Requests\":[{\"Path\":\""
            + path(held)
            + "\",\"Held\":400000,\"Body\":"
            + copy(-1000)
            + "},{\"Path\":\""
            + path(notHeld)
            + "\",\"Body\":"
            + copy(-1000)
            + "}]}";
    long before = System.currentTimeMillis();
    HttpResponse<String> r =
        b.client()
            .send(
                "POST",
                ReplicationBatch.PATH,
                BodyPublishers.ofString(batch),
                "Content-Type",
                "application/json");
    long after = System.currentTimeMillis();

    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(r.body()).isEqualTo("{\"Statuses\":[200,200]}");
    assertThat(b.timer(held).startMillis()).isBetween(before - 1400, after - 1400);
    assertThat(b.timer(notHeld).startMillis()).isBetween(before - 1000, after - 1000);
  }

  @Test
  void aTimerCreatedOnOneNodeStartsNoLaterOnItsReplicaThanTheReplicationTook() {
    long before = System.currentTimeMillis();
    String location =
        a.client()
            .createTimer(
                "{\"timing\":{\"interval\":600},\"callback\":{\"http\":"
                    + "{\"uri\":\"http://127.0.0.1:1/cb\",\"opaque\":\"x\"}}}");
    long id = ChronosClient.idOf(location);
    org.awaitility.Awaitility.await().until(() -> b.timer(id) != null);
    long replicated = System.currentTimeMillis();

    long startOnA = a.timer(id).startMillis();
    assertThat(startOnA).isBetween(before, replicated);
    // Never before the primary's start (it would pop early), and at most the replication's time
    // after.
    assertThat(b.timer(id).startMillis()).isBetween(startOnA, replicated);
  }
}
