package org.chronos.timer;

import java.util.ArrayList;
import java.util.List;
import java.util.Queue;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Consumer;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Owns the timer thread, which alone touches the {@link TimerStore}. Any thread may call the public
 * methods: they hand commands to the timer thread and return at once.
 *
 * <p>Two queues feed the thread. Client commands go through a bounded queue, and a full queue is
 * refused (the HTTP layer answers 503), so nothing is accepted and then lost. Internal work
 * (callback outcomes, queries) goes through an unbounded queue, bounded in practice by the number
 * of callbacks in flight, because an outcome must never be dropped.
 *
 * <p>The thread never does I/O: due timers go to the {@link CallbackSink}, whose completions come
 * back as internal commands. Between rounds it parks until the wheel's next work or a command.
 */
public final class TimerService {
  private static final Logger LOG = LoggerFactory.getLogger(TimerService.class);
  private static final long MAX_PARK_MICROS = 50_000;
  // How often a tombstone kept for a callback still out looks again whether it has answered.
  private static final long OUTCOME_RECHECK_MILLIS = 100;

  /** When a pop whose handing to the callback sink threw is tried again. */
  static final long BROKEN_POP_RETRY_MILLIS = 1000;

  // Longest a queryBackground waits for its turn, whatever the clock says it owes.
  private static final long MAX_BACKGROUND_WAIT_MILLIS = 100;

  private final Clock clock;
  private final TimerStore store;
  private final CallbackSink callbacks;
  private final TimerEvents events;
  private final BlockingQueue<Runnable> commands;
  private final Queue<Runnable> internal = new ConcurrentLinkedQueue<>();
  private final int maxWorkPerRound;
  // Package-private for tests (its state shows whether it waits or runs).
  final Thread thread;

  // Background work's share of the timer thread (limitBackgroundShare): 1 is unpaced.
  private volatile double backgroundShare = 1.0;
  // Clock nanos before which the next background query waits; -1 for none. Written by the timer
  // thread after each paced query, read and cleared under backgroundTurn.
  private volatile long backgroundNotBefore = -1;
  private final Object backgroundTurn = new Object();

  // Timer thread only: for each timer with a callback out, the pops out: a Pop, or an ArrayDeque
  // of them, oldest first, when its callbacks take longer than its interval. A pop is not made
  // until its callback succeeds, so a resync page serves the timer as it was before the oldest
  // (popOut), and a tombstone whose last pop's callback is out is kept past its time until the
  // callback answers (onDue).
  private final java.util.Map<Timer, Object> popsOut = new java.util.IdentityHashMap<>();

  private volatile boolean running;
  // Set by the timer thread once it has stopped taking commands, before its last look at the
  // queue: a command put after that look is taken back by whoever put it (see takeBackIfStopped).
  private volatile boolean stopped;
  private volatile boolean popping = true;
  private volatile boolean parked;
  // Under a real-time policy (batchCommands): how long, in clock nanos, the thread waits after a
  // round that ran commands before it takes more; 0 for not at all. holding: it is waiting so.
  private volatile long commandWindowNanos;
  private volatile boolean holding;
  private volatile int holdWakeups;
  private volatile long heartbeatMillis;
  private volatile long oldestDueMillis = Long.MAX_VALUE;
  private volatile int held;
  private volatile int live;
  private boolean sinkFull;

  // Timer thread only: due timers whose target had all the callbacks in flight it may have
  // (CallbackSink.Handed.TARGET_BUSY), oldest first, by target. They are set aside in the store
  // (out of the wheel, still stored); one replaced or removed meanwhile is no longer aside, and is
  // passed over when its turn comes. A round after a callback outcome offers the oldest of each
  // target again, before the wheel's new pops.
  private final java.util.Map<String, java.util.ArrayDeque<Timer>> waiting =
      new java.util.LinkedHashMap<>();
  // Entries in the queues of waiting, passed-over ones included (timer thread only).
  private int waitingEntries;
  // Whether a callback outcome (which frees a slot) came since waiting was last offered.
  private boolean offerWaitingAgain;
  private volatile int waitingCount;
  private volatile long oldestWaitingMillis = Long.MAX_VALUE;

