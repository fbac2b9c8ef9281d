package org.chronos.testing;

import java.util.concurrent.atomic.AtomicLong;
import org.chronos.timer.Clock;

/** A clock tests move by hand, to the millisecond or the microsecond; thread-safe. */
public final class ManualClock implements Clock {
  private final AtomicLong micros;

  public ManualClock(long startMillis) {
    this.micros = new AtomicLong(startMillis * 1000L);
  }

  @Override
  public long millis() {
    return Math.floorDiv(micros.get(), 1000L);
  }

  @Override
  public long micros() {
    return micros.get();
  }

  @Override
  public long nanos() {
    return micros.get() * 1000L;
  }

  public void advance(long deltaMillis) {
    micros.addAndGet(deltaMillis * 1000L);
  }

  public void set(long newMillis) {
    micros.set(newMillis * 1000L);
  }

  public void setMicros(long newMicros) {
    micros.set(newMicros);
  }
}
