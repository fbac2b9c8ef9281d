package org.chronos.replication;

import com.codahale.metrics.Counter;
import com.codahale.metrics.Gauge;
import com.codahale.metrics.MetricRegistry;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Future;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.hc.client5.http.impl.async.CloseableHttpAsyncClient;
import org.apache.hc.core5.concurrent.FutureCallback;
import org.apache.hc.core5.http.ContentType;
import org.apache.hc.core5.http.Header;
import org.apache.hc.core5.http.HttpResponse;
import org.apache.hc.core5.http.nio.entity.AsyncEntityProducers;
import org.apache.hc.core5.http.nio.entity.BasicAsyncEntityConsumer;
import org.apache.hc.core5.http.nio.entity.DiscardingEntityConsumer;
import org.apache.hc.core5.http.nio.support.AsyncRequestBuilder;
import org.apache.hc.core5.http.nio.support.BasicResponseConsumer;
import org.apache.hc.core5.io.CloseMode;
import org.chronos.cluster.Addresses;
import org.chronos.cluster.ClusterConfig;
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
 * <p>Connection failures, timeouts and 5xx answers are retried with backoff: news for up to {@link
 * #retryFor} (in the urgent lane counted against its cap meanwhile), a resync's copies twice; 4xx
 * answers are not. A completion sends the lane's next message at once, on the thread that completed
 * (no hand-off per message); a lane is drained by one thread at a time, so a client that fails
 * requests synchronously does not recurse.
 *
 * <p><b>Batches.</b> To a peer that takes them (our nodes), messages queued in a lane travel
 * together as one {@code POST /timers/batch} ({@link ReplicationBatch}), up to {@code maxBatch}
 * messages and about {@code maxBatchBytes} of bodies; a lone message is still a plain PUT. While a
 * lane has a request unanswered, new messages wait for its reply (or a full batch) instead of each
 * taking a request: at most one round trip more, for far fewer requests. A peer that answers a
 * batch with anything but its statuses (an original Chronos node: 404 or 405) gets single PUTs for
 * the next {@value #SINGLES_AFTER_REFUSAL_MILLIS} ms, and a batch it finds too large (413) is sent
 * again message by message. Metrics per peer: {@code chronos.replication.<peer>.queued} (both
 * lanes), {@code .bulk-queued}, {@code .sent}, {@code .failed} (messages), {@code .batches}
 * (batches accepted).
 */
public final class Replicator {
  private static final Logger LOG = LoggerFactory.getLogger(Replicator.class);

  /** A resync's copies are retried after these; the resync waits for them meanwhile. */
  private static final long[] COPY_RETRY_DELAYS_MILLIS = {200, 1000};

  /** News (not a resync's copy) is retried after these, then the last again, within retryFor. */
  private static final long[] NEWS_RETRY_DELAYS_MILLIS = {200, 1000, 2000};

  /** How long the retries of one message of news may span; see {@link #retryFor}. */
  public static final long DEFAULT_RETRY_FOR_MILLIS = 10_000;

  private static final long SINGLES_AFTER_REFUSAL_MILLIS = 10 * 60_000;

  /**
   * Requests in flight in a lane to a peer that takes batches below which a message is sent at
   * once; at or above it, messages wait for a reply (or a full batch) and go together.
   */
  private static final int EAGER_IN_FLIGHT = 1;

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
  private final int maxBatch;
  private final int maxBatchBytes;
  private final int defaultPort;
  private final Map<String, Peer> peers = new ConcurrentHashMap<>();
  private final AtomicLong generations = new AtomicLong();
  private static final ObjectMapper MAPPER = new ObjectMapper();
  private volatile boolean closed;

  // Requests in flight: a stop whose grace period has run out ends them (see stop).
  private final Set<Tracked<?>> requests = ConcurrentHashMap.newKeySet();
  // A header every request carries (a resync warm-up's mark), or null.
  private volatile Header everyRequestHeader;

  /** Told once per message whether it was delivered (after any retries); any thread. */
  @FunctionalInterface
  public interface Outcome {
    void delivered(String peer, boolean ok);

    /**
     * The message was not sent again (after a 5xx or a timeout) because later news of the same
     * timer, which holds all of it, went after it; that one's outcome says whether the peer got it.
     * By default, delivered.
     */
    default void superseded(String peer) {
      delivered(peer, true);
    }

    /**
     * The peer answered, and refused the message with a 4xx ({@code status}): it is up, and the
     * message is not sent again. By default, not delivered.
     */
    default void refused(String peer, int status) {
      delivered(peer, false);
    }
  }

  /**
   * A message for one peer. {@code queuedNanos} ({@link Clock#nanos}) is when it was first queued,
   * right after its body was written: the time since then is sent along with it as {@link
   * #HELD_HEADER} (or the batch entry's {@code Held}), so that the peer counts the body's {@code
   * start-time-delta} from when it was written rather than from when it arrived (see {@link
   * ReplicationBatch}).
   */
  /**
   * One PUT to one peer. {@code generation}: its place among the messages queued, so that a message
   * sent again (a retry) that later news for the same timer overtook is not sent after it.
   */
  private record Message(
      String peer,
      String path,
      byte[] body,
      int attempt,
      Outcome outcome,
      boolean bulk,
      boolean briefRetries,
      boolean alone,
      long queuedNanos,
      long snapshotMicros,
      long generation) {
    /** The same message as another attempt. */
    Message retry() {
      return copy(attempt + 1, alone);
    }

    /** The same message again, not counted as an attempt; sent on its own if {@code alone}. */
    Message again(boolean alone) {
      return copy(attempt, alone);
    }

    private Message copy(int attempt, boolean alone) {
      return new Message(
          peer,
          path,
          body,
          attempt,
          outcome,
          bulk,
          briefRetries,
          alone,
          queuedNanos,
          snapshotMicros,
          generation);
    }
  }

  /**
   * Header of a single replication {@code PUT} between our nodes: microseconds the message waited
   * in the sender after its body was written (not in the original protocol, which ignores it).
   */
  public static final String HELD_HEADER = "X-Chronos-Held-Micros";

  /**
   * Header of a single replication {@code PUT} between our nodes that carries a resync's copy of a
   * timer rather than news of a change: the copy comes from a peer's snapshot (a resync page), and
   * its start may be late by up to this many microseconds (the page's time from request to answer).
   * The receiver then does not let it undo a later pop or a deletion it holds, as a replication
   * message would (see {@code VersionRule#isLaterPop}). Absent: not a snapshot.
   */
  public static final String SNAPSHOT_HEADER = "X-Chronos-Snapshot-Micros";

  /**
   * Header of a batch between our nodes sent from the bulk lane ({@link #BULK_LANE}): a resync's
   * copies, which the receiver takes in at a resync's low priority. Absent: the urgent lane.
   */
  public static final String LANE_HEADER = "X-Chronos-Lane";

  /** {@link #LANE_HEADER}'s value for the bulk lane. */
  public static final String BULK_LANE = "bulk";

  /** Not a snapshot: a message's {@code snapshotMicros} when it is news of a change. */
  public static final long NOT_A_SNAPSHOT = -1;

  /**
   * A {@link #HELD_HEADER} value as sent: whole microseconds; anything else (or none) is 0, as from
   * an original node, which sends none.
   */
  public static long heldMicros(String header) {
    return Math.max(0, wholeMicros(header));
  }

  /**
   * A {@link #SNAPSHOT_HEADER} value as sent: whole microseconds; none (or anything else, which no
   * node of ours sends) is {@link #NOT_A_SNAPSHOT}.
   */
  public static long snapshotMicros(String header) {
    return wholeMicros(header);
  }

  // Whole non-negative microseconds, or -1 for none or anything else.
  private static long wholeMicros(String header) {
    String value = header == null ? "" : header.trim();
    if (value.isEmpty() || value.length() > 18) {
      return -1;
    }
    for (int i = 0; i < value.length(); i++) {
      if (value.charAt(i) < '0' || value.charAt(i) > '9') {
        return -1;
      }
    }
    return Long.parseLong(value);
  }

  /** One peer's queue of one priority, with its own cap on requests in flight. */
  private final class Lane {
    final Peer peer;
    final boolean bulk;
    final int maxInFlight;
    final Queue<Message> queue = new ConcurrentLinkedQueue<>();
    final AtomicInteger queued = new AtomicInteger();
    final AtomicInteger inFlight = new AtomicInteger();
    // The messages waiting to be sent again, so that a stop can tell their senders; in the urgent
    // lane they count against its cap with the queued. Whoever takes one out (its retry, or the
    // stop) has it.
    final Set<Message> waitingRetry = ConcurrentHashMap.newKeySet();
    // Drain requests not yet seen by the thread draining the lane (0: nobody is draining).
    final AtomicInteger drainRequests = new AtomicInteger();
    // Bulk lane: messages accepted and not yet finished (queued, in flight or waiting to retry).
    final Semaphore room;

    // Urgent lane: one timer's messages go in order. Paths with a request in flight (a count per
    // path: a batch may carry two messages of one timer), and the messages taken from the queue
    // that wait for their path to land, with their paths (the draining thread only).
    final Map<String, Integer> pathsInFlight = new ConcurrentHashMap<>();
    final java.util.ArrayDeque<Message> deferred = new java.util.ArrayDeque<>();
    final Map<String, Integer> deferredPaths = new java.util.HashMap<>();
    final AtomicInteger deferredCount = new AtomicInteger();
    // Set when a request lands, so that the set-aside messages are looked at again.
    volatile boolean landedSinceScan;

    Lane(Peer peer, boolean bulk, int maxInFlight, int room) {
      this.peer = peer;
      this.bulk = bulk;
      this.maxInFlight = maxInFlight;
      this.room = bulk ? new Semaphore(room) : null;
    }
  }

  /** The latest news for one path to one peer, and how many news messages for it are unfinished. */
  private static final class Newest {
    long generation;
    byte[] body;
    int unfinished;
  }

  private final class Peer {
    final String address;

    /** {@code http://host:port}: the address with the default port when it was listed without. */
    final String url;

    final Lane urgent;
    final Lane bulk;
    final Counter sent;
    final Counter failed;
    final Counter batches;
    final Counter overtaken;
    final AtomicLong lastFailureMillis = new AtomicLong();
    // Messages the stop gave up on without sending (queued, set aside or waiting for a retry).
    final AtomicInteger abandoned = new AtomicInteger();

    /** Per path with news queued or in flight: the latest news's generation, and how many. */
    final Map<String, Newest> latest = new ConcurrentHashMap<>();

    /** Until when this peer is sent single PUTs only, because it did not take a batch. */
    volatile long singlesUntilMillis;

    Peer(String address) {
      this.address = address;
      this.url = "http://" + Addresses.connectable(address, defaultPort);
      this.urgent = new Lane(this, false, maxInFlightPerPeer, 0);
      this.bulk = new Lane(this, true, maxBulkInFlight, maxBulkQueued);
      String base = MetricRegistry.name("chronos", "replication", address);
      metrics.register(
          base + ".queued",
          (Gauge<Integer>)
              () ->
                  urgent.queued.get()
                      + urgent.waitingRetry.size()
                      + urgent.deferredCount.get()
                      + bulk.queued.get());
      metrics.register(base + ".bulk-queued", (Gauge<Integer>) bulk.queued::get);
      this.sent = metrics.counter(base + ".sent");
      this.failed = metrics.counter(base + ".failed");
      this.batches = metrics.counter(base + ".batches");
      this.overtaken = metrics.counter(base + ".overtaken");
    }

    /** Messages not finished: queued, in flight, or waiting to be sent again (urgent lane). */
    int pending() {
      return urgent.queued.get()
          + urgent.inFlight.get()
          + urgent.waitingRetry.size()
          + urgent.deferredCount.get()
          + bulk.queued.get()
          + bulk.inFlight.get();
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

  /** Without batches: single PUTs only, as the original sends. */
  public Replicator(
      Clock clock,
      MetricRegistry metrics,
      long timeoutMillis,
      int maxQueued,
      int maxInFlightPerPeer,
      int maxBulkInFlight,
      int maxBulkQueued) {
    this(
        clock,
        metrics,
        timeoutMillis,
        maxQueued,
        maxInFlightPerPeer,
        maxBulkInFlight,
        maxBulkQueued,
        1,
        0,
        ClusterConfig.DEFAULT_PORT);
  }

  /**
   * @param maxBatch at most this many messages per {@code POST /timers/batch} (1: never batch)
   * @param maxBatchBytes and at most about this many bytes of bodies; a message with a body over
   *     half of it always goes alone
   * @param defaultPort the port of peers whose address has none (this node's HTTP port, PROTOCOL.md
   *     section 3)
   */
  public Replicator(
      Clock clock,
      MetricRegistry metrics,
      long timeoutMillis,
      int maxQueued,
      int maxInFlightPerPeer,
      int maxBulkInFlight,
      int maxBulkQueued,
      int maxBatch,
      int maxBatchBytes,
      int defaultPort) {
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
    this.maxBatch = maxBatch;
    this.maxBatchBytes = maxBatchBytes;
    this.defaultPort = defaultPort;
    // Both lanes' requests in flight fit in the pool: neither waits there for the other.
    int perRoute = maxInFlightPerPeer + maxBulkInFlight;
    this.client =
        AsyncHttp.client(
            timeoutMillis, perRoute * 16, perRoute, 1, "chronos-replication-io", AsyncHttp.NORMAL);
    this.retries =
        new ScheduledThreadPoolExecutor(1, AsyncHttp.daemonThreads("chronos-replication-retries"));
  }

  public void start() {
    client.start();
  }

  private volatile long retryForMillis = DEFAULT_RETRY_FOR_MILLIS;

  /**
   * Makes every request from now on carry this header too: for a replicator that sends a resync
   * warm-up's copies to this node itself ({@code org.chronos.resync.WarmUpGate}).
   */
  public void addToEveryRequest(Header header) {
    everyRequestHeader = header;
  }

  private void addEveryRequestHeader(AsyncRequestBuilder request) {
    Header header = everyRequestHeader;
    if (header != null) {
      request.addHeader(header);
    }
  }

  /**
   * Waits up to {@code graceMillis} for every peer's queues to empty (shutdown must not drop the
   * replication of pops that just succeeded), then closes. Every message still unfinished then is
   * reported failed to its sender: one waiting for its outcome (a resync counting its copies, a
   * node waiting to hear whether a leaving timer's new replicas got it) would otherwise wait
   * forever. One line per peer says how many were abandoned.
   */
  public void stop(long graceMillis) throws InterruptedException {
    long giveUp = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(graceMillis);
    boolean interrupted = false;
    try {
      while (peers.values().stream().anyMatch(p -> p.pending() > 0) && System.nanoTime() < giveUp) {
        Thread.sleep(10);
      }
    } catch (InterruptedException e) {
      // Closed all the same: a resync warm-up's replicator is stopped by a thread the node's stop
      // may have interrupted, and must not keep its client and threads.
      interrupted = true;
    }
    closed = true;
    retries.shutdownNow();
    for (Peer p : peers.values()) {
      for (Lane lane : List.of(p.urgent, p.bulk)) {
        for (Message m : lane.waitingRetry) {
          if (lane.waitingRetry.remove(m)) {
            abandon(lane, m);
          }
        }
        // Closed, a drain gives up on what is queued or set aside (here, or on the thread that
        // is draining the lane now).
        drain(lane);
      }
    }
    // Requests in flight end now, and their senders hear of it as of any failure: the client's
    // close tells them nothing, and a graceful one would wait up to 5 s more for them.
    List<Tracked<?>> inFlight = List.copyOf(requests);
    for (Tracked<?> request : inFlight) {
      try {
        request.cancel();
      } catch (RuntimeException e) {
        // A sender's outcome that throws must not leave the other requests running.
        LOG.warn("replication: ending a request in flight at stop failed", e);
      }
    }
    // A cancel ends its exchange on an I/O thread a moment later: a graceful close that came first
    // waited up to 5 s for the connection it was still on.
    client.close(inFlight.isEmpty() ? CloseMode.GRACEFUL : CloseMode.IMMEDIATE);
    // Nobody waits for bulk room any more: a sender still waiting hears its messages failed.
    peers.values().forEach(p -> p.bulk.room.release(maxBulkQueued));
    for (Peer p : peers.values()) {
      int abandoned = p.abandoned.get();
      if (abandoned > 0) {
        LOG.warn(
            "replication to {}: {} messages abandoned at stop after {} ms (queued, set aside behind"
                + " their timer's earlier one, or waiting to be sent again); reported failed",
            p.address,
            abandoned,
            graceMillis);
      }
    }
    if (interrupted) {
      throw new InterruptedException("interrupted waiting for replication to finish; closed");
    }
  }

  /** A message given up on at stop: reported failed to its sender. */
  private void abandon(Lane lane, Message m) {
    lane.peer.abandoned.incrementAndGet();
    lane.peer.failed.inc();
    try {
      finish(lane, m, false);
    } catch (RuntimeException e) {
      // A sender's outcome that throws must not leave the others untold and the client open.
      LOG.warn("replication to {}: telling a sender its message was abandoned failed", m.peer(), e);
    }
  }

  /** Once closed: every message queued in the lane or set aside there abandoned. Draining only. */
  private void abandonQueued(Lane lane) {
    Message m;
    while ((m = lane.queue.poll()) != null) {
      lane.queued.decrementAndGet();
      abandon(lane, m);
    }
    while ((m = lane.deferred.pollFirst()) != null) {
      lane.deferredCount.decrementAndGet();
      abandon(lane, m);
    }
    lane.deferredPaths.clear();
  }

  /** Queues {@code PUT <path>} with the body to every peer given, in the urgent lane. */
  public void send(Collection<String> to, String path, byte[] body) {
    send(to, path, body, null);
  }

  /** As {@link #send(Collection, String, byte[])}, reporting each peer's final outcome. */
  public void send(Collection<String> to, String path, byte[] body, Outcome outcome) {
    sendSnapshot(to, path, body, NOT_A_SNAPSHOT, outcome);
  }

  /**
   * As {@link #send(Collection, String, byte[], Outcome)}, for a snapshot of a timer (a copy
   * re-sent to another site, or passed on from one): the peer is told its start may be up to {@code
   * snapshotMicros} late ({@link #SNAPSHOT_HEADER}); {@link #NOT_A_SNAPSHOT} sends it as news of a
   * change. Retried as news is.
   */
  public void sendSnapshot(
      Collection<String> to, String path, byte[] body, long snapshotMicros, Outcome outcome) {
    long written = clock.nanos();
    for (String address : to) {
      enqueue(fresh(address, path, body, outcome, false, false, written, snapshotMicros));
    }
  }

  /**
   * As {@link #sendSnapshot}, for a resync's copy that cannot wait in the bulk lane (due soon):
   * retried briefly, as the bulk lane's are, since the resync waits for its copies.
   */
  public void sendResyncCopy(
      Collection<String> to, String path, byte[] body, long snapshotMicros, Outcome outcome) {
    long written = clock.nanos();
    for (String address : to) {
      enqueue(fresh(address, path, body, outcome, false, true, written, snapshotMicros));
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
    sendBulk(to, path, body, NOT_A_SNAPSHOT, outcome);
  }

  /**
   * As {@link #sendBulk(Collection, String, byte[], Outcome)}, for a resync's copy of a timer whose
   * start may be up to {@code snapshotMicros} late (see {@link #sendSnapshot}).
   */
  public void sendBulk(
      Collection<String> to, String path, byte[] body, long snapshotMicros, Outcome outcome)
      throws InterruptedException {
    long written = clock.nanos(); // waiting for room below is part of what the peer is told
    for (String address : to) {
      if (closed) {
        if (outcome != null) {
          outcome.delivered(address, false);
        }
        continue;
      }
      peer(address).bulk.room.acquire();
      enqueue(fresh(address, path, body, outcome, true, true, written, snapshotMicros));
    }
  }

  /** The most urgent messages queued to one peer ({@code replication.maxQueuedPerPeer}). */
  public int maxQueuedPerPeer() {
    return maxQueued;
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

  /**
   * A message sent for the first time. News of a change becomes the latest for its path to the
   * peer: every replication PUT carries the whole timer, so it holds all an earlier one did.
   */
  private Message fresh(
      String address,
      String path,
      byte[] body,
      Outcome outcome,
      boolean bulk,
      boolean briefRetries,
      long writtenNanos,
      long snapshotMicros) {
    long generation = generations.incrementAndGet();
    if (snapshotMicros == NOT_A_SNAPSHOT) {
      peer(address)
          .latest
          .compute(
              path,
              (key, newest) -> {
                Newest n = newest == null ? new Newest() : newest;
                if (generation > n.generation) {
                  n.generation = generation;
                  n.body = body;
                }
                n.unfinished++;
                return n;
              });
    }
    return new Message(
        address,
        path,
        body,
        0,
        outcome,
        bulk,
        briefRetries,
        false,
        writtenNanos,
        snapshotMicros,
        generation);
  }

  /**
   * Whether a later message for the same timer has been queued to the peer since {@code m}, which
   * is being sent again: sent now, it would arrive after that one. Its retries made a create that a
   * peer had answered 503 arrive after the news of the timer's first pop, and the peer, taking the
   * sequence-0 copy as new, popped the timer again.
   */
  private static boolean overtaken(Peer p, Message m) {
    byte[][] later = {null};
    p.latest.computeIfPresent(
        m.path(),
        (key, newest) -> {
          if (newest.generation > m.generation()) {
            later[0] = newest.body;
          }
          return newest;
        });
    return later[0] != null && holdsAllOf(later[0], m.body());
  }

  /**
   * Whether the later body holds all of the earlier one: it is further on in the same series of
   * pops (the same start, a higher sequence number: a pop's news after the create or update it
   * follows), or it starts a later series (sequence 0 and a later start: a client's update, or the
   * tombstone of a client's delete, made after the earlier body was written). Sent after it, the
   * earlier body would undo it: a pop's news (sequence 1) beats a tombstone (sequence 0) by the
   * version rule, so a deleted timer would come back. Queued later is not enough: news of a pop
   * written from the timer before a client's update (the older start) can be queued after that
   * update, which must still reach the peer; and a start is no clock, so a later one of a sequence
   * above 0 (a copy passed on from another site, whose start counts from its arrival) says nothing.
   * Anything else, or a body that cannot be read, is sent again.
   */
  static boolean holdsAllOf(byte[] later, byte[] earlier) {
    try {
      JsonNode a = MAPPER.readTree(later).path("timing");
      JsonNode b = MAPPER.readTree(earlier).path("timing");
      if (!a.path("start-time").isIntegralNumber() || !b.path("start-time").isIntegralNumber()) {
        return false;
      }
      long laterStart = a.path("start-time").asLong();
      long earlierStart = b.path("start-time").asLong();
      long laterSequence = a.path("sequence-number").asLong(0);
      return (laterSequence == 0 && laterStart > earlierStart)
          || (laterStart == earlierStart && laterSequence > b.path("sequence-number").asLong(0));
    } catch (IOException | RuntimeException e) {
      return false;
    }
  }

  /**
   * Queues a message again (a retry, or single after a batch was refused), unless later news of the
   * same timer overtook it ({@link #overtaken}): that one carries all of this one, which is then
   * reported {@link Outcome#superseded}.
   */
  private void resend(Message m) {
    Peer p = peer(m.peer());
    if (!closed && overtaken(p, m)) {
      p.overtaken.inc();
      release(m.bulk() ? p.bulk : p.urgent, m);
      if (m.outcome() != null) {
        m.outcome().superseded(m.peer());
      }
      return;
    }
    enqueue(m);
  }

  private void enqueue(Message m) {
    Peer p = peer(m.peer());
    Lane lane = m.bulk() ? p.bulk : p.urgent;
    if (closed) {
      finish(lane, m, false); // its sender may be counting on an outcome
      return;
    }
    // The bulk lane is bounded by its senders waiting for room, the urgent lane here.
    if (!m.bulk()
        && lane.queued.incrementAndGet() + lane.waitingRetry.size() + lane.deferredCount.get()
            > maxQueued) {
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
   * Sends the lane's queued messages while it has room in flight, batched where the peer takes
   * batches. One thread at a time drains a lane; a call meanwhile (a completion, a new message, or
   * a synchronous failure inside {@code execute}) makes that thread look again instead of
   * recursing.
   */
  private void drain(Lane lane) {
    if (lane.drainRequests.getAndIncrement() != 0) {
      return;
    }
    int requests = 1;
    do {
      if (closed) {
        abandonQueued(lane);
        requests = lane.drainRequests.addAndGet(-requests);
        continue;
      }
      sendDeferred(lane);
      while (!closed && lane.inFlight.get() < lane.maxInFlight) {
        if (lane.inFlight.get() >= EAGER_IN_FLIGHT
            && lane.queued.get() < maxBatch
            && batching(lane.peer)) {
          // Replies are due, and each drains the lane: let messages gather into a batch rather
          // than spend a request on each (the wait is at most one round trip).
          break;
        }
        Message m = lane.queue.poll();
        if (m == null) {
          break;
        }
        lane.queued.decrementAndGet();
        if (deferIfBehind(lane, m)) {
          continue;
        }
        lane.inFlight.incrementAndGet();
        List<Message> batch = batchAfter(lane, m);
        if (batch == null) {
          execute(lane, m);
        } else {
          executeBatch(lane, batch);
        }
      }
      requests = lane.drainRequests.addAndGet(-requests);
    } while (requests != 0);
  }

  /** Whether messages to this peer may travel in batches now. */
  private boolean batching(Peer p) {
    return maxBatch > 1 && clock.millis() >= p.singlesUntilMillis;
  }

  /**
   * Urgent lane: sets {@code m} aside, to go once its timer's earlier message to this peer has
   * landed, if one is in flight or set aside already. Sent on another connection at once, the later
   * message could be taken first (a create after the news of its own first pop, which the peer
   * would then make again; a create after its deletion, which would bring the timer back). Draining
   * thread only.
   */
  private boolean deferIfBehind(Lane lane, Message m) {
    if (lane.bulk
        || (!lane.pathsInFlight.containsKey(m.path())
            && !lane.deferredPaths.containsKey(m.path()))) {
      return false;
    }
    setAside(lane, m);
    return true;
  }

  /** Urgent lane: {@code m} waits, in order, for its timer's earlier message to land. */
  private static void setAside(Lane lane, Message m) {
    lane.deferred.addLast(m);
    lane.deferredPaths.merge(m.path(), 1, Integer::sum);
    lane.deferredCount.incrementAndGet();
  }

  /**
   * Sends, in order and within the in-flight cap, the messages set aside whose path has landed (the
   * first of each path only: the next waits for it). Draining thread only.
   */
  private void sendDeferred(Lane lane) {
    if (lane.deferred.isEmpty() || !lane.landedSinceScan) {
      return;
    }
    lane.landedSinceScan = false;
    Set<String> waiting = new java.util.HashSet<>();
    java.util.Iterator<Message> it = lane.deferred.iterator();
    while (it.hasNext() && !closed) {
      Message m = it.next();
      if (!waiting.add(m.path()) || lane.pathsInFlight.containsKey(m.path())) {
        continue; // behind an earlier message of its timer, set aside or in flight
      }
      boolean superseded = overtaken(lane.peer, m);
      if (!superseded && lane.inFlight.get() >= lane.maxInFlight) {
        lane.landedSinceScan = true; // look again when a request lands
        break;
      }
      it.remove();
      lane.deferredPaths.computeIfPresent(m.path(), (path, n) -> n == 1 ? null : n - 1);
      lane.deferredCount.decrementAndGet();
      if (superseded) {
        // A later message about the timer, set aside behind it, holds all of it: only that one
        // need go (as for a message waiting to be sent again).
        lane.peer.overtaken.inc();
        release(lane, m);
        if (m.outcome() != null) {
          m.outcome().superseded(m.peer());
        }
        waiting.remove(m.path()); // the next one of the timer may go now
        continue;
      }
      lane.inFlight.incrementAndGet();
      execute(lane, m);
    }
  }

  /** Urgent lane: the messages' requests go out; their timers are in flight to the peer. */
  private static void takingOff(Lane lane, List<Message> messages) {
    if (!lane.bulk) {
      for (Message m : messages) {
        lane.pathsInFlight.merge(m.path(), 1, Integer::sum);
      }
    }
  }

  /** Urgent lane: the messages' request has ended (answered or not). */
  private static void landed(Lane lane, List<Message> messages) {
    if (!lane.bulk) {
      for (Message m : messages) {
        lane.pathsInFlight.computeIfPresent(m.path(), (path, n) -> n == 1 ? null : n - 1);
      }
      lane.landedSinceScan = true;
    }
  }

  /**
   * When the peer takes batches and more messages wait, {@code first} and as many more as fit in
   * one batch; otherwise null. A message that must go alone is sent at once, over the in-flight cap
   * by one (it is rare: a big body, or a batch the peer found too large).
   */
  private List<Message> batchAfter(Lane lane, Message first) {
    if (first.alone()
        || first.body().length > maxBatchBytes / 2
        || lane.queue.isEmpty()
        || !batching(lane.peer)) {
      return null;
    }
    List<Message> batch = new ArrayList<>(Math.min(maxBatch, 64));
    batch.add(first);
    Set<String> paths = lane.bulk ? null : new java.util.HashSet<>();
    if (paths != null) {
      paths.add(first.path());
    }
    long bytes = first.body().length;
    Message next;
    while (batch.size() < maxBatch && bytes < maxBatchBytes && (next = lane.queue.poll()) != null) {
      lane.queued.decrementAndGet();
      if (deferIfBehind(lane, next)) {
        continue;
      }
      boolean single = next.alone() || next.body().length > maxBatchBytes / 2;
      if (single && paths != null && paths.contains(next.path())) {
        // Sent alone now, it would go ahead of the batch holding its timer's earlier message.
        setAside(lane, next);
        continue;
      }
      if (paths != null) {
        paths.add(next.path());
      }
      if (single) {
        lane.inFlight.incrementAndGet();
        execute(lane, next);
        continue;
      }
      batch.add(next);
      bytes += next.body().length;
    }
    return batch.size() > 1 ? batch : null;
  }

  private void execute(Lane lane, Message m) {
    List<Message> one = List.of(m);
    takingOff(lane, one);
    try {
      AsyncRequestBuilder put =
          AsyncRequestBuilder.put(lane.peer.url + m.path())
              .addHeader(HELD_HEADER, Long.toString(heldMicros(m, clock.nanos())))
              .setEntity(AsyncEntityProducers.create(m.body(), ContentType.APPLICATION_JSON));
      if (m.snapshotMicros() >= 0) {
        put.addHeader(SNAPSHOT_HEADER, Long.toString(m.snapshotMicros()));
      }
      addEveryRequestHeader(put);
      Tracked<org.apache.hc.core5.http.Message<HttpResponse, Void>> outcome =
          new Tracked<>() {
            @Override
            public void completed(org.apache.hc.core5.http.Message<HttpResponse, Void> result) {
              ended();
              landed(lane, one);
              settle(lane, m, result.getHead().getCode());
              done(lane);
            }

            @Override
            public void failed(Exception ex) {
              ended();
              landed(lane, one);
              retryOrFail(lane, m, ex.getClass().getSimpleName() + ": " + ex.getMessage());
              done(lane);
            }

            @Override
            public void cancelled() {
              ended();
              landed(lane, one);
              retryOrFail(lane, m, "cancelled");
              done(lane);
            }
          };
      outcome.sent(
          client.execute(
              put.build(), new BasicResponseConsumer<>(new DiscardingEntityConsumer<>()), outcome));
    } catch (RuntimeException e) {
      landed(lane, one);
      retryOrFail(lane, m, e.toString());
      done(lane);
    }
  }

  /** Sends several messages as one {@code POST /timers/batch}; see {@link ReplicationBatch}. */
  private void executeBatch(Lane lane, List<Message> batch) {
    takingOff(lane, batch);
    List<String> paths = new ArrayList<>(batch.size());
    List<byte[]> bodies = new ArrayList<>(batch.size());
    long[] held = new long[batch.size()];
    long[] snapshot = new long[batch.size()];
    long now = clock.nanos();
    for (int i = 0; i < held.length; i++) {
      Message m = batch.get(i);
      paths.add(m.path());
      bodies.add(m.body());
      held[i] = heldMicros(m, now);
      snapshot[i] = m.snapshotMicros();
    }
    try {
      AsyncRequestBuilder post =
          AsyncRequestBuilder.post(lane.peer.url + ReplicationBatch.PATH)
              .setEntity(
                  AsyncEntityProducers.create(
                      ReplicationBatch.encode(paths, bodies, held, snapshot),
                      ContentType.APPLICATION_JSON));
      if (lane.bulk) {
        post.addHeader(LANE_HEADER, BULK_LANE);
      }
      addEveryRequestHeader(post);
      Tracked<org.apache.hc.core5.http.Message<HttpResponse, byte[]>> outcome =
          new Tracked<>() {
            @Override
            public void completed(org.apache.hc.core5.http.Message<HttpResponse, byte[]> result) {
              ended();
              landed(lane, batch);
              batchAnswered(lane, batch, result.getHead().getCode(), result.getBody());
              done(lane);
            }

            @Override
            public void failed(Exception ex) {
              ended();
              landed(lane, batch);
              String reason = ex.getClass().getSimpleName() + ": " + ex.getMessage();
              batch.forEach(m -> retryOrFail(lane, m, reason));
              done(lane);
            }

            @Override
            public void cancelled() {
              ended();
              landed(lane, batch);
              batch.forEach(m -> retryOrFail(lane, m, "cancelled"));
              done(lane);
            }
          };
      outcome.sent(
          client.execute(
              post.build(), new BasicResponseConsumer<>(new BasicAsyncEntityConsumer()), outcome));
    } catch (RuntimeException e) {
      landed(lane, batch);
      batch.forEach(m -> retryOrFail(lane, m, e.toString()));
      done(lane);
    }
  }

  /**
   * A request's outcome, which knows its request while it is in flight, so that a stop can end it:
   * cancelling the request calls {@link #cancelled}. Each outcome method calls {@link #ended}
   * first.
   */
  private abstract class Tracked<T> implements FutureCallback<T> {
    private volatile Future<?> request;
    private volatile boolean ended;

    /** The request has been handed to the client (its outcome may already have come). */
    final void sent(Future<?> request) {
      this.request = request;
      requests.add(this);
      if (ended) {
        requests.remove(this);
      } else if (closed) {
        cancel(); // started as the stop took its list of requests to end
      }
    }

    final void ended() {
      ended = true;
      requests.remove(this);
    }

    final void cancel() {
      Future<?> r = request;
      if (r != null) {
        r.cancel(true);
      }
    }
  }

  // Whole microseconds the message has waited here since it was queued (never negative).
  private static long heldMicros(Message m, long nowNanos) {
    return Math.max(0, (nowNanos - m.queuedNanos()) / 1000);
  }

  private void batchAnswered(Lane lane, List<Message> batch, int status, byte[] body) {
    Peer p = lane.peer;
    if (status == 200) {
      int[] statuses;
      try {
        statuses = ReplicationBatch.decodeStatuses(body == null ? new byte[0] : body, batch.size());
      } catch (IOException e) {
        refuseBatches(p, "its answer to a batch was not one: " + e.getMessage());
        batch.forEach(m -> resend(m.again(false)));
        return;
      }
      p.batches.inc();
      for (int i = 0; i < statuses.length; i++) {
        settle(lane, batch.get(i), statuses[i]);
      }
    } else if (status == 413) {
      // The peer's body limit is below our batch size: these go alone, later ones still batch.
      batch.forEach(m -> resend(m.again(true)));
    } else if (status >= 500) {
      batch.forEach(m -> retryOrFail(lane, m, "HTTP " + status + " to a batch"));
    } else {
      // Not one of ours (an original Chronos node answers 404 or 405), or an older one.
      refuseBatches(p, "it answered HTTP " + status + " to a batch");
      batch.forEach(m -> resend(m.again(false)));
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
  private void settle(Lane lane, Message m, int status) {
    if (status >= 200 && status < 300) {
      lane.peer.sent.inc();
      finish(lane, m, true);
    } else if (status >= 500) {
      retryOrFail(lane, m, "HTTP " + status);
    } else {
      fail(lane, m, "HTTP " + status + " (not retried)", status);
    }
  }

  /** A request of the lane ended: its next message goes out now, from this thread. */
  private void done(Lane lane) {
    lane.inFlight.decrementAndGet();
    drain(lane);
  }

  private void retryOrFail(Lane lane, Message m, String reason) {
    long delay = retryDelayMillis(m.briefRetries(), m.attempt());
    if (delay < 0 || closed) {
      fail(lane, m, reason);
      return;
    }
    lane.waitingRetry.add(m);
    try {
      retries.schedule(
          () -> {
            if (!lane.waitingRetry.remove(m)) {
              return; // abandoned by the stop
            }
            resend(m.retry());
          },
          delay,
          TimeUnit.MILLISECONDS);
    } catch (RejectedExecutionException e) {
      if (lane.waitingRetry.remove(m)) {
        fail(lane, m, reason);
      }
    }
  }

  /**
   * How long to wait before sending a message again after its attempt number {@code attempt} (from
   * 0) failed, or -1 to give up: a resync's copy is retried twice (the resync waits for it);
   * anything else goes on while the waits so far, with this one, add up to no more than {@link
   * #retryFor}.
   */
  long retryDelayMillis(boolean resyncCopy, int attempt) {
    if (resyncCopy) {
      return attempt < COPY_RETRY_DELAYS_MILLIS.length ? COPY_RETRY_DELAYS_MILLIS[attempt] : -1;
    }
    long waited = 0;
    for (int i = 0; i <= attempt; i++) {
      long delay = NEWS_RETRY_DELAYS_MILLIS[Math.min(i, NEWS_RETRY_DELAYS_MILLIS.length - 1)];
      waited += delay;
      if (waited > retryForMillis) {
        return -1;
      }
      if (i == attempt) {
        return delay;
      }
    }
    return -1;
  }

  /**
   * How long news (the replication of client requests and pops, not a resync's copies) goes on
   * being retried after no answer, a timeout or a 5xx: the waits between attempts add up to at most
   * this (200 ms, 1 s, then 2 s each), the attempts' own time aside. A peer paused or cut off for
   * less still gets a deletion or an update, whose absence would let its copy pop; one that
   * restarts gets its timers from its start-up resync instead. 0: no retries. Set before {@link
   * #start}.
   */
  public void retryFor(long millis) {
    if (millis < 0) {
      throw new IllegalArgumentException("retryFor must be >= 0: " + millis);
    }
    this.retryForMillis = millis;
  }

  /** The message's final outcome: told to its sender, and its bulk room freed. */
  private void finish(Lane lane, Message m, boolean ok) {
    finish(lane, m, ok, 0);
  }

  /** As {@link #finish(Lane, Message, boolean)}; {@code refusedWith}: the 4xx, or 0 for none. */
  private void finish(Lane lane, Message m, boolean ok, int refusedWith) {
    release(lane, m);
    if (m.outcome() != null) {
      if (refusedWith > 0) {
        m.outcome().refused(m.peer(), refusedWith);
      } else {
        m.outcome().delivered(m.peer(), ok);
      }
    }
  }

  /** The message is done with: its bulk room freed, and it no longer counts for its timer. */
  private void release(Lane lane, Message m) {
    if (lane.bulk) {
      lane.room.release();
    }
    if (m.snapshotMicros() == NOT_A_SNAPSHOT) {
      lane.peer.latest.computeIfPresent(
          m.path(), (key, newest) -> --newest.unfinished == 0 ? null : newest);
    }
  }

  private void fail(Lane lane, Message m, String reason) {
    fail(lane, m, reason, 0);
  }

  /** As {@link #fail(Lane, Message, String)}; {@code refusedWith}: the peer's 4xx, or 0. */
  private void fail(Lane lane, Message m, String reason, int refusedWith) {
    Peer p = lane.peer;
    p.failed.inc();
    finish(lane, m, false, refusedWith);
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
