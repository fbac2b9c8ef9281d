package org.chronos.replication;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.codahale.metrics.MetricRegistry;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.chronos.testing.LoopbackServer;
import org.chronos.timer.Clock;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * How long replication keeps trying a peer that answers 503 (its timer queue full) or not at all: a
 * deletion given up on too soon leaves the peer's copy to pop. Against a JDK {@code HttpServer}
 * standing in for the peer.
 */
class ReplicatorRetryWindowTest {
  private final Peer peer = new Peer();
  private final MetricRegistry metrics = new MetricRegistry();
  private final Map<String, String> outcomes = new ConcurrentHashMap<>();
  private Replicator replicator;

  @AfterEach
  void stop() throws InterruptedException {
    if (replicator != null) {
      replicator.stop(0);
    }
    peer.server.stop(0);
  }

  private Replicator start(int maxQueued, long retryForMillis) {
    replicator = new Replicator(Clock.SYSTEM, metrics, 2000, maxQueued, 2, 1, 16);
    replicator.retryFor(retryForMillis);
    replicator.start();
    return replicator;
  }

  private void send(String path) {
    replicator.send(
        List.of(peer.address()),
        path,
        "{}".getBytes(StandardCharsets.UTF_8),
        new Replicator.Outcome() {
          @Override
          public void delivered(String to, boolean ok) {
            outcomes.put(path, ok ? "delivered" : "failed");
          }

          @Override
          public void superseded(String to) {
            outcomes.put(path, "superseded");
          }
        });
  }

  /** The peer's {@code .queued} gauge: messages waiting for it, to be sent again included. */
  private int queued() {
    return (Integer)
        metrics.getGauges().get("chronos.replication." + peer.address() + ".queued").getValue();
  }

  private long failed() {
    return metrics.counter("chronos.replication." + peer.address() + ".failed").getCount();
  }

  /** Four attempts answered 503 span 3.2 s, more than the 1.2 s replication used to try for. */
  @Test
  void aPeerThatAnswers503ForSecondsStillGetsTheMessage() {
    start(1000, Replicator.DEFAULT_RETRY_FOR_MILLIS);
    send("/timers/0000000000000001-2");
    await().atMost(Duration.ofSeconds(10)).until(() -> peer.attempts.get() >= 4);
    peer.busy.set(false);

    await().atMost(Duration.ofSeconds(10)).until(() -> outcomes.size() == 1);
    assertThat(outcomes).containsEntry("/timers/0000000000000001-2", "delivered");
    assertThat(failed()).isZero();
  }

  @Test
  void withRetryForZeroAMessageFailsAtItsFirst503() {
    start(1000, 0);
    send("/timers/0000000000000001-2");

    await().atMost(Duration.ofSeconds(5)).until(() -> outcomes.size() == 1);
    assertThat(outcomes).containsEntry("/timers/0000000000000001-2", "failed");
    assertThat(peer.attempts).hasValue(1);
  }

  /** Messages waiting to be sent again hold their place under the cap: a dead peer is bounded. */
  @Test
  void messagesWaitingToBeRetriedCountAgainstTheQueueCap() {
    start(2, Replicator.DEFAULT_RETRY_FOR_MILLIS);
    send("/timers/0000000000000001-2");
    send("/timers/0000000000000002-2");
    await("both waiting to be sent again").atMost(Duration.ofSeconds(5)).until(() -> queued() == 2);
    send("/timers/0000000000000003-2");

    await().atMost(Duration.ofSeconds(5)).until(() -> outcomes.size() == 1);
    assertThat(outcomes).containsEntry("/timers/0000000000000003-2", "failed");
    assertThat(failed()).isEqualTo(1);
  }

  @Test
  void theWaitsBetweenAttemptsAddUpToAtMostRetryFor() {
    Replicator r = start(1000, 10_000);
    assertThat(
            java.util.stream.IntStream.range(0, 8)
                .mapToLong(attempt -> r.retryDelayMillis(false, attempt))
                .toArray())
        .containsExactly(200, 1000, 2000, 2000, 2000, 2000, -1, -1);
    r.retryFor(1_200);
    assertThat(r.retryDelayMillis(false, 1)).isEqualTo(1000);
    assertThat(r.retryDelayMillis(false, 2)).isEqualTo(-1);
    // A resync's copies: twice, whatever retryFor is; their sender waits for them.
    assertThat(r.retryDelayMillis(true, 1)).isEqualTo(1000);
    assertThat(r.retryDelayMillis(true, 2)).isEqualTo(-1);
  }

  /** Answers 503 while busy, 200 once not. */
  private static final class Peer {
    final HttpServer server;
    final AtomicBoolean busy = new AtomicBoolean(true);
    final AtomicInteger attempts = new AtomicInteger();

    Peer() {
      server = LoopbackServer.start("/timers/", this::handle);
    }

    String address() {
      return LoopbackServer.address(server);
    }

    private void handle(HttpExchange exchange) throws IOException {
      try (exchange) {
        exchange.getRequestBody().readAllBytes();
        attempts.incrementAndGet();
        exchange.sendResponseHeaders(busy.get() ? 503 : 200, -1);
      }
    }
  }
}
