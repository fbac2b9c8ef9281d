package org.chronos.node;

/** The node cannot take more work right now; the HTTP layer answers 503 with Retry-After. */
public final class OverloadedException extends Exception {
  private static final long serialVersionUID = 1L;

  public OverloadedException(String reason) {
    super(reason, null, false, false);
  }
}
