package org.chronos.resources;

import jakarta.ws.rs.WebApplicationException;
import jakarta.ws.rs.core.Context;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Request;
import jakarta.ws.rs.core.Response;
import jakarta.ws.rs.core.UriInfo;
import jakarta.ws.rs.ext.ExceptionMapper;
import java.util.Locale;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Jersey's own error answers on the application port (404 for a path no resource has, 405 for a
 * method a resource lacks, 415 and 406 should one ever come) in the API's one error form: {@code
 * text/plain} with a short reason, as every answer of {@link TimersResource} and {@link
 * PingResource} is, rather than Dropwizard's default JSON {@code {"code":..,"message":..}}. The
 * status and headers ({@code Allow} of a 405 among them) are Jersey's. Being for {@link
 * WebApplicationException}, it is nearer than Dropwizard's mapper for every {@code Throwable},
 * which still answers anything else. Thread-safe: the injected request objects are per-request
 * proxies.
 */
public final class PlainTextErrors implements ExceptionMapper<WebApplicationException> {
  private static final Logger LOG = LoggerFactory.getLogger(PlainTextErrors.class);

  @Context private Request request;
  @Context private UriInfo uri;

  @Override
  public Response toResponse(WebApplicationException e) {
    Response response = e.getResponse();
    Response.Status.Family family = response.getStatusInfo().getFamily();
    if (response.hasEntity() || family == Response.Status.Family.REDIRECTION) {
      return response; // it says what it means already
    }
    if (family == Response.Status.Family.SERVER_ERROR) {
      LOG.error("error answering {} {}", request.getMethod(), uri.getRequestUri().getRawPath(), e);
    }
    String reason = response.getStatusInfo().getReasonPhrase();
    if (reason == null || reason.isBlank()) {
      reason = "HTTP " + response.getStatus();
    }
    return Response.fromResponse(response)
        .type(MediaType.TEXT_PLAIN_TYPE)
        .entity(
            reason.toLowerCase(Locale.ROOT)
                + ": "
                + request.getMethod()
                + " "
                + uri.getRequestUri().getRawPath()
                + "\n")
        .build();
  }
}
