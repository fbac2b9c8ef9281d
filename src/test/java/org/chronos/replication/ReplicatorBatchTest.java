package org.chronos.replication;

import static org.assertj.core.api.Assertions.assertThat;

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
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.chronos.testing.LoopbackServer;
import org.chronos.testing.ManualClock;
import org.chronos.timer.Clock;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Batched replication against a peer on loopback (a JDK {@code HttpServer} standing in for another
 * node, so each answer can be chosen): messages that queue up while the peer is busy travel as one
 * {@code POST /timers/batch}; a peer that does not take batches, or a batch it finds too large,
 * gets single PUTs; every message is delivered exactly once either way.
 */
class ReplicatorBatchTest {
  private static final int MESSAGES = 51;

  private final Peer peer = new Peer();
  private final ManualClock clock = new ManualClock(1_700_000_000_000L);
  private Replicator replicator;

  @AfterEach
  void stop() throws InterruptedException {
    if (replicator != null) {
      replicator.stop(0);
    }
    peer.server.stop(0);
  }

  /**
   * One message in flight and held by the peer, then 50 more queued behind it; the clock moves 250
   * ms before the peer answers the first.
   */
  private Map<Integer, Boolean> sendWhileThePeerHoldsTheFirst(int maxBatch) throws Exception {
    return sendWhileThePeerHoldsTheFirst(maxBatch, false);
  }

  /** As above, in the bulk lane (a resync's copies) if {@code bulk}, else the urgent lane. */
  private Map<Integer, Boolean> sendWhileThePeerHoldsTheFirst(int maxBatch, boolean bulk)
      throws Exception {
    replicator =
        new Replicator(
            clock, new MetricRegistry(), 2000, 1000, 1, 1, 256, maxBatch, 256 * 1024, 7253);
    replicator.start();
    Map<Integer, Boolean> outcomes = new ConcurrentHashMap<>();
    send(0, outcomes, bulk);
    await(() -> peer.requests.size() == 1, "the first PUT reached the peer");
    for (int i = 1; i < MESSAGES; i++) {
      send(i, outcomes, bulk);
    }
    clock.advance(250);
    peer.release.countDown();
    await(() -> outcomes.size() == MESSAGES, "every message has an outcome");
    return outcomes;
  }

  /** Message i; the odd ones are a resync's copies, snapshots up to i ms late. */
  private void send(int i, Map<Integer, Boolean> outcomes) throws InterruptedException {
    send(i, outcomes, false);
  }

  private void send(int i, Map<Integer, Boolean> outcomes, boolean bulk)
      throws InterruptedException {
    byte[] body =
        ("{\"n\":" + i + ",\"reliability\":{\"replicas\":[\"x\"]}}")
            .getBytes(StandardCharsets.UTF_8);
    long snapshotMicros = i % 2 == 1 ? i * 1000L : Replicator.NOT_A_SNAPSHOT;
    Replicator.Outcome outcome = (to, ok) -> outcomes.merge(i, ok, (a, b) -> a && b);
    if (bulk) {
      replicator.sendBulk(List.of(peer.address()), path(i), body, snapshotMicros, outcome);
    } else {
      replicator.sendSnapshot(List.of(peer.address()), path(i), body, snapshotMicros, outcome);
    }
  }

  private static String path(int i) {
    return String.format("/timers/%016x-2", i);
  }

  private static List<String> allPaths() {
    List<String> paths = new ArrayList<>();
    for (int i = 0; i < MESSAGES; i++) {
      paths.add(path(i));
    }
    return paths;
  }

  @Test
  void messagesQueuedBehindABusyPeerTravelInBatchesOfAtMostTheLimit() throws Exception {
    Map<Integer, Boolean> outcomes = sendWhileThePeerHoldsTheFirst(20);

    assertThat(outcomes.values()).hasSize(MESSAGES).containsOnly(true);
    assertThat(peer.requests).containsExactly("PUT 1", "POST 20", "POST 20", "POST 10");
    assertThat(peer.delivered).containsExactlyInAnyOrderElementsOf(allPaths());
  }

  @Test
  void eachBatchEntryCarriesHowLongItWaitedHere() throws Exception {
    sendWhileThePeerHoldsTheFirst(20);

    // The peer counts each body's start-time-delta from its arrival less this (ReplicationBatch).
    assertTheFirstWasNotHeldAndTheRest250Ms();
  }