  public TimerService(
      Clock clock,
      long tickMillis,
      int commandQueueCapacity,
      int maxWorkPerRound,
      CallbackSink callbacks,
      TimerEvents events,
      TimerStore.Listener storeListener) {
    if (commandQueueCapacity < 1 || maxWorkPerRound < 1) {
      throw new IllegalArgumentException(
          "queue capacity and work per round must be >= 1: "
              + commandQueueCapacity
              + ", "
              + maxWorkPerRound);
    }
    this.clock = clock;
    this.store = new TimerStore(tickMillis, clock.millis(), storeListener);
    this.callbacks = callbacks;
    this.events = events;
    this.commands = new ArrayBlockingQueue<>(commandQueueCapacity);
    this.maxWorkPerRound = maxWorkPerRound;
    this.thread = new Thread(this::run, "chronos-timer");
    this.thread.setDaemon(true);
    // Above other threads where the OS is told Java priorities (see AsyncHttp.POPS); the value is
    // Thread.MAX_PRIORITY, written out because the timer package does not depend on http.
    this.thread.setPriority(Thread.MAX_PRIORITY);
    this.heartbeatMillis = clock.millis();
  }

  public void start() {
    running = true;
    thread.start();
  }

  /**
   * Stops popping timers (at shutdown) while still handling commands, queries and callback
   * outcomes, so callbacks in flight are accounted for and replicated.
   */
  public void stopPopping() {
    popping = false;
    wakeUp();
  }

  /** Stops the thread and returns how many timers (live, tombstones) were still held. */
  public int[] stop(long timeoutMillis) throws InterruptedException {
    running = false;
    LockSupport.unpark(thread);
    thread.join(timeoutMillis);
    if (thread.isAlive()) {
      LOG.error("timer thread did not stop within {} ms", timeoutMillis);
    }
    return new int[] {live, held - live};
  }

  /**
   * Stores a timer, replacing any with the same id.
   *
   * @return false if the command queue is full (the caller should answer 503)
   */
  public boolean store(Timer timer) {
    return submit(() -> doStore(timer));
  }

  /**
   * Replaces a timer by a tombstone (PROTOCOL.md section 5), or records a tombstone for an unknown
   * one, so that a late replication cannot resurrect it.
   *
   * @return false if the command queue is full
   */
  public boolean delete(long id, int replicationFactor) {
    return submit(() -> doDelete(id, replicationFactor));
  }

  /**
   * Runs a client command on the timer thread; false if the queue is full, or the thread has
   * stopped (the node is shutting down).
   */
  public boolean submit(Runnable command) {
    if (stopped || !commands.offer(command)) {
      return false;
    }
    if (takeBackIfStopped(command)) {
      return false;
    }
    signal();
    return true;
  }

  /**
   * After putting a command: whether the thread had stopped without taking it, in which case it is
   * taken back (nothing would ever run it). A command the thread took in its last look runs there.
   */
  private boolean takeBackIfStopped(Runnable command) {
    return stopped && commands.remove(command);
  }

  /** Runs a client command on the timer thread with the store; false if the queue is full. */
  public boolean execute(Consumer<TimerStore> command) {
    return submit(() -> command.accept(store));
  }

