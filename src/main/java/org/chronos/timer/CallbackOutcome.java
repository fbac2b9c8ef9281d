package org.chronos.timer;

/** How a callback ended; {@code detail} is for logs (status code, exception, timeout). */
public record CallbackOutcome(boolean success, String detail) {
  public static CallbackOutcome succeeded(String detail) {
    return new CallbackOutcome(true, detail);
  }

  public static CallbackOutcome failed(String detail) {
    return new CallbackOutcome(false, detail);
  }
}
