package org.chronos.replication;

import com.codahale.metrics.Counter;
import com.codahale.metrics.Gauge;
import com.codahale.metrics.MetricRegistry;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
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
import org.apache.hc.core5.http.nio.entity.BasicAsyncEntityConsumer;
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
  private static final long SINGLES_AFTER_REFUSAL_MILLIS = 10 * 60_000;

  /**
   * Requests in flight to a peer that takes batches below which a message is sent at once; at or
   * above it, messages wait for a reply (or a full batch) and go together.
   */
  private static final int EAGER_IN_FLIGHT = 2;

  private final CloseableHttpAsyncClient client;
  private final ScheduledThreadPoolExecutor retries;
  private final Clock clock;
  private final MetricRegistry metrics;
  private final int maxQueued;
  private final int maxInFlightPerPeer;
  private final int maxBatch;
  private final int maxBatchBytes;
  private final Map<String, Peer> peers = new ConcurrentHashMap<>();
  private volatile boolean closed;

  /** Told once per message whether it was delivered (after any retries); any thread. */
  @FunctionalInterface
  public interface Outcome {
    void delivered(String peer, boolean ok);
  }

  /** A message for one peer. */
  private record Message(
      String peer, String path, byte[] body, int attempt, Outcome outcome, boolean alone) {
    Message retry() {
      return new Message(peer, path, body, attempt + 1, outcome, alone);
    }

    /** The same message again, not counted as an attempt; sent on its own if {@code alone}. */
    Message again(boolean alone) {
      return new Message(peer, path, body, attempt, outcome, alone);
    }
  }

  private final class Peer {
    final String address;
    final Queue<Message> queue = new ConcurrentLinkedQueue<>();
    final AtomicInteger queued = new AtomicInteger();
    final AtomicInteger inFlight = new AtomicInteger();
    final Counter sent;
    final Counter failed;
    final Counter batches;
    final AtomicLong lastFailureMillis = new AtomicLong();

    /** Until when this peer is sent single PUTs only, because it did not take a batch. */
    volatile long singlesUntilMillis;

    Peer(String address) {
      this.address = address;
      String base = MetricRegistry.name("chronos", "replication", address);
      metrics.register(base + ".queued", (Gauge<Integer>) queued::get);
      this.sent = metrics.counter(base + ".sent");
      this.failed = metrics.counter(base + ".failed");
      this.batches = metrics.counter(base + ".batches");
    }
  }

  public Replicator(
      Clock clock,
      MetricRegistry metrics,
      long timeoutMillis,
      int maxQueued,
      int maxInFlightPerPeer) {
    this(clock, metrics, timeoutMillis, maxQueued, maxInFlightPerPeer, 1, 0);
  }

  /**
   * @param maxBatch at most this many messages per {@code POST /timers/batch} (1: never batch)
   * @param maxBatchBytes and at most about this many bytes of bodies; a message with a body over
   *     half of it always goes alone
   */
  public Replicator(
      Clock clock,
      MetricRegistry metrics,
      long timeoutMillis,
      int maxQueued,
      int maxInFlightPerPeer,
      int maxBatch,
      int maxBatchBytes) {
    this.clock = clock;
    this.metrics = metrics;
    this.maxQueued = maxQueued;
    this.maxInFlightPerPeer = maxInFlightPerPeer;
    this.maxBatch = maxBatch;
    this.maxBatchBytes = maxBatchBytes;
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
      enqueue(new Message(address, path, body, 0, outcome, false));
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
      if (inFlight >= EAGER_IN_FLIGHT && p.queued.get() < maxBatch && batching(p)) {
        // Replies are due: let messages gather into a batch that the next reply sends, rather
        // than spend a request on each (the wait is at most one round trip).
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
      List<Message> batch = batchAfter(p, m);
      if (batch == null) {
        execute(p, m);
      } else {
        executeBatch(p, batch);
      }
    }
  }

  /** Whether messages to this peer may travel in batches now. */
  private boolean batching(Peer p) {
    return maxBatch > 1 && clock.millis() >= p.singlesUntilMillis;
  }

  /**
   * When the peer takes batches and more messages wait, {@code first} and as many more as fit in
   * one batch; otherwise null. A message that must go alone is sent at once, over the in-flight cap
   * by one (it is rare: a big body, or a batch the peer found too large).
   */
  private List<Message> batchAfter(Peer p, Message first) {
    if (first.alone()
        || first.body().length > maxBatchBytes / 2
        || p.queue.isEmpty()
        || !batching(p)) {
      return null;
    }
    List<Message> batch = new ArrayList<>(Math.min(maxBatch, 64));
    batch.add(first);
    long bytes = first.body().length;
    Message next;
    while (batch.size() < maxBatch && bytes < maxBatchBytes && (next = p.queue.poll()) != null) {
      p.queued.decrementAndGet();
      if (next.alone() || next.body().length > maxBatchBytes / 2) {
        p.inFlight.incrementAndGet();
        execute(p, next);
        continue;
      }
      batch.add(next);
      bytes += next.body().length;
    }
    return batch.size() > 1 ? batch : null;
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
              settle(p, m, result.getHead().getCode());
              done(p);
            }

            @Override
            public void failed(Exception ex) {
              retryOrFail(p, m, ex.getClass().getSimpleName() + ": " + ex.getMessage());
              done(p);
            }

            @Override
            public void cancelled() {
              retryOrFail(p, m, "cancelled");
              done(p);
            }
          });
    } catch (RuntimeException e) {
      retryOrFail(p, m, e.toString());
      done(p);
    }
  }

  /** Sends several messages as one {@code POST /timers/batch}; see {@link ReplicationBatch}. */
  private void executeBatch(Peer p, List<Message> batch) {
    List<String> paths = new ArrayList<>(batch.size());
    List<byte[]> bodies = new ArrayList<>(batch.size());
    for (Message m : batch) {
      paths.add(m.path());
      bodies.add(m.body());
    }
    try {
      client.execute(
          AsyncRequestBuilder.post("http://" + p.address + ReplicationBatch.PATH)
              .setEntity(
                  AsyncEntityProducers.create(
                      ReplicationBatch.encode(paths, bodies), ContentType.APPLICATION_JSON))
              .build(),
          new BasicResponseConsumer<>(new BasicAsyncEntityConsumer()),
          new FutureCallback<org.apache.hc.core5.http.Message<HttpResponse, byte[]>>() {
            @Override
            public void completed(org.apache.hc.core5.http.Message<HttpResponse, byte[]> result) {
              batchAnswered(p, batch, result.getHead().getCode(), result.getBody());
              done(p);
            }

            @Override
            public void failed(Exception ex) {
              String reason = ex.getClass().getSimpleName() + ": " + ex.getMessage();
              batch.forEach(m -> retryOrFail(p, m, reason));
              done(p);
            }

            @Override
            public void cancelled() {
              batch.forEach(m -> retryOrFail(p, m, "cancelled"));
              done(p);
            }
          });
    } catch (RuntimeException e) {
      batch.forEach(m -> retryOrFail(p, m, e.toString()));
      done(p);
    }
  }

  private void batchAnswered(Peer p, List<Message> batch, int status, byte[] body) {
    if (status == 200) {
      int[] statuses;
      try {
        statuses = ReplicationBatch.decodeStatuses(body == null ? new byte[0] : body, batch.size());
      } catch (IOException e) {
        refuseBatches(p, "its answer to a batch was not one: " + e.getMessage());
        batch.forEach(m -> enqueue(m.again(false)));
        return;
      }
      p.batches.inc();
      for (int i = 0; i < statuses.length; i++) {
        settle(p, batch.get(i), statuses[i]);
      }
    } else if (status == 413) {
      // The peer's body limit is below our batch size: these go alone, later ones still batch.
      batch.forEach(m -> enqueue(m.again(true)));
    } else if (status >= 500) {
      batch.forEach(m -> retryOrFail(p, m, "HTTP " + status + " to a batch"));
    } else {
      // Not one of ours (an original Chronos node answers 404 or 405), or an older one.
      refuseBatches(p, "it answered HTTP " + status + " to a batch");
      batch.forEach(m -> enqueue(m.again(false)));
    }
  }

  private void refuseBatches(Peer p, String reason) {
    p.singlesUntilMillis = clock.millis() + SINGLES_AFTER_REFUSAL_MILLIS;
    LOG.info(
        "replication to {}: single PUTs for the next {} s, because {}",
        p.address,
        SINGLES_AFTER_REFUSAL_MILLIS / 1000,
        reason);
  }

  /** One message's answer: delivered, retried (5xx) or failed (other 4xx, never retried). */
  private void settle(Peer p, Message m, int status) {
    if (status >= 200 && status < 300) {
      p.sent.inc();
      if (m.outcome() != null) {
        m.outcome().delivered(m.peer(), true);
      }
    } else if (status >= 500) {
      retryOrFail(p, m, "HTTP " + status);
    } else {
      fail(p, m, "HTTP " + status + " (not retried)");
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
