package org.chronos.replication;

import com.codahale.metrics.Counter;
import com.codahale.metrics.Gauge;
import com.codahale.metrics.MetricRegistry;
import java.util.Collection;
import java.util.Map;
import java.util.Queue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.hc.client5.http.impl.async.CloseableHttpAsyncClient;
import org.apache.hc.core5.concurrent.FutureCallback;
import org.apache.hc.core5.http.ContentType;
import org.apache.hc.core5.http.HttpResponse;
import org.apache.hc.core5.http.nio.entity.AsyncEntityProducers;
import org.apache.hc.core5.http.nio.entity.DiscardingEntityConsumer;
import org.apache.hc.core5.http.nio.support.AsyncRequestBuilder;
import org.apache.hc.core5.http.nio.support.BasicResponseConsumer;
import org.apache.hc.core5.io.CloseMode;
import org.chronos.http.AsyncHttp;
import org.chronos.timer.Clock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Sends timers to other nodes ({@code PUT /timers/<id>-<rf>}); thread-safe and never blocks its
 * caller, which may be a request thread or the timer thread.
 *
 * <p>Each peer has a bounded queue and a cap on requests in flight. A full queue drops the message
 * and counts it as a failure (the timer's other copies and the next pop or resync repair it),
 * rather than letting a dead peer eat the heap. Connection failures, timeouts and 5xx answers are
 * retried a few times with backoff; 4xx answers are not. Metrics per peer: {@code
 * chronos.replication.<peer>.queued|sent|failed}.
 */
public final class Replicator {
  private static final Logger LOG = LoggerFactory.getLogger(Replicator.class);
  private static final long[] RETRY_DELAYS_MILLIS = {200, 1000};

  private final CloseableHttpAsyncClient client;
  private final ScheduledThreadPoolExecutor retries;
  private final Clock clock;
  private final MetricRegistry metrics;
  private final int maxQueued;
  private final int maxInFlightPerPeer;
  private final Map<String, Peer> peers = new ConcurrentHashMap<>();
  private volatile boolean closed;

  /** Told once per message whether it was delivered (after any retries); any thread. */
  @FunctionalInterface
  public interface Outcome {
    void delivered(String peer, boolean ok);
  }

  /** A message for one peer. */
  private record Message(String peer, String path, byte[] body, int attempt, Outcome outcome) {
    Message retry() {
      return new Message(peer, path, body, attempt + 1, outcome);
    }
  }

  private final class Peer {
    final String address;
    final Queue<Message> queue = new ConcurrentLinkedQueue<>();
    final AtomicInteger queued = new AtomicInteger();
    final AtomicInteger inFlight = new AtomicInteger();
    final Counter sent;
    final Counter failed;
    final AtomicLong lastFailureMillis = new AtomicLong();

    Peer(String address) {
      this.address = address;
      String base = MetricRegistry.name("chronos", "replication", address);
      metrics.register(base + ".queued", (Gauge<Integer>) queued::get);
      this.sent = metrics.counter(base + ".sent");
      this.failed = metrics.counter(base + ".failed");
    }
  }

  public Replicator(
      Clock clock,
      MetricRegistry metrics,
      long timeoutMillis,
      int maxQueued,
      int maxInFlightPerPeer) {
    this.clock = clock;
    this.metrics = metrics;
    this.maxQueued = maxQueued;
    this.maxInFlightPerPeer = maxInFlightPerPeer;
    this.client = AsyncHttp.client(timeoutMillis, maxInFlightPerPeer * 16, maxInFlightPerPeer, 1);
    this.retries =
        new ScheduledThreadPoolExecutor(1, AsyncHttp.daemonThreads("chronos-replication-retries"));
  }

  public void start() {
    client.start();
  }

  /**
   * Waits up to {@code graceMillis} for every peer's queue to empty (shutdown must not drop the
   * replication of pops that just succeeded), then closes.
   */
  public void stop(long graceMillis) throws InterruptedException {
    long giveUp = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(graceMillis);
    while (peers.values().stream().anyMatch(p -> p.queued.get() + p.inFlight.get() > 0)
        && System.nanoTime() < giveUp) {
      Thread.sleep(10);
    }
    closed = true;
    retries.shutdownNow();
    client.close(CloseMode.GRACEFUL);
  }

  /** Queues {@code PUT <path>} with the body to every peer given. */
  public void send(Collection<String> to, String path, byte[] body) {
    send(to, path, body, null);
  }

  /** As {@link #send(Collection, String, byte[])}, reporting each peer's final outcome. */
  public void send(Collection<String> to, String path, byte[] body, Outcome outcome) {
    for (String address : to) {
      enqueue(new Message(address, path, body, 0, outcome));
    }
  }

  /** Messages waiting or in flight to a peer. */
  public int pending(String address) {
    Peer p = peers.get(address);
    return p == null ? 0 : p.queued.get() + p.inFlight.get();
  }

  /** Peers whose last failure was at or after {@code sinceMillis} (for health and logs). */
  public Map<String, Long> recentFailures(long sinceMillis) {
    Map<String, Long> result = new java.util.TreeMap<>();
    peers.forEach(
        (address, p) -> {
          long last = p.lastFailureMillis.get();
          if (last != 0 && last >= sinceMillis) {
            result.put(address, last);
          }
        });
    return result;
  }

  private Peer peer(String address) {
    return peers.computeIfAbsent(address, Peer::new);
  }

  private void enqueue(Message m) {
    if (closed) {
      return;
    }
    Peer p = peer(m.peer());
    if (p.queued.incrementAndGet() > maxQueued) {
      p.queued.decrementAndGet();
      fail(p, m, "queue full (" + maxQueued + " messages)");
      return;
    }
    p.queue.add(m);
    drain(p);
  }

  private void drain(Peer p) {
    while (!closed) {
      int inFlight = p.inFlight.get();
      if (inFlight >= maxInFlightPerPeer) {
        return;
      }
      if (!p.inFlight.compareAndSet(inFlight, inFlight + 1)) {
        continue;
      }
      Message m = p.queue.poll();
      if (m == null) {
        p.inFlight.decrementAndGet();
        // A message may have arrived between the poll and the decrement; look once more.
        if (p.queue.isEmpty()) {
          return;
        }
        continue;
      }
      p.queued.decrementAndGet();
      execute(p, m);
    }
  }

  private void execute(Peer p, Message m) {
    try {
      client.execute(
          AsyncRequestBuilder.put("http://" + m.peer() + m.path())
              .setEntity(AsyncEntityProducers.create(m.body(), ContentType.APPLICATION_JSON))
              .build(),
          new BasicResponseConsumer<>(new DiscardingEntityConsumer<>()),
          new FutureCallback<org.apache.hc.core5.http.Message<HttpResponse, Void>>() {
            @Override
            public void completed(org.apache.hc.core5.http.Message<HttpResponse, Void> result) {
              int status = result.getHead().getCode();
              if (status >= 200 && status < 300) {
                p.sent.inc();
                if (m.outcome() != null) {
                  m.outcome().delivered(m.peer(), true);
                }
                done(p);
              } else if (status >= 500) {
                retryOrFail(p, m, "HTTP " + status);
              } else {
                fail(p, m, "HTTP " + status + " (not retried)");
                done(p);
              }
            }

            @Override
            public void failed(Exception ex) {
              retryOrFail(p, m, ex.getClass().getSimpleName() + ": " + ex.getMessage());
            }

            @Override
            public void cancelled() {
              retryOrFail(p, m, "cancelled");
            }
          });
    } catch (RuntimeException e) {
      retryOrFail(p, m, e.toString());
    }
  }

  private void done(Peer p) {
    p.inFlight.decrementAndGet();
    // Not inline: a client that fails requests synchronously (e.g. while shutting down) would
    // otherwise recurse through drain once per queued message.
    try {
      retries.execute(() -> drain(p));
    } catch (java.util.concurrent.RejectedExecutionException e) {
      // Stopped: whatever is queued stays unsent.
    }
  }

  private void retryOrFail(Peer p, Message m, String reason) {
    if (m.attempt() < RETRY_DELAYS_MILLIS.length && !closed) {
      try {
        retries.schedule(
            () -> enqueue(m.retry()), RETRY_DELAYS_MILLIS[m.attempt()], TimeUnit.MILLISECONDS);
      } catch (java.util.concurrent.RejectedExecutionException e) {
        fail(p, m, reason);
      }
    } else {
      fail(p, m, reason);
    }
    done(p);
  }

  private void fail(Peer p, Message m, String reason) {
    p.failed.inc();
    if (m.outcome() != null) {
      m.outcome().delivered(m.peer(), false);
    }
    long now = clock.millis();
    long previous = p.lastFailureMillis.getAndSet(now);
    // One line per peer per 10 s is enough to explain a dead peer without flooding the log.
    if (now - previous > 10_000) {
      LOG.warn(
          "replication to {} failed ({}): PUT {} after {} attempts",
          p.address,
          reason,
          m.path(),
          m.attempt() + 1);
    }
  }
}
