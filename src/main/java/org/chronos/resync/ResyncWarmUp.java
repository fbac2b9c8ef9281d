package org.chronos.resync;

import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.function.Consumer;
import java.util.function.LongConsumer;
import java.util.function.Supplier;
import org.chronos.cluster.ClusterConfig;
import org.chronos.cluster.ClusterView;
import org.chronos.replication.Replicator;
import org.chronos.replication.VersionRule;
import org.chronos.resync.ResyncService.Rehearsal;
import org.chronos.timer.Clock;
import org.chronos.timer.Tag;
import org.chronos.timer.Timer;
import org.chronos.timer.TimerIdGenerator;
import org.chronos.timer.TimerStore;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A resync's code run on made-up timers, so that the JIT compiles it before a real resync needs it
 * ({@code resync.warmUpTimers}). A node's first resync otherwise runs on code still being compiled:
 * in the resync benchmark on 2 cores, 100,000 timers took 22.7 s the first time and 8.0 s the
 * second (bench/cluster/README.md, 2i), the JIT compiler taking about a core throughout the first.
 *
 * <p>Each round lists a store of its own (one page of made-up timers, which this object alone
 * touches) as the serving node does, writes the pages, and hands each to {@link
 * ResyncService#rehearseOverHttp}: the page goes over HTTP from this node to itself, as a peer's
 * would, then through the replica rules, and the copies it would send on go to this node itself in
 * a replicator's bulk lane; this node reads and drops them ({@link WarmUpGate}). The copies to keep
 * go into another store of its own. Should this node not reach itself (its cluster address is not
 * one it can connect to), the rest of the warm-up runs in-process ({@link ResyncService#rehearse}:
 * no HTTP, the copies encoded and read back). The made-up cluster is this node and {@link #PEER},
 * an address nothing is ever sent to; the node's own store, metrics and peers are not touched. Not
 * thread-safe: one thread runs the rounds.
 */
final class ResyncWarmUp {
  private static final Logger LOG = LoggerFactory.getLogger(ResyncWarmUp.class);

  /**
   * The made-up peer: an address of TEST-NET-1 (RFC 5737), never contacted; the next one should
   * this node have the first.
   */
  static final String PEER = "192.0.2.1:7253";

  private static final String OTHER_PEER = "192.0.2.2:7253";

  private static final long TICK_MILLIS = 8;
  private static final long INTERVAL_MILLIS = 3_600_000;

  private final ResyncService service;
  private final Clock clock;
  private final ClusterView view;
  private final TimerStore store;
  private final int pageSize;
  private TimerStore merged;
  private long rounds;
  private boolean overHttp = true;
  private Replicator replicator;

  /**
   * @param local this node's address (a real one, so that the replica rules see this node)
   * @param timers how many made-up timers a round goes through (one page's worth is typical)
   */
  ResyncWarmUp(ResyncService service, Clock clock, String local, int timers, int pageSize) {
    this.service = service;
    this.clock = clock;
    this.pageSize = pageSize;
    String peer = local.equals(PEER) ? OTHER_PEER : PEER;
    this.view =
        new ClusterView(new ClusterConfig(local, List.of(local, peer), List.of(), List.of(), 0, 0));
    this.store = new TimerStore(TICK_MILLIS, clock.millis(), TimerStore.Listener.NONE);
    // As the serving node would hold them before the join: the peer alone was each one's replica.
    List<String> oldReplicas = List.of(peer);
    String oldViewId = ClusterView.viewIdOf(oldReplicas);
    TimerIdGenerator ids = new TimerIdGenerator(clock, 0, 1);
    byte[] opaque = new byte[100];
    Arrays.fill(opaque, (byte) 'w');
    long now = clock.millis();
    for (int i = 0; i < timers; i++) {
      Timer t =
          new Timer(
              ids.next(),
              2,
              now - (i % 1000),
              INTERVAL_MILLIS,
              INTERVAL_MILLIS * 24,
              i % 3,
              "http://" + peer + "/chronos-warm-up",
              opaque,
              List.of(new Tag("WARMUP", 1)));
      t.setReplicas(oldReplicas);
      t.setClusterViewId(oldViewId);
      store.put(t);
    }
  }

  /**
   * Sets a warm-up up with {@code setUp} and runs rounds until {@code timers} made-up timers have
   * gone through, all on {@code executor} (not the caller's thread: this is called at start-up),
   * one round per task, so that other tasks (a resync asked for) wait for one round at most; {@code
   * counted} hears of each round's timers. Completes with how many went through: fewer if the
   * set-up or a round went wrong (logged, and the warm-up stops; never a reason for the node not to
   * start) or the executor refused the next round (the node stopping).
   */
  static CompletableFuture<Long> run(
      Supplier<ResyncWarmUp> setUp, int timers, Executor executor, LongConsumer counted) {
    CompletableFuture<Long> done = new CompletableFuture<>();
    long startedNanos = System.nanoTime();
    ResyncService.Droppable next =
        new ResyncService.Droppable() {
          private ResyncWarmUp warmUp;
          private long through;

          @Override
          public void run() {
            try {
              if (warmUp == null) {
                warmUp = setUp.get();
              }
              Rehearsal r = warmUp.round();
              if (r.malformed() > 0 || r.planned() == 0 || r.copies() == 0) {
                throw new ResyncService.ResyncException("made-up timers did not go through: " + r);
              }
              through += r.received();
              counted.accept(r.received());
              if (through < timers) {
                executor.execute(this);
                return;
              }
              LOG.info(
                  "resync code warmed up on {} made-up timers in {} ms, {} (resync.warmUpTimers)",
                  through,
                  (System.nanoTime() - startedNanos) / 1_000_000,
                  warmUp.overHttp ? "over HTTP to this node itself" : "in-process");
            } catch (RejectedExecutionException | InterruptedException e) {
              LOG.debug("resync warm-up ended by the node stopping after {} timers", through);
            } catch (ResyncService.ResyncException | RuntimeException e) {
              LOG.warn("resync warm-up stopped after {} timers: {}", through, e.toString());
            }
            end();
          }

          /** A round the stopping node's executor dropped before it ran. */
          @Override
          public void dropped() {
            LOG.debug("resync warm-up ended by the node stopping after {} timers", through);
            end();
          }

          private void end() {
            if (warmUp != null) {
              warmUp.close();
            }
            done.complete(through);
          }
        };
    try {
      executor.execute(next);
    } catch (RejectedExecutionException e) {
      done.complete(0L);
    }
    return done;
  }

  /**
   * One round: every page of the store served, then rehearsed as a resync would take it in, the
   * copies to keep merged into a store of the round's own by the version rule: in every other round
   * a new one, which grows as a joining node's does, in the others over the same timers.
   */
  Rehearsal round() throws ResyncService.ResyncException, InterruptedException {
    if (rounds++ % 2 == 0) {
      merged = new TimerStore(TICK_MILLIS, clock.millis(), TimerStore.Listener.NONE);
    }
    Consumer<Timer> merge =
        copy -> {
          Timer existing = merged.get(copy.id());
          if (existing == null || VersionRule.incomingWins(existing, copy, view.viewId())) {
            merged.put(copy);
          }
        };
    long received = 0;
    long malformed = 0;
    int planned = 0;
    int copies = 0;
    String local = view.localAddress();
    for (byte[] page : ResyncSource.allPages(store, local, view, pageSize, clock.millis())) {
      Rehearsal r = overHttp ? overHttp(page, merge) : null;
      if (r == null) {
        r = service.rehearse(page, local, merge);
      }
      received += r.received();
      malformed += r.malformed();
      planned += r.planned();
      copies += r.copies();
    }
    return new Rehearsal(received, malformed, planned, copies);
  }

  /** A page over HTTP to this node itself; null (and in-process from now on) if that failed. */
  private Rehearsal overHttp(byte[] page, Consumer<Timer> merge) throws InterruptedException {
    try {
      if (replicator == null) {
        replicator = service.warmUpReplicator();
      }
      return service.rehearseOverHttp(page, view, merge, replicator);
    } catch (ResyncService.ResyncException | RuntimeException e) {
      overHttp = false;
      LOG.info(
          "resync warm-up: this node could not reach itself at {} ({}); the rest of the warm-up"
              + " runs in-process, without the HTTP code a resync also runs",
          view.localAddress(),
          e.getMessage());
      return null;
    }
  }

  /** Stops what the rounds started (the replicator). */
  void close() {
    if (replicator != null) {
      try {
        replicator.stop(1000);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      replicator = null;
    }
  }
}
