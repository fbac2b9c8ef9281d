package org.chronos.timer;

import java.util.function.Consumer;

/**
 * The timers this node holds: an id index plus the {@link TimerWheel} that orders them by due time.
 * NOT thread safe: the timer thread owns it (see {@link TimerService}).
 *
 * <p>Every timer in the index is scheduled in the wheel for its next due time, tombstones included,
 * so nothing is held forever; except a due timer the timer thread has {@link #setAside set aside}
 * (its pop waiting for its callback target), which it pops or schedules again later. The store
 * tells its {@link Listener} when a live (non-tombstone) timer enters or leaves, which is what
 * per-tag statistics count.
 */
public final class TimerStore {

  /** Told of live timers entering and leaving the store; called on the timer thread. */
  public interface Listener {
    void liveAdded(Timer timer);

    void liveRemoved(Timer timer);

    Listener NONE =
        new Listener() {
          @Override
          public void liveAdded(Timer timer) {}

          @Override
          public void liveRemoved(Timer timer) {}
        };
  }

  private final TimerIndex index = new TimerIndex();
  private final TimerWheel<Timer> wheel;
  private final Listener listener;
  private int live;
  private int aside;

  public TimerStore(long tickMillis, long startMillis, Listener listener) {
    this.wheel = new TimerWheel<>(tickMillis, startMillis);
    this.listener = listener;
  }

  public Timer get(long id) {
    return index.get(id);
  }

  /** Stores the timer, replacing any timer with the same id, and schedules its next due time. */
  public void put(Timer timer) {
    put(timer, Long.MIN_VALUE);
  }

  /**
   * As {@link #put(Timer)}, at {@code nowMillis}: a tombstone is kept at least an interval from
   * now, as on the node that made it ({@link #popped}): one told late (a last pop's news after
   * retries, or of a pop made late), or a deletion held again, would otherwise be forgotten at
   * once, and an earlier copy arriving later would bring the timer back.
   */
  public void put(Timer timer, long nowMillis) {
    Timer old = index.put(timer);
    if (old != null) {
      takeBack(old);
      wheel.cancel(old);
      if (!old.isTombstone()) {
        live--;
        listener.liveRemoved(old);
      }
    }
    if (!timer.isTombstone()) {
      live++;
      listener.liveAdded(timer);
    }
    long due = timer.nextDueMillis();
    if (timer.isTombstone()) {
      due = keptUntil(timer, due, nowMillis);
    }
    wheel.add(timer, due);
  }

  /** When a tombstone may go: its would-be next pop, and an interval from now. */
  private static long keptUntil(Timer tombstone, long due, long nowMillis) {
    if (nowMillis == Long.MIN_VALUE) {
      return due;
    }
    long life =
        tombstone.intervalMillis() == 0
            ? Timer.DEFAULT_TOMBSTONE_MILLIS
            : tombstone.intervalMillis();
    return Math.max(due, Timer.saturatedAdd(nowMillis, life));
  }

  /** Removes the timer if it is the one stored under its id; false otherwise. */
  public boolean remove(Timer timer) {
    if (!index.remove(timer)) {
      return false;
    }
    takeBack(timer);
    wheel.cancel(timer);
    if (!timer.isTombstone()) {
      live--;
      listener.liveRemoved(timer);
    }
    return true;
  }

  /**
   * Hands due timers to the handler, at most {@code limit}. The handler receives each timer
   * unscheduled but still indexed, and must {@link #popped reschedule} or {@link #remove} it, or
   * {@link #setAside set it aside} to pop later.
   */
  public int poll(long nowMillis, TimerWheel.Handler<Timer> handler, int limit) {
    return wheel.poll(nowMillis, handler, limit);
  }

