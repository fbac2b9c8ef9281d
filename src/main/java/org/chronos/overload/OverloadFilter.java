package org.chronos.overload;

import com.codahale.metrics.Gauge;
import com.codahale.metrics.Meter;
import com.codahale.metrics.MetricRegistry;
import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import io.dropwizard.core.setup.Environment;
import jakarta.annotation.Priority;
import jakarta.servlet.DispatcherType;
import jakarta.ws.rs.Priorities;
import jakarta.ws.rs.container.ContainerRequestContext;
import jakarta.ws.rs.container.ContainerRequestFilter;
import jakarta.ws.rs.container.ContainerResponseContext;
import jakarta.ws.rs.container.ContainerResponseFilter;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.PathSegment;
import jakarta.ws.rs.core.Response;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.SequenceInputStream;
import java.util.EnumSet;
import java.util.Locale;
import java.util.stream.Collectors;
import org.chronos.resources.TimerPath;

/**
 * Throttles client requests to the public timer API with a {@link LoadMonitor} (PROTOCOL.md section
 * 8); thread-safe, one instance serves every Jersey request thread. Refused requests get 503 with
 * {@code Retry-After} before any resource runs, so nothing is stored for them.
 *
 * <p><b>What takes a token.</b> Client requests: {@code POST /timers}, {@code PUT /timers/<id>} and
 * {@code DELETE /timers/<id>}. Node-to-node traffic is exempt, because refusing it would make one
 * overloaded node lose replicas that another node already accepted from its client: the resync API
 * ({@code GET /timers}, {@code DELETE /timers/references}) and our nodes' batched replication
 * ({@code POST /timers/batch}) by method and path, and replication, which the protocol marks only
 * by {@code reliability.replicas} in a PUT's body.
 *
 * <p>So a PUT's body is read here, before the resource, and handed on unchanged. Deciding here
 * rather than in the resource after its parse keeps overload control out of the resource and
 * refuses before any parse; the cost is a streaming scan of PUT bodies (small JSON objects), which
 * stops at the first sign either way. Like the protocol, it trusts the body: a client that sends
 * {@code replicas} is treated as a peer (and its timer is merged as a replica, not replicated).
 *
 * <p><b>Latency.</b> Measured for admitted requests from when Jetty began to receive the request
 * (stamped by {@link ArrivalStamp}, so time spent queued for a thread counts, which is where
 * overload shows first) to when the response leaves Jersey; from this filter if unstamped. Less the
 * time spent waiting for the request's body to arrive: that is the client's pace (a slow link, a
 * large opaque), not this node's load, and a few slow clients would otherwise drive the limit down
 * for everyone. Only waits inside a read count: Jetty dispatches a request once its first body
 * bytes are in, so a client that stalls before its body still counts against the node; and on a
 * saturated machine a read's wait includes the reading thread's own wait for a core. A request
 * admitted here and answered 503 because the timer queue was full counts as twice the target
 * latency: the node is overloaded, though the answer came at once.
 */
@Priority(Priorities.AUTHENTICATION - 100)
public final class OverloadFilter implements ContainerRequestFilter, ContainerResponseFilter {
  private static final String STARTED = OverloadFilter.class.getName() + ".startedNanos";
  private static final String BODY = OverloadFilter.class.getName() + ".body";
  private static final JsonFactory JSON = new JsonFactory();

  private final LoadMonitor monitor;
  private final int peekLimit;
  private final Meter rejected;
  private final Meter queueFull;

  /**
   * Installs the filter with its {@link ArrivalStamp} in the application's Jersey and servlets.
   *
   * @param maxBodyBytes the timer API's body limit
   */
  public static void install(LoadMonitor monitor, long maxBodyBytes, Environment environment) {
    environment
        .servlets()
        .addFilter("chronos-arrival-stamp", new ArrivalStamp())
        .addMappingForUrlPatterns(
            EnumSet.of(DispatcherType.REQUEST), false, "/timers", "/timers/*");
    environment.jersey().register(new OverloadFilter(monitor, maxBodyBytes, environment.metrics()));
  }

