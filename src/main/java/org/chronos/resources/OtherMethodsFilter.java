package org.chronos.resources;

import io.dropwizard.core.setup.Environment;
import jakarta.servlet.DispatcherType;
import jakarta.servlet.FilterChain;
import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpFilter;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.EnumSet;
import java.util.Set;

/**
 * Answers the methods {@link TimersResource} has no resource method for ({@code TRACE}, {@code
 * PROPFIND}, anything made up) on {@code /timers} and below, as the resource answers the others
 * (PROTOCOL.md section 1): 404 for a URL that is not a timer's, 405 with {@code Allow} on the
 * collection and on a timer. Left to Dropwizard, its allowed-methods filter ({@code
 * server.allowedMethods}) refuses them everywhere with a bare 405, a 404's URL included; and a
 * method an operator adds there would reach Jersey, whose 405 on a non-timer URL is wrong too.
 *
 * <p>Installed in {@code run()}, so it comes before the allowed-methods filter, which Dropwizard
 * adds when it builds the server. It answers every such request itself and passes none on, so it
 * opens no method anywhere; requests with the resource's methods go on untouched (and meet {@code
 * server.allowedMethods} as before). Thread-safe: no state.
 */
public final class OtherMethodsFilter extends HttpFilter {
  private static final long serialVersionUID = 1L;

  /** The methods {@link TimersResource} (with Jersey's HEAD for GET) handles itself. */
  static final Set<String> RESOURCE_METHODS =
      Set.of("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS");

  private static final String PREFIX = "/timers/";

  /** Installs the filter on the application's {@code /timers} paths. */
  public static void install(Environment environment) {
    environment
        .servlets()
        .addFilter("chronos-other-methods", new OtherMethodsFilter())
        .addMappingForUrlPatterns(
            EnumSet.of(DispatcherType.REQUEST), false, "/timers", "/timers/*");
  }

  @Override
  protected void doFilter(
      HttpServletRequest request, HttpServletResponse response, FilterChain chain)
      throws IOException, ServletException {
    if (RESOURCE_METHODS.contains(request.getMethod())) {
      chain.doFilter(request, response);
      return;
    }
    // Decoded, as Jersey hands the resource its path parameter.
    String path =
        request.getServletPath() + (request.getPathInfo() == null ? "" : request.getPathInfo());
    if (path.equals("/timers") || path.equals(PREFIX)) {
      answer(
          response,
          405,
          TimersResource.COLLECTION_ALLOWS,
          TimersResource.NOT_ALLOWED_ON_THE_COLLECTION);
    } else if (!path.startsWith(PREFIX)) {
      chain.doFilter(request, response); // not mapped here; nothing of ours
    } else {
      String rest = path.substring(PREFIX.length());
      if (TimerPath.parse(rest) != null) {
        answer(response, 405, TimersResource.TIMER_ALLOWS, TimersResource.NOT_ALLOWED_ON_A_TIMER);
      } else {
        answer(response, 404, null, TimersResource.noSuchTimerUrl(rest));
      }
    }
  }

  private static void answer(HttpServletResponse response, int status, String allow, String text)
      throws IOException {
    response.setStatus(status);
    if (allow != null) {
      response.setHeader("Allow", allow);
    }
    byte[] body = text.getBytes(StandardCharsets.UTF_8);
    // As Jersey sends the resource's text answers: no charset parameter, UTF-8.
    response.setContentType("text/plain");
    response.setContentLength(body.length);
    response.getOutputStream().write(body);
  }
}
