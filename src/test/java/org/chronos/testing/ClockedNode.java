package org.chronos.testing;

import io.dropwizard.testing.junit5.DropwizardAppExtension;
import org.chronos.ChronosApplication;
import org.chronos.ChronosConfiguration;

/**
 * A single node whose clock the test moves ({@link SingleNodeApp#create(org.chronos.timer.Clock,
 * String...)} with a {@link ManualClock}): moving the clock wakes the timer thread, and {@link
 * #settle} waits until it has done what is due.
 */
public final class ClockedNode {
  private final DropwizardAppExtension<ChronosConfiguration> app;
  private final ManualClock clock;

  public ClockedNode(DropwizardAppExtension<ChronosConfiguration> app, ManualClock clock) {
    this.app = app;
    this.clock = clock;
  }

  /** Sets the clock to {@code millis}, then waits for the timer thread to pop what is due. */
  public void moveTo(long millis) {
    clock.set(millis);
    application().timerService().wakeUp();
    settle();
  }

  /** As {@link #moveTo}, to the microsecond. */
  public void moveToMicros(long micros) {
    clock.setMicros(micros);
    application().timerService().wakeUp();
    settle();
  }

  /** Waits until the timer thread has run everything submitted so far, and the pops now due. */
  public void settle() {
    application().timerService().query(store -> null).join();
  }

  public ChronosApplication application() {
    return app.getApplication();
  }
}
