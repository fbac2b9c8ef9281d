package org.chronos.admin;

import java.util.concurrent.Executor;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import sun.misc.Signal;
import sun.misc.SignalHandler;

/**
 * The only place that touches the JVM's signal API. A handler only hands its work to an executor,
 * so a slow reload never runs on the JVM's signal thread.
 */
public final class Signals {
  private static final Logger LOG = LoggerFactory.getLogger(Signals.class);

  private Signals() {}

  /**
   * Runs {@code action} on {@code executor} whenever the signal arrives.
   *
   * @return false if the signal could not be handled (unknown on this platform, or reserved)
   */
  public static boolean handle(String name, Executor executor, Runnable action) {
    try {
      SignalHandler previous = Signal.handle(new Signal(name), signal -> executor.execute(action));
      if (previous == SignalHandler.SIG_IGN) {
        LOG.warn(
            "SIG{} was ignored when the JVM started (under nohup?), so it will not reach Chronos;"
                + " use the admin tasks instead, or start the JVM without nohup",
            name);
      }
      return true;
    } catch (IllegalArgumentException e) {
      LOG.warn("cannot handle SIG{}: {} (was the JVM started with -Xrs?)", name, e.getMessage());
      return false;
    }
  }
}