  /**
   * Runs a function of the store on the timer thread, after every command submitted before it;
   * never refused while the thread runs. From another thread it waits for room in the command queue
   * (its caller waits for the answer anyway); from the timer thread itself it goes to the internal
   * queue, since waiting there for room would wait forever. Once the thread has stopped it fails at
   * once ({@link IllegalStateException}): a node serving another's resync page as it stopped left
   * the request thread waiting for an answer forever.
   */
  public <T> CompletableFuture<T> query(Function<TimerStore, T> function) {
    CompletableFuture<T> result = new CompletableFuture<>();
    Runnable task =
        () -> {
          try {
            // The answer reflects the pops due by now, whatever else this round has done.
            pollDue();
            result.complete(function.apply(store));
          } catch (RuntimeException e) {
            result.completeExceptionally(e);
          }
        };
    if (Thread.currentThread() == thread) {
      internal.add(task);
    } else {
      if (stopped) {
        result.completeExceptionally(stoppedException());
        return result;
      }
      try {
        commands.put(task);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        result.completeExceptionally(e);
        return result;
      }
      if (takeBackIfStopped(task)) {
        result.completeExceptionally(stoppedException());
        return result;
      }
    }
    signal();
    return result;
  }

  private static IllegalStateException stoppedException() {
    return new IllegalStateException("the timer thread has stopped (the node is shutting down)");
  }

  /**
   * Keeps work that can wait (serving another node's resync: listing the store, copying pages)
   * within a share of the timer thread's time, above 0 and at most 1 (the default, unpaced). Under
   * {@code SCHED_DEADLINE} the thread has a CPU budget per period, and once a burst of such work
   * has used it up the thread is set aside until the next period, pops included: in the resync
   * benchmark, listing 100,000 timers took 2 ms of every 10 ms for 110 ms and held pops up to 7 ms
   * (bench/cluster/README.md, 2p). With a share, each {@link #queryBackground} waits until the ones
   * before it have been given their proportion of idle time.
   */
  public void limitBackgroundShare(double share) {
    if (!(share > 0 && share <= 1)) {
      throw new IllegalArgumentException("share must be in (0, 1]: " + share);
    }
    backgroundShare = share;
  }

  /** The share set by {@link #limitBackgroundShare}; 1 when unpaced. */
  public double backgroundShare() {
    return backgroundShare;
  }

  /**
   * {@link #query} for work that can wait: first waits, on the calling thread, while the background
   * work before it is over its share of the timer thread's time (see {@link
   * #limitBackgroundShare}); then runs the function on the timer thread and measures how long it
   * took there. Never waits longer than {@value #MAX_BACKGROUND_WAIT_MILLIS} ms per call.
   */
  public <T> CompletableFuture<T> queryBackground(Function<TimerStore, T> function) {
    double share = backgroundShare;
    if (share >= 1) {
      return query(function);
    }
    synchronized (backgroundTurn) {
      awaitBackgroundTurn();
      CompletableFuture<T> result =
          query(
              store -> {
                long start = clock.nanos();
                try {
                  return function.apply(store);
                } finally {
                  long end = clock.nanos();
                  long ran = Math.max(0, end - start);
                  backgroundNotBefore = end + (long) (ran * (1 / share - 1));
                }
              });
      if (Thread.currentThread() != thread) {
        // The next one's turn is known only once this one has run.
        result.exceptionally(e -> null).join();
      }
      return result;
    }
  }

  private void awaitBackgroundTurn() {
    long notBefore = backgroundNotBefore;
    backgroundNotBefore = -1;
    if (notBefore < 0 || Thread.currentThread() == thread) {
      return;
    }
    long giveUp = clock.nanos() + MAX_BACKGROUND_WAIT_MILLIS * 1_000_000L;
    long limit = Math.min(notBefore, giveUp);
    long now;
    // Parks in steps of at most 1 ms, re-reading the clock (which tests move by hand).
    while ((now = clock.nanos()) < limit) {
      LockSupport.parkNanos(this, Math.min(limit - now, 1_000_000L));
      if (Thread.interrupted()) {
        Thread.currentThread().interrupt();
        return;
      }
    }
  }

  /**
   * Makes the thread look at its queues and the clock now (e.g. after a test moves the clock), also
   * while it holds off under {@link #batchCommands}.
   */
  public void wakeUp() {
    if (parked || holding) {
      LockSupport.unpark(thread);
    }
  }

