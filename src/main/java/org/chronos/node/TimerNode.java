package org.chronos.node;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.function.Supplier;
import org.chronos.api.BadRequestException;
import org.chronos.api.TimerRequest;
import org.chronos.cluster.ClusterView;
import org.chronos.timer.Clock;
import org.chronos.timer.Timer;
import org.chronos.timer.TimerIdGenerator;
import org.chronos.timer.TimerService;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What this node does with a client's timer request, independent of HTTP: picks the id and
 * replicas, builds the {@link Timer} and hands it to the {@link TimerService}. Thread-safe; called
 * from request threads.
 */
public final class TimerNode {
  private static final Logger LOG = LoggerFactory.getLogger(TimerNode.class);
  public static final int DEFAULT_REPLICATION_FACTOR = 2;
  /** Each replica after the first pops this much later than the one before it (section 5). */
  public static final int REPLICA_DELAY_MILLIS = 2000;

  private final Clock clock;
  private final TimerIdGenerator ids;
  private final TimerService service;
  private final Supplier<ClusterView> view;

  public TimerNode(Clock clock, TimerIdGenerator ids, TimerService service, Supplier<ClusterView> view) {
    this.clock = clock;
    this.ids = ids;
    this.service = service;
    this.view = view;
  }

  /** POST /timers: a new timer with a new id. Returns the id. */
  public long create(TimerRequest request) throws OverloadedException {
    int rf = request.replicationFactor() == null ? DEFAULT_REPLICATION_FACTOR : request.replicationFactor();
    long id = ids.next();
    store(id, rf, request);
    return id;
  }

  /** PUT /timers/id-rf: replaces the timer, or creates it with that id. */
  public void update(long id, int rf, TimerRequest request) throws BadRequestException, OverloadedException {
    if (request.replicationFactor() != null && request.replicationFactor() != rf) {
      throw new BadRequestException(
          "replication factor " + request.replicationFactor() + " in the body differs from " + rf + " in the URL");
    }
    store(id, rf, request);
  }

  /** DELETE /timers/id-rf: the timer becomes a tombstone. Idempotent. */
  public void delete(long id, int rf) throws OverloadedException {
    if (!service.delete(id, rf)) {
      throw new OverloadedException("timer queue is full");
    }
  }

  private void store(long id, int rf, TimerRequest request) throws OverloadedException {
    Timer timer = toTimer(id, rf, request, clock.millis());
    ClusterView current = view.get();
    List<String> replicas = current.replicasFor(id, rf);
    timer.setReplicas(replicas);
    timer.setClusterViewId(current.viewId());
    int index = replicas.indexOf(current.localAddress());
    timer.setPopDelayMillis(Math.max(index, 0) * REPLICA_DELAY_MILLIS);
    if (!timer.isTombstone() && timer.maxPops() == 0) {
      LOG.warn(
          "timer {} has repeat-for {} ms below its interval {} ms: accepted, but it will never pop",
          String.format("%016x", id), timer.repeatForMillis(), timer.intervalMillis());
    }
    if (!service.store(timer)) {
      throw new OverloadedException("timer queue is full");
    }
  }

  static Timer toTimer(long id, int rf, TimerRequest request, long nowMillis) {
    long start = nowMillis;
    if (request.startTimeDeltaMillis() != null) {
      start = nowMillis + request.startTimeDeltaMillis();
    } else if (request.startTimeMillis() != null) {
      start = request.startTimeMillis();
    }
    int sequence = request.sequenceNumber() == null ? 0 : request.sequenceNumber();
    String uri = request.tombstone() ? null : request.callbackUri().intern();
    byte[] opaque = request.tombstone() ? null : request.opaque().getBytes(StandardCharsets.UTF_8);
    return new Timer(
        id, rf, start, request.intervalMillis(), request.repeatForMillis(), sequence, uri, opaque, request.tags());
  }
}
