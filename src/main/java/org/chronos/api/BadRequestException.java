package org.chronos.api;

/** A client error with a short human-readable reason; the HTTP layer answers it with 4xx. */
public final class BadRequestException extends Exception {
  private static final long serialVersionUID = 1L;
  private final int status;

  public BadRequestException(String reason) {
    this(400, reason);
  }

  public BadRequestException(int status, String reason) {
    super(reason, null, false, false);
    this.status = status;
  }

  public int status() {
    return status;
  }
}
