package org.chronos.callback;

import com.codahale.metrics.Counter;
import com.codahale.metrics.Timer;
import java.io.IOException;
import java.net.ConnectException;
import java.net.SocketException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;
import org.apache.hc.client5.http.impl.async.CloseableHttpAsyncClient;
import org.apache.hc.core5.concurrent.FutureCallback;
import org.apache.hc.core5.http.ConnectionClosedException;
import org.apache.hc.core5.http.ContentType;
import org.apache.hc.core5.http.EntityDetails;
import org.apache.hc.core5.http.HttpException;
import org.apache.hc.core5.http.HttpResponse;
import org.apache.hc.core5.http.Message;
import org.apache.hc.core5.http.NoHttpResponseException;
import org.apache.hc.core5.http.RequestNotExecutedException;
import org.apache.hc.core5.http.nio.AsyncRequestProducer;
import org.apache.hc.core5.http.nio.entity.AsyncEntityProducers;
import org.apache.hc.core5.http.nio.entity.DiscardingEntityConsumer;
import org.apache.hc.core5.http.nio.support.AsyncRequestBuilder;
import org.apache.hc.core5.http.nio.support.BasicResponseConsumer;
import org.apache.hc.core5.http.protocol.HttpContext;
import org.apache.hc.core5.io.CloseMode;
import org.chronos.api.CallbackUri;
import org.chronos.http.AsyncHttp;
import org.chronos.timer.CallbackOutcome;
import org.chronos.timer.CallbackSink;
import org.chronos.timer.Pop;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Delivers pops as HTTP POSTs with Apache HttpClient 5's async client; thread-safe.
 *
 * <p>Each callback has one deadline covering pool wait, connect and response (HttpClient's own
 * timeouts each cover one phase, so a scheduled cancel enforces the total). At most {@code
 * maxInFlight} callbacks run at once: beyond that {@link #trySend} refuses and the timer thread
 * holds the pop until a slot frees, so a slow client delays pops instead of piling up unbounded
 * work. A target ({@link Pop#target()}) that does not answer (its host gone, its packets dropped)
 * holds each of its callbacks for the whole timeout, so one such target with enough timers would
 * hold every slot, and the pops of every other target with them. So a silent target, one whose last
 * callback to end had no answer (timed out, or its connection failed) or that has answered none for
 * {@link #QUIET_MILLIS}, may have at most {@code maxInFlightPerSilentTarget} in flight: beyond,
 * {@link #trySend} refuses its pops (TARGET_BUSY) and the timer thread holds them while it pops for
 * other targets. A new target counts as silent until it first answers, which a live one does within
 * its response time; any answer, whatever its status, ends a target's silence. Only a 2xx answer is
 * a success. A callback whose connection the target closed without answering (typically a pooled
 * keep-alive connection the target closed just as it was reused) is sent again on another
 * connection within the same deadline: up to {@link #MAX_UNSENT_RESENDS} times when the client
 * found the connection closed before sending, up to {@link #MAX_RESENDS} times when it closed or
 * was reset after the request went out; an answer, a timeout or a failed connect is never followed
 * by another send.
 */
public final class CallbackClient implements CallbackSink {
  private static final Logger LOG = LoggerFactory.getLogger(CallbackClient.class);

  private final CloseableHttpAsyncClient client;
  private final ScheduledThreadPoolExecutor deadlines;
  private final ExecutorService dispatcher;
  private final Semaphore slots;
  private final HostLookups hosts;
  private final int maxInFlight;
  private final int maxInFlightPerSilentTarget;
  private final long quietNanos;
  // Callbacks in flight by target (Pop.target()), and whether each answers; a target with none in
  // flight has an entry only if it was answering.
  private final java.util.concurrent.ConcurrentHashMap<String, TargetLoad> perTarget =
      new java.util.concurrent.ConcurrentHashMap<>();
  // When (System.nanoTime) each busy target was last logged: one WARN every TARGET_BUSY_LOG_NANOS
  // per target; entries older than that go once there are more than MAX_BUSY_LOGGED.
  private final java.util.concurrent.ConcurrentHashMap<String, Long> busyLogged =
      new java.util.concurrent.ConcurrentHashMap<>();
  private final long timeoutMillis;
  private final Timer latency;
  private final Counter resent;
  private volatile boolean closed;

  /**
   * Most times one callback is sent again because the target closed the connection without
   * answering (see {@link #closedWithoutAnswer}), all within the callback's one deadline.
   */
  static final int MAX_RESENDS = 2;

  /**
   * Most times one callback is sent again because the client found its pooled connection closed
   * before sending anything ({@link RequestNotExecutedException}): the target never saw it, so this
   * risks no duplicate, and such failures come at once. A target that closed many idle connections
   * can leave several in the pool.
   */
  static final int MAX_UNSENT_RESENDS = 8;

  private static final long TARGET_BUSY_LOG_NANOS = TimeUnit.SECONDS.toNanos(10);
  private static final int MAX_BUSY_LOGGED = 1_000;

  /**
   * How long (ms) a target may go without answering, with callbacks in flight, before it counts as
   * silent (at most a quarter of the timeout): a target answering at a high rate that dies then
   * takes no more than this to be limited, not a whole timeout, while one that answers goes on
   * answering within it.
   */
  static final long QUIET_MILLIS = 250;

  /** Targets with nothing in flight remembered as answering, at most about; beyond, forgotten. */
  static final int MAX_TARGETS_KEPT = 10_000;

  /** With no limit per target (one may have all {@code maxInFlight}), for tests. */
  CallbackClient(long timeoutMillis, int maxInFlight, int maxConnections, int ioThreads) {
    this(
        timeoutMillis,
        maxInFlight,
        maxInFlight,
        maxConnections,
        ioThreads,
        new Timer(),
        new Counter(),
        java.net.InetAddress::getAllByName,
        defaultQuietMillis(timeoutMillis));
  }

  /**
   * @param maxInFlightPerSilentTarget most callbacks in flight to a target that is not answering
   *     (see the class comment); {@code maxInFlight} or more for no limit but {@code maxInFlight}
   * @param latency told the time from send to outcome of every callback, whatever the outcome
   * @param resent counts callbacks sent again after the target closed the connection unanswered
   */
  public CallbackClient(
      long timeoutMillis,
      int maxInFlight,
      int maxInFlightPerSilentTarget,
      int maxConnections,
      int ioThreads,
      Timer latency,
      Counter resent) {
    this(
        timeoutMillis,
        maxInFlight,
        maxInFlightPerSilentTarget,
        maxConnections,
        ioThreads,
        latency,
        resent,
        java.net.InetAddress::getAllByName,
        defaultQuietMillis(timeoutMillis));
  }

  /** {@link #QUIET_MILLIS}, at most a quarter of the timeout. */
  static long defaultQuietMillis(long timeoutMillis) {
    return Math.min(QUIET_MILLIS, Math.max(1, timeoutMillis / 4));
  }

  /**
   * As the other, with the host name lookup and how long a target that has callbacks in flight may
   * go without answering before it counts as silent given (a test's).
   */
  CallbackClient(
      long timeoutMillis,
      int maxInFlight,
      int maxInFlightPerSilentTarget,
      int maxConnections,
      int ioThreads,
      Timer latency,
      Counter resent,
      HostLookups.Lookup lookup,
      long quietMillis) {
    if (timeoutMillis < 1
        || maxInFlight < 1
        || maxInFlightPerSilentTarget < 1
        || maxConnections < 1
        || ioThreads < 1) {
      throw new IllegalArgumentException(
          String.format(
              "callback settings must be positive: timeout=%d maxInFlight=%d"
                  + " maxInFlightPerSilentTarget=%d maxConnections=%d ioThreads=%d",
              timeoutMillis, maxInFlight, maxInFlightPerSilentTarget, maxConnections, ioThreads));
    }
    this.timeoutMillis = timeoutMillis;
    this.latency = latency;
    this.resent = resent;
    this.maxInFlight = maxInFlight;
    this.maxInFlightPerSilentTarget = Math.min(maxInFlightPerSilentTarget, maxInFlight);
    this.quietNanos = TimeUnit.MILLISECONDS.toNanos(quietMillis);
    this.slots = new Semaphore(maxInFlight);
    this.hosts = new HostLookups(lookup);
    this.client =
        AsyncHttp.client(
            timeoutMillis,
            maxConnections,
            maxConnections,
            ioThreads,
            "chronos-callback-io",
            AsyncHttp.POPS,
            hosts);
    this.deadlines =
        new ScheduledThreadPoolExecutor(1, AsyncHttp.daemonThreads("chronos-callback-deadlines"));
    this.deadlines.setRemoveOnCancelPolicy(true);
    this.dispatcher =
        Executors.newSingleThreadExecutor(
            AsyncHttp.daemonThreads("chronos-callback-dispatch", AsyncHttp.POPS));
  }

  public void start() {
    client.start();
  }

  /** Callbacks currently in flight. */
  public int inFlight() {
    return maxInFlight - slots.availablePermits();
  }

  /** Callbacks currently in flight to {@code target} ({@link Pop#targetOf}). */
  public int inFlight(String target) {
    TargetLoad load = perTarget.get(target);
    return load == null ? 0 : load.inFlight;
  }

  @Override
  public Handed trySend(Pop pop, Consumer<CallbackOutcome> whenDone) {
    if (closed || !slots.tryAcquire()) {
      return Handed.FULL;
    }
    String target = pop.target();
    if (!takeTargetSlot(target)) {
      slots.release();
      targetAtCap(target);
      return Handed.TARGET_BUSY;
    }
    Exchange exchange = new Exchange(pop, target, whenDone);
    // Off the timer thread; and host names are looked up off the dispatcher (HostLookups).
    try {
      dispatcher.execute(() -> start(exchange));
    } catch (RejectedExecutionException e) {
      exchange.finish(CallbackOutcome.failed("callback client stopped"));
    }
    return Handed.SENT;
  }

  /**
   * Counts a callback in flight to {@code target}, unless it is {@link #silent} and already has
   * {@code maxInFlightPerSilentTarget}.
   */
  private boolean takeTargetSlot(String target) {
    if (perTarget.size() > MAX_TARGETS_KEPT && !perTarget.containsKey(target)) {
      // Answering targets with nothing in flight are kept (see releaseTargetSlot); not too many.
      for (String t : perTarget.keySet()) {
        perTarget.computeIfPresent(t, (key, l) -> l.inFlight == 0 ? null : l);
      }
    }
    boolean[] taken = {false};
    perTarget.compute(
        target,
        (t, load) -> {
          TargetLoad l = load == null ? new TargetLoad() : load;
          if (l.inFlight >= maxInFlightPerSilentTarget && silent(l, System.nanoTime())) {
            return l;
          }
          taken[0] = true;
          l.inFlight++;
          return l;
        });
    return taken[0];
  }

  /**
   * A callback to {@code target} ended, with an answer from it (any status) or without. A target
   * left with none in flight is forgotten if silent (a target not known counts as silent), and kept
   * if answering, so that its next pops are not limited.
   */
  private void releaseTargetSlot(String target, boolean answered) {
    perTarget.computeIfPresent(
        target,
        (t, l) -> {
          l.answering = answered;
          if (answered) {
            l.answeredNanos = System.nanoTime();
          }
          return --l.inFlight == 0 && !answered ? null : l;
        });
  }

  /**
   * Silent: its last callback to end had no answer, or it has had none for {@code quietNanos}.
   * Never answered counts as no answer.
   */
  private boolean silent(TargetLoad l, long now) {
    return !l.answering || now - l.answeredNanos > quietNanos;
  }

  /**
   * Says in the log, at most every {@link #TARGET_BUSY_LOG_NANOS} per target, that it is silent.
   */
  private void targetAtCap(String target) {
    long now = System.nanoTime();
    boolean[] log = {false};
    busyLogged.compute(
        target,
        (t, last) -> {
          if (last != null && now - last < TARGET_BUSY_LOG_NANOS) {
            return last;
          }
          log[0] = true;
          return now;
        });
    if (!log[0]) {
      return;
    }
    if (busyLogged.size() > MAX_BUSY_LOGGED) {
      busyLogged.values().removeIf(last -> now - last >= TARGET_BUSY_LOG_NANOS);
    }
    LOG.warn(
        "{} is not answering (its last callback got no answer, or none came in {} ms) and has {}"
            + " callbacks in flight (callbacks.maxInFlightPerSilentTarget): its pops wait until one"
            + " answers or times out, other targets' go on (metric"
            + " chronos.callbacks.waiting-for-target; at most one such line every {} s per target)",
        withoutCredentials(target),
        TimeUnit.NANOSECONDS.toMillis(quietNanos),
        inFlight(target),
        TimeUnit.NANOSECONDS.toSeconds(TARGET_BUSY_LOG_NANOS));
  }

  private void start(Exchange exchange) {
    // The deadline counts from the pop: time spent waiting for the dispatcher or for a host name
    // lookup is part of it.
    long waited = System.nanoTime() - exchange.startedNanos;
    exchange.deadline =
        deadlines.schedule(
            () -> {
              // The outcome first: cancelling the request calls cancelled(), which would win.
              int status = exchange.answeredStatus;
              if (status > 0) {
                // The target answered in time and is still sending its body: it has acted on the
                // callback. Failed, the pop would be made again by a backup.
                exchange.finish(
                    answered(status, " (its body still arriving after " + timeoutMillis + " ms)"));
              } else {
                exchange.finish(CallbackOutcome.failed("timed out after " + timeoutMillis + " ms"));
              }
              Future<?> current = exchange.future;
              if (current != null) {
                current.cancel(true);
              }
            },
            Math.max(0, TimeUnit.MILLISECONDS.toNanos(timeoutMillis) - waited),
            TimeUnit.NANOSECONDS);
    if (exchange.finished.get()) {
      exchange.deadline.cancel(false);
      return;
    }
    exchange.send();
  }

  /**
   * Whether a callback failed because the target closed its connection without answering: an idle
   * pooled connection the target had just closed (servers close keep-alive connections after an
   * idle time or a number of requests, and the close can cross our next request), or a reset. Not a
   * refused or failed connect, a timeout or an answer: those are the target's answer.
   */
  static boolean closedWithoutAnswer(Exception e) {
    if (e instanceof ConnectionClosedException || e instanceof NoHttpResponseException) {
      return true; // includes RequestNotExecutedException: the request never left
    }
    if (e instanceof SocketException && !(e instanceof ConnectException)) {
      String message = e.getMessage();
      return message != null && (message.contains("reset") || message.contains("Broken pipe"));
    }
    return false;
  }

  /**
   * Where a callback goes: its URI without user information, and the {@code Authorization} header
   * that carries it instead (null without). HttpClient 5 refuses a request URI with user
   * information; the original's curl sends {@code user:password@} as HTTP basic authentication, so
   * a callback URI with credentials must do the same here.
   */
  record Target(String uri, String authorization) {
    static Target of(String uri) {
      if (uri.indexOf('@') < 0) {
        return new Target(uri, null); // nearly every callback: no parsing
      }
      int authorityStart = uri.indexOf("://");
      if (authorityStart < 0) {
        return new Target(uri, null);
      }
      authorityStart += 3;
      int authorityEnd = authorityStart;
      while (authorityEnd < uri.length() && "/?#".indexOf(uri.charAt(authorityEnd)) < 0) {
        authorityEnd++;
      }
      int at = uri.lastIndexOf('@', authorityEnd - 1);
      if (at < authorityStart) {
        return new Target(uri, null); // an '@' in the path, query or fragment
      }
      String userInfo = uri.substring(authorityStart, at);
      // RFC 7617: user-id ":" password, the colon there even without a password (as curl sends).
      byte[] credentials = percentDecoded(userInfo.indexOf(':') < 0 ? userInfo + ":" : userInfo);
      return new Target(
          uri.substring(0, authorityStart) + uri.substring(at + 1),
          "Basic " + java.util.Base64.getEncoder().encodeToString(credentials));
    }

    /** {@code %XX} escapes as the bytes they stand for (UTF-8 or not), anything else as UTF-8. */
    private static byte[] percentDecoded(String s) {
      java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream(s.length());
      for (int i = 0; i < s.length(); i++) {
        char c = s.charAt(i);
        if (c == '%' && i + 2 < s.length() && isHex(s.charAt(i + 1)) && isHex(s.charAt(i + 2))) {
          out.write(Integer.parseInt(s.substring(i + 1, i + 3), 16));
          i += 2;
        } else {
          int end = Character.isHighSurrogate(c) && i + 1 < s.length() ? i + 2 : i + 1;
          out.writeBytes(s.substring(i, end).getBytes(java.nio.charset.StandardCharsets.UTF_8));
          i = end - 1;
        }
      }
      return out.toByteArray();
    }

    private static boolean isHex(char c) {
      return Character.digit(c, 16) >= 0;
    }
  }

  /**
   * The host a callback goes to, as HttpClient looks it up: also a name java.net.URI finds none in
   * (one with '_'), with its trailing dot if written with one.
   */
  private static String hostOf(java.net.URI uri) {
    if (uri.getHost() != null) {
      return uri.getHost();
    }
    org.chronos.api.HostAndPort named = org.chronos.api.HostAndPort.of(uri.getRawAuthority());
    if (named == null) {
      return null;
    }
    String authority = uri.getRawAuthority();
    String hostPort = authority.substring(authority.lastIndexOf('@') + 1);
    // HostAndPort drops the root's dot; HttpClient asks for the name as written.
    boolean dotted =
        hostPort.length() > named.host().length() && hostPort.charAt(named.host().length()) == '.';
    return dotted ? named.host() + "." : named.host();
  }

  /** {@code uri} without the credentials it may carry: for logs. */
  public static String withoutCredentials(String uri) {
    return Target.of(uri).uri();
  }

  /** A target's callbacks in flight, whether its last one to end had an answer, and when. */
  private static final class TargetLoad {
    volatile int inFlight;
    volatile boolean answering;
    volatile long answeredNanos;
  }

  /** One callback's completion: whichever of response, failure or deadline comes first wins. */
  private final class Exchange implements FutureCallback<Message<HttpResponse, Void>> {
    private final Pop pop;
    private final String target;
    private final Consumer<CallbackOutcome> whenDone;
    private final AtomicBoolean finished = new AtomicBoolean();
    private final long startedNanos = System.nanoTime();
    private volatile ScheduledFuture<?> deadline;
    private volatile Future<Message<HttpResponse, Void>> future;
    private volatile boolean hostLookedUp;
    // I/O threads, one failure at a time (each send fails at most once).
    private int resends;
    private int unsentResends;

    /**
     * The status of the answer's head, once it has arrived (0 before): a send that fails after it
     * (the target closed before the whole body) was answered, and is not sent again.
     */
    private volatile int answeredStatus;

    Exchange(Pop pop, String target, Consumer<CallbackOutcome> whenDone) {
      this.pop = pop;
      this.target = target;
      this.whenDone = whenDone;
    }

    /** Has the dispatcher thread send the request, once its host has been looked up. */
    void dispatch() {
      try {
        dispatcher.execute(this::send);
      } catch (RejectedExecutionException e) {
        finish(CallbackOutcome.failed("callback client stopped"));
      }
    }

    /** Sends the request, on the dispatcher thread, once its host's addresses are at hand. */
    void send() {
      if (finished.get()) {
        return; // the deadline passed while it waited
      }
      try {
        Target target = Target.of(pop.uri());
        java.net.URI uri = java.net.URI.create(CallbackUri.encoded(target.uri()));
        CompletableFuture<Void> lookup = hostLookedUp ? null : hosts.whenReady(hostOf(uri));
        if (lookup != null) {
          // Once only: the answer (or failure) is then at hand for HttpClient.
          hostLookedUp = true;
          lookup.whenComplete((ignored, failure) -> dispatch());
          return;
        }
        AsyncRequestBuilder builder =
            AsyncRequestBuilder.post(uri)
                .addHeader("X-Sequence-Number", Integer.toString(pop.sequence()));
        if (target.authorization() != null) {
          builder.addHeader("Authorization", target.authorization());
        }
        AsyncRequestProducer request =
            builder
                .setEntity(
                    AsyncEntityProducers.create(pop.opaque(), ContentType.APPLICATION_OCTET_STREAM))
                .build();
        future = client.execute(request, responseConsumer(), this);
        if (finished.get()) {
          future.cancel(true); // the deadline passed while this send was being started
        }
      } catch (RuntimeException e) {
        finish(CallbackOutcome.failed(describe(e)));
      }
    }

    void finish(CallbackOutcome outcome) {
      if (finished.compareAndSet(false, true)) {
        ScheduledFuture<?> d = deadline;
        if (d != null) {
          d.cancel(false);
        }
        releaseTargetSlot(target, answeredStatus > 0);
        slots.release();
        latency.update(System.nanoTime() - startedNanos, TimeUnit.NANOSECONDS);
        whenDone.accept(outcome);
      }
    }

    @Override
    public void completed(Message<HttpResponse, Void> result) {
      int status = result.getHead().getCode();
      answeredStatus = status;
      finish(
          status >= 200 && status < 300
              ? CallbackOutcome.succeeded("HTTP " + status)
              : CallbackOutcome.failed("HTTP " + status));
    }

    /** Discards the answer's body, noting its head's status as it arrives. */
    private BasicResponseConsumer<Void> responseConsumer() {
      return new BasicResponseConsumer<>(new DiscardingEntityConsumer<>()) {
        @Override
        public void consumeResponse(
            HttpResponse response,
            EntityDetails entityDetails,
            HttpContext context,
            FutureCallback<Message<HttpResponse, Void>> resultCallback)
            throws HttpException, IOException {
          answeredStatus = response.getCode();
          super.consumeResponse(response, entityDetails, context, resultCallback);
        }
      };
    }

    @Override
    public void failed(Exception ex) {
      int status = answeredStatus;
      if (status > 0) {
        // The target answered, then closed before its whole body: it has acted on the callback.
        finish(answered(status, " (answer cut short)"));
        return;
      }
      // On an I/O thread, once per send: resends are counted here only.
      boolean again =
          ex instanceof RequestNotExecutedException
              ? unsentResends++ < MAX_UNSENT_RESENDS
              : closedWithoutAnswer(ex) && resends++ < MAX_RESENDS;
      if (again && !finished.get() && !closed) {
        try {
          dispatcher.execute(this::send); // the host was looked up for the first send
          resent.inc();
          LOG.debug(
              "callback to {} (pop {}): {}; sending it again on another connection",
              withoutCredentials(pop.uri()),
              pop.sequence(),
              describe(ex));
          return;
        } catch (RejectedExecutionException e) {
          // stopping: fall through and fail
        }
      }
      finish(CallbackOutcome.failed(describe(ex)));
    }

    @Override
    public void cancelled() {
      finish(CallbackOutcome.failed("cancelled"));
    }
  }

  /**
   * Stops taking callbacks, waits up to {@code graceMillis} for those in flight, then closes.
   *
   * @return callbacks still in flight when the client closed
   */
  public int stop(long graceMillis) throws InterruptedException {
    closed = true;
    long giveUp = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(graceMillis);
    while (inFlight() > 0 && System.nanoTime() < giveUp) {
      Thread.sleep(10);
    }
    int abandoned = inFlight();
    if (abandoned > 0) {
      LOG.warn(
          "{} callbacks were still in flight after {} ms; abandoning them", abandoned, graceMillis);
    }
    client.close(abandoned > 0 ? CloseMode.IMMEDIATE : CloseMode.GRACEFUL);
    deadlines.shutdownNow();
    dispatcher.shutdownNow();
    hosts.stop();
    return abandoned;
  }

  /** The outcome of an answer with this status, whatever became of its body. */
  private static CallbackOutcome answered(int status, String note) {
    return status >= 200 && status < 300
        ? CallbackOutcome.succeeded("HTTP " + status + note)
        : CallbackOutcome.failed("HTTP " + status + note);
  }

  private static String describe(Exception e) {
    String message = e.getMessage();
    return e.getClass().getSimpleName() + (message == null ? "" : ": " + message);
  }
}
