package org.chronos.resources;

import jakarta.ws.rs.GET;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.core.MediaType;

/** {@code GET /ping}: the liveness probe monitoring uses; answers while the server is up. */
@Path("/ping")
public final class PingResource {
  @GET
  @Produces(MediaType.TEXT_PLAIN)
  public String ping() {
    return "OK";
  }
}