  @Test
  void aSinglePutCarriesHowLongItWaitedHereInAHeader() throws Exception {
    sendWhileThePeerHoldsTheFirst(1);

    assertTheFirstWasNotHeldAndTheRest250Ms();
  }

  @Test
  void aResyncCopyIsMarkedAsASnapshotInItsBatchEntry() throws Exception {
    sendWhileThePeerHoldsTheFirst(20);

    assertOnlyTheOddOnesCameAsSnapshots();
  }

  @Test
  void aResyncCopyIsMarkedAsASnapshotOnASinglePut() throws Exception {
    sendWhileThePeerHoldsTheFirst(1);

    assertOnlyTheOddOnesCameAsSnapshots();
  }

  private void assertOnlyTheOddOnesCameAsSnapshots() {
    assertThat(peer.snapshot).hasSize(MESSAGES);
    for (int i = 0; i < MESSAGES; i++) {
      assertThat(peer.snapshot)
          .containsEntry(path(i), i % 2 == 1 ? i * 1000L : Replicator.NOT_A_SNAPSHOT);
    }
  }

  private void assertTheFirstWasNotHeldAndTheRest250Ms() {
    assertThat(peer.held).containsEntry(path(0), 0L).hasSize(MESSAGES);
    for (int i = 1; i < MESSAGES; i++) {
      assertThat(peer.held).containsEntry(path(i), 250_000L);
    }
  }

  /** The receiver takes a resync's copies in at a resync's priority, and nothing else. */
  @Test
  void batchesFromTheBulkLaneSaySoAndOthersDoNot() throws Exception {
    Map<Integer, Boolean> outcomes = sendWhileThePeerHoldsTheFirst(20, true);

    assertThat(outcomes.values()).hasSize(MESSAGES).containsOnly(true);
    assertThat(peer.batchLanes).containsExactly("bulk", "bulk", "bulk");
  }

  @Test
  void batchesFromTheUrgentLaneSayNoLane() throws Exception {
    sendWhileThePeerHoldsTheFirst(20, false);

    assertThat(peer.batchLanes).containsExactly("null", "null", "null");
  }

  @Test
  void aLimitOfOneSendsSinglePutsOnly() throws Exception {
    Map<Integer, Boolean> outcomes = sendWhileThePeerHoldsTheFirst(1);

    assertThat(outcomes.values()).hasSize(MESSAGES).containsOnly(true);
    assertThat(peer.requests).hasSize(MESSAGES).containsOnly("PUT 1");
    assertThat(peer.delivered).containsExactlyInAnyOrderElementsOf(allPaths());
  }

  @Test
  void aPeerThatDoesNotKnowBatchesGetsSinglePutsFromThenOn() throws Exception {
    peer.batchStatus = 404; // what an original Chronos node answers

    Map<Integer, Boolean> outcomes = sendWhileThePeerHoldsTheFirst(20);

    assertThat(outcomes.values()).hasSize(MESSAGES).containsOnly(true);
    assertThat(peer.requests.stream().filter(r -> r.startsWith("POST"))).containsExactly("POST 20");
    assertThat(peer.delivered).containsExactlyInAnyOrderElementsOf(allPaths());
  }

  @Test
  void aBatchThePeerFindsTooLargeIsSentAgainAsSinglePuts() throws Exception {
    peer.batchStatus = 413;

    Map<Integer, Boolean> outcomes = sendWhileThePeerHoldsTheFirst(20);

    assertThat(outcomes.values()).hasSize(MESSAGES).containsOnly(true);
    assertThat(peer.delivered).containsExactlyInAnyOrderElementsOf(allPaths());
    assertThat(peer.requests.stream().filter(r -> r.startsWith("PUT"))).hasSize(MESSAGES);
  }

  @Test
  void anEntryThePeerCouldNotTakeYetIsRetriedAloneAndTheRestAreNotSentAgain() throws Exception {
    peer.unavailableOnce.add(path(7));
    peer.refused.add(path(9)); // a 400 is final, as for a single PUT

    Map<Integer, Boolean> outcomes = sendWhileThePeerHoldsTheFirst(20);

    assertThat(outcomes).containsEntry(7, true).containsEntry(9, false);
    List<String> expected = new ArrayList<>(allPaths());
    expected.remove(path(9));
    assertThat(peer.delivered).containsExactlyInAnyOrderElementsOf(expected);
  }