  /** Wakes the thread for a new command, unless it is holding off under {@link #batchCommands}. */
  private void signal() {
    if (parked) {
      LockSupport.unpark(thread);
    }
  }

  /**
   * Takes commands in batches: after a round that ran commands, the thread waits up to {@code
   * windowNanos} (clock time) before it takes the next ones, unless a timer falls due or a callback
   * outcome arrives sooner; 0 (the default) takes each command as soon as it comes. For a thread
   * under a real-time policy, which runs the moment it is woken: without a window each request woke
   * it on its own (0.84 context switches per create against 0.37 without a real-time policy, where
   * the wait for a core batched them), and its CPU per create tripled (bench/README.md, 3g). A
   * command that comes after a quiet spell is taken at once; one that comes during a burst waits at
   * most the window.
   */
  public void batchCommands(long windowNanos) {
    if (windowNanos < 0) {
      throw new IllegalArgumentException("window must be >= 0: " + windowNanos);
    }
    commandWindowNanos = windowNanos;
  }

  /** The window set by {@link #batchCommands}, in clock nanos; 0 for none. */
  public long commandWindowNanos() {
    return commandWindowNanos;
  }

  /** Whether the thread is holding off new commands (see {@link #batchCommands}); for tests. */
  boolean holding() {
    return holding;
  }

  /** How often the thread has woken while holding off commands; for tests. */
  int holdWakeups() {
    return holdWakeups;
  }

  public boolean isAlive() {
    return thread.isAlive();
  }

  /** Wall-clock ms at which the thread last started a round. */
  public long heartbeatMillis() {
    return heartbeatMillis;
  }

  /** Due time of the oldest timer that is due but not yet popped, or {@link Long#MAX_VALUE}. */
  public long oldestDueMillis() {
    return oldestDueMillis;
  }

  /** Timers held, tombstones included (as of the last round). */
  public int heldCount() {
    return held;
  }

  /** Live timers held (as of the last round). */
  public int liveCount() {
    return live;
  }

  public int queuedCommands() {
    return commands.size();
  }

  private void doStore(Timer timer) {
    Timer previous = store.get(timer.id());
    store.put(timer);
    events.stored(timer, previous);
  }

  private void doDelete(long id, int replicationFactor) {
    long now = clock.millis();
    Timer previous = store.get(id);
    Timer tombstone =
        previous == null ? Timer.tombstone(id, replicationFactor, now) : previous.toTombstone(now);
    store.put(tombstone);
    events.stored(tombstone, previous);
  }

  private void run() {
    List<Runnable> batch = new ArrayList<>();
    while (running) {
      heartbeatMillis = clock.millis();
      // Commands (and queries from other threads) in the order they were submitted.
      batch.clear();
      commands.drainTo(batch, maxWorkPerRound);
      int work = batch.size();
      long nextPoll = batch.isEmpty() ? Long.MAX_VALUE : nextPollMillis();
      for (Runnable command : batch) {
        runSafely(command);
        // A long run of commands (a burst of requests, a resync's merges, another node's resync
        // pages) must not hold up what falls due meanwhile: that pops between two commands.
        if (clock.millis() >= nextPoll) {
          work += pollDue();
          nextPoll = nextPollMillis();
        }
      }
      sinkFull = false;
      work += offerWaiting();
      work += pollDue();
      // Then callback outcomes.
      work += runInternal();
      noteWaiting();
      held = store.size();
      live = store.liveCount();
      oldestDueMillis = store.oldestDueMillis();
      if (work == 0 || sinkFull) {
        park(nextPollMillis());
      } else if (!batch.isEmpty() && commandWindowNanos > 0) {
        holdOff(nextPollMillis());
      }
    }
    // Answer whatever was still queued, so no caller waits forever on a stopped service; what is
    // put after this look is taken back by its caller (takeBackIfStopped).
    stopped = true;
    batch.clear();
    commands.drainTo(batch);
    batch.forEach(TimerService::runSafely);
    runInternal();
    held = store.size();
    live = store.liveCount();
  }

