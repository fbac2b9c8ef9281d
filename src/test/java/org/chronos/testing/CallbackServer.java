package org.chronos.testing;

import static org.awaitility.Awaitility.await;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.IntFunction;
import java.util.function.Predicate;

/**
 * A callback target for tests; thread-safe, any test thread may call any method while Chronos nodes
 * call in. A JDK {@link HttpServer} on 127.0.0.1 and an ephemeral port records every request it
 * receives and answers as the test chose for that request's path: 200 by default, or any status,
 * optionally after a delay (to play a client slower than the callback deadline).
 *
 * <p>Tests sharing one server keep apart by giving each timer its own path ({@link #newPath}).
 * Requests to one path are numbered 1, 2, 3, ... in arrival order, so a test can answer, say, the
 * first callback with 503 and later ones with 200. Handlers run on a pool of their own, so a
 * delayed answer never holds up other requests. Waiting is done with Awaitility, never a sleep.
 */
public final class CallbackServer implements AutoCloseable {
  /** How long the await helpers wait unless told otherwise: generous, they return on success. */
  public static final Duration DEFAULT_WAIT = Duration.ofSeconds(10);

  private static final Duration POLL = Duration.ofMillis(10);

  /**
   * One request as it arrived.
   *
   * @param serial 1-based position among every request this server received
   * @param number 1-based position among the requests to the same path
   * @param headers header names in lower case
   * @param arrivalMillis {@link System#currentTimeMillis()} when the request (head and body) was
   *     read, before any delay: the clock Chronos schedules timers with, until someone steps it
   * @param arrivalNanos {@link System#nanoTime()} at the same moment, for intervals
   */
  public record Received(
      int serial,
      int number,
      String method,
      String path,
      String query,
      Map<String, List<String>> headers,
      byte[] body,
      long arrivalMillis,
      long arrivalNanos,
      InetSocketAddress remote) {

    /** The first value of a header (case-insensitive name), or null. */
    public String header(String name) {
      List<String> values = headers.get(name.toLowerCase(Locale.ROOT));
      return values == null || values.isEmpty() ? null : values.get(0);
    }

    public String bodyText() {
      return new String(body, StandardCharsets.UTF_8);
    }

    /**
     * The {@code X-Sequence-Number} Chronos sent; fails the test if it is missing or not a number.
     */
    public int sequenceNumber() {
      String value = header("X-Sequence-Number");
      if (value == null) {
        throw new AssertionError("callback " + this + " has no X-Sequence-Number header");
      }
      return Integer.parseInt(value.trim());
    }

    @Override
    public String toString() {
      return method
          + " "
          + path
          + " #"
          + number
          + " seq="
          + header("X-Sequence-Number")
          + " at "
          + arrivalMillis;
    }
  }

  /** How to answer one request: a status, after an optional delay, with an optional body. */
  public record Reply(int status, Duration delay, byte[] body, Map<String, String> headers) {
    public static Reply ok() {
      return status(200);
    }

    public static Reply status(int status) {
      return new Reply(status, Duration.ZERO, new byte[0], Map.of());
    }

    /** Answers 200, but only after {@code delay}: a client that hangs. */
    public static Reply stall(Duration delay) {
      return new Reply(200, delay, new byte[0], Map.of());
    }

    public Reply after(Duration newDelay) {
      return new Reply(status, newDelay, body, headers);
    }

    public Reply withBody(String text) {
      return new Reply(status, delay, text.getBytes(StandardCharsets.UTF_8), headers);
    }

    public Reply withHeader(String name, String value) {
      Map<String, String> more = new HashMap<>(headers);
      more.put(name, value);
      return new Reply(status, delay, body, Map.copyOf(more));
    }
  }

  /**
   * Chooses the reply for one request; runs on a handler thread of its own (the pool grows), so it
   * may hold the answer back.
   */
  @FunctionalInterface
  public interface Responder {
    Reply reply(Received request);
  }

  /** A responder that answers 200 once {@code answer} is counted down: a target that hangs. */
  public static Responder heldUntil(java.util.concurrent.CountDownLatch answer) {
    return heldUntil(answer, 200);
  }

