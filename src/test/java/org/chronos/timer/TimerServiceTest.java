package org.chronos.timer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Consumer;
import org.chronos.testing.ManualClock;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class TimerServiceTest {
  static final long T0 = 1_700_000_000_000L;

  /**
   * A callback sink the test answers by hand; can be told it is full, or that one target has as
   * many callbacks in flight as it may.
   */
  static final class FakeSink implements CallbackSink {
    record Sent(Pop pop, Consumer<CallbackOutcome> done) {}

    final ConcurrentLinkedQueue<Sent> pending = new ConcurrentLinkedQueue<>();
    final List<Pop> sent = new CopyOnWriteArrayList<>();
    volatile int capacity = Integer.MAX_VALUE;
    volatile int perTargetCapacity = Integer.MAX_VALUE;
    final AtomicInteger inFlight = new AtomicInteger();
    final java.util.Map<String, AtomicInteger> inFlightByTarget =
        new java.util.concurrent.ConcurrentHashMap<>();
    final AtomicInteger throwOnNext = new AtomicInteger();

    @Override
    public Handed trySend(Pop pop, Consumer<CallbackOutcome> whenDone) {
      if (throwOnNext.getAndUpdate(n -> Math.max(0, n - 1)) > 0) {
        throw new IllegalStateException("a bug in the callback client");
      }
      if (inFlight.get() >= capacity) {
        return Handed.FULL;
      }
      AtomicInteger toTarget =
          inFlightByTarget.computeIfAbsent(pop.target(), t -> new AtomicInteger());
      if (toTarget.get() >= perTargetCapacity) {
        return Handed.TARGET_BUSY;
      }
      toTarget.incrementAndGet();
      inFlight.incrementAndGet();
      sent.add(pop);
      pending.add(new Sent(pop, whenDone));
      return Handed.SENT;
    }

    void answerAll(boolean success) {
      Sent s;
      while ((s = pending.poll()) != null) {
        answer(s, success);
      }
    }

    /** Answers the callbacks in flight for one timer. */
    void answer(long timerId, boolean success) {
      for (Sent s : pending) {
        if (s.pop().timerId() == timerId && pending.remove(s)) {
          answer(s, success);
        }
      }
    }

    private void answer(Sent s, boolean success) {
      inFlightByTarget.get(s.pop().target()).decrementAndGet();
      inFlight.decrementAndGet();
      s.done().accept(success ? CallbackOutcome.succeeded("200") : CallbackOutcome.failed("503"));
    }
  }

  private final ManualClock clock = new ManualClock(T0);
  private final FakeSink sink = new FakeSink();
  private final List<String> events = new CopyOnWriteArrayList<>();
  private final TimerService service =
      new TimerService(
          clock,
          1,
          4,
          100,
          sink,
          new TimerEvents() {
            @Override
            public void callbackFailed(Pop pop, CallbackOutcome outcome, boolean dropped) {
              events.add("failed dropped=" + dropped);
            }

            @Override
            public void callbackSucceeded(Pop pop, Timer timer) {
              // Without the timer, the node cannot tell the other replicas the pop was made.
              events.add(timer != null ? "succeeded" : "succeeded, timer gone");
            }
          },
          TimerStore.Listener.NONE);

  @AfterEach
  void stop() throws InterruptedException {
    service.stop(5000);
  }

  static Timer timer(long id, long intervalMs, long repeatForMs) {
    return timerTo("http://cb/" + id, id, intervalMs, repeatForMs);
  }

  private void advance(long millis) {
    clock.advance(millis);
    service.wakeUp();
  }

  private int held() {
    return service.query(TimerStore::size).join();
  }

  /**
   * A pop whose handing to the callback client throws (a bug) must not end the timer thread, or the
   * node would go on answering 200 to timers that never pop: that timer is tried again a second
   * later, and the others pop on time.
   */
  @Test
  void aPopWhoseHandlingThrowsDoesNotEndTheTimerThread() {
    service.start();
    sink.throwOnNext.set(1);
    assertThat(service.store(timer(1, 10, 10))).isTrue();
    assertThat(service.store(timer(2, 20, 20))).isTrue();
    assertThat(held()).isEqualTo(2);

    advance(20);
    await().atMost(Duration.ofSeconds(5)).until(() -> sink.sent.size() == 1);
    assertThat(sink.sent.get(0).timerId()).as("the other timer, on time").isEqualTo(2);
    advance(TimerService.BROKEN_POP_RETRY_MILLIS);
    await().atMost(Duration.ofSeconds(5)).until(() -> sink.sent.size() == 2);
    assertThat(sink.sent.get(1).timerId())
        .as("the one whose pop threw, a second later")
        .isEqualTo(1);
  }

  /**
   * A timer that falls due while the timer thread works through queued commands pops before the
   * next command, not after the whole run of them: a burst of requests or a resync's merges must
   * not make pops late. Here the first queued command takes "10 ms" (it moves the clock past the
   * due time) and the one after it sees whether the pop has gone out.
   */
  @Test
  void aTimerFallingDueDuringARunOfCommandsPopsBeforeTheNextCommand() throws Exception {
    service.start();
    assertThat(service.store(timer(1, 10, 10))).isTrue();
    assertThat(held()).isEqualTo(1);
    CountDownLatch hold = new CountDownLatch(1);
    CountDownLatch holding = new CountDownLatch(1);
    // Holds the timer thread so that the next two commands are queued together.
    assertThat(
            service.submit(
                () -> {
                  holding.countDown();
                  awaitQuietly(hold);
                }))
        .isTrue();
    assertThat(holding.await(5, TimeUnit.SECONDS)).isTrue();
    assertThat(service.submit(() -> clock.advance(10))).isTrue();
    // A plain command (a query would poll what is due itself before answering).
    CompletableFuture<Integer> sentBeforeNextCommand = new CompletableFuture<>();
    assertThat(service.submit(() -> sentBeforeNextCommand.complete(sink.sent.size()))).isTrue();
    hold.countDown();
    assertThat(sentBeforeNextCommand.get(5, TimeUnit.SECONDS)).isEqualTo(1);
  }

  /**
   * After {@link TimerService#stopPopping} (a node shutting down) a timer already due stays due;
   * the thread must then wait for commands and callback outcomes, not go round its loop without
   * ever parking, which burned a core for the whole shutdown grace period.
   */
  @Test
  void aServiceNoLongerPoppingWaitsInsteadOfSpinningOnATimerThatIsDue() {
    service.start();
    assertThat(service.store(timer(1, 10, 10))).isTrue();
    assertThat(held()).isEqualTo(1);
    service.stopPopping();
    advance(20);
    assertThat(held()).isEqualTo(1);
    await("the timer thread parked")
        .atMost(Duration.ofSeconds(5))
        .pollInterval(Duration.ofMillis(5))
        .until(() -> service.thread.getState() == Thread.State.TIMED_WAITING);
    assertThat(sink.sent).isEmpty();
  }

  private static void awaitQuietly(CountDownLatch latch) {
    try {
      assertThat(latch.await(5, TimeUnit.SECONDS)).isTrue();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  @Test
  void popsOnlyWhenTheClockReachesTheDueTimeWithIncreasingSequenceNumbers() {
    service.start();
    assertThat(service.store(timer(1, 1000, 3000))).isTrue();
    assertThat(held()).isEqualTo(1);
    advance(999);
    assertThat(held()).isEqualTo(1);
    assertThat(sink.sent).isEmpty();
    for (int k = 1; k <= 3; k++) {
      advance(k == 1 ? 1 : 1000);
      int expected = k;
      await().atMost(Duration.ofSeconds(5)).until(() -> sink.sent.size() == expected);
      sink.answerAll(true);
    }
    assertThat(sink.sent).extracting(Pop::sequence).containsExactly(1, 2, 3);
    assertThat(sink.sent.get(0).uri()).isEqualTo("http://cb/1");
    assertThat(new String(sink.sent.get(0).opaque(), StandardCharsets.UTF_8)).isEqualTo("opaque1");
    assertThat(sink.sent)
        .extracting(Pop::dueMillis)
        .containsExactly(T0 + 1000, T0 + 2000, T0 + 3000);
    await().until(() -> events.size() == 3);
    assertThat(events).containsOnly("succeeded");
  }

  @Test
  void failedCallbackDropsTheTimerSoARepeatingTimerStops() {
    service.start();
    service.store(timer(2, 1000, 10_000));
    advance(1000);
    await().until(() -> sink.sent.size() == 1);
    sink.answerAll(false);
    await().until(() -> events.contains("failed dropped=true"));
    assertThat(held()).isZero();
    advance(5000);
    assertThat(held()).isZero();
    assertThat(sink.sent).hasSize(1);
  }

  @Test
  void deleteLeavesATombstoneThatNeverPops() {
    service.start();
    service.store(timer(3, 1000, 1000));
    service.delete(3, 2);
    Timer stored = service.query(s -> s.get(3)).join();
    assertThat(stored.isTombstone()).isTrue();
    assertThat(stored.intervalMillis()).isEqualTo(1000);
    advance(1000);
    await().until(() -> held() == 0);
    assertThat(sink.sent).isEmpty();
  }

  @Test
  void deleteOfAnUnknownTimerLeavesATombstoneForTenSeconds() {
    service.start();
    service.delete(4, 2);
    assertThat(held()).isEqualTo(1);
    advance(9_999);
    assertThat(held()).isEqualTo(1);
    advance(1);
    await().until(() -> held() == 0);
  }

  @Test
  void aFullCallbackSinkDelaysPopsInsteadOfDroppingThem() {
    sink.capacity = 1;
    service.start();
    service.store(timer(5, 1000, 1000));
    service.store(timer(6, 1000, 1000));
    advance(1000);
    await().until(() -> sink.sent.size() == 1);
    assertThat(held()).isEqualTo(2);
    assertThat(sink.sent).hasSize(1);
    sink.answerAll(true);
    await().until(() -> sink.sent.size() == 2);
    sink.answerAll(true);
    assertThat(sink.sent).extracting(Pop::timerId).containsExactlyInAnyOrder(5L, 6L);
  }

  static Timer timerTo(String uri, long id, long intervalMs, long repeatForMs) {
    return new Timer(
        id,
        2,
        T0,
        intervalMs,
        repeatForMs,
        0,
        uri,
        ("opaque" + id).getBytes(StandardCharsets.UTF_8),
        List.of());
  }

  private List<Long> sentIds() {
    return sink.sent.stream().map(Pop::timerId).toList();
  }

  /**
   * A target with as many callbacks in flight as one target may (one that does not answer) holds
   * back its own pops only: another target's timers, due at the same time and later, pop on time,
   * and the held pops go out, oldest first, as that target's callbacks answer.
   */
  @Test
  void aTargetAtItsCapHoldsBackOnlyItsOwnPops() {
    sink.perTargetCapacity = 1;
    service.start();
    service.store(timerTo("http://dead:81/a", 1, 1000, 1000));
    service.store(timerTo("http://dead:81/b", 2, 1000, 1000));
    service.store(timerTo("http://live:82/a", 3, 1000, 1000));
    assertThat(held()).isEqualTo(3); // the command queue holds 4
    service.store(timerTo("http://dead:81/c", 4, 1010, 1010));
    service.store(timerTo("http://live:82/b", 5, 1020, 1020));
    assertThat(held()).isEqualTo(5);

    advance(1000);
    await().until(() -> sentIds().containsAll(List.of(1L, 3L)));
    // The gauges are published at the end of a round: a query's round trip comes after it.
    held();
    assertThat(service.waitingForTargetCount()).isEqualTo(1);
    sink.answer(3, true); // the live target answers
    advance(20);
    await().until(() -> sentIds().contains(5L));
    assertThat(sentIds()).as("the live target's pops, on time").containsExactly(1L, 3L, 5L);
    held();
    assertThat(service.waitingForTargetCount()).isEqualTo(2);
    assertThat(service.oldestWaitingForTargetMillis()).isEqualTo(T0 + 1000);
    assertThat(service.oldestDueMillis())
        .as("pops held for their target do not make the timer thread look behind")
        .isEqualTo(Long.MAX_VALUE);

    sink.answer(1, true);
    await().until(() -> sink.sent.size() == 4);
    assertThat(sentIds().get(3)).as("the oldest held pop first").isEqualTo(2);
    sink.answer(2, false);
    await().until(() -> sink.sent.size() == 5);
    assertThat(sentIds().get(4)).isEqualTo(4);
    held();
    assertThat(service.waitingForTargetCount()).isZero();
    assertThat(service.oldestWaitingForTargetMillis()).isEqualTo(Long.MAX_VALUE);
    assertThat(sink.sent)
        .as("each made once, with its own due time")
        .extracting(Pop::timerId, Pop::dueMillis)
        .containsExactly(
            org.assertj.core.groups.Tuple.tuple(1L, T0 + 1000),
            org.assertj.core.groups.Tuple.tuple(3L, T0 + 1000),
            org.assertj.core.groups.Tuple.tuple(5L, T0 + 1020),
            org.assertj.core.groups.Tuple.tuple(2L, T0 + 1000),
            org.assertj.core.groups.Tuple.tuple(4L, T0 + 1010));
  }

  /**
   * A pop held for its target is made as the timer is when its turn comes: a timer updated while
   * held pops as updated, at its new time, and one deleted while held does not pop.
   */
  @Test
  void aTimerChangedWhileItsPopIsHeldPopsAsItIsThen() {
    sink.perTargetCapacity = 1;
    service.start();
    service.store(timerTo("http://dead:81/a", 1, 1000, 1000));
    service.store(timerTo("http://dead:81/b", 2, 1000, 1000));
    service.store(timerTo("http://dead:81/c", 3, 1000, 1000));
    assertThat(held()).isEqualTo(3);
    advance(1000);
    await().until(() -> service.waitingForTargetCount() == 2);

    Timer updated =
        new Timer(
            2,
            2,
            T0 + 1000,
            500,
            500,
            0,
            "http://dead:81/b2",
            "updated".getBytes(StandardCharsets.UTF_8),
            List.of());
    service.store(updated);
    service.delete(3, 2);
    assertThat(held()).isEqualTo(3);
    await("replaced and deleted timers no longer counted as held for their target")
        .until(() -> service.waitingForTargetCount() == 0);
    sink.answer(1, true);
    // The held copies are passed over; the updated timer is due 500 ms on. Two round trips: the
    // outcome's round offers the held pops only in the round after it.
    held();
    assertThat(held()).isEqualTo(3);
    assertThat(sentIds()).containsExactly(1L);
    advance(500);
    await().until(() -> sink.sent.size() == 2);
    Pop pop = sink.sent.get(1);
    assertThat(pop.uri()).isEqualTo("http://dead:81/b2");
    assertThat(new String(pop.opaque(), StandardCharsets.UTF_8)).isEqualTo("updated");
    sink.answerAll(true);
    advance(10_000);
    // Two round trips through the timer thread: the second runs after a round that polled.
    held();
    held();
    assertThat(sentIds()).as("the deleted timer never popped").containsExactly(1L, 2L);
  }

  @Test
  void refusesCommandsWhenTheQueueIsFullAndLosesNoneItAccepted() {
    // Not started: nothing drains the queue of capacity 4.
    for (int i = 0; i < 4; i++) {
      assertThat(service.store(timer(100 + i, 1000, 1000))).isTrue();
    }
    assertThat(service.store(timer(200, 1000, 1000))).isFalse();
    assertThat(service.delete(201, 2)).isFalse();
    service.start();
    assertThat(held()).isEqualTo(4);
  }

  @Test
  void reportsHeartbeatAndLag() {
    service.start();
    service.store(timer(7, 1000, 1000));
    assertThat(held()).isEqualTo(1);
    assertThat(service.isAlive()).isTrue();
    assertThat(service.oldestDueMillis()).isEqualTo(Long.MAX_VALUE);
    advance(1000);
    await().until(() -> sink.sent.size() == 1);
    await().until(() -> service.heartbeatMillis() >= T0 + 1000);
  }

  @Test
  void stopReportsHowManyTimersWereStillHeld() throws InterruptedException {
    service.start();
    service.store(timer(8, 60_000, 60_000));
    service.store(timer(9, 60_000, 60_000));
    service.delete(9, 2);
    assertThat(held()).isEqualTo(2);
    int[] counts = service.stop(5000);
    assertThat(counts).containsExactly(1, 1);
    assertThat(service.isAlive()).isFalse();
  }

  /**
   * Once the timer thread has stopped, a query fails and a command is refused at once: nothing
   * would ever run them, and a caller waiting for the answer (a resync page being served as the
   * node stopped) waited forever.
   */
  @Test
  void afterTheThreadHasStoppedAQueryFailsAndACommandIsRefusedAtOnce() throws Exception {
    service.start();
    service.stop(5000);
    assertThat(service.isAlive()).isFalse();

    CompletableFuture<Integer> query = service.query(TimerStore::size);
    assertThat(query).isCompletedExceptionally();
    assertThat(service.queryBackground(TimerStore::size)).isCompletedExceptionally();
    assertThat(service.store(timer(8, 60_000, 60_000))).isFalse();
    assertThat(service.queuedCommands()).isZero();
    // More than the queue holds: once stopped, a query neither waits for room nor stays queued.
    // (One put in the instant between the thread's last look and its stop is taken back by its
    // caller, takeBackIfStopped; this test does not reach that instant.)
    for (int i = 0; i < 10; i++) {
      assertThat(service.query(TimerStore::size)).isCompletedExceptionally();
    }
  }

  /** Background work on the timer thread that "takes" {@code micros} of the manual clock. */
  private CompletableFuture<Integer> backgroundTaking(long micros, AtomicInteger runs) {
    return service.queryBackground(
        store -> {
          clock.setMicros(clock.micros() + micros);
          return runs.incrementAndGet();
        });
  }

  @Test
  void backgroundWorkOverItsShareWaitsForTheIdleTimeItOwes() throws Exception {
    service.start();
    service.limitBackgroundShare(0.25);
    AtomicInteger runs = new AtomicInteger();
    assertThat(backgroundTaking(100, runs).join()).isEqualTo(1);

    // 100 us of work at a quarter share owes 300 us of idle time before the next may run.
    CompletableFuture<Integer> second = new CompletableFuture<>();
    Thread caller =
        new Thread(() -> second.complete(backgroundTaking(0, runs).join()), "background-caller");
    caller.start();
    await().until(() -> LockSupport.getBlocker(caller) == service);
    assertThat(runs).hasValue(1);
    clock.setMicros(clock.micros() + 300);
    assertThat(second.get(5, TimeUnit.SECONDS)).isEqualTo(2);
    caller.join();

    // A query that is not background work never waits its turn.
    backgroundTaking(400, runs).join();
    assertThat(service.query(store -> runs.incrementAndGet()).get(5, TimeUnit.SECONDS))
        .isEqualTo(4);
  }

  @Test
  void unpacedBackgroundWorkRunsBackToBack() throws Exception {
    service.start();
    AtomicInteger runs = new AtomicInteger();
    backgroundTaking(1000, runs).join();
    // Nothing moves the clock now: had it to wait for one, this would never finish.
    assertThat(backgroundTaking(0, runs).get(5, TimeUnit.SECONDS)).isEqualTo(2);
    assertThat(service.backgroundShare()).isEqualTo(1.0);
  }

  /** Waits until the timer thread holds off new commands after a round that ran some. */
  private void awaitHolding() {
    awaitQuickly("the timer thread holding off commands", service::holding);
  }

  /**
   * Waits until the timer thread is parked between rounds, so that a command window set next cannot
   * be seen by the end of a round that ran earlier commands: that round would hold off, and a
   * command submitted meanwhile would wait for the window instead of being taken at once.
   */
  private void awaitParked() {
    awaitQuickly(
        "the timer thread parked",
        () -> !service.holding() && service.thread.getState() == Thread.State.TIMED_WAITING);
  }

  /** Polls every millisecond (the thread's steps are that short) for up to 5 s. */
  private static void awaitQuickly(String what, Callable<Boolean> condition) {
    await(what).atMost(Duration.ofSeconds(5)).pollInterval(Duration.ofMillis(1)).until(condition);
  }

  /**
   * With a command window (a timer thread under a real-time policy), a command that comes while the
   * thread holds off after a round of commands waits until the window has passed, by the clock: not
   * when it arrives, and not when something else wakes the thread earlier.
   */
  @Test
  void underACommandWindowACommandWaitsForTheWindowToPass() throws Exception {
    service.batchCommands(TimeUnit.MILLISECONDS.toNanos(5));
    service.start();
    // After a quiet spell a command is taken at once (nothing moves the clock here).
    assertThat(service.query(store -> clock.millis()).get(5, TimeUnit.SECONDS)).isEqualTo(T0);
    awaitHolding();

    int wakeups = service.holdWakeups();
    CompletableFuture<Long> next = service.query(store -> clock.millis());
    advance(4); // wakes the thread: still inside the window
    awaitQuickly(
        "the timer thread back to holding off",
        () ->
            service.holdWakeups() > wakeups
                && service.thread.getState() == Thread.State.TIMED_WAITING);
    assertThat(next).isNotDone();
    advance(1);
    assertThat(next.get(5, TimeUnit.SECONDS)).isEqualTo(T0 + 5);
  }

  /** A timer due within the window pops on time: the window only gathers commands. */
  @Test
  void aCommandWindowEndsWhenATimerFallsDue() throws Exception {
    service.start();
    assertThat(service.store(timer(1, 3, 3))).isTrue();
    assertThat(held()).isEqualTo(1);
    awaitParked();
    service.batchCommands(TimeUnit.HOURS.toNanos(1));
    assertThat(service.query(store -> clock.millis()).get(5, TimeUnit.SECONDS)).isEqualTo(T0);
    awaitHolding();

    CompletableFuture<Long> next = service.query(store -> clock.millis());
    advance(3);
    assertThat(next.get(5, TimeUnit.SECONDS)).isEqualTo(T0 + 3);
    await("the pop").atMost(Duration.ofSeconds(5)).until(() -> sink.sent.size() == 1);
    assertThat(sink.sent.get(0).dueMillis()).isEqualTo(T0 + 3);
  }

  /** A callback outcome ends the window: it frees a callback slot the next pops may need. */
  @Test
  void aLastPopStaysThisNodesCopyUntilItsCallbackAnswersHoweverLateThatIs() throws Exception {
    // One pop, interval 1 s; the callback answers 3 s later (a client slower than the interval,
    // or a pop made late), after the tombstone's own time is up.
    service.start();
    assertThat(service.store(timer(1, 1000, 1000))).isTrue();
    advance(1000);
    await("the pop").atMost(Duration.ofSeconds(5)).until(() -> sink.pending.size() == 1);
    advance(3000);
    // Past its time, the tombstone is due: a query polls what is due before it answers.
    assertThat(held()).as("the tombstone, kept while the callback is out").isEqualTo(1);

    sink.answerAll(true);

    await("the outcome").atMost(Duration.ofSeconds(5)).until(() -> events.size() == 1);
    assertThat(events).containsExactly("succeeded");
    // Then it goes, at its next look.
    advance(200);
    await("the tombstone forgotten").atMost(Duration.ofSeconds(5)).until(() -> held() == 0);
  }

  /**
   * A last pop made 3 s late (interval 1 s): its tombstone lives an interval from the pop, as a
   * deletion's does, not from the time the pop was due, which had passed; forgotten at once, it
   * could not keep late news of an earlier pop from bringing the timer back.
   */
  @Test
  void aLastPopMadeLateLeavesATombstoneForAnIntervalFromThePop() throws Exception {
    service.start();
    assertThat(service.store(timer(1, 1000, 1000))).isTrue();
    advance(4000);
    await("the pop").atMost(Duration.ofSeconds(5)).until(() -> sink.pending.size() == 1);
    sink.answerAll(true);
    await("the outcome").atMost(Duration.ofSeconds(5)).until(() -> events.size() == 1);

    advance(999);
    held(); // a round that has looked at what is due (commands run before the look)
    assertThat(held()).as("the tombstone, an interval after the pop less 1 ms").isEqualTo(1);
    advance(1);
    await("the tombstone forgotten").atMost(Duration.ofSeconds(5)).until(() -> held() == 0);
  }

  @Test
  void aCommandWindowEndsWhenACallbackOutcomeArrives() throws Exception {
    service.start();
    assertThat(service.store(timer(1, 3, 3))).isTrue();
    assertThat(service.store(timer(2, 1000, 1000))).isTrue();
    advance(3);
    await("the pop").atMost(Duration.ofSeconds(5)).until(() -> sink.pending.size() == 1);
    awaitParked();
    service.batchCommands(TimeUnit.HOURS.toNanos(1));
    assertThat(service.query(store -> clock.millis()).get(5, TimeUnit.SECONDS)).isEqualTo(T0 + 3);
    awaitHolding();

    CompletableFuture<Long> next = service.query(store -> clock.millis());
    sink.answerAll(true);
    assertThat(next.get(5, TimeUnit.SECONDS)).isEqualTo(T0 + 3);
    // The outcome is handled in the same round, after the commands.
    await("the outcome handled")
        .atMost(Duration.ofSeconds(5))
        .until(() -> events.equals(List.of("succeeded")));
  }

  /** Stopping ends a window at once, and commands still queued are answered. */
  @Test
  void stoppingEndsACommandWindow() throws Exception {
    service.batchCommands(TimeUnit.HOURS.toNanos(1));
    service.start();
    service.query(store -> null).get(5, TimeUnit.SECONDS);
    awaitHolding();
    CompletableFuture<Integer> queued = service.query(TimerStore::size);

    service.stop(5000);
    assertThat(service.isAlive()).isFalse();
    assertThat(queued).isCompletedWithValue(0);
  }
}
