package org.chronos.testing;

import java.util.concurrent.atomic.AtomicLong;
import org.chronos.timer.Clock;

/** A clock tests move by hand; thread-safe. */
public final class ManualClock implements Clock {
  private final AtomicLong millis;

  public ManualClock(long startMillis) {
    this.millis = new AtomicLong(startMillis);
  }

  @Override
  public long millis() {
    return millis.get();
  }

  public void advance(long deltaMillis) {
    millis.addAndGet(deltaMillis);
  }

  public void set(long newMillis) {
    millis.set(newMillis);
  }
}