  /**
   * When the wheel next has work for this thread: never while the callback sink is full (an outcome
   * wakes it) or popping has stopped (shutting down: due timers stay due, so waiting for them would
   * not wait).
   */
  private long nextPollMillis() {
    return sinkFull || !popping ? Long.MAX_VALUE : store.nextWorkMillis();
  }

  private int pollDue() {
    return popping ? store.poll(clock.millis(), this::onDue, maxWorkPerRound) : 0;
  }

  private int runInternal() {
    int n = 0;
    Runnable r;
    while ((r = internal.poll()) != null) {
      runSafely(r);
      n++;
    }
    return n;
  }

  private static void runSafely(Runnable command) {
    try {
      command.run();
    } catch (RuntimeException e) {
      LOG.error("timer command failed", e);
    }
  }

  private void park(long untilMillis) {
    parked = true;
    try {
      if (!commands.isEmpty() || !internal.isEmpty() || !running) {
        return;
      }
      long waitMicros =
          untilMillis == Long.MAX_VALUE ? MAX_PARK_MICROS : untilMillis * 1000 - clock.micros();
      if (waitMicros > 0) {
        LockSupport.parkNanos(
            this, TimeUnit.MICROSECONDS.toNanos(Math.min(waitMicros, MAX_PARK_MICROS)));
      }
    } finally {
      parked = false;
    }
  }

  /**
   * After a round that ran commands: lets more gather until the command window has passed or {@code
   * untilMillis} (the wheel's next work) has come, or a callback outcome or a stop ends it.
   * Commands do not wake it (see {@link #signal}); a {@link #wakeUp} makes it re-read the clock.
   * Parks in steps of at most 1 ms, re-reading the clock (which tests move by hand).
   */
  private void holdOff(long untilMillis) {
    if (!commands.isEmpty() || !internal.isEmpty()) {
      return;
    }
    long start = clock.nanos();
    long end = start + commandWindowNanos;
    if (untilMillis != Long.MAX_VALUE) {
      end = Math.min(end, start + (untilMillis * 1000 - clock.micros()) * 1000);
    }
    holding = true;
    try {
      long now;
      while (running && internal.isEmpty() && (now = clock.nanos()) < end) {
        LockSupport.parkNanos(this, Math.min(end - now, 1_000_000L));
        holdWakeups++;
      }
    } finally {
      holding = false;
    }
  }

  private boolean onDue(Timer timer) {
    if (!timer.hasMorePops()) {
      if (popsOut.containsKey(timer)) {
        // A pop's callback, its last pop's say, has not answered yet (slower than the interval, or
        // the pop was made late): forgotten now, the timer would not be this node's current copy
        // when the answer comes, and the other replicas would not hear that the pop was made.
        store.reschedule(timer, clock.millis() + OUTCOME_RECHECK_MILLIS);
        return true;
      }
      store.expire(timer);
      events.forgotten(timer);
      return true;
    }
    String target = waiting.isEmpty() ? null : Pop.targetOf(timer.callbackUri());
    java.util.ArrayDeque<Timer> queue = target == null ? null : waiting.get(target);
    if (queue != null) {
      wait(queue, timer); // behind the older pops for its target
      return true;
    }
    CallbackSink.Handed handed = offer(timer);
    if (handed == CallbackSink.Handed.FULL) {
      return false;
    }
    if (handed == CallbackSink.Handed.TARGET_BUSY) {
      wait(
          waiting.computeIfAbsent(
              target != null ? target : Pop.targetOf(timer.callbackUri()),
              t -> new java.util.ArrayDeque<>()),
          timer);
    }
    return true;
  }

  /** Sets a due timer aside, at the end of its target's queue of {@link #waiting} pops. */
  private void wait(java.util.ArrayDeque<Timer> queue, Timer timer) {
    store.setAside(timer);
    queue.addLast(timer);
    waitingEntries++;
  }

