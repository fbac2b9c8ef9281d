package org.chronos.overload;

import jakarta.servlet.Filter;
import jakarta.servlet.FilterChain;
import jakarta.servlet.ServletException;
import jakarta.servlet.ServletRequest;
import jakarta.servlet.ServletResponse;
import java.io.IOException;
import org.eclipse.jetty.ee10.servlet.ServletContextRequest;

/**
 * Records on each request when Jetty began to receive it, for {@link OverloadFilter}'s latency;
 * thread-safe and stateless, a servlet filter in front of Jersey.
 *
 * <p>Jersey filters see only a proxy of the servlet request, through which Jetty's own request (and
 * its arrival time) cannot be reached; a servlet filter gets the real one. The arrival time matters
 * because under overload requests wait for a thread before any filter runs, and that wait is the
 * first thing to grow.
 */
final class ArrivalStamp implements Filter {
  /** Request attribute (and so Jersey property): {@link System#nanoTime} at arrival, a Long. */
  static final String ATTRIBUTE = ArrivalStamp.class.getName() + ".nanos";

  @Override
  public void doFilter(ServletRequest request, ServletResponse response, FilterChain chain)
      throws IOException, ServletException {
    request.setAttribute(ATTRIBUTE, arrivalNanos(request));
    chain.doFilter(request, response);
  }

  private static long arrivalNanos(ServletRequest request) {
    long now = System.nanoTime();
    try {
      long began = ServletContextRequest.getServletContextRequest(request).getBeginNanoTime();
      // Only a time from this request's past (0 or a stale value would distort the latency).
      if (now - began >= 0 && now - began < 60_000_000_000L) {
        return began;
      }
    } catch (RuntimeException e) {
      // Not Jetty's servlet request: time from here.
    }
    return now;
  }
}
