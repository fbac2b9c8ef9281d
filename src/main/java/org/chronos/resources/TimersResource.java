package org.chronos.resources;

import jakarta.ws.rs.Consumes;
import jakarta.ws.rs.DELETE;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.HeaderParam;
import jakarta.ws.rs.OPTIONS;
import jakarta.ws.rs.PATCH;
import jakarta.ws.rs.POST;
import jakarta.ws.rs.PUT;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.PathParam;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.core.Context;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;
import jakarta.ws.rs.core.UriInfo;
import java.io.IOException;
import java.io.InputStream;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executor;
import org.chronos.api.BadRequestException;
import org.chronos.api.TimerRequest;
import org.chronos.api.TimerRequestParser;
import org.chronos.node.OverloadedException;
import org.chronos.node.TimerNode;
import org.chronos.replication.ReplicationBatch;
import org.chronos.replication.Replicator;
import org.chronos.resync.ResyncSource;
import org.chronos.resync.WarmUpGate;

/**
 * The public timer API (PROTOCOL.md section 1) over HTTP; thread-safe, one instance serves every
 * request thread. Reads and validates the body here, so that the timer thread only ever sees valid
 * timers, and answers every client mistake with a 4xx and a reason in the body.
 */
@Path("/timers")
@Produces(MediaType.TEXT_PLAIN)
@Consumes(MediaType.WILDCARD)
public final class TimersResource {
  private final TimerNode node;
  private final TimerRequestParser parser;
  private final long maxBodyBytes;

  /**
   * Room over {@code timers.maxBodySize} for a timer a peer sends (a replica's copy, or another
   * site's): the node that took it from a client adds its start times, sequence number, view id,
   * replicas and sites, so a client's body just under the limit must not come back 413 from the
   * replicas (it would then live on one node only, and the other replicas would pop it too).
   * Clients still get 413 over the limit itself.
   */
  public static final long PEER_MARGIN_BYTES = 64 * 1024;

  private final ResyncSource resync;
  private final Executor background;
  private final WarmUpGate warmUps;

  /**
   * @param background runs the work of other nodes' resyncs (serving pages, taking in the copies a
   *     resync sends on) while the request thread waits: threads at the resync's low priority, so
   *     that on a busy machine pops and ordinary requests get a core first
   * @param warmUps tells this node's own warm-up requests ({@link WarmUpGate}) from real ones;
   *     null: there are none
   */
  public TimersResource(
      TimerNode node,
      TimerRequestParser parser,
      long maxBodyBytes,
      ResyncSource resync,
      Executor background,
      WarmUpGate warmUps) {
    this.node = node;
    this.parser = parser;
    this.maxBodyBytes = maxBodyBytes;
    this.resync = resync;
    this.background = background;
    this.warmUps = warmUps;
  }

  /**
   * Whether a request is this node's own warm-up ({@link WarmUpGate}): it is handled as a real one
   * up to the point where it would read or change this node's timers, and answered from made-up
   * timers or dropped there instead.
   */
  private boolean isWarmUp(String header) {
    return warmUps != null && warmUps.admits(header);
  }

  /** The page a warm-up page request gets. */
  private ResyncSource.Page warmUpPage() throws BadRequestException {
    byte[] body = warmUps.page();
    if (body == null) {
      throw new BadRequestException("no warm-up is asking for a page");
    }
    return new ResyncSource.Page(body, 0, false, 0, 0);
  }

