package org.chronos.replication;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.codahale.metrics.MetricRegistry;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.chronos.testing.LoopbackServer;
import org.chronos.timer.Clock;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Retries against a peer on loopback (a JDK {@code HttpServer} standing in for another node): a
 * message the peer answered 5xx is sent again, unless a later message for the same timer was queued
 * meanwhile. Each replication PUT carries the whole timer, and the earlier one arriving last would
 * undo the later (a create retried after the news of the timer's first pop made the peer pop it
 * again).
 */
class ReplicatorRetryTest {
  private static final String PATH = "/timers/0000000000000001-2";

  private final Peer peer = new Peer();
  private final MetricRegistry metrics = new MetricRegistry();
  private final Replicator replicator = new Replicator(Clock.SYSTEM, metrics, 2000, 1000, 2, 1, 16);
  private final Map<String, String> outcomes = new ConcurrentHashMap<>();

  @AfterEach
  void stop() throws InterruptedException {
    replicator.stop(0);
    peer.server.stop(0);
  }

  /** A replication body as far as it matters here: the timer's start and sequence number. */
  private static String body(long start, int sequence) {
    return "{\"timing\":{\"start-time\":" + start + ",\"sequence-number\":" + sequence + "}}";
  }

  private void send(String body) {
    replicator.send(
        List.of(peer.address()),
        PATH,
        body.getBytes(StandardCharsets.UTF_8),
        new Replicator.Outcome() {
          @Override
          public void delivered(String to, boolean ok) {
            outcomes.put(body, ok ? "delivered" : "failed");
          }

          @Override
          public void superseded(String to) {
            outcomes.put(body, "superseded");
          }
        });
  }

  @Test
  void aCreateOvertakenByItsFirstPopsNewsIsNotSentAgain() {
    replicator.start();
    String created = body(1000, 0);
    String popped = body(1000, 1);
    send(created);
    await().until(() -> peer.bodies.size() == 1); // held by the peer, to be answered 503
    send(popped);
    await().until(() -> peer.bodies.size() == 2); // the later one, answered 200
    peer.release.countDown();

    await().atMost(Duration.ofSeconds(5)).until(() -> outcomes.size() == 2);
    assertThat(outcomes).containsEntry(popped, "delivered").containsEntry(created, "superseded");
    assertThat(peer.bodies).containsExactly(created, popped);
    assertThat(metrics.counter("chronos.replication." + peer.address() + ".overtaken").getCount())
        .isEqualTo(1);
  }

  /**
   * News of a pop written from the timer before a client's update can be queued after the update;
   * it holds none of the update, which must still reach the peer, and last.
   */
  @Test
  void anUpdateQueuedBeforeOlderPopNewsIsStillSentAgain() {
    replicator.start();
    String updated = body(2000, 0);
    String olderPop = body(1000, 1);
    send(updated);
    await().until(() -> peer.bodies.size() == 1);
    send(olderPop);
    await().until(() -> peer.bodies.size() == 2);
    peer.release.countDown();

    await().atMost(Duration.ofSeconds(5)).until(() -> outcomes.size() == 2);
    assertThat(outcomes).containsEntry(updated, "delivered").containsEntry(olderPop, "delivered");
    assertThat(peer.bodies).containsExactly(updated, olderPop, updated);
  }

  /**
   * A pop's news the peer answered 503, then the tombstone of a client's delete: sent again after
   * the tombstone, the pop's news (sequence 1) would beat it (sequence 0) and bring the timer back.
   */
  @Test
  void aPopsNewsOvertakenByADeletionIsNotSentAgain() {
    replicator.start();
    String popped = body(1000, 1);
    String deleted = body(5000, 0);
    send(popped);
    await().until(() -> peer.bodies.size() == 1);
    send(deleted);
    await().until(() -> peer.bodies.size() == 2);
    peer.release.countDown();

    await().atMost(Duration.ofSeconds(5)).until(() -> outcomes.size() == 2);
    assertThat(outcomes).containsEntry(deleted, "delivered").containsEntry(popped, "superseded");
    assertThat(peer.bodies).containsExactly(popped, deleted);
  }

  /**
   * A later start with a sequence above 0 is no later series: a copy passed on from another site
   * counts its start from its arrival. The earlier pop's news (a higher sequence) is still sent.
   */
  @Test
  void aLaterStartOfAnEarlierPopDoesNotOvertakeAPopsNews() {
    replicator.start();
    String popped = body(1000, 2);
    String passedOn = body(1100, 1);
    send(popped);
    await().until(() -> peer.bodies.size() == 1);
    send(passedOn);
    await().until(() -> peer.bodies.size() == 2);
    peer.release.countDown();

    await().atMost(Duration.ofSeconds(5)).until(() -> outcomes.size() == 2);
    assertThat(outcomes).containsEntry(popped, "delivered").containsEntry(passedOn, "delivered");
    assertThat(peer.bodies).containsExactly(popped, passedOn, popped);
  }

  @Test
  void aMessageNotOvertakenIsRetriedAndDelivered() {
    replicator.start();
    String created = body(1000, 0);
    send(created);
    await().until(() -> peer.bodies.size() == 1);
    peer.release.countDown();

    await().atMost(Duration.ofSeconds(5)).until(() -> outcomes.size() == 1);
    assertThat(outcomes).containsEntry(created, "delivered");
    assertThat(peer.bodies).containsExactly(created, created);
  }

  /**
   * A message waiting to be sent again (answered 503 once) when the node stops gracefully is still
   * sent before the stop completes: the news of a pop that just succeeded, dropped there, has the
   * backup make that pop again.
   */
  @Test
  void aMessageWaitingToBeSentAgainIsSentBeforeAGracefulStopCompletes() throws Exception {
    replicator.start();
    peer.unavailableFor = 2; // the second 503 is followed by a wait of 1 s before the third send
    String popped = body(1000, 1);
    send(popped);
    await().until(() -> peer.bodies.size() == 1);
    peer.release.countDown();
    String queued = "chronos.replication." + peer.address() + ".queued";
    await("answered 503 twice, waiting to be sent again")
        .pollInterval(Duration.ofMillis(10))
        .until(
            () ->
                peer.bodies.size() == 2
                    && (Integer) metrics.getGauges().get(queued).getValue() == 1);

    replicator.stop(5000);

    assertThat(peer.bodies).containsExactly(popped, popped, popped);
    assertThat(outcomes).containsEntry(popped, "delivered");
  }

  /**
   * Holds the first PUT until released, then answers it 503; answers the next ones 503 too up to
   * {@link #unavailableFor} in all, and the others 200.
   */
  private static final class Peer {
    final HttpServer server;
    final CountDownLatch release = new CountDownLatch(1);
    final List<String> bodies = Collections.synchronizedList(new ArrayList<>());
    volatile int unavailableFor = 1;

    Peer() {
      server = LoopbackServer.start("/timers/", this::handle);
    }

    String address() {
      return LoopbackServer.address(server);
    }

    private void handle(HttpExchange exchange) throws IOException {
      try (exchange) {
        String body = new String(exchange.getRequestBody().readAllBytes(), StandardCharsets.UTF_8);
        int n;
        synchronized (bodies) {
          bodies.add(body);
          n = bodies.size();
        }
        if (n == 1) {
          release.await(10, TimeUnit.SECONDS);
        }
        int status = n <= unavailableFor ? 503 : 200;
        exchange.sendResponseHeaders(status, -1);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
  }
}
