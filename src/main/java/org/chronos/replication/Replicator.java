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
import java.util.concurrent.Semaphore;
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
 * Sends timers to other nodes ({@code PUT /timers/<id>-<rf>}); thread-safe. {@link #send} never
 * blocks its caller, which may be a request thread or the timer thread; {@link #sendBulk} waits for
 * room, which is the backpressure of a resync.
 *
 * <p>Each peer has two lanes. The <b>urgent</b> lane carries the replication of client requests and
 * of successful pops: a backup that does not hear of a pop within the 2 s replica delay pops the
 * timer again, so these must never wait behind a resync's bulk traffic. The <b>bulk</b> lane
 * carries a resync's copies. The lanes have their own queues and their own caps on requests in
 * flight, so an urgent message waits only for other urgent ones, and bulk traffic, with a small cap
 * of its own, is never starved by urgent traffic either, nor can it take more than a few of the
 * peer's request threads. An urgent queue is bounded: when full the message is dropped and counted
 * as a failure (the timer's other copies and the next pop or resync repair it) rather than letting
 * a dead peer eat the heap. A bulk sender instead waits until fewer than {@code maxBulkQueued} of
 * its messages are waiting or in flight.
 *
 * <p>Connection failures, timeouts and 5xx answers are retried a few times with backoff; 4xx
 * answers are not. A completion sends the lane's next message at once, on the thread that completed
 * (no hand-off per message); a lane is drained by one thread at a time, so a client that fails
 * requests synchronously does not recurse. Metrics per peer: {@code
 * chronos.replication.<peer>.queued} (both lanes), {@code .bulk-queued}, {@code .sent}, {@code
 * .failed}.
 */
public final class Replicator {
  private static final Logger LOG = LoggerFactory.getLogger(Replicator.class);
  private static final long[] RETRY_DELAYS_MILLIS = {200, 1000};

  /** Default cap on a peer's bulk requests in flight. */
  public static final int DEFAULT_MAX_BULK_IN_FLIGHT = 2;

  /** Default cap on a peer's bulk messages waiting or in flight before {@link #sendBulk} waits. */
  public static final int DEFAULT_MAX_BULK_QUEUED = 256;

  private final CloseableHttpAsyncClient client;
  private final ScheduledThreadPoolExecutor retries;
  private final Clock clock;
  private final MetricRegistry metrics;
  private final int maxQueued;
  private final int maxInFlightPerPeer;
  private final int maxBulkInFlight;
  private final int maxBulkQueued;
  private final Map<String, Peer> peers = new ConcurrentHashMap<>();
  private volatile boolean closed;

  /** Told once per message whether it was delivered (after any retries); any thread. */
  @FunctionalInterface
  public interface Outcome {
    void delivered(String peer, boolean ok);
  }

  /** A message for one peer. */
  private record Message(
      String peer, String path, byte[] body, int attempt, Outcome outcome, boolean bulk) {
    Message retry() {
      return new Message(peer, path, body, attempt + 1, outcome, bulk);
    }
  }

  /** One peer's queue of one priority, with its own cap on requests in flight. */
  private final class Lane {
    final Peer peer;
    final boolean bulk;
    final int maxInFlight;
    final Queue<Message> queue = new ConcurrentLinkedQueue<>();
    final AtomicInteger queued = new AtomicInteger();
    final AtomicInteger inFlight = new AtomicInteger();
    // Drain requests not yet seen by the thread draining the lane (0: nobody is draining).
    final AtomicInteger drainRequests = new AtomicInteger();
    // Bulk lane: messages accepted and not yet finished (queued, in flight or waiting to retry).
    final Semaphore room;

    Lane(Peer peer, boolean bulk, int maxInFlight, int room) {
      this.peer = peer;
      this.bulk = bulk;
      this.maxInFlight = maxInFlight;
      this.room = bulk ? new Semaphore(room) : null;
    }
  }

  private final class Peer {
    final String address;
    final Lane urgent;
    final Lane bulk;
    final Counter sent;
    final Counter failed;
    final AtomicLong lastFailureMillis = new AtomicLong();

    Peer(String address) {
      this.address = address;
      this.urgent = new Lane(this, false, maxInFlightPerPeer, 0);
      this.bulk = new Lane(this, true, maxBulkInFlight, maxBulkQueued);
      String base = MetricRegistry.name("chronos", "replication", address);
      metrics.register(
          base + ".queued", (Gauge<Integer>) () -> urgent.queued.get() + bulk.queued.get());
      metrics.register(base + ".bulk-queued", (Gauge<Integer>) bulk.queued::get);
      this.sent = metrics.counter(base + ".sent");
      this.failed = metrics.counter(base + ".failed");
    }

    int pending() {
      return urgent.queued.get() + urgent.inFlight.get() + bulk.queued.get() + bulk.inFlight.get();
    }
  }

  public Replicator(
      Clock clock,
      MetricRegistry metrics,
      long timeoutMillis,
      int maxQueued,
      int maxInFlightPerPeer) {
    this(
        clock,
        metrics,
        timeoutMillis,
        maxQueued,
        maxInFlightPerPeer,
        DEFAULT_MAX_BULK_IN_FLIGHT,
        DEFAULT_MAX_BULK_QUEUED);
  }

  public Replicator(
      Clock clock,
      MetricRegistry metrics,
      long timeoutMillis,
      int maxQueued,
      int maxInFlightPerPeer,
      int maxBulkInFlight,
      int maxBulkQueued) {
    if (maxInFlightPerPeer < 1 || maxBulkInFlight < 1 || maxBulkQueued < 1) {
      throw new IllegalArgumentException(
          "in-flight caps and bulk room must be >= 1: "
              + maxInFlightPerPeer
              + ", "
              + maxBulkInFlight
              + ", "
              + maxBulkQueued);
    }
    this.clock = clock;
    this.metrics = metrics;
    this.maxQueued = maxQueued;
    this.maxInFlightPerPeer = maxInFlightPerPeer;
    this.maxBulkInFlight = maxBulkInFlight;
    this.maxBulkQueued = maxBulkQueued;
    // Both lanes' requests in flight fit in the pool: neither waits there for the other.
    int perRoute = maxInFlightPerPeer + maxBulkInFlight;
    this.client = AsyncHttp.client(timeoutMillis, perRoute * 16, perRoute, 1);
    this.retries =
        new ScheduledThreadPoolExecutor(1, AsyncHttp.daemonThreads("chronos-replication-retries"));
  }

  public void start() {
    client.start();
  }

  /**
   * Waits up to {@code graceMillis} for every peer's queues to empty (shutdown must not drop the
   * replication of pops that just succeeded), then closes.
   */
  public void stop(long graceMillis) throws InterruptedException {
    long giveUp = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(graceMillis);
    while (peers.values().stream().anyMatch(p -> p.pending() > 0) && System.nanoTime() < giveUp) {
      Thread.sleep(10);
    }
    closed = true;
    retries.shutdownNow();
    client.close(CloseMode.GRACEFUL);
    // Nobody waits for bulk room any more: whatever is queued stays unsent.
    peers.values().forEach(p -> p.bulk.room.release(maxBulkQueued));
  }

  /** Queues {@code PUT <path>} with the body to every peer given, in the urgent lane. */
  public void send(Collection<String> to, String path, byte[] body) {
    send(to, path, body, null);
  }

  /** As {@link #send(Collection, String, byte[])}, reporting each peer's final outcome. */
  public void send(Collection<String> to, String path, byte[] body, Outcome outcome) {
    for (String address : to) {
      enqueue(new Message(address, path, body, 0, outcome, false));
    }
  }

  /**
   * Queues {@code PUT <path>} to every peer given in the bulk lane, behind any urgent message,
   * first waiting while a peer has {@code maxBulkQueued} bulk messages unfinished.
   *
   * @throws InterruptedException if interrupted while waiting (messages to peers not yet queued are
   *     not sent)
   */
  public void sendBulk(Collection<String> to, String path, byte[] body, Outcome outcome)
      throws InterruptedException {
    for (String address : to) {
      if (closed) {
        if (outcome != null) {
          outcome.delivered(address, false);
        }
        continue;
      }
      peer(address).bulk.room.acquire();
      enqueue(new Message(address, path, body, 0, outcome, true));
    }
  }

  /** Messages waiting or in flight to a peer, in both lanes. */
  public int pending(String address) {
    Peer p = peers.get(address);
    return p == null ? 0 : p.pending();
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
    Peer p = peer(m.peer());
    Lane lane = m.bulk() ? p.bulk : p.urgent;
    if (closed) {
      if (m.bulk()) {
        finish(lane, m, false); // its sender may be counting on an outcome
      }
      return;
    }
    // The bulk lane is bounded by its senders waiting for room, the urgent lane here.
    if (!m.bulk() && lane.queued.incrementAndGet() > maxQueued) {
      lane.queued.decrementAndGet();
      fail(lane, m, "queue full (" + maxQueued + " messages)");
      return;
    }
    if (m.bulk()) {
      lane.queued.incrementAndGet();
    }
    lane.queue.add(m);
    drain(lane);
  }

  /**
   * Sends the lane's queued messages while it has room in flight. One thread at a time drains a
   * lane; a call meanwhile (a completion, a new message, or a synchronous failure inside {@code
   * execute}) makes that thread look again instead of recursing.
   */
  private void drain(Lane lane) {
    if (lane.drainRequests.getAndIncrement() != 0) {
      return;
    }
    int requests = 1;
    do {
      while (!closed && lane.inFlight.get() < lane.maxInFlight) {
        Message m = lane.queue.poll();
        if (m == null) {
          break;
        }
        lane.queued.decrementAndGet();
        lane.inFlight.incrementAndGet();
        execute(lane, m);
      }
      requests = lane.drainRequests.addAndGet(-requests);
    } while (requests != 0);
  }

  private void execute(Lane lane, Message m) {
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
                lane.peer.sent.inc();
                finish(lane, m, true);
                done(lane);
              } else if (status >= 500) {
                retryOrFail(lane, m, "HTTP " + status);
              } else {
                fail(lane, m, "HTTP " + status + " (not retried)");
                done(lane);
              }
            }

            @Override
            public void failed(Exception ex) {
              retryOrFail(lane, m, ex.getClass().getSimpleName() + ": " + ex.getMessage());
            }

            @Override
            public void cancelled() {
              retryOrFail(lane, m, "cancelled");
            }
          });
    } catch (RuntimeException e) {
      retryOrFail(lane, m, e.toString());
    }
  }

  /** A request of the lane ended: its next message goes out now, from this thread. */
  private void done(Lane lane) {
    lane.inFlight.decrementAndGet();
    drain(lane);
  }

  private void retryOrFail(Lane lane, Message m, String reason) {
    if (m.attempt() < RETRY_DELAYS_MILLIS.length && !closed) {
      try {
        retries.schedule(
            () -> enqueue(m.retry()), RETRY_DELAYS_MILLIS[m.attempt()], TimeUnit.MILLISECONDS);
      } catch (java.util.concurrent.RejectedExecutionException e) {
        fail(lane, m, reason);
      }
    } else {
      fail(lane, m, reason);
    }
    done(lane);
  }

  /** The message's final outcome: told to its sender, and its bulk room freed. */
  private void finish(Lane lane, Message m, boolean ok) {
    if (lane.bulk) {
      lane.room.release();
    }
    if (m.outcome() != null) {
      m.outcome().delivered(m.peer(), ok);
    }
  }

  private void fail(Lane lane, Message m, String reason) {
    Peer p = lane.peer;
    p.failed.inc();
    finish(lane, m, false);
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