  /** The internal resync API: a page of the timers a resyncing node replicates (section 6). */
  @GET
  @Produces(MediaType.APPLICATION_JSON)
  public Response listForResync(
      @Context UriInfo uri,
      @HeaderParam(ResyncSource.TIME_FROM_HEADER) String cursor,
      @HeaderParam("Range") String range,
      @HeaderParam(WarmUpGate.HEADER) String warmUp) {
    if (resync == null) {
      return Response.status(405).build();
    }
    try {
      // The original separates the parameters with ';' (its HTTP library takes both).
      Map<String, String> query = QueryString.parse(uri.getRequestUri().getRawQuery());
      String requester = query.get("node-for-replicas");
      String viewId = query.get("cluster-view-id");
      String timeFrom = query.get("time-from");
      Long from = timeFromMillis(cursor);
      int limit = parseRange(range);
      boolean rehearsal = isWarmUp(warmUp);
      ResyncSource.Page page =
          BackgroundWork.run(
              background,
              () -> {
                if (rehearsal) {
                  return warmUpPage();
                }
                if (from == null && timeFrom != null) {
                  return resync.pageFollowing(requester, viewId, timeFrom, limit);
                }
                return resync.page(requester, viewId, from, limit);
              });
      if (rehearsal) {
        warmUps.answered();
      } else {
        node.peerResyncing();
      }
      Response.ResponseBuilder response =
          Response.status(page.more() ? 206 : 200).entity(page.body());
      if (page.more()) {
        response.header("Content-Range", Integer.toString(page.count()));
        response.header(ResyncSource.NEXT_TIME_FROM_HEADER, Long.toString(page.nextTimeFrom()));
      }
      response.header(Replicator.HELD_HEADER, Long.toString(page.heldMicros()));
      return response.type(MediaType.APPLICATION_JSON_TYPE).build();
    } catch (BadRequestException e) {
      return error(e);
    }
  }

  /** Our requester's {@link ResyncSource#TIME_FROM_HEADER}: null if absent. */
  private static Long timeFromMillis(String cursor) throws BadRequestException {
    if (cursor == null) {
      return null;
    }
    try {
      return Long.parseLong(cursor.trim());
    } catch (NumberFormatException e) {
      throw new BadRequestException(
          ResyncSource.TIME_FROM_HEADER + " must be an integer (ms): " + cursor);
    }
  }

  /** The internal resync API: the requester now holds these timers (section 6). */
  @DELETE
  @Path("references")
  public Response references(
      @HeaderParam("Content-Length") String contentLength,
      @HeaderParam(WarmUpGate.HEADER) String warmUp,
      InputStream body) {
    if (resync == null) {
      return Response.status(405).build();
    }
    try {
      List<long[]> references =
          ReferencesParser.parse(RequestBody.read(contentLength, body, maxBodyBytes));
      if (isWarmUp(warmUp)) {
        warmUps.answered();
      } else {
        resync.references(references);
      }
      return Response.status(202).build();
    } catch (BadRequestException e) {
      return error(e);
    } catch (RequestBody.TooLarge e) {
      return e.response();
    }
  }

  private static int parseRange(String range) throws BadRequestException {
    if (range == null || range.isBlank()) {
      return ResyncSource.MAX_PAGE;
    }
    String digits = range.trim();
    int eq = digits.indexOf('=');
    if (eq >= 0) {
      digits = digits.substring(eq + 1).trim(); // tolerate "Range: timers=100"
    }
    try {
      int n = Integer.parseInt(digits);
      if (n < 1) {
        throw new NumberFormatException();
      }
      return n;
    } catch (NumberFormatException e) {
      throw new BadRequestException("Range must be a positive number of timers: " + range);
    }
  }

  @POST
  public Response create(@HeaderParam("Content-Length") String contentLength, InputStream body) {
    try {
      TimerRequest request = parser.parse(RequestBody.read(contentLength, body, maxBodyBytes));
      if (request.tombstone()) {
        // Shaped like a peer's deletion (replicas or sites, empty uri and opaque): it would be
        // stored and never pop. Peers send those with PUT, never POST.
        throw new BadRequestException(
            "callback.http.uri and opaque are empty: a new timer needs a callback");
      }
      long id = node.create(request);
      int rf =
          request.replicationFactor() == null
              ? TimerNode.DEFAULT_REPLICATION_FACTOR
              : request.replicationFactor();
      return ok(TimerPath.location(id, rf));
    } catch (BadRequestException e) {
      return error(e);
    } catch (RequestBody.TooLarge e) {
      return e.response();
    } catch (OverloadedException e) {
      return overloaded(e);
    }
  }

