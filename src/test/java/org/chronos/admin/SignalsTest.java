package org.chronos.admin;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assumptions.assumeThat;
import static org.awaitility.Awaitility.await;

import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import sun.misc.Signal;

/**
 * A SIGHUP sent while a node starts, before it has installed its handler, would end the JVM by
 * default. Held from main, it is acted on once the handler is in place. The signal is really
 * raised, in this JVM.
 */
class SignalsTest {
  @Test
  void aSignalThatArrivesBeforeItsHandlerIsActedOnOnceTheHandlerIsInstalled() {
    assumeThat(Signals.holdUntilHandled("HUP"))
        .as("SIGHUP is ignored in this JVM (started under nohup), so it cannot be held or sent")
        .containsExactly("HUP");
    Signal.raise(new Signal("HUP"));
    // Still alive: the JVM's default for SIGHUP is to exit. Signals reach Java on a thread of
    // the JVM's own.
    await("the signal held").until(() -> Signals.waiting("HUP"));
    AtomicInteger reloads = new AtomicInteger();
    Signals.handle("HUP", Runnable::run, reloads::incrementAndGet);
    assertThat(reloads).as("one reload for the signal that came while held").hasValue(1);
    assertThat(Signals.waiting("HUP")).isFalse();

    // Installed: each signal from now on runs the action.
    Signal.raise(new Signal("HUP"));
    await("the handler run").until(() -> reloads.get() == 2);
  }

  @Test
  void aSignalThatNeverArrivedRunsNothingWhenItsHandlerIsInstalled() {
    assumeThat(Signals.holdUntilHandled("USR1"))
        .as("SIGUSR1 cannot be taken in this JVM")
        .containsExactly("USR1");
    AtomicInteger resyncs = new AtomicInteger();
    Signals.handle("USR1", Runnable::run, resyncs::incrementAndGet);
    assertThat(resyncs).hasValue(0);
  }
}
