package org.chronos.replication;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import ch.qos.logback.classic.spi.ILoggingEvent;
import com.codahale.metrics.MetricRegistry;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.chronos.testing.CallbackServer;
import org.chronos.testing.CallbackServer.Received;
import org.chronos.testing.CallbackServer.Reply;
import org.chronos.testing.LogCapture;
import org.chronos.timer.Clock;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The replicator against a real HTTP peer (a JDK server in this JVM): urgent messages (requests,
 * pops) overtake a resync's bulk backlog, bulk traffic still moves under urgent load, bulk senders
 * wait for room, and synchronous failures do not recurse.
 */
class ReplicatorTest {
  private static final byte[] BODY = "{}".getBytes(StandardCharsets.UTF_8);

  private CallbackServer peer;
  private Replicator replicator;
  private MetricRegistry metrics;
  private LogCapture log;

  @BeforeEach
  void setUp() {
    // Without a logback configuration, HttpClient would log every exchange at DEBUG.
    if (org.slf4j.LoggerFactory.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME)
        instanceof ch.qos.logback.classic.Logger root) {
      root.setLevel(ch.qos.logback.classic.Level.WARN);
    }
    peer = CallbackServer.start();
  }

  @AfterEach
  void tearDown() throws InterruptedException {
    if (replicator != null) {
      replicator.stop(0);
    }
    peer.close();
    if (log != null) {
      log.close();
    }
  }

  /** Single PUTs only. */
  private Replicator start(int maxInFlight, int maxBulkInFlight, int maxBulkQueued) {
    return start(maxInFlight, maxBulkInFlight, maxBulkQueued, 1, 0);
  }

  /** Batches of at most {@code maxBatch} messages and about {@code maxBatchBytes}. */
  private Replicator start(
      int maxInFlight, int maxBulkInFlight, int maxBulkQueued, int maxBatch, int maxBatchBytes) {
    metrics = new MetricRegistry();
    replicator =
        new Replicator(
            Clock.SYSTEM,
            metrics,
            5000,
            100_000,
            maxInFlight,
            maxBulkInFlight,
            maxBulkQueued,
            maxBatch,
            maxBatchBytes,
            7253);
    replicator.start();
    return replicator;
  }

  /** Two timers' paths, for the tests of one timer's messages in order. */
  private static final String TIMER = "/timers/00000000000000a1-2";

  private static final String OTHER = "/timers/00000000000000b2-2";

  private String address() {
    return "127.0.0.1:" + peer.port();
  }

  /** Arrival position (1-based) of the first request to the path. */
  private int arrivalOf(String path) {
    return peer.awaitRequest(path).serial();
  }

  /**
   * One timer's messages to a peer go in order: a later one waits until the earlier one has been
   * answered, while other timers' messages go past. Sent on another connection at once, a create
   * could be taken after the news of its own first pop (the peer would make the pop again), or
   * after its deletion (the timer would come back).
   */
  @Test
  void aTimersLaterMessageWaitsForItsEarlierOneWhileOthersGoPast() {
    start(4, 1, 16);
    peer.respondByNumber(TIMER, n -> n == 1 ? Reply.stall(Duration.ofMillis(1500)) : Reply.ok());

    replicator.send(List.of(address()), TIMER, "{\"create\":1}".getBytes(StandardCharsets.UTF_8));
    Received first = peer.awaitRequest(TIMER);
    replicator.send(List.of(address()), TIMER, "{\"pop\":1}".getBytes(StandardCharsets.UTF_8));
    replicator.send(List.of(address()), OTHER, BODY);

    peer.awaitRequest(OTHER);
    assertThat(peer.requestsTo(TIMER))
        .as("the timer's later message, while the first is out")
        .hasSize(1);
    Received second = peer.awaitRequests(TIMER, 2).get(1);
    assertThat(second.bodyText()).isEqualTo("{\"pop\":1}");
    assertThat(second.arrivalNanos() - first.arrivalNanos())
        .as("sent once the first was answered, 1.5 s after it arrived")
        .isGreaterThanOrEqualTo(Duration.ofMillis(1500).toNanos());
  }

  /**
   * Of the messages about a timer set aside behind its earlier one, one that a later one holds all
   * of (a pop's news, then the next pop's) is not sent: only the latest goes.
   */
  @Test
  void aSetAsideMessageThatALaterOneHoldsAllOfIsNotSent() {
    start(4, 1, 16);
    peer.respondByNumber(TIMER, n -> n == 1 ? Reply.stall(Duration.ofMillis(800)) : Reply.ok());

    replicator.send(List.of(address()), TIMER, timing(1000, 0));
    peer.awaitRequest(TIMER);
    replicator.send(List.of(address()), TIMER, timing(1000, 1));
    replicator.send(List.of(address()), TIMER, timing(1000, 2));

    Received second = peer.awaitRequests(TIMER, 2).get(1);
    assertThat(second.bodyText()).contains("\"sequence-number\":2");
    await("no third message")
        .during(Duration.ofMillis(500))
        .atMost(Duration.ofSeconds(2))
        .until(() -> peer.requestsTo(TIMER).size() == 2);
  }

  /** A replication body as far as ordering goes: the timer's start and sequence number. */
  private static byte[] timing(long start, int sequence) {
    return ("{\"timing\":{\"start-time\":" + start + ",\"sequence-number\":" + sequence + "}}")
        .getBytes(StandardCharsets.UTF_8);
  }

  /**
   * The same where messages go in batches: a message that must go alone (here a body over half the
   * batch size) waits for the batch holding its timer's earlier message, rather than going ahead of
   * it on another connection.
   */
  @Test
  void aTimersMessageThatMustGoAloneWaitsForTheBatchHoldingItsEarlierOne() {
    start(4, 1, 16, 64, 1000);
    String busy = "/timers/00000000000000c3-2";
    peer.respondByNumber(busy, n -> Reply.stall(Duration.ofMillis(500)));
    peer.respondByDefault(
        request ->
            request.path().equals("/timers/batch")
                ? Reply.stall(Duration.ofMillis(500)).withBody("{\"Statuses\":[200,200]}")
                : Reply.ok());
    // A request out, so that the next messages gather into a batch meanwhile.
    replicator.send(List.of(address()), busy, BODY);
    peer.awaitRequest(busy);
    replicator.send(List.of(address()), TIMER, "{\"create\":1}".getBytes(StandardCharsets.UTF_8));
    replicator.send(List.of(address()), OTHER, BODY);
    replicator.send(
        List.of(address()),
        TIMER,
        ("{\"pop\":\"" + "x".repeat(600) + "\"}").getBytes(StandardCharsets.UTF_8));

    Received large = peer.awaitRequests(TIMER, 1).get(0);
    Received batch = peer.awaitRequest("/timers/batch");
    assertThat(batch.bodyText()).contains("create").contains(OTHER);
    assertThat(large.bodyText()).contains("pop");
    assertThat(large.arrivalNanos() - batch.arrivalNanos())
        .as("sent once the batch holding the create was answered, 0.5 s after it arrived")
        .isGreaterThanOrEqualTo(Duration.ofMillis(500).toNanos());
  }

  @Test
  void aPopReplicationOvertakesAResyncBacklog() throws Exception {
    // Each PUT takes the peer 5 ms: 400 bulk messages take at least a second at 2 in flight.
    peer.respondByDefault(request -> Reply.ok().after(Duration.ofMillis(5)));
    Replicator r = start(32, 2, 1000);
    AtomicInteger bulkDelivered = new AtomicInteger();
    for (int i = 0; i < 400; i++) {
      r.sendBulk(
          List.of(address()),
          "/timers/bulk-" + i,
          BODY,
          (to, ok) -> {
            if (ok) {
              bulkDelivered.incrementAndGet();
            }
          });
    }
    peer.awaitRequest("/timers/bulk-0");
    r.send(List.of(address()), "/timers/pop", BODY);

    int popArrival = arrivalOf("/timers/pop");
    // Behind the backlog it would arrive 401st; at once, after the few bulk messages in flight
    // (a loaded machine may let a few dozen more through meanwhile).
    assertThat(popArrival)
        .as("the pop's replication overtakes the 400 bulk messages queued before it")
        .isLessThan(200);
    // The backlog still arrives in full, in order.
    await().atMost(Duration.ofSeconds(20)).until(() -> bulkDelivered.get() == 400);
    List<String> bulkOrder =
        peer.requests().stream()
            .map(Received::path)
            .filter(p -> p.startsWith("/timers/bulk-"))
            .toList();
    assertThat(bulkOrder).hasSize(400);
    assertThat(bulkOrder.subList(0, 2))
        .containsExactlyInAnyOrder("/timers/bulk-0", "/timers/bulk-1");
  }

  @Test
  void bulkTrafficKeepsMovingUnderUrgentLoad() throws Exception {
    peer.respondByDefault(request -> Reply.ok().after(Duration.ofMillis(5)));
    Replicator r = start(4, 1, 100);
    // Enough urgent traffic to keep its lane busy for about 2.5 s (2,000 x 5 ms / 4 in flight).
    for (int i = 0; i < 2000; i++) {
      r.send(List.of(address()), "/timers/urgent-" + i, BODY);
    }
    CountDownLatch bulkDone = new CountDownLatch(20);
    for (int i = 0; i < 20; i++) {
      r.sendBulk(List.of(address()), "/timers/bulk-" + i, BODY, (to, ok) -> bulkDone.countDown());
    }
    assertThat(bulkDone.await(10, TimeUnit.SECONDS)).isTrue();
    int lastBulk = arrivalOf("/timers/bulk-19");
    assertThat(lastBulk)
        .as("bulk messages are not starved until the urgent backlog is sent")
        .isLessThan(1000);
  }

  @Test
  void aBulkSenderWaitsForRoom() throws Exception {
    CountDownLatch release = new CountDownLatch(1);
    peer.respondByDefault(
        request -> {
          try {
            release.await(10, TimeUnit.SECONDS);
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
          }
          return Reply.ok();
        });
    Replicator r = start(32, 2, 5);
    AtomicInteger queued = new AtomicInteger();
    AtomicInteger delivered = new AtomicInteger();
    Thread sender =
        new Thread(
            () -> {
              try {
                for (int i = 0; i < 8; i++) {
                  r.sendBulk(
                      List.of(address()),
                      "/timers/b" + i,
                      BODY,
                      (to, ok) -> delivered.incrementAndGet());
                  queued.incrementAndGet();
                }
              } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
              }
            });
    sender.start();
    // Room for 5 unfinished messages: the sender waits on the sixth while the peer holds them.
    await().until(() -> queued.get() == 5 && sender.getState() == Thread.State.WAITING);
    assertThat(r.pending(address())).isEqualTo(5);
    release.countDown();
    sender.join(10_000);
    assertThat(queued.get()).isEqualTo(8);
    await().until(() -> delivered.get() == 8);
  }

  /**
   * A peer that answers nothing within the grace period of a stop: every message still unfinished
   * then (in flight, queued, set aside behind its timer's earlier one, or waiting to be sent again,
   * in either lane) is reported failed, and the log says how many were abandoned. Dropped silently,
   * a resync counting its copies, or a node waiting to hear whether a leaving timer's new replicas
   * got it, waited forever.
   */
  @Test
  void aStopReportsEveryUnfinishedMessageFailedAndSaysHowManyItAbandoned() throws Exception {
    // Not answered until the test ends, so that the stop finds the requests in flight: its
    // graceful close of the connections waits for them.
    withAnswersHeld(this::stopWithRequestsInFlight);
  }

  /** A test's body. */
  private interface Body {
    void run() throws Exception;
  }

  /** Runs {@code test} while the peer answers nothing (503 once it ends), so requests stay out. */
  private void withAnswersHeld(Body test) throws Exception {
    java.util.concurrent.CountDownLatch answer = new java.util.concurrent.CountDownLatch(1);
    try {
      peer.respondByDefault(CallbackServer.heldUntil(answer, 503));
      test.run();
    } finally {
      answer.countDown();
    }
  }

  private void stopWithRequestsInFlight() throws Exception {
    peer.respond("/timers/retried", request -> Reply.status(503));
    Replicator r = start(2, 1, 16);
    String to = address();
    Map<String, Boolean> outcomes = new ConcurrentHashMap<>();
    java.util.function.Function<String, Replicator.Outcome> told =
        name -> (peerAddress, ok) -> outcomes.put(name, ok);
    log = LogCapture.of(Replicator.class);

    // Answered 503: after its third attempt, waits 2 s before the fourth.
    r.send(List.of(to), "/timers/retried", BODY, told.apply("retried"));
    peer.awaitRequests("/timers/retried", 3);
    await().until(() -> r.pending(to) == 1 && queuedGauge(to) == 1);
    r.send(List.of(to), TIMER, timing(1000, 0), told.apply("create (in flight)"));
    peer.awaitRequest(TIMER);
    r.send(List.of(to), TIMER, timing(1000, 1), told.apply("pop (set aside)"));
    r.send(List.of(to), OTHER, BODY, told.apply("other (in flight)"));
    peer.awaitRequest(OTHER);
    r.send(List.of(to), "/timers/queued", BODY, told.apply("queued"));
    r.sendBulk(List.of(to), "/timers/bulk-1", BODY, told.apply("bulk (in flight)"));
    peer.awaitRequest("/timers/bulk-1");
    r.sendBulk(List.of(to), "/timers/bulk-2", BODY, told.apply("bulk (queued)"));
    assertThat(r.pending(to)).isEqualTo(7);

    r.stop(100);

    await().atMost(Duration.ofSeconds(5)).untilAsserted(() -> assertThat(outcomes).hasSize(7));
    assertThat(outcomes).doesNotContainValue(true);
    assertThat(r.pending(to)).isZero();
    assertThat(log.events())
        .filteredOn(e -> e.getLevel() == ch.qos.logback.classic.Level.WARN)
        .map(ILoggingEvent::getFormattedMessage)
        .anySatisfy(
            line ->
                assertThat(line)
                    .contains("replication to " + to)
                    .contains("4 messages abandoned at stop"));
    // Sent after the stop, news is reported failed too.
    r.send(List.of(to), "/timers/late", BODY, told.apply("late"));
    assertThat(outcomes).containsEntry("late", false);
  }

  /**
   * A stop by a thread already interrupted (a resync warm-up round the node's stop interrupted,
   * closing its replicator) still closes: it gave up waiting at once and left the replicator open,
   * its client and threads kept and its messages never reported.
   */
  @Test
  void aStopByAnInterruptedThreadStillClosesAndReportsWhatItAbandoned() throws Exception {
    withAnswersHeld(this::stopByAnInterruptedThread);
  }

  private void stopByAnInterruptedThread() throws Exception {
    Replicator r = start(1, 1, 16);
    String to = address();
    Map<String, Boolean> outcomes = new ConcurrentHashMap<>();
    r.send(List.of(to), TIMER, BODY, (peerAddress, ok) -> outcomes.put("in flight", ok));
    peer.awaitRequest(TIMER);
    r.send(List.of(to), OTHER, BODY, (peerAddress, ok) -> outcomes.put("queued", ok));

    Thread.currentThread().interrupt();
    try {
      assertThatThrownBy(() -> r.stop(5000)).isInstanceOf(InterruptedException.class);
    } finally {
      Thread.interrupted();
    }

    assertThat(outcomes).containsEntry("queued", false);
    await().atMost(Duration.ofSeconds(5)).until(() -> outcomes.containsKey("in flight"));
    assertThat(outcomes).containsEntry("in flight", false);
    r.send(List.of(to), "/timers/late", BODY, (peerAddress, ok) -> outcomes.put("late", ok));
    assertThat(outcomes).containsEntry("late", false);
    await().atMost(Duration.ofSeconds(5)).until(() -> r.pending(to) == 0);
  }

  /**
   * A stop whose grace period has run out does not wait longer for a peer that never answers: the
   * requests still in flight then are ended at once and reported failed. The graceful close of the
   * connections used to wait for them, adding seconds to every stop of a node whose peer was down.
   */
  @Test
  void aStopDoesNotWaitPastItsGracePeriodForAPeerThatNeverAnswers() throws Exception {
    peer.respondByDefault(request -> Reply.ok().after(Duration.ofSeconds(30)));
    Replicator r = start(1, 1, 16);
    String to = address();
    Map<String, Boolean> outcomes = new ConcurrentHashMap<>();
    AtomicInteger told = new AtomicInteger();
    r.send(
        List.of(to),
        TIMER,
        BODY,
        (peerAddress, ok) -> {
          told.incrementAndGet();
          outcomes.put("in flight", ok);
        });
    peer.awaitRequest(TIMER);

    long started = System.nanoTime();
    r.stop(100);
    long tookMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started);

    await().atMost(Duration.ofSeconds(5)).until(() -> outcomes.containsKey("in flight"));
    assertThat(outcomes).containsEntry("in flight", false);
    assertThat(told).as("its sender told once").hasValue(1);
    assertThat(tookMillis).as("stop took %d ms", tookMillis).isLessThan(4_000);
  }

  /** The peer's {@code .queued} gauge: queued, set aside or waiting to be sent again. */
  private int queuedGauge(String address) {
    return (Integer)
        metrics.getGauges().get("chronos.replication." + address + ".queued").getValue();
  }

  @Test
  void manyMessagesFailingSynchronouslyDoNotRecurse() throws Exception {
    Replicator r = start(32, 2, 10);
    r.retryFor(1_200); // three attempts each, as many as it takes to show a recursion
    // A space in the address makes the URI invalid: every attempt fails inside execute itself.
    AtomicInteger failed = new AtomicInteger();
    for (int i = 0; i < 20_000; i++) {
      r.send(List.of("bad peer:1"), "/timers/x" + i, BODY, (to, ok) -> failed.incrementAndGet());
    }
    await().atMost(Duration.ofSeconds(20)).until(() -> failed.get() == 20_000);
    assertThat(r.pending("bad peer:1")).isZero();
  }
}
