package org.chronos.resources;

import jakarta.ws.rs.container.ContainerRequestContext;
import jakarta.ws.rs.container.ContainerRequestFilter;
import jakarta.ws.rs.container.PreMatching;
import jakarta.ws.rs.core.HttpHeaders;

/**
 * The API answers whatever a client's {@code Accept} header asks for, as the original does, which
 * never reads it: each answer has one form (text, or JSON for the internal resync API). Left to
 * Jersey, a client that sends {@code Accept: application/json} (the default of many HTTP client
 * libraries) would get 406 for every timer it sets, deletes or pings. Runs before resource
 * matching, which is where Jersey would refuse it.
 */
@PreMatching
public final class IgnoreAccept implements ContainerRequestFilter {
  @Override
  public void filter(ContainerRequestContext request) {
    request.getHeaders().remove(HttpHeaders.ACCEPT);
  }
}
