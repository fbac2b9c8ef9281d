package org.chronos.resources;

import jakarta.ws.rs.GET;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;
import org.chronos.sites.SiteReplicator;

/**
 * {@code GET /ping}: the liveness probe monitoring uses; answers 200 "OK" while the server is up.
 * It also says when this node started, so other sites can tell a restarted node (which lost its
 * timers) from one that never went away.
 */
@Path("/ping")
public final class PingResource {
  private final String started = Long.toString(System.currentTimeMillis());

  @GET
  @Produces(MediaType.TEXT_PLAIN)
  public Response ping() {
    return Response.ok("OK").header(SiteReplicator.PING_STARTED_HEADER, started).build();
  }
}