  /**
   * @param maxBodyBytes the resource's body limit: a PUT body is read only up to it, and a longer
   *     one (which the resource refuses with 413 anyway) counts as a client's
   */
  public OverloadFilter(LoadMonitor monitor, long maxBodyBytes, MetricRegistry metrics) {
    this.monitor = monitor;
    this.peekLimit = (int) Math.min(Integer.MAX_VALUE - 8, maxBodyBytes + 1);
    this.rejected = metrics.meter("chronos.overload.rejected");
    this.queueFull = metrics.meter("chronos.overload.queue-full");
    metrics.register("chronos.overload.rate", (Gauge<Double>) monitor::rate);
    metrics.register(
        "chronos.overload.smoothed-latency-micros", (Gauge<Double>) monitor::smoothedLatencyMicros);
  }

  @Override
  public void filter(ContainerRequestContext request) throws IOException {
    if (!mayTakeToken(request)) {
      return;
    }
    // Before a PUT's body is peeked at: that read waits for the client too.
    if (request.getEntityStream() != null) {
      TimedBody body = new TimedBody(request.getEntityStream());
      request.setEntityStream(body);
      request.setProperty(BODY, body);
    }
    if (request.getMethod().equals("PUT") && isReplication(peekBody(request))) {
      return;
    }
    long started =
        request.getProperty(ArrivalStamp.ATTRIBUTE) instanceof Long arrived
            ? arrived
            : System.nanoTime();
    long retryAfterSeconds = monitor.admit();
    if (retryAfterSeconds > 0) {
      rejected.mark();
      request.setProperty(REFUSED, Boolean.TRUE);
      Response.ResponseBuilder refusal = Response.status(Response.Status.SERVICE_UNAVAILABLE);
      if (awaitsContinue(request) || !drained(request)) {
        refusal.header("Connection", "close");
      }
      request.abortWith(
          refusal
              .header("Retry-After", Long.toString(retryAfterSeconds))
              .type(MediaType.TEXT_PLAIN_TYPE)
              .entity(
                  String.format(
                      Locale.ROOT,
                      "overloaded: requests above the current limit of %.1f/s; retry after %d s%n",
                      monitor.rate(),
                      retryAfterSeconds))
              .build());
      return;
    }
    request.setProperty(STARTED, started);
  }

  @Override
  public void filter(ContainerRequestContext request, ContainerResponseContext response) {
    boolean full = response.getStatus() == 503 && request.getProperty(REFUSED) == null;
    if (full) {
      queueFull.mark(); // the timer queue was full (the bucket's own 503s are marked as rejected)
    }
    if (request.getProperty(STARTED) instanceof Long started) {
      long waitedForBody =
          request.getProperty(BODY) instanceof TimedBody body ? body.blockedNanos() : 0;
      long latencyMicros = Math.max(0, System.nanoTime() - started - waitedForBody) / 1000;
      monitor.completed(
          full ? Math.max(latencyMicros, 2 * monitor.targetLatencyMicros()) : latencyMicros);
    }
  }

  /** Set on a request the bucket refused, to tell its 503 from the timer queue's. */
  private static final String REFUSED = OverloadFilter.class.getName() + ".refused";

  /** A request body that counts the time its reads spend waiting for the client's bytes. */
  private static final class TimedBody extends java.io.FilterInputStream {
    private long blockedNanos;

    TimedBody(InputStream in) {
      super(in);
    }

    long blockedNanos() {
      return blockedNanos;
    }

    @Override
    public int read() throws IOException {
      long start = System.nanoTime();
      try {
        return super.read();
      } finally {
        blockedNanos += System.nanoTime() - start;
      }
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
      long start = System.nanoTime();
      try {
        return super.read(b, off, len);
      } finally {
        blockedNanos += System.nanoTime() - start;
      }
    }
  }