  /**
   * Offers the pop of a due timer, out of the wheel, to the callback sink, and makes it if taken.
   * FULL sets {@link #sinkFull}; on TARGET_BUSY the caller keeps the timer waiting. A sink that
   * throws is answered SENT: the timer is scheduled to be offered again later.
   */
  private CallbackSink.Handed offer(Timer timer) {
    Pop pop =
        new Pop(
            timer.id(),
            timer.callbackUri(),
            timer.opaque(),
            timer.sequence() + 1,
            timer.deadline());
    // A bug behind any of these must not end the timer thread: the node would go on taking
    // timers, answering 200, and pop none of them.
    CallbackSink.Handed handed;
    try {
      handed = callbacks.trySend(pop, outcome -> onOutcomeFromAnyThread(timer, pop, outcome));
    } catch (RuntimeException e) {
      LOG.error(
          "handing the pop of timer {} to the callback client failed; trying again in {} ms",
          Long.toHexString(timer.id()),
          BROKEN_POP_RETRY_MILLIS,
          e);
      store.reschedule(timer, clock.millis() + BROKEN_POP_RETRY_MILLIS);
      return CallbackSink.Handed.SENT;
    }
    if (handed == CallbackSink.Handed.FULL) {
      sinkFull = true;
    }
    if (handed != CallbackSink.Handed.SENT) {
      return handed;
    }
    try {
      events.popping(timer, pop);
    } catch (RuntimeException e) {
      LOG.error("timer {}: a listener failed before its pop", Long.toHexString(timer.id()), e);
    }
    popsOut.merge(timer, pop, TimerService::alsoOut);
    store.popped(timer, clock.millis());
    try {
      events.popped(timer, pop, clock.micros() - pop.dueMillis() * 1000);
    } catch (RuntimeException e) {
      LOG.error("timer {}: a listener failed after its pop", Long.toHexString(timer.id()), e);
    }
    return CallbackSink.Handed.SENT;
  }

  /**
   * After a callback outcome: offers the oldest waiting pop of each target again, and the next
   * while they are taken, until the sink is full, looking at {@code maxWorkPerRound} entries at
   * most. A waiting timer replaced or removed meanwhile is passed over: its new copy, if any, is in
   * the wheel.
   *
   * @return pops made (one more when it stopped for its budget)
   */
  private int offerWaiting() {
    if (!offerWaitingAgain || waiting.isEmpty() || !popping) {
      return 0;
    }
    offerWaitingAgain = false;
    int made = 0;
    int budget = maxWorkPerRound;
    var targets = waiting.values().iterator();
    while (targets.hasNext() && !sinkFull) {
      java.util.ArrayDeque<Timer> queue = targets.next();
      Timer timer;
      while ((timer = queue.peekFirst()) != null) {
        if (budget-- == 0) {
          // The rest next round, pops due meanwhile first; counted as work, so the round comes.
          offerWaitingAgain = true;
          return made + 1;
        }
        if (timer.isAside()) {
          CallbackSink.Handed handed = offer(timer);
          if (handed != CallbackSink.Handed.SENT) {
            break;
          }
          made++;
        }
        queue.pollFirst();
        waitingEntries--;
      }
      if (queue.isEmpty()) {
        targets.remove();
      }
    }
    return made;
  }

  /** Drops from {@link #waiting} the timers no longer aside (replaced or removed while waiting). */
  private void dropPassedOver() {
    waitingEntries = 0;
    var targets = waiting.values().iterator();
    while (targets.hasNext()) {
      java.util.ArrayDeque<Timer> queue = targets.next();
      queue.removeIf(t -> !t.isAside());
      if (queue.isEmpty()) {
        targets.remove();
      }
      waitingEntries += queue.size();
    }
  }

