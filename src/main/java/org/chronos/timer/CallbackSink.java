package org.chronos.timer;

import java.util.function.Consumer;

/** Delivers pops to clients; called on the timer thread, so it must never block. */
public interface CallbackSink {
  /** What became of a pop offered to {@link #trySend}. */
  enum Handed {
    /** Being delivered: {@code whenDone} will be called. */
    SENT,
    /**
     * Refused, at capacity: the timer thread keeps the timer due and offers it again once a
     * callback finishes, popping nothing else meanwhile.
     */
    FULL,
    /**
     * Refused because its target ({@link Pop#target()}) has as many callbacks in flight as it may
     * now: the timer thread holds this pop, offers it again after callbacks finish, and meanwhile
     * goes on popping timers for other targets.
     */
    TARGET_BUSY
  }

  /**
   * Starts delivering a pop, or refuses it.
   *
   * @param whenDone called exactly once, on any thread, if and only if this returns {@link
   *     Handed#SENT}
   */
  Handed trySend(Pop pop, Consumer<CallbackOutcome> whenDone);
}
