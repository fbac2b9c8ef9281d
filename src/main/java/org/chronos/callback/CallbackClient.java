package org.chronos.callback;

import com.codahale.metrics.Timer;
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
import org.apache.hc.core5.http.ContentType;
import org.apache.hc.core5.http.HttpResponse;
import org.apache.hc.core5.http.Message;
import org.apache.hc.core5.http.nio.AsyncRequestProducer;
import org.apache.hc.core5.http.nio.entity.AsyncEntityProducers;
import org.apache.hc.core5.http.nio.entity.DiscardingEntityConsumer;
import org.apache.hc.core5.http.nio.support.AsyncRequestBuilder;
import org.apache.hc.core5.http.nio.support.BasicResponseConsumer;
import org.apache.hc.core5.io.CloseMode;
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
 * work. Only a 2xx answer is a success.
 */
public final class CallbackClient implements CallbackSink {
  private static final Logger LOG = LoggerFactory.getLogger(CallbackClient.class);

  private final CloseableHttpAsyncClient client;
  private final ScheduledThreadPoolExecutor deadlines;
  private final ExecutorService dispatcher;
  private final Semaphore slots;
  private final int maxInFlight;
  private final long timeoutMillis;
  private final Timer latency;
  private volatile boolean closed;

  public CallbackClient(long timeoutMillis, int maxInFlight, int maxConnections, int ioThreads) {
    this(timeoutMillis, maxInFlight, maxConnections, ioThreads, new Timer());
  }

  /**
   * @param latency told the time from send to outcome of every callback, whatever the outcome
   */
  public CallbackClient(
      long timeoutMillis, int maxInFlight, int maxConnections, int ioThreads, Timer latency) {
    if (timeoutMillis < 1 || maxInFlight < 1 || maxConnections < 1 || ioThreads < 1) {
      throw new IllegalArgumentException(
          String.format(
              "callback settings must be positive: timeout=%d maxInFlight=%d maxConnections=%d ioThreads=%d",
              timeoutMillis, maxInFlight, maxConnections, ioThreads));
    }
    this.timeoutMillis = timeoutMillis;
    this.latency = latency;
    this.maxInFlight = maxInFlight;
    this.slots = new Semaphore(maxInFlight);
    this.client =
        AsyncHttp.client(
            timeoutMillis,
            maxConnections,
            maxConnections,
            ioThreads,
            "chronos-callback-io",
            AsyncHttp.POPS);
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

  @Override
  public boolean trySend(Pop pop, Consumer<CallbackOutcome> whenDone) {
    if (closed || !slots.tryAcquire()) {
      return false;
    }
    Exchange exchange = new Exchange(whenDone);
    try {
      // Off the timer thread: starting an exchange may resolve the host name synchronously, and a
      // slow resolver must not hold up every other pop.
      dispatcher.execute(() -> start(pop, exchange));
    } catch (RejectedExecutionException e) {
      exchange.finish(CallbackOutcome.failed("callback client stopped"));
    }
    return true;
  }

  private void start(Pop pop, Exchange exchange) {
    try {
      AsyncRequestProducer request =
          AsyncRequestBuilder.post(pop.uri())
              .addHeader("X-Sequence-Number", Integer.toString(pop.sequence()))
              .setEntity(
                  AsyncEntityProducers.create(pop.opaque(), ContentType.APPLICATION_OCTET_STREAM))
              .build();
      Future<Message<HttpResponse, Void>> future =
          client.execute(
              request, new BasicResponseConsumer<>(new DiscardingEntityConsumer<>()), exchange);
      exchange.deadline =
          deadlines.schedule(
              () -> {
                future.cancel(true);
                exchange.finish(CallbackOutcome.failed("timed out after " + timeoutMillis + " ms"));
              },
              timeoutMillis,
              TimeUnit.MILLISECONDS);
      if (exchange.finished.get()) {
        exchange.deadline.cancel(false);
      }
    } catch (RuntimeException e) {
      exchange.finish(CallbackOutcome.failed(describe(e)));
    }
  }

  /** One callback's completion: whichever of response, failure or deadline comes first wins. */
  private final class Exchange implements FutureCallback<Message<HttpResponse, Void>> {
    private final Consumer<CallbackOutcome> whenDone;
    private final AtomicBoolean finished = new AtomicBoolean();
    private final long startedNanos = System.nanoTime();
    private volatile ScheduledFuture<?> deadline;

    Exchange(Consumer<CallbackOutcome> whenDone) {
      this.whenDone = whenDone;
    }

    void finish(CallbackOutcome outcome) {
      if (finished.compareAndSet(false, true)) {
        ScheduledFuture<?> d = deadline;
        if (d != null) {
          d.cancel(false);
        }
        slots.release();
        latency.update(System.nanoTime() - startedNanos, TimeUnit.NANOSECONDS);
        whenDone.accept(outcome);
      }
    }

    @Override
    public void completed(Message<HttpResponse, Void> result) {
      int status = result.getHead().getCode();
      finish(
          status >= 200 && status < 300
              ? CallbackOutcome.succeeded("HTTP " + status)
              : CallbackOutcome.failed("HTTP " + status));
    }

    @Override
    public void failed(Exception ex) {
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
    return abandoned;
  }

  private static String describe(Exception e) {
    String message = e.getMessage();
    return e.getClass().getSimpleName() + (message == null ? "" : ": " + message);
  }
}