  @PUT
  @Path("{rest: .*}")
  public Response update(
      @PathParam("rest") String rest,
      @HeaderParam("Content-Length") String contentLength,
      @HeaderParam(Replicator.HELD_HEADER) String held,
      @HeaderParam(Replicator.SNAPSHOT_HEADER) String snapshot,
      @HeaderParam(WarmUpGate.HEADER) String warmUp,
      InputStream body) {
    long arrived = node.millis();
    TimerPath path = TimerPath.parse(rest);
    if (path == null) {
      return notFound(rest);
    }
    try {
      checkReplicationFactor(path);
      byte[] bytes =
          RequestBody.read(contentLength, body, maxBodyBytes + PEER_MARGIN_BYTES, maxBodyBytes);
      TimerRequest request = parseWithinPeerMargin(bytes);
      if (bytes.length > maxBodyBytes && !request.isReplication() && !request.isFromOtherSite()) {
        throw new RequestBody.TooLarge(maxBodyBytes, true);
      }
      if (isWarmUp(warmUp)) {
        rehearse(path, request, written(arrived, Replicator.heldMicros(held)));
        warmUps.answered();
        return ok(path.location());
      }
      node.update(
          path.id(),
          path.replicationFactor(),
          request,
          written(arrived, Replicator.heldMicros(held)),
          lateByMillis(Replicator.snapshotMicros(snapshot)));
      return ok(path.location());
    } catch (BadRequestException e) {
      return error(e);
    } catch (RequestBody.TooLarge e) {
      return e.response();
    } catch (OverloadedException e) {
      return overloaded(e);
    }
  }

  /**
   * Parses a PUT's body, which may be up to {@link #PEER_MARGIN_BYTES} over the limit: only a peer
   * may send that much, and a peer's body parses, so one over the limit that does not parse is a
   * client's, and its answer is the 413.
   */
  private TimerRequest parseWithinPeerMargin(byte[] bytes)
      throws BadRequestException, RequestBody.TooLarge {
    try {
      return parser.parse(bytes);
    } catch (BadRequestException e) {
      if (bytes.length > maxBodyBytes) {
        throw new RequestBody.TooLarge(maxBodyBytes, true);
      }
      throw e;
    }
  }

  @DELETE
  @Path("{rest: .*}")
  public Response delete(@PathParam("rest") String rest) {
    TimerPath path = TimerPath.parse(rest);
    if (path == null) {
      return notFound(rest);
    }
    try {
      checkReplicationFactor(path);
      node.delete(path.id(), path.replicationFactor());
      return Response.ok().build();
    } catch (BadRequestException e) {
      return error(e);
    } catch (OverloadedException e) {
      return overloaded(e);
    }
  }

  /**
   * Our nodes' batched replication ({@link ReplicationBatch}, not in the original protocol): each
   * entry is handled as the {@code PUT} it stands for, and the answer lists their statuses. Only
   * replication and other-site messages may be batched; a client's update in a batch gets 400, so
   * batches cannot sidestep overload control (which exempts them).
   */
  @POST
  @Path("batch")
  @Produces(MediaType.APPLICATION_JSON)
  public Response batch(
      @HeaderParam("Content-Length") String contentLength,
      @HeaderParam(Replicator.LANE_HEADER) String lane,
      @HeaderParam(WarmUpGate.HEADER) String warmUp,
      InputStream body) {
    long arrived = node.millis();
    byte[] bytes;
    try {
      bytes = RequestBody.read(contentLength, body, maxBodyBytes);
    } catch (BadRequestException e) {
      return error(e);
    } catch (RequestBody.TooLarge e) {
      return e.response();
    }
    boolean rehearsal = isWarmUp(warmUp);
    try {
      // A resync's copies (the sender's bulk lane) are taken in at the resync's priority.
      return Replicator.BULK_LANE.equals(lane)
          ? BackgroundWork.run(background, () -> applyBatch(bytes, arrived, rehearsal))
          : applyBatch(bytes, arrived, rehearsal);
    } catch (BadRequestException e) {
      return error(e);
    }
  }