  @Test
  void withARequestUnansweredFurtherMessagesWaitAndGoTogether() throws Exception {
    replicator =
        new Replicator(
            Clock.SYSTEM, new MetricRegistry(), 2000, 1000, 32, 2, 256, 20, 256 * 1024, 7253);
    replicator.start();
    Map<Integer, Boolean> outcomes = new ConcurrentHashMap<>();
    send(0, outcomes);
    await(() -> peer.requests.size() == 1, "the first PUT reached the peer");
    for (int i = 1; i < MESSAGES; i++) {
      send(i, outcomes);
    }
    await(() -> peer.requests.size() == 3, "two full batches were sent");
    peer.release.countDown();
    await(() -> outcomes.size() == MESSAGES, "every message has an outcome");

    assertThat(outcomes.values()).containsOnly(true);
    // 32 requests could be in flight, but messages that find one unanswered wait for a full batch
    // or for the reply.
    assertThat(peer.requests).containsExactly("PUT 1", "POST 20", "POST 20", "POST 10");
    assertThat(peer.delivered).containsExactlyInAnyOrderElementsOf(allPaths());
  }

  private static void await(BooleanSupplier condition, String what) throws InterruptedException {
    long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError("timed out waiting until " + what);
      }
      Thread.sleep(5);
    }
  }

  /** The other node: records what it was sent and answers as told. */
  private static final class Peer {
    final HttpServer server;
    final CountDownLatch release = new CountDownLatch(1);
    final List<String> requests = Collections.synchronizedList(new ArrayList<>());
    final List<String> delivered = Collections.synchronizedList(new ArrayList<>());
    // Per batch, its X-Chronos-Lane header ("null" if none).
    final List<String> batchLanes = Collections.synchronizedList(new ArrayList<>());
    // Per path, the held time (µs) it came with: X-Chronos-Held-Micros or the entry's Held.
    final Map<String, Long> held = new ConcurrentHashMap<>();
    // Per path, how late a snapshot it said it was (X-Chronos-Snapshot-Micros or the entry's
    // Snapshot), or NOT_A_SNAPSHOT.
    final Map<String, Long> snapshot = new ConcurrentHashMap<>();
    final Set<String> unavailableOnce = ConcurrentHashMap.newKeySet();
    final Set<String> refused = ConcurrentHashMap.newKeySet();
    volatile int batchStatus = 200;

    Peer() {
      server = LoopbackServer.start("/timers/", this::handle);
    }

    String address() {
      return LoopbackServer.address(server);
    }

    private void handle(HttpExchange exchange) throws IOException {
      try (exchange) {
        byte[] body = exchange.getRequestBody().readAllBytes();
        String path = exchange.getRequestURI().getPath();
        if (exchange.getRequestMethod().equals("PUT")) {
          requests.add("PUT 1");
          String header = exchange.getRequestHeaders().getFirst(Replicator.HELD_HEADER);
          held.put(path, header == null ? -1 : Long.parseLong(header));
          snapshot.put(
              path,
              Replicator.snapshotMicros(
                  exchange.getRequestHeaders().getFirst(Replicator.SNAPSHOT_HEADER)));
          if (requests.size() == 1) { // the first request waits for release
            release.await(10, TimeUnit.SECONDS);
          }
          answer(exchange, status(path), new byte[0]);
        } else if (path.equals(ReplicationBatch.PATH)) {
          List<ReplicationBatch.Entry> entries = ReplicationBatch.decode(body);
          requests.add("POST " + entries.size());
          batchLanes.add(
              String.valueOf(exchange.getRequestHeaders().getFirst(Replicator.LANE_HEADER)));
          if (batchStatus != 200) {
            answer(exchange, batchStatus, "no".getBytes(StandardCharsets.UTF_8));
            return;
          }
          int[] statuses = new int[entries.size()];
          for (int i = 0; i < statuses.length; i++) {
            held.put(entries.get(i).path(), entries.get(i).heldMicros());
            snapshot.put(entries.get(i).path(), entries.get(i).snapshotMicros());
            statuses[i] = status(entries.get(i).path());
          }
          answer(exchange, 200, ReplicationBatch.encodeStatuses(statuses));
        } else {
          answer(exchange, 404, new byte[0]);
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }

    private int status(String path) {
      if (unavailableOnce.remove(path)) {
        return 503;
      }
      if (refused.contains(path)) {
        return 400;
      }
      delivered.add(path);
      return 200;
    }

    private static void answer(HttpExchange exchange, int status, byte[] body) throws IOException {
      exchange.sendResponseHeaders(status, body.length == 0 ? -1 : body.length);
      exchange.getResponseBody().write(body);
    }
  }
}