  /**
   * Records a pop of a due timer handed out by {@link #poll}, made at {@code nowMillis}: bumps its
   * sequence number and schedules its next pop, or keeps it as a tombstone until its would-be next
   * pop, and at least an interval from now (10 s for a zero interval), as a deletion's tombstone
   * lives: a last pop made late (a node paused, or a backup popping for a primary that did not)
   * would otherwise be forgotten at once, and late news of an earlier pop, or a resync's copy from
   * before it, would bring the timer back to pop again.
   */
  public void popped(Timer timer, long nowMillis) {
    takeBack(timer);
    boolean wasLive = !timer.isTombstone();
    timer.recordPop();
    long due = timer.nextDueMillis();
    if (wasLive && timer.isTombstone()) {
      live--;
      listener.liveRemoved(timer);
      due = keptUntil(timer, due, nowMillis);
    }
    wheel.add(timer, due);
  }

  /**
   * Keeps a due timer handed out by {@link #poll} out of the wheel, still stored, until its owner
   * pops it ({@link #popped}) or {@link #reschedule reschedules} it, a {@link #put} of its id
   * replaces it, or it is {@link #remove removed}. {@link #asideCount} counts such timers.
   */
  public void setAside(Timer timer) {
    if (!timer.isAside()) {
      timer.setAside(true);
      aside++;
    }
  }

  /** Ends {@link #setAside} for {@code timer}, if it was set aside. */
  private void takeBack(Timer timer) {
    if (timer.isAside()) {
      timer.setAside(false);
      aside--;
    }
  }

  /** Timers {@link #setAside set aside}, still stored. */
  public int asideCount() {
    return aside;
  }

  /** Schedules a due timer handed out by {@link #poll} again, unchanged, at {@code dueMillis}. */
  public void reschedule(Timer timer, long dueMillis) {
    takeBack(timer);
    wheel.add(timer, dueMillis);
  }

  /**
   * Forgets a due timer handed out by {@link #poll} that has no pops left: a tombstone, or a timer
   * whose repeat-for was below its interval.
   */
  public void expire(Timer timer) {
    takeBack(timer);
    index.remove(timer);
    if (!timer.isTombstone()) {
      live--;
      listener.liveRemoved(timer);
    }
  }

  public long nextWorkMillis() {
    return wheel.nextWorkMillis();
  }

  public long oldestDueMillis() {
    return wheel.oldestReadyDeadline();
  }

  /** Timers held, tombstones included. */
  public int size() {
    return index.size();
  }

  /** Live (non-tombstone) timers held. */
  public int liveCount() {
    return live;
  }

  public void forEach(Consumer<Timer> consumer) {
    index.forEach(consumer);
  }

  /**
   * Begins a walk over the stored timers that {@link #scan} does a chunk at a time, so the timer
   * thread can do other work in between. One walk at a time: beginning one ends any other. A walk
   * given up before its end should be {@link #endScan ended}; one abandoned anyway costs a compare
   * per entry the index moves and a bounded list of moved keys, until the next walk begins.
   */
  public long beginScan() {
    return index.beginScan();
  }

  /**
   * One chunk of the walk: hands the consumer the next timers, tombstones included, about {@code
   * maxTimers} of them from at most {@code maxSlots} index slots. Every timer held from {@link
   * #beginScan} until the chunk that returns {@link ScanStep#DONE} is handed over at least once, as
   * it is at that moment; it may be handed over twice (keep the later), and timers stored or
   * removed meanwhile may or may not be. On {@link ScanStep#RESTARTED} nothing was handed over and
   * the walk starts again: discard what it gave so far.
   *
   * @throws IllegalStateException if the walk ended or another began since
   */
  public ScanStep scan(long scanId, int maxTimers, int maxSlots, Consumer<Timer> consumer) {
    return index.scan(scanId, maxTimers, maxSlots, consumer);
  }

  /** Ends the walk if it is still under way; a walk that returned DONE is already over. */
  public void endScan(long scanId) {
    index.endScan(scanId);
  }

  /** Empties the store (at shutdown). */
  public void clear() {
    wheel.drain(t -> {});
    index.forEach(this::takeBack);
    index.clear();
    live = 0;
  }
}