  /**
   * Publishes how many pops wait for their target, and since when the oldest has; first lets go of
   * the entries passed over, the heads' at least, and all once they outnumber those still held
   * (each keeps an old copy of its timer, opaque and all).
   */
  private void noteWaiting() {
    if (waiting.isEmpty()) {
      waitingCount = 0;
      oldestWaitingMillis = Long.MAX_VALUE;
      return;
    }
    if (waitingEntries > 2 * store.asideCount() + 64) {
      dropPassedOver();
    }
    long oldest = Long.MAX_VALUE;
    var targets = waiting.values().iterator();
    while (targets.hasNext()) {
      java.util.ArrayDeque<Timer> queue = targets.next();
      Timer head;
      while ((head = queue.peekFirst()) != null && !head.isAside()) {
        queue.pollFirst();
        waitingEntries--;
      }
      if (head == null) {
        targets.remove();
      } else {
        oldest = Math.min(oldest, head.deadline());
      }
    }
    waitingCount = store.asideCount();
    oldestWaitingMillis = oldest;
  }

  /**
   * Due pops held because their target had all the callbacks in flight it may have (see {@link
   * #waiting}), as of the last round.
   */
  public int waitingForTargetCount() {
    return waitingCount;
  }

  /**
   * When the oldest pop held for its target was due (as of the last round; the oldest of each
   * target's queue that is still held), or {@link Long#MAX_VALUE} for none.
   */
  public long oldestWaitingForTargetMillis() {
    return oldestWaitingMillis;
  }

  /** How late the oldest pop held for its target is now (ms), 0 for none. */
  public long oldestWaitingForTargetLateMillis() {
    long oldest = oldestWaitingMillis;
    return oldest == Long.MAX_VALUE ? 0 : Math.max(0, clock.millis() - oldest);
  }

  /**
   * The oldest pop of {@code timer} whose callback has not answered yet, or null. Timer thread only
   * (a function given to {@link #query} or {@link #queryBackground}).
   */
  public Pop popOut(Timer timer) {
    Object out = popsOut.get(timer);
    return out instanceof java.util.ArrayDeque<?> several ? (Pop) several.peekFirst() : (Pop) out;
  }

  /** Another pop of a timer whose callback is out, after {@code out}'s. */
  private static Object alsoOut(Object out, Object pop) {
    java.util.ArrayDeque<Object> several;
    if (out instanceof java.util.ArrayDeque<?>) {
      @SuppressWarnings("unchecked")
      java.util.ArrayDeque<Object> existing = (java.util.ArrayDeque<Object>) out;
      several = existing;
    } else {
      several = new java.util.ArrayDeque<>(4);
      several.add(out);
    }
    several.add(pop);
    return several;
  }

  /** What is still out of {@code out} once {@code pop}'s callback answered; null: nothing. */
  private static Object answered(Object out, Pop pop) {
    if (out instanceof java.util.ArrayDeque<?> several) {
      several.remove(pop);
      return several.isEmpty() ? null : several.size() == 1 ? several.peekFirst() : several;
    }
    return out == pop ? null : out;
  }

  private void onOutcomeFromAnyThread(Timer timer, Pop pop, CallbackOutcome outcome) {
    internal.add(() -> onOutcome(timer, pop, outcome));
    LockSupport.unpark(thread);
  }

  private void onOutcome(Timer timer, Pop pop, CallbackOutcome outcome) {
    // A callback slot has come free: held pops may go, and the wheel's.
    offerWaitingAgain = true;
    sinkFull = false;
    popsOut.computeIfPresent(timer, (t, out) -> answered(out, pop));
    boolean current = store.get(timer.id()) == timer;
    if (outcome.success()) {
      events.callbackSucceeded(pop, current ? timer : null);
      return;
    }
    // The next replica pops this timer 2 s after us; keeping our copy would pop it again.
    boolean dropped = current && store.remove(timer);
    if (dropped) {
      events.forgotten(timer);
    }
    events.callbackFailed(pop, outcome, dropped);
  }
}
