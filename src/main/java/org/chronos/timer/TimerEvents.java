package org.chronos.timer;

/**
 * What the timer thread reports as it works: metrics, logs and (in a cluster) replication hang
 * off this. Called on the timer thread, so implementations must be quick and must not block.
 */
public interface TimerEvents {
  /** A client's or peer's timer was stored; {@code previous} is what it replaced, or null. */
  default void stored(Timer timer, Timer previous) {}

  /** A timer was popped and its callback handed to the sink. */
  default void popped(Timer timer, Pop pop, long latenessMicros) {}

  /** A callback answered 2xx. {@code timer} is the stored timer, or null if it has gone since. */
  default void callbackSucceeded(Pop pop, Timer timer) {}

  /** A callback failed; {@code dropped} says whether this node dropped its copy. */
  default void callbackFailed(Pop pop, CallbackOutcome outcome, boolean dropped) {}

  TimerEvents NONE = new TimerEvents() {};
}
