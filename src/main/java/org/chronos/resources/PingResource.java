package org.chronos.resources;

import jakarta.ws.rs.Consumes;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.HeaderParam;
import jakarta.ws.rs.POST;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;
import java.io.InputStream;
import org.chronos.api.BadRequestException;
import org.chronos.sites.SiteReplicator;

/**
 * {@code GET /ping}: the liveness probe monitoring uses; answers 200 "OK" while the server is up.
 * It also says when this node started, so other sites can tell a restarted node (which lost its
 * timers) from one that never went away.
 *
 * <p>{@code POST /ping} reads the body (up to the timer API's limit) and answers the same: a
 * request that costs what a {@code POST /timers} costs in HTTP and body handling but does nothing
 * with it, for load generators to compare against.
 */
@Path("/ping")
public final class PingResource {
  private final String started = Long.toString(System.currentTimeMillis());
  private final long maxBodyBytes;

  public PingResource(long maxBodyBytes) {
    this.maxBodyBytes = maxBodyBytes;
  }

  @GET
  @Produces(MediaType.TEXT_PLAIN)
  public Response ping() {
    return Response.ok("OK").header(SiteReplicator.PING_STARTED_HEADER, started).build();
  }

  @POST
  @Consumes(MediaType.WILDCARD)
  @Produces(MediaType.TEXT_PLAIN)
  public Response pingWithBody(
      @HeaderParam("Content-Length") String contentLength, InputStream body) {
    try {
      RequestBody.read(contentLength, body, maxBodyBytes);
      return ping();
    } catch (BadRequestException e) {
      return Response.status(e.status()).entity(e.getMessage() + "\n").build();
    } catch (RequestBody.TooLarge e) {
      return e.response();
    }
  }
}
