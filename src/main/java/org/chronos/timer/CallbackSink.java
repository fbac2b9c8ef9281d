package org.chronos.timer;

import java.util.function.Consumer;

/** Delivers pops to clients; called on the timer thread, so it must never block. */
public interface CallbackSink {
  /**
   * Starts delivering a pop, or refuses it when at capacity, in which case the timer thread keeps
   * the timer due and offers it again once a callback finishes.
   *
   * @param whenDone called exactly once, on any thread, if and only if this returns true
   * @return false when at capacity
   */
  boolean trySend(Pop pop, Consumer<CallbackOutcome> whenDone);
}
