package org.chronos.resources;

import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;
import java.io.IOException;
import java.io.InputStream;
import org.chronos.api.BadRequestException;

/** Reads request bodies up to the configured limit (PROTOCOL.md section 1: over it is a 413). */
final class RequestBody {
  /**
   * How much of an oversized body is read and discarded so the connection can be kept; beyond this
   * the 413 closes the connection (a client still sending may then miss the 413).
   */
  private static final long SWALLOW_BYTES = 4L * 1024 * 1024;

  private RequestBody() {}

  /** The whole body, or {@link TooLarge} when it is longer than {@code maxBodyBytes}. */
  static byte[] read(String contentLength, InputStream body, long maxBodyBytes)
      throws BadRequestException, TooLarge {
    return read(contentLength, body, maxBodyBytes, maxBodyBytes);
  }

  /**
   * As {@link #read(String, InputStream, long)}, with the 413 naming {@code statedLimit} (the
   * client's limit, when peers are allowed more).
   */
  static byte[] read(String contentLength, InputStream body, long maxBodyBytes, long statedLimit)
      throws BadRequestException, TooLarge {
    long swallow = Math.max(maxBodyBytes, SWALLOW_BYTES);
    if (contentLength != null) {
      long declared;
      try {
        declared = Long.parseLong(contentLength.trim());
      } catch (NumberFormatException e) {
        throw new BadRequestException("bad Content-Length: " + contentLength);
      }
      if (declared > maxBodyBytes) {
        throw new TooLarge(statedLimit, declared <= maxBodyBytes + swallow && drain(body, swallow));
      }
    }
    try {
      byte[] bytes = body.readNBytes((int) Math.min(Integer.MAX_VALUE - 8, maxBodyBytes + 1));
      if (bytes.length > maxBodyBytes) {
        throw new TooLarge(statedLimit, drain(body, swallow));
      }
      return bytes;
    } catch (IOException e) {
      throw new BadRequestException("could not read the body: " + e.getMessage());
    }
  }

  /** Reads and discards the rest of a body, up to {@code max} bytes; true if it ended by then. */
  private static boolean drain(InputStream body, long max) {
    byte[] buffer = new byte[16 * 1024];
    long read = 0;
    try {
      int n;
      while ((n = body.read(buffer)) != -1) {
        read += n;
        if (read > max) {
          return false;
        }
      }
      return true;
    } catch (IOException e) {
      return false;
    }
  }

  /** A body over the limit; {@code drained} when all of it was read, so the connection can stay. */
  static final class TooLarge extends Exception {
    private static final long serialVersionUID = 1L;
    private final long limit;
    private final boolean drained;

    TooLarge(long limit, boolean drained) {
      super(null, null, false, false);
      this.limit = limit;
      this.drained = drained;
    }

    /** The 413 answer. */
    Response response() {
      Response.ResponseBuilder response =
          Response.status(413)
              .type(MediaType.TEXT_PLAIN_TYPE)
              .entity("body larger than the limit of " + limit + " bytes\n");
      if (!drained) {
        // The rest of the body is unread, so the connection cannot be reused: tell the client.
        response.header("Connection", "close");
      }
      return response.build();
    }
  }
}
