package org.chronos.timer;

/**
 * What the timer thread reports as it works: metrics, logs and (in a cluster) replication hang off
 * this. Called on the timer thread, so implementations must be quick and must not block.
 */
public interface TimerEvents {
  /** A client's or peer's timer was stored; {@code previous} is what it replaced, or null. */
  default void stored(Timer timer, Timer previous) {}

  /**
   * A timer is popping: the callback of {@code pop} has been handed to the sink and the timer is
   * about to be rescheduled, so this may update its replicas and pop delay. That pop's outcome
   * comes later, as {@link #callbackSucceeded} or {@link #callbackFailed} with the same {@code
   * pop}.
   */
  default void popping(Timer timer, Pop pop) {}

  /** A timer was popped and its callback handed to the sink. */
  default void popped(Timer timer, Pop pop, long latenessMicros) {}

  /**
   * The store forgot a timer: a tombstone (deleted or popped for the last time) whose time was up,
   * or a timer dropped after its callback failed (the next replica pops it).
   */
  default void forgotten(Timer timer) {}

  /** A callback answered 2xx. {@code timer} is the stored timer, or null if it has gone since. */
  default void callbackSucceeded(Pop pop, Timer timer) {}

  /** A callback failed; {@code dropped} says whether this node dropped its copy. */
  default void callbackFailed(Pop pop, CallbackOutcome outcome, boolean dropped) {}

  TimerEvents NONE = new TimerEvents() {};

  /** Tells each of the given listeners, in order. */
  static TimerEvents all(TimerEvents... listeners) {
    return new TimerEvents() {
      @Override
      public void stored(Timer timer, Timer previous) {
        for (TimerEvents l : listeners) {
          l.stored(timer, previous);
        }
      }

      @Override
      public void popping(Timer timer, Pop pop) {
        for (TimerEvents l : listeners) {
          l.popping(timer, pop);
        }
      }

      @Override
      public void popped(Timer timer, Pop pop, long latenessMicros) {
        for (TimerEvents l : listeners) {
          l.popped(timer, pop, latenessMicros);
        }
      }

      @Override
      public void forgotten(Timer timer) {
        for (TimerEvents l : listeners) {
          l.forgotten(timer);
        }
      }

      @Override
      public void callbackSucceeded(Pop pop, Timer timer) {
        for (TimerEvents l : listeners) {
          l.callbackSucceeded(pop, timer);
        }
      }

      @Override
      public void callbackFailed(Pop pop, CallbackOutcome outcome, boolean dropped) {
        for (TimerEvents l : listeners) {
          l.callbackFailed(pop, outcome, dropped);
        }
      }
    };
  }
}