  /** A responder that answers {@code status} once {@code answer} is counted down. */
  public static Responder heldUntil(java.util.concurrent.CountDownLatch answer, int status) {
    return request -> {
      try {
        answer.await();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      return Reply.status(status);
    };
  }

  private final HttpServer server;
  private final ExecutorService handlers;
  private final List<Received> received = new ArrayList<>();
  private final Map<String, Integer> countByPath = new HashMap<>();
  private final Map<String, Responder> responders = new ConcurrentHashMap<>();
  private final AtomicInteger paths = new AtomicInteger();
  private volatile Responder defaultResponder = request -> Reply.ok();

  private CallbackServer(HttpServer server, ExecutorService handlers) {
    this.server = server;
    this.handlers = handlers;
  }

  /** Starts a server on 127.0.0.1 and an ephemeral port. */
  public static CallbackServer start() {
    HttpServer server;
    try {
      server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 200);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    AtomicInteger threads = new AtomicInteger();
    ExecutorService handlers =
        Executors.newCachedThreadPool(
            r -> {
              Thread t = new Thread(r, "callback-server-" + threads.incrementAndGet());
              t.setDaemon(true);
              return t;
            });
    CallbackServer callbacks = new CallbackServer(server, handlers);
    server.createContext("/", callbacks::handle);
    server.setExecutor(handlers);
    server.start();
    return callbacks;
  }

  public int port() {
    return server.getAddress().getPort();
  }

  /** {@code http://127.0.0.1:<port>} */
  public String baseUrl() {
    return "http://127.0.0.1:" + port();
  }

  /** The absolute URL of a path on this server, for a timer's {@code callback.http.uri}. */
  public String url(String path) {
    return baseUrl() + path;
  }

  /** A path no other caller of this server has been given, e.g. {@code /delete-7}. */
  public String newPath(String label) {
    return "/" + label + "-" + paths.incrementAndGet();
  }

  /** Answers requests to {@code path} with {@code responder}; other paths keep theirs. */
  public void respond(String path, Responder responder) {
    responders.put(path, responder);
  }

  /** Answers the n-th request to {@code path} (1-based) with {@code replies.apply(n)}. */
  public void respondByNumber(String path, IntFunction<Reply> replies) {
    respond(path, request -> replies.apply(request.number()));
  }

  /** Answers requests to paths without a responder of their own. */
  public void respondByDefault(Responder responder) {
    defaultResponder = responder;
  }

  /** Every request so far, in arrival order. */
  public synchronized List<Received> requests() {
    return List.copyOf(received);
  }

  /** The requests so far to one path, in arrival order. */
  public synchronized List<Received> requestsTo(String path) {
    return received.stream().filter(r -> r.path().equals(path)).toList();
  }

  /** Waits until {@code path} has had at least {@code count} requests; returns them all. */
  public List<Received> awaitRequests(String path, int count) {
    return awaitRequests(path, count, DEFAULT_WAIT);
  }

  public List<Received> awaitRequests(String path, int count, Duration atMost) {
    return await("" + count + " request(s) to " + path + " on " + baseUrl())
        .atMost(atMost)
        .pollInterval(POLL)
        .pollDelay(Duration.ZERO)
        .until(() -> requestsTo(path), list -> list.size() >= count);
  }

  /** How many requests each path has had so far. */
  public synchronized Map<String, Long> callsPerPath() {
    Map<String, Long> calls = new HashMap<>();
    for (Received r : received) {
      calls.merge(r.path(), 1L, Long::sum);
    }
    return calls;
  }

  /**
   * Waits until every path has been called, then checks, after {@code quietFor} more, that each was
   * called exactly once and no other path was called: "every timer pops exactly once".
   */
  public void assertEachCalledExactlyOnce(
      java.util.Collection<String> paths, Duration within, Duration quietFor) {
    await("every path called on " + baseUrl())
        .atMost(within)
        .pollInterval(POLL)
        .until(() -> callsPerPath().keySet().containsAll(paths));
    await("no second call").pollDelay(quietFor).atMost(quietFor.plusSeconds(5)).until(() -> true);
    org.assertj.core.api.Assertions.assertThat(callsPerPath())
        .containsOnlyKeys(paths)
        .allSatisfy(
            (path, n) ->
                org.assertj.core.api.Assertions.assertThat(n)
                    .as("%s called at %s", path, arrivals(path))
                    .isEqualTo(1));
  }

  private List<String> arrivals(String path) {
    return requestsTo(path).stream()
        .map(
            r ->
                r.arrivalMillis() + " ms (X-Sequence-Number " + r.header("X-Sequence-Number") + ")")
        .toList();
  }

  /** Waits for the first request to {@code path}. */
  public Received awaitRequest(String path) {
    return awaitRequests(path, 1).get(0);
  }

  /** Waits until some request so far matches; returns the first that does. */
  public Received awaitRequest(String description, Predicate<Received> matching, Duration atMost) {
    return await(description)
        .atMost(atMost)
        .pollInterval(POLL)
        .pollDelay(Duration.ZERO)
        .until(() -> requests().stream().filter(matching).findFirst().orElse(null), r -> r != null);
  }

  @Override
  public void close() {
    server.stop(0);
    handlers.shutdownNow();
  }

  private void handle(HttpExchange exchange) throws IOException {
    try (exchange) {
      byte[] body;
      try (InputStream in = exchange.getRequestBody()) {
        body = in.readAllBytes();
      }
      long millis = System.currentTimeMillis();
      long nanos = System.nanoTime();
      Map<String, List<String>> headers = new HashMap<>();
      exchange
          .getRequestHeaders()
          .forEach(
              (name, values) -> headers.put(name.toLowerCase(Locale.ROOT), List.copyOf(values)));
      String path = exchange.getRequestURI().getRawPath();
      Received request;
      synchronized (this) {
        int number = countByPath.merge(path, 1, Integer::sum);
        request =
            new Received(
                received.size() + 1,
                number,
                exchange.getRequestMethod(),
                path,
                exchange.getRequestURI().getRawQuery(),
                Map.copyOf(headers),
                body,
                millis,
                nanos,
                exchange.getRemoteAddress());
        received.add(request);
      }
      Reply reply = responders.getOrDefault(path, defaultResponder).reply(request);
      if (!reply.delay().isZero()) {
        try {
          Thread.sleep(reply.delay().toMillis());
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          return;
        }
      }
      try {
        reply.headers().forEach((name, value) -> exchange.getResponseHeaders().add(name, value));
        if (reply.body().length == 0) {
          exchange.sendResponseHeaders(reply.status(), -1);
        } else {
          exchange.sendResponseHeaders(reply.status(), reply.body().length);
          try (OutputStream out = exchange.getResponseBody()) {
            out.write(reply.body());
          }
        }
      } catch (IOException e) {
        // The caller gave up (e.g. after a stall past its deadline): nothing left to answer.
      }
    }
  }
}