  /** Applies a batch's entries; a warm-up's ({@code rehearsal}) are read and dropped instead. */
  private Response applyBatch(byte[] bytes, long arrived, boolean rehearsal)
      throws BadRequestException {
    List<ReplicationBatch.Entry> entries;
    try {
      entries = ReplicationBatch.decode(bytes);
    } catch (IOException e) {
      throw new BadRequestException("malformed batch: " + e.getMessage());
    }
    int[] statuses = new int[entries.size()];
    for (int i = 0; i < statuses.length; i++) {
      statuses[i] = applyBatched(entries.get(i), arrived, rehearsal);
    }
    if (rehearsal) {
      warmUps.answered();
    }
    return Response.ok(ReplicationBatch.encodeStatuses(statuses), MediaType.APPLICATION_JSON_TYPE)
        .build();
  }

  private int applyBatched(ReplicationBatch.Entry entry, long arrived, boolean rehearsal) {
    String prefix = "/timers/";
    TimerPath path =
        entry.path() != null && entry.path().startsWith(prefix)
            ? TimerPath.parse(entry.path().substring(prefix.length()))
            : null;
    if (path == null) {
      return 404;
    }
    try {
      checkReplicationFactor(path);
      TimerRequest request = parser.parse(entry.body());
      if (!request.isReplication() && !request.isFromOtherSite()) {
        return 400;
      }
      if (rehearsal) {
        rehearse(path, request, written(arrived, entry.heldMicros()));
        return 200;
      }
      node.update(
          path.id(),
          path.replicationFactor(),
          request,
          written(arrived, entry.heldMicros()),
          lateByMillis(entry.snapshotMicros()));
      return 200;
    } catch (BadRequestException e) {
      return e.status();
    } catch (OverloadedException e) {
      return 503;
    }
  }

  /**
   * What a warm-up's copy goes through short of the timer thread: made into the timer it stands
   * for, then dropped.
   */
  private void rehearse(TimerPath path, TimerRequest request, long writtenMillis) {
    node.replicaFrom(path.id(), path.replicationFactor(), request, writtenMillis);
  }

  /**
   * When a peer wrote a message's body, at the latest: its arrival less the whole milliseconds the
   * peer says it held it ({@link Replicator#HELD_HEADER}, a batch entry's {@code Held}). With
   * {@code arrived} the clock's millisecond at or after the real arrival, this is never before the
   * real moment, so a timer's {@code start-time-delta} counted from it never makes it pop early. A
   * claim of more than {@link #MAX_HELD_MICROS} counts as that much.
   */
  private static long written(long arrived, long heldMicros) {
    return arrived - Math.min(heldMicros, MAX_HELD_MICROS) / 1000;
  }

  /**
   * How late a resync copy's start may be, in whole milliseconds rounded up (at most {@link
   * #MAX_HELD_MICROS}); negative (not a snapshot) stays negative.
   */
  private static long lateByMillis(long snapshotMicros) {
    return snapshotMicros < 0 ? -1 : (Math.min(snapshotMicros, MAX_HELD_MICROS) + 999) / 1000;
  }

  /** Most held time counted: no sender of ours holds a message for an hour. */
  private static final long MAX_HELD_MICROS = 3_600_000_000L;

  /** {@code POST /timers/} is the same as {@code POST /timers}; anything else after it is not. */
  @POST
  @Path("{rest: .*}")
  public Response createWithSlash(
      @PathParam("rest") String rest,
      @HeaderParam("Content-Length") String contentLength,
      InputStream body) {
    if (rest.isEmpty()) {
      return create(contentLength, body);
    }
    return otherMethod(rest);
  }

  @GET
  @Path("{rest: .*}")
  public Response get(@PathParam("rest") String rest) {
    return otherMethod(rest);
  }