  /**
   * Whether the request is one a client may send, by method and path; a PUT's body then decides
   * ({@link #isReplication}).
   */
  private static boolean mayTakeToken(ContainerRequestContext request) {
    String path = request.getUriInfo().getPath();
    if (path.indexOf(';') >= 0) {
      // The path as the resources match it: without ";" parameters, which Jersey drops from each
      // segment ("POST /timers/;x=y" is a create, and was let through untaxed). Only then: the
      // segments are parsed for it, on every client request's thread.
      path =
          request.getUriInfo().getPathSegments().stream()
              .map(PathSegment::getPath)
              .collect(Collectors.joining("/"));
    }
    if (path.startsWith("/")) {
      path = path.substring(1);
    }
    if (!path.equals("timers") && !path.startsWith("timers/")) {
      return false;
    }
    // Only a request the resource may take: its 405 or 404 for any other (PUT on the collection,
    // a URL that is no timer's) costs nothing to answer, and a 503 instead would tell the client
    // to retry what will never work.
    boolean collection = path.equals("timers") || path.equals("timers/");
    switch (request.getMethod()) {
      case "POST":
        return collection;
      case "DELETE":
      case "PUT":
        return !collection && TimerPath.parse(path.substring("timers/".length())) != null;
      default:
        return false;
    }
  }

  /**
   * Reads and discards the body of a refused request, so the connection can carry the client's next
   * request: left unread, Jetty closes the connection after the 503, and a client that has already
   * sent its next request on it sees the connection drop instead of an answer. False if the body is
   * longer than the limit (the connection is then closed, and says so).
   */
  private boolean drained(ContainerRequestContext request) throws IOException {
    InputStream body = request.getEntityStream();
    if (body == null) {
      return true;
    }
    byte[] buffer = new byte[8192];
    long left = peekLimit;
    while (left > 0) {
      int n = body.read(buffer, 0, (int) Math.min(buffer.length, left));
      if (n < 0) {
        return true;
      }
      left -= n;
    }
    return body.read() < 0;
  }

  /**
   * Whether the client waits for {@code 100 Continue} before it sends the body: reading the body
   * would ask it to send it all, only to be refused. A PUT's body is read before the bucket (to
   * tell a peer's), so only a POST's or a DELETE's can still be spared.
   */
  private static boolean awaitsContinue(ContainerRequestContext request) {
    String expect = request.getHeaderString("Expect");
    return expect != null
        && expect.trim().equalsIgnoreCase("100-continue")
        && !request.getMethod().equals("PUT");
  }

  /** Reads up to the body limit and puts it back in front of whatever was not read. */
  private byte[] peekBody(ContainerRequestContext request) throws IOException {
    InputStream original = request.getEntityStream();
    byte[] head = original.readNBytes(peekLimit);
    request.setEntityStream(new SequenceInputStream(new ByteArrayInputStream(head), original));
    return head;
  }

  /**
   * Whether a timer body is a peer's message: {@code reliability.replicas} (a replication message
   * within the site) or {@code reliability.sites} (one from another site, placed here and sent to
   * this site's replicas) is present and not null, as the parser decides. Refusing either would
   * leave a copy stale: the sender gives up after a few tries. Anything unreadable is a client's
   * (the parser refuses it).
   */
  static boolean isReplication(byte[] body) {
    try (JsonParser p = JSON.createParser(body)) {
      if (p.nextToken() != JsonToken.START_OBJECT) {
        return false;
      }
      while (p.nextToken() == JsonToken.FIELD_NAME) {
        String field = p.currentName();
        JsonToken value = p.nextToken();
        if (field.equals("reliability") && value == JsonToken.START_OBJECT) {
          while (p.nextToken() == JsonToken.FIELD_NAME) {
            String inner = p.currentName();
            if (p.nextToken() != JsonToken.VALUE_NULL
                && (inner.equals("replicas") || inner.equals("sites"))) {
              return true;
            }
            p.skipChildren();
          }
          return false;
        }
        p.skipChildren();
      }
      return false;
    } catch (IOException e) {
      return false;
    }
  }
}
