package org.chronos.admin;

import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import sun.misc.Signal;
import sun.misc.SignalHandler;

/**
 * The only place that touches the JVM's signal API. A handler only hands its work to an executor,
 * so a slow reload never runs on the JVM's signal thread.
 *
 * <p>Until a node has installed its handlers, the JVM's own would end the process on SIGHUP, and an
 * operator's tooling may well reload a node it has just started. So {@code main} takes the signals
 * first ({@link #holdUntilHandled}), and a signal that arrives before its handler is acted on once
 * the handler is in place.
 */
public final class Signals {
  private static final Logger LOG = LoggerFactory.getLogger(Signals.class);

  // All guarded by Signals.class. A held signal's stand-in handler may still be running on the
  // JVM's signal thread when the real one replaces it: it then passes the signal on.

  /** Signals held by {@link #holdUntilHandled} that arrived before their handler was installed. */
  private static final Set<String> arrived = new HashSet<>();

  /** What each signal's installed handler does. */
  private static final Map<String, Runnable> installed = new HashMap<>();

  private Signals() {}

  /**
   * Takes each signal until {@link #handle} installs its handler, remembering whether it arrived. A
   * signal that cannot be handled (ignored when the JVM started, under nohup; or with -Xrs) is left
   * as it is.
   *
   * @return the signals now held
   */
  public static synchronized Set<String> holdUntilHandled(String... names) {
    Set<String> now = new HashSet<>();
    for (String name : names) {
      // Before the stand-in can run: a handler of before (a node stopped since) no longer applies.
      installed.remove(name);
      arrived.remove(name);
      try {
        SignalHandler previous = Signal.handle(new Signal(name), signal -> heldArrived(name));
        // SIG_IGN: not installed, as the JVM leaves a signal ignored at its start ignored.
        if (previous != SignalHandler.SIG_IGN) {
          now.add(name);
        }
      } catch (IllegalArgumentException e) {
        // handle() says so when the node installs its own
      }
    }
    return now;
  }

  /** A held signal arrived: remembered, or passed on if its handler has been installed since. */
  private static void heldArrived(String name) {
    Runnable action;
    synchronized (Signals.class) {
      action = installed.get(name);
      if (action == null) {
        arrived.add(name);
        return;
      }
    }
    action.run();
  }

  /** Whether the signal, held, has arrived and waits for its handler. */
  static synchronized boolean waiting(String name) {
    return arrived.contains(name);
  }

  /**
   * Runs {@code action} on {@code executor} whenever the signal arrives, and once at once if it
   * arrived while {@link #holdUntilHandled held}.
   *
   * @return false if the signal could not be handled (unknown on this platform, or reserved)
   */
  public static boolean handle(String name, Executor executor, Runnable action) {
    Runnable onSignal =
        () -> {
          try {
            executor.execute(action);
          } catch (RejectedExecutionException e) {
            LOG.info("SIG{} ignored: the node is stopping", name);
          }
        };
    SignalHandler previous;
    try {
      previous = Signal.handle(new Signal(name), signal -> onSignal.run());
    } catch (IllegalArgumentException e) {
      LOG.warn("cannot handle SIG{}: {} (was the JVM started with -Xrs?)", name, e.getMessage());
      return false;
    }
    if (previous == SignalHandler.SIG_IGN) {
      LOG.warn(
          "SIG{} was ignored when the JVM started (under nohup?), so it will not reach Chronos;"
              + " use the admin tasks instead, or start the JVM without nohup",
          name);
    }
    boolean arrivedMeanwhile;
    synchronized (Signals.class) {
      installed.put(name, onSignal);
      arrivedMeanwhile = arrived.remove(name);
    }
    if (arrivedMeanwhile) {
      LOG.info("SIG{} arrived while the node was starting: acting on it now", name);
      onSignal.run();
    }
    return true;
  }
}