  @PATCH
  @Path("{rest: .*}")
  public Response patch(@PathParam("rest") String rest) {
    return otherMethod(rest);
  }

  @OPTIONS
  @Path("{rest: .*}")
  public Response options(@PathParam("rest") String rest) {
    return otherMethod(rest);
  }

  /**
   * {@code OPTIONS /timers}: 405, as any method on the collection but {@code POST} (and the
   * internal API's {@code GET}) is (section 1), rather than Jersey's own answer, which lists the
   * methods.
   */
  @OPTIONS
  public Response optionsOnTheCollection() {
    return notAllowedOnTheCollection();
  }

  /**
   * {@code PUT}, {@code DELETE} and {@code PATCH /timers}: the same 405 as {@code OPTIONS}, rather
   * than Jersey's, whose {@code Allow} would name {@code OPTIONS} (refused above) and not {@code
   * HEAD}.
   */
  @PUT
  public Response putOnTheCollection() {
    return notAllowedOnTheCollection();
  }

  @DELETE
  public Response deleteOnTheCollection() {
    return notAllowedOnTheCollection();
  }

  @PATCH
  public Response patchOnTheCollection() {
    return notAllowedOnTheCollection();
  }

  /**
   * {@code OPTIONS /timers/references} and {@code /timers/batch}: 404, as every method on them but
   * the internal API's is (they are no timer URL), rather than Jersey's own 200 listing the methods
   * of the internal API.
   */
  @OPTIONS
  @Path("references")
  public Response optionsOnReferences() {
    return notFound("references");
  }

  @OPTIONS
  @Path("batch")
  public Response optionsOnBatch() {
    return notFound("batch");
  }

  /** What {@code Allow} says on {@code /timers}: POST, and the internal API's GET (and HEAD). */
  static final String COLLECTION_ALLOWS = "POST, GET, HEAD";

  /** What {@code Allow} says on a timer's URL. */
  static final String TIMER_ALLOWS = "PUT, DELETE";

  static final String NOT_ALLOWED_ON_THE_COLLECTION = "method not allowed on /timers\n";
  static final String NOT_ALLOWED_ON_A_TIMER = "method not allowed on a timer\n";

  /** The body of a 404 for {@code /timers/<rest>}, {@code rest} not a timer's. */
  static String noSuchTimerUrl(String rest) {
    return "no such timer URL: /timers/" + rest + "\n";
  }

  private static Response notAllowedOnTheCollection() {
    return Response.status(405)
        .header("Allow", COLLECTION_ALLOWS)
        .type(MediaType.TEXT_PLAIN_TYPE)
        .entity(NOT_ALLOWED_ON_THE_COLLECTION)
        .build();
  }

  private static Response otherMethod(String rest) {
    if (TimerPath.parse(rest) == null) {
      return notFound(rest);
    }
    return Response.status(405)
        .header("Allow", TIMER_ALLOWS)
        .type(MediaType.TEXT_PLAIN_TYPE)
        .entity(NOT_ALLOWED_ON_A_TIMER)
        .build();
  }

  private static void checkReplicationFactor(TimerPath path) throws BadRequestException {
    if (path.replicationFactor() < 1) {
      throw new BadRequestException(
          "replication factor in the URL must be positive: " + path.replicationFactor());
    }
  }

  private static Response ok(String location) {
    return Response.ok().header("Location", location).build();
  }

  private static Response error(BadRequestException e) {
    return Response.status(e.status())
        .type(MediaType.TEXT_PLAIN_TYPE)
        .entity(e.getMessage() + "\n")
        .build();
  }

  private static Response overloaded(OverloadedException e) {
    return Response.status(503)
        .header("Retry-After", "1")
        .type(MediaType.TEXT_PLAIN_TYPE)
        .entity("overloaded: " + e.getMessage() + "\n")
        .build();
  }

  private static Response notFound(String rest) {
    return Response.status(404)
        .type(MediaType.TEXT_PLAIN_TYPE)
        .entity(noSuchTimerUrl(rest))
        .build();
  }
}
