package org.chronos.node;

import com.codahale.metrics.Meter;
import com.codahale.metrics.MetricRegistry;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;
import org.chronos.api.BadRequestException;
import org.chronos.api.TimerJson;
import org.chronos.api.TimerRequest;
import org.chronos.cluster.ClusterView;
import org.chronos.replication.Replicator;
import org.chronos.replication.VersionRule;
import org.chronos.resources.TimerPath;
import org.chronos.sites.OwedDeletions;
import org.chronos.sites.SiteReplicator;
import org.chronos.sites.SitesConfig;
import org.chronos.timer.CallbackOutcome;
import org.chronos.timer.Clock;
import org.chronos.timer.Pop;
import org.chronos.timer.Timer;
import org.chronos.timer.TimerEvents;
import org.chronos.timer.TimerIdGenerator;
import org.chronos.timer.TimerService;
import org.chronos.timer.TimerStore;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What this node does with timer requests and pops, independent of HTTP (PROTOCOL.md sections 1 and
 * 5). Request methods are called from request threads; the {@link TimerEvents} methods and the
 * lambdas handed to {@link TimerService#execute} run on the timer thread.
 *
 * <p>A client's request is stored here (if this node is a replica), answered, and sent to the other
 * replicas and the extra replicas of the old cluster. A replication message from a peer is merged
 * by the {@link VersionRule} and never sent on. Replicas are recomputed under the current view on
 * every update and pop, and replicas that dropped out are sent the timer too, which they store as a
 * tombstone (passive rebalancing).
 */
public final class TimerNode implements TimerEvents {
  private static final Logger LOG = LoggerFactory.getLogger(TimerNode.class);
  public static final int DEFAULT_REPLICATION_FACTOR = 2;

  /** Each replica after the first pops this much later than the one before it (section 5). */
  public static final int REPLICA_DELAY_MILLIS = 2000;

  /**
   * How long a resync copy whose pop the peer was making holds back that pop here: the callback's 2
   * s, as a backup waits for the replica before it, and room for the peer's news to arrive.
   */
  static final long CALLBACK_OUT_WAIT_MILLIS = REPLICA_DELAY_MILLIS + 500;

  private static final int MAX_INTERNED_LISTS = 10_000;

  /**
   * How much later a resync copy's start may be and still count as the start this node holds (the
   * same 200 ms the version rule uses for "the same start", section 5).
   */
  static final long RESYNC_DRIFT_MILLIS = 200;

  private final Clock clock;
  private final TimerIdGenerator ids;
  private final Supplier<ClusterView> view;
  private final Supplier<ClusterView> previousView;
  private final Supplier<SitesConfig> sites;
  private final SiteReplicator siteReplicator;
  private final SiteResends siteResends;
  private final java.util.Random random = new java.util.Random();
  private final Replicator replicator;
  private final Meter created;
  private final Meter updated;
  private final Meter deleted;
  private final Meter replicated;
  private final Meter snapshotCopiesSkipped;
  private final Meter deletionsKept;
  private final Meter keptForUnreachableReplicas;
  private final Meter popsInProgressHeld;
  private final Map<List<String>, List<String>> replicaLists = new ConcurrentHashMap<>();
  private volatile TimerService service;

  /**
   * Done once the node's start-up resync, if any, has finished: a re-send to another site waits for
   * it, since until then this node holds few of the timers it is primary for. Without the wait, the
   * first probe's answer (a site is sent everything when first reached) found a restarted node's
   * store empty, and the site got none of its timers until each changed.
   */
  private final java.util.concurrent.CompletableFuture<?> startedUp;

  /**
   * How long a resync remembers a timer after the store forgot it. A page is a snapshot; by the
   * time it is merged, a timer it shows live may have popped for the last time here and its
   * tombstone expired (one interval later), or been dropped here after its callback failed, and the
   * copy would then pop it again.
   */
  static final long RESYNC_REMEMBERS_MILLIS = 60_000;

  /** Default for {@code resync.maxRememberedTimers}: about 90 MB at most. */
  public static final int DEFAULT_MAX_REMEMBERED = 500_000;

  private record Forgotten(Timer timer, long atMillis) {}

  // Timer thread only: timers forgotten while a resync runs here or involves this node (it answered
  // a page or got a resync's copy within RESYNC_REMEMBERS_MILLIS), by id, in the order forgotten.
  private final Map<Long, Forgotten> forgottenDuringResync = new java.util.HashMap<>();
  private final java.util.ArrayDeque<Forgotten> forgottenOrder = new java.util.ArrayDeque<>();
  private int resyncsRunning;
  private long rememberForgottenUntil = Long.MIN_VALUE;
  private final int maxRemembered;
  private final OwedDeletions owedDeletions;

  /**
   * Replicas a reload dropped from a popping timer, by the pop whose callback is still out: told of
   * the new view only once it succeeded ({@link #popping}). Timer thread only.
   */
  private final Map<Pop, Set<String>> droppedUntilOutcome = new java.util.IdentityHashMap<>();

  private boolean toldOfTheCap;

  public TimerNode(
      Clock clock,
      TimerIdGenerator ids,
      Supplier<ClusterView> view,
      Supplier<ClusterView> previousView,
      Supplier<SitesConfig> sites,
      Replicator replicator,
      MetricRegistry metrics,
      int maxRemembered,
      int maxOwedSiteDeletions,
      java.util.concurrent.CompletionStage<?> startedUp) {
    this.clock = clock;
    this.startedUp = startedUp.toCompletableFuture();
    this.maxRemembered = maxRemembered;
    this.ids = ids;
    this.view = view;
    this.previousView = previousView;
    this.sites = sites;
    this.owedDeletions = new OwedDeletions(maxOwedSiteDeletions, metrics);
    // Before the site replicator, which starts probing at once and re-sends on the first answer.
    this.siteResends =
        new SiteResends(
            replicator::pending,
            this::siteFailing,
            site -> sites.get().remoteSites().get(site),
            replicator.maxQueuedPerPeer(),
            maxOwedSiteDeletions);
    this.siteReplicator =
        new SiteReplicator(
            replicator,
            metrics,
            sites,
            this::resendToSite,
            configured -> {
              owedDeletions.keepOnly(configured);
              siteResends.keepOnly(configured);
            },
            clock::millis);
    this.replicator = replicator;
    this.created = metrics.meter("chronos.timers.created");
    this.updated = metrics.meter("chronos.timers.updated");
    this.deleted = metrics.meter("chronos.timers.deleted");
    this.replicated = metrics.meter("chronos.timers.replicas-received");
    this.snapshotCopiesSkipped = metrics.meter("chronos.resync.copies-superseded");
    this.deletionsKept = metrics.meter("chronos.sites.deletions-kept");
    this.keptForUnreachableReplicas = metrics.meter("chronos.pops.kept-for-unreachable-replicas");
    this.popsInProgressHeld = metrics.meter("chronos.resync.pops-in-progress-held");
  }

  private boolean siteFailing(String site) {
    return siteReplicator.isFailing(site);
  }

  /** Stops probing other sites, and any re-send to one. */
  public void stop() {
    siteResends.stop();
    siteReplicator.stop();
  }

  /** Connects the timer service, which is built with this node as one of its listeners. */
  public void bind(TimerService timerService) {
    this.service = timerService;
  }

  /** POST /timers: a new timer with a new id. Returns the id. */
  public long create(TimerRequest request) throws OverloadedException {
    int rf =
        request.replicationFactor() == null
            ? DEFAULT_REPLICATION_FACTOR
            : request.replicationFactor();
    long id = ids.next();
    storeFromClient(id, rf, request, true);
    created.mark();
    return id;
  }

  /**
   * PUT /timers/id-rf: from a client, replaces the timer or creates it with that id; from a peer
   * (the body has {@code replicas}), merges the copy without replicating it further.
   *
   * @param writtenMillis when a peer wrote the body, by this node's clock and at the latest (its
   *     arrival here less the time the sender says it held it), which is what a {@code
   *     start-time-delta} counts from. The later a copy's delta is counted from, the later its
   *     timer pops here; counting from no earlier than the real moment keeps it from popping early.
   * @param snapshotMillis for a peer's resync copy (a snapshot, not news of a change): how late its
   *     start may be; negative for anything else
   */
  public void update(long id, int rf, TimerRequest request, long writtenMillis, long snapshotMillis)
      throws BadRequestException, OverloadedException {
    if (request.replicationFactor() != null && request.replicationFactor() != rf) {
      throw new BadRequestException(
          "replication factor "
              + request.replicationFactor()
              + " in the body differs from "
              + rf
              + " in the URL");
    }
    if (request.isReplication()) {
      acceptReplica(id, rf, request, writtenMillis, snapshotMillis);
      replicated.mark();
    } else if (request.isFromOtherSite()) {
      acceptFromOtherSite(id, rf, request, writtenMillis, snapshotMillis);
      replicated.mark();
    } else {
      storeFromClient(id, rf, request, false);
      updated.mark();
    }
  }

  /** DELETE /timers/id-rf: the timer becomes a tombstone here and on every replica. Idempotent. */
  public void delete(long id, int rf) throws OverloadedException {
    ClusterView v = view.get();
    SitesConfig sc = sites.get();
    List<String> replicas = intern(v.replicasFor(id, rf));
    Set<String> peers = peersOf(v, id, rf, replicas);
    // Stamped here, as a client's update is (storeFromClient), not once the timer thread gets to
    // it: a PUT the client sends after this DELETE must start later than the deletion.
    long deletedAt = clock.millis();
    boolean accepted =
        service.execute(
            store -> {
              long now = clock.millis();
              Timer existing = store.get(id);
              // Not earlier than an update that got here first (taken while this waited): the
              // deletion, run after it, wins, here and on the replicas.
              Timer tombstone =
                  existing == null
                      ? Timer.tombstone(id, rf, deletedAt)
                      : existing.toTombstone(Math.max(deletedAt, existing.startMillis()));
              tombstone.setReplicas(replicas);
              tombstone.setClusterViewId(v.viewId());
              // An unknown timer may live in any site: tell them all.
              tombstone.setSites(
                  existing == null ? sc.newTimerSites(random) : sc.refresh(existing.sites()));
              store.put(tombstone, now); // an interval from now, however long this waited
              Set<String> to = withDroppedReplicas(peers, existing, v.localAddress());
              String path = TimerPath.location(id, rf);
              replicator.send(to, path, TimerJson.write(tombstone, now));
              sendToOtherSites(tombstone, sc, path, now);
            });
    if (!accepted) {
      throw new OverloadedException("timer queue is full");
    }
    deleted.mark();
  }

  private void storeFromClient(long id, int rf, TimerRequest request, boolean isNew)
      throws OverloadedException {
    long now = clock.millis();
    ClusterView v = view.get();
    SitesConfig sc = sites.get();
    Timer timer = placeInThisSite(id, rf, request, now, v, sc.newTimerSites(random));
    ids.made(timer); // this node may be no replica of it, and hold no copy
    List<String> replicas = timer.replicas();
    int index = replicas.indexOf(v.localAddress());
    timer.setPopDelayMillis(popDelay(v, sc, timer));
    if (!timer.isTombstone() && timer.maxPops() == 0) {
      LOG.warn(
          "timer {} has repeat-for {} ms below its interval {} ms: accepted, but it will never pop",
          String.format("%016x", id),
          timer.repeatForMillis(),
          timer.intervalMillis());
    }
    byte[] siteBody = sc.replicateAcrossSites() ? TimerJson.writeForSite(timer, now) : null;
    List<String> otherSites = timer.sites().subList(1, timer.sites().size());
    String path = TimerPath.location(id, rf);
    // A new id was never stored anywhere, so only the current replicas need it.
    Set<String> peers = isNew ? currentPeersOf(v, id, rf, replicas) : peersOf(v, id, rf, replicas);
    // Serialized only when some peer needs it (never on a single node).
    byte[] body = peers.isEmpty() ? null : TimerJson.write(timer, now);
    boolean accepted =
        service.execute(
            store -> {
              Timer previous = store.get(id);
              if (index >= 0) {
                store.put(timer);
              } else if (previous != null) {
                // Not a replica any more: keep only a tombstone so the stale copy never pops. It
                // names the timer's replicas now, not this node: no re-send to a site takes it for
                // this node's copy, or this node for the primary.
                store.put(noReplicaHere(previous, timer, clock.millis()));
              }
              Set<String> dropped = withDroppedReplicas(Set.of(), previous, v.localAddress());
              dropped.removeAll(peers);
              if (!dropped.isEmpty()) {
                replicator.send(dropped, path, body != null ? body : TimerJson.write(timer, now));
              }
            });
    if (!accepted) {
      throw new OverloadedException("timer queue is full");
    }
    if (body != null) {
      replicator.send(peers, path, body);
    }
    if (siteBody != null) {
      // A node that is no replica of the timer holds no copy of it to re-send: owed as sent. The
      // primary's re-send carries the timer in any case.
      Timer sent = index < 0 ? timer : null;
      boolean primary = index == 0;
      siteReplicator.send(
          otherSites, path, siteBody, site -> siteResends.owe(site, id, sent) || primary);
    }
  }

  /**
   * A timer another site took from a client, or popped, or deleted: place it in this site and
   * replicate it to this site's replicas, but not to other sites (the sender does that).
   *
   * <p>Or a copy another site re-sent when this site answered it again ({@link #resendToSite}): a
   * snapshot ({@code snapshotMillis} 0 or more), not news of a change. Cut off from each other,
   * this site may have popped the timer meanwhile, and the other site's copy, of a lower sequence
   * number, would by the version rule undo that pop and this site would pop it again. So it goes by
   * the rules of a resync's copy ({@link #placeSnapshot}), here and on this site's other replicas.
   */
  private void acceptFromOtherSite(
      long id, int rf, TimerRequest request, long writtenMillis, long snapshotMillis)
      throws OverloadedException {
    ClusterView v = view.get();
    Timer timer =
        placeInThisSite(id, rf, request, writtenMillis, v, sites.get().refresh(request.sites()));
    String path = TimerPath.location(id, rf);
    // As for a client's update: the replicas under the view before the last reload, and those
    // the copy held here lists, hear of it too; a reload may have dropped them (see
    // storeFromClient), and a copy left there would pop a timer deleted meanwhile.
    Set<String> peers = peersOf(v, id, rf, timer.replicas());
    if (snapshotMillis >= 0) {
      boolean accepted =
          service.execute(
              store -> {
                if (refusedAsDeleted(store.get(id), timer, v, path, snapshotMillis)) {
                  return;
                }
                Timer placed = placeSnapshot(store, timer, v, snapshotMillis);
                if (placed == null) {
                  snapshotCopiesSkipped.mark();
                  LOG.debug("skipped {} re-sent by another site: a later pop is held here", timer);
                  return;
                }
                Timer previous = store.get(id);
                if (!merge(store, placed)) {
                  return; // a deletion this node owes another site is later (keepDeletion)
                }
                Set<String> to = withDroppedReplicas(peers, previous, v.localAddress());
                if (!to.isEmpty()) {
                  // Written now, as placed here: its start may be as late as this copy's was.
                  replicator.sendSnapshot(
                      to,
                      path,
                      TimerJson.write(placed, clock.millis()),
                      snapshotMillis * 1000,
                      null);
                }
              });
      if (!accepted) {
        throw new OverloadedException("timer queue is full");
      }
      return;
    }
    boolean accepted =
        service.execute(
            store -> {
              Timer previous = store.get(id);
              if (refusedAsDeleted(previous, timer, v, path, 0)) {
                return;
              }
              if (!merge(store, timer)) {
                return; // a deletion this node owes another site is later (keepDeletion)
              }
              Set<String> to = withDroppedReplicas(peers, previous, v.localAddress());
              if (!to.isEmpty()) {
                // Written now: the time it waited for the timer thread counts as held.
                replicator.send(to, path, TimerJson.write(timer, clock.millis()));
              }
            });
    if (!accepted) {
      throw new OverloadedException("timer queue is full");
    }
  }

  /**
   * Whether another site's copy of a timer, news of a pop there or a copy re-sent, is of a series a
   * client deleted here since ({@link #isClientsDeletion}; the copy's start may be up to {@code
   * lateByMillis} late), so that site did not get the deletion: cut off when it was made, or the
   * deletion was lost. By the version rule a pop beats the tombstone and would bring the timer
   * back; the copy is refused instead, and the deletion sent to the timer's other sites again (owed
   * to any that does not answer), except those this node owes it already. Timer thread.
   */
  private boolean refusedAsDeleted(
      Timer held, Timer copy, ClusterView v, String path, long lateByMillis) {
    if (held == null
        || !isClientsDeletion(held, v)
        || copy.isTombstone()
        || copy.startMillis() - lateByMillis >= held.startMillis()) {
      return false;
    }
    deletionsKept.mark();
    LOG.debug("kept the deletion of {} over another site's {}", held, copy);
    sendToOtherSites(held, sites.get(), path, clock.millis());
    return true;
  }

  /**
   * The request as a timer on this site's replicas under the current view, with a site list; {@code
   * deltaFrom} is the moment a {@code start-time-delta} in it counts from.
   */
  private Timer placeInThisSite(
      long id, int rf, TimerRequest request, long deltaFrom, ClusterView v, List<String> siteList) {
    Timer timer = toTimer(id, rf, request, deltaFrom);
    timer.setReplicas(intern(v.replicasFor(id, rf)));
    timer.setClusterViewId(v.viewId());
    timer.setSites(intern(siteList));
    return timer;
  }

  private void sendToOtherSites(Timer timer, SitesConfig sc, String path, long now) {
    if (!sc.replicateAcrossSites() || timer.sites().size() < 2) {
      return;
    }
    List<String> others = new ArrayList<>(timer.sites());
    others.remove(sc.localSite());
    if (!timer.isTombstone()) {
      long id = timer.id();
      boolean primary = isPrimaryHere(timer);
      siteReplicator.send(
          others,
          path,
          TimerJson.writeForSite(timer, now),
          site -> siteResends.owe(site, id, null) || primary);
      return;
    }
    // A site owed it gets it when it answers again (resendOwedDeletion), not retried meanwhile;
    // one that does not get it is owed it from then on.
    others.removeIf(site -> owedDeletions.isOwed(site, timer));
    if (others.isEmpty()) {
      return;
    }
    Timer owed = timer.snapshot();
    siteReplicator.send(
        others, path, TimerJson.writeForSite(timer, now), site -> owedDeletions.add(site, owed));
  }

  /**
   * A remote site answers again after failing: send it every timer of ours whose site list includes
   * it, so it is protected again now rather than at each timer's next change, and every tombstone
   * still held, so that a deletion or last pop it missed reaches it (one whose tombstone has gone,
   * after its timer's interval, cannot, unless it is owed: {@link #resendOwedDeletion}). Each timer
   * is sent by its primary in this site, and by any node whose live news of it to that site failed
   * ({@link SiteResends#owe}). Ids are gathered on the timer thread; serialization happens there
   * too, a chunk at a time, each once the site's replication queue has room ({@link SiteResends}),
   * so pops are not held up and the queue never overflows.
   */
  void resendToSite(String site) {
    if (!sites.get().replicateAcrossSites()) {
      // Timers other sites sent here list them; this site sends them nothing.
      LOG.info("site {} answers; timers are not replicated across sites, so nothing is sent", site);
      return;
    }
    siteResends.request(site, () -> resendNow(site));
  }

  /**
   * A resync reached {@code peers}, which the start-up resync missed (it failed, or none ran) and
   * no resync had reached since, and stored {@code stored} timers from them (held here already or
   * not: they may have come by a way that told no other site): the first re-sends to other sites,
   * which waited for the start-up resync ({@link #startedUp}), went without the timers those peers
   * hold, and a site that lost its copies meanwhile would get them only as each changes. Each
   * remote site that answers is sent a re-send; a site taken for down, or not reached yet, gets a
   * whole re-send when it answers anyway. Resync thread.
   */
  public void missedPeersReached(Set<String> peers, long stored) {
    if (!sendsToOtherSites()) {
      return;
    }
    if (stored == 0) {
      LOG.info(
          "resync reached {}, which the start-up resync missed, but stored no timer from them: no"
              + " re-send to other sites",
          peers);
      return;
    }
    SitesConfig config = sites.get();
    List<String> answering = new ArrayList<>();
    List<String> notAnswering = new ArrayList<>();
    for (String site : config.remoteSites().keySet()) {
      // A site on trial too: its re-send may have gathered what to send before this resync.
      (siteReplicator.isReachedAndNotDown(site) ? answering : notAnswering).add(site);
    }
    LOG.info(
        "resync reached {}, which the start-up resync missed, and stored {} timers from them,"
            + " which the first re-sends to other sites may have lacked: re-sending to the sites"
            + " that answer {}{}",
        peers,
        stored,
        answering,
        notAnswering.isEmpty()
            ? ""
            : " (those not answering, " + notAnswering + ", get all when they answer)");
    answering.forEach(this::resendToSite);
  }

  /** Whether the sites file names other sites and has timers replicated to them. */
  private boolean sendsToOtherSites() {
    SitesConfig config = sites.get();
    return !config.remoteSites().isEmpty() && config.replicateAcrossSites();
  }

  /**
   * What a re-send sends, in this order: deletions owed to the site, timers whose news to it failed
   * here or was not sent ({@link SiteResends#owe}), and the ids of the other timers held here that
   * this node is primary for. What was owed goes first: a re-send the site's next failure cuts
   * short gives it back, less what it handed over, and the timers handed over when the site failed
   * are owed again, so each re-send gets further.
   */
  private record Resend(List<Timer> owed, List<SiteResends.Owed> owedLive, List<Long> ids) {}

  /** One re-send to {@code site}, on the re-send thread ({@link #resendToSite}). */
  private void resendNow(String site) throws Exception {
    TimerService timers = service;
    String address = sites.get().remoteSites().get(site);
    if (timers == null || address == null) {
      return; // not started yet (nothing held), or the site is no longer configured
    }
    if (!startedUp.isDone()) {
      LOG.info(
          "site {} answers; its re-send waits for this node's start-up resync, which brings the"
              + " timers to send",
          site);
      startedUp.get(); // a stop interrupts it
    }
    Map<Long, SiteResends.Owed> owedLive = siteResends.takeOwed(site);
    Resend work;
    try {
      // No time limit: the timer thread takes it in turn, and a stop interrupts the wait.
      work = timers.query(store -> gather(store, site, owedLive)).get();
    } catch (Exception e) {
      siteResends.oweAgain(site, owedLive.values());
      throw e;
    }
    int timersToSend = work.owedLive().size() + work.ids().size();
    if (timersToSend == 0 && work.owed().isEmpty()) {
      LOG.info("site {} answers: this node holds nothing to send it", site);
      return;
    }
    LOG.info(
        "site {} answers: sending it up to {} timers and tombstones, {} of them after a failed"
            + " or withheld send here, and {} deletions it did not get ({} at a time)",
        site,
        timersToSend,
        work.owedLive().size(),
        work.owed().size(),
        siteResends.chunk());
    int deletionsSent = 0;
    int owedLiveSent = 0;
    try {
      List<Long> ids = siteResends.inResendOrder(site, work.ids());
      for (List<Timer> chunk : siteResends.chunks(work.owed())) {
        siteResends.awaitRoom(site, address);
        inTurn(
            timers, chunk, (store, tombstone, now) -> resendOwedDeletion(site, store, tombstone));
        deletionsSent += chunk.size();
      }
      for (List<SiteResends.Owed> chunk : siteResends.chunks(work.owedLive())) {
        siteResends.awaitRoom(site, address);
        inTurn(timers, chunk, (store, owed, now) -> resendOwed(site, store, owed, now));
        owedLiveSent += chunk.size();
      }
      for (List<Long> chunk : siteResends.chunks(ids)) {
        siteResends.awaitRoom(site, address);
        inTurn(
            timers,
            chunk,
            (held, id, now) -> {
              Timer t = held.get(id);
              if (t != null) {
                resendHeld(site, t, now, false);
              }
            });
        siteResends.handedOver(site, chunk.get(chunk.size() - 1));
      }
    } catch (Exception e) {
      // What this re-send did not get to is still owed: the next one, when the site answers
      // again, sends it first. What it handed over and the site did not get is owed anew.
      oweAgain(site, work.owed().subList(deletionsSent, work.owed().size()));
      siteResends.oweAgain(site, work.owedLive().subList(owedLiveSent, work.owedLive().size()));
      throw e;
    }
    LOG.info("site {}: re-send done", site);
  }

  /**
   * On the timer thread: the deletions owed to {@code site}, the timers owed it ({@code owedLive},
   * sent by {@link #resendOwed}), and the ids of the other timers held here that go to it, those
   * this node is primary for. A "no replica any more" tombstone held here is no deletion: it never
   * goes.
   */
  private Resend gather(TimerStore store, String site, Map<Long, SiteResends.Owed> owedLive) {
    List<Timer> owed = owedDeletions.take(site, clock.millis());
    try {
      List<Long> ids = new ArrayList<>();
      String local = view.get().localAddress();
      store.forEach(
          t -> {
            // Tombstones too: a deletion (or a last pop) the site missed while it did not answer
            // would otherwise leave its copy live there, to pop and come back.
            if (t.sites().contains(site)
                && isPrimaryHere(t, local)
                && (owedLive.isEmpty() || !owedLive.containsKey(t.id()))) {
              ids.add(t.id());
            }
          });
      return new Resend(owed, new ArrayList<>(owedLive.values()), ids);
    } catch (RuntimeException | Error e) {
      oweAgain(site, owed);
      throw e;
    }
  }

  /**
   * Sends {@code site} a timer owed to it ({@link SiteResends#owe}): this node's copy as it is now
   * if this node holds it as a replica, else the timer as this node sent it, if it holds no copy of
   * it (it took a client's request for a timer it is no replica of). Timer thread.
   */
  private void resendOwed(String site, TimerStore store, SiteResends.Owed owed, long now) {
    Timer held = store.get(owed.id());
    if (held != null && held.replicas().contains(view.get().localAddress())) {
      if (held.sites().contains(site)) {
        resendHeld(site, held, now, false);
      }
      return;
    }
    Timer sent = owed.sent();
    if (sent != null) {
      siteReplicator.sendSnapshot(
          site,
          TimerPath.location(sent.id(), sent.replicationFactor()),
          TimerJson.writeForSite(sent, now),
          failed -> siteResends.owe(failed, sent.id(), sent));
    }
  }

  /** Deletions taken from {@link OwedDeletions} for a re-send that did not send them. */
  private void oweAgain(String site, List<Timer> tombstones) {
    for (Timer tombstone : tombstones) {
      owedDeletions.add(site, tombstone);
    }
  }

  /**
   * Sends {@code site} a deletion this node sent it that it did not get ({@link OwedDeletions}): as
   * owed if this node no longer holds the timer (its tombstone expired here), and as it is now if
   * it does; a later series of the timer held live goes as a snapshot, unless this node is its
   * primary here, in which case {@link #resendNow} sends it with the others. The node that took the
   * client's {@code DELETE} need not be the primary, and the primary may never have seen the site
   * fail, so it would not send it. A client's deletion is also told again to this site's replicas
   * ({@link #keepDeletion}). Called on the timer thread; a tombstone that fails again stays owed.
   */
  private void resendOwedDeletion(String site, TimerStore store, Timer tombstone) {
    long now = clock.millis();
    Timer held = store.get(tombstone.id());
    if (tombstone.sequence() == 0) {
      // This site's replicas may have taken the site's copy from before the deletion
      // meanwhile (after their tombstones expired), and this node never saw it.
      keepDeletion(store, held, tombstone, view.get(), List.of());
      held = store.get(tombstone.id());
    }
    if (held != null && !held.isTombstone() && isPrimaryHere(held)) {
      return; // a later series: resendNow sends it
    }
    if (held != null
        && held.isTombstone()
        && !held.replicas().contains(view.get().localAddress())) {
      // Kept only because this node is no longer a replica: no deletion, and it starts later than
      // the timer's live copies; sent as news it would end them at the site.
      held = null;
    }
    resendHeld(site, held == null ? tombstone : held, now, true);
  }

  /**
   * Sends {@code site} a timer as this node holds it, to a site that answers again (timer thread).
   * A tombstone (a deletion or a last pop the site missed) goes as news, which ends the timer
   * there, and if {@code owe}, is owed again as a deletion when it fails. A live timer goes as a
   * snapshot: cut off from this site, that one may have popped or deleted it since, and keeps that
   * ({@link #acceptFromOtherSite}). Either, failing otherwise, is owed to the next re-send by id,
   * which sends it as it is then.
   */
  private void resendHeld(String site, Timer t, long now, boolean owe) {
    String path = TimerPath.location(t.id(), t.replicationFactor());
    byte[] body = TimerJson.writeForSite(t, now);
    long id = t.id();
    boolean primary = isPrimaryHere(t);
    if (!t.isTombstone()) {
      siteReplicator.sendSnapshot(
          site, path, body, failed -> siteResends.owe(failed, id, null) || primary);
    } else if (!owe) {
      siteReplicator.send(
          List.of(site), path, body, failed -> siteResends.owe(failed, id, null) || primary);
    } else {
      Timer owed = t.snapshot(); // detached: the store's copy changes on
      siteReplicator.send(
          List.of(site), path, body, failedSite -> owedDeletions.add(failedSite, owed));
    }
  }

  private boolean isPrimaryHere(Timer t) {
    return isPrimaryHere(t, view.get().localAddress());
  }

  private static boolean isPrimaryHere(Timer t, String local) {
    return !t.replicas().isEmpty() && t.replicas().get(0).equals(local);
  }

  /**
   * Something done on the timer thread with one item of a list, at the clock's time {@code now}.
   */
  @FunctionalInterface
  private interface Turn<T> {
    void apply(TimerStore store, T item, long now);
  }

  /**
   * Does {@code each} for every item in one command on the timer thread, and waits for it (with no
   * time limit: a stop interrupts the wait).
   */
  private <T> void inTurn(TimerService timers, List<T> items, Turn<T> each) throws Exception {
    timers
        .query(
            store -> {
              long now = clock.millis();
              for (T item : items) {
                each.apply(store, item, now);
              }
              return null;
            })
        .get();
  }

  /** Replica position in this site, then this site's position in the timer's site list. */
  private static int popDelay(ClusterView v, SitesConfig sc, Timer t) {
    long replicaIndex = Math.max(t.replicas().indexOf(v.localAddress()), 0);
    long siteIndex = Math.max(t.sites().indexOf(sc.localSite()), 0);
    long delay =
        (replicaIndex + siteIndex * Math.min(t.replicationFactor(), 1000)) * REPLICA_DELAY_MILLIS;
    return (int) Math.min(delay, Integer.MAX_VALUE);
  }

  private void acceptReplica(
      long id, int rf, TimerRequest request, long writtenMillis, long snapshotMillis)
      throws OverloadedException {
    Timer incoming = replicaFrom(id, rf, request, writtenMillis);
    boolean accepted =
        snapshotMillis < 0
            ? service.execute(store -> merge(store, incoming))
            : service.execute(store -> mergeSnapshotCopy(store, incoming, snapshotMillis));
    if (!accepted) {
      throw new OverloadedException("timer queue is full");
    }
  }

  /**
   * A copy another node's resync sends on (see {@link #mergeResyncCopies}, which the resyncing node
   * applies to its own pages): a snapshot of a third node's store, or of this node's, taken before
   * it arrived, and maybe held up in a retry or overtaken by a later message. By the version rule
   * alone it would undo a pop (sequence 0 always wins) or bring back a timer deleted meanwhile, so
   * it goes by the same rules as a page here, if it makes this node a replica. One that does not is
   * there to leave this node a tombstone (section 6: old replicas that are replicas no more), and
   * is merged whatever this node holds: a later pop of the timer would otherwise stay live here and
   * keep popping. Timers this node forgets during the next minute are remembered for the
   * comparison.
   */
  private void mergeSnapshotCopy(TimerStore store, Timer copy, long lateByMillis) {
    rememberForgottenForAWhile();
    ClusterView v = view.get();
    if (!copy.replicas().contains(v.localAddress())
        && Objects.equals(copy.clusterViewId(), v.viewId())) {
      // By the version rule alone a copy older than what this node holds (it popped the timer
      // since) would lose, and the live copy here would go on popping with the new replicas.
      Timer held = store.get(copy.id());
      store.put(noReplicaHere(held != null ? held : copy, copy, clock.millis()));
      return;
    }
    Timer placed = placeSnapshot(store, copy, v, lateByMillis);
    if (placed == null) {
      snapshotCopiesSkipped.mark();
      LOG.debug("skipped resync copy {}: this node holds a later pop or a deletion of it", copy);
      return;
    }
    merge(store, placed);
  }

  /**
   * What this node makes of a snapshot copy, a page's or one another node's resync sent on (timer
   * thread): null if the copy makes this node a replica and this node holds, or remembers having
   * forgotten, a later pop or a deletion of the timer ({@link VersionRule#isLaterPop}, {@link
   * VersionRule#isLaterDelete}); otherwise the copy, with this node's start if it is the very timer
   * this node holds ({@link #keepingStart}). A copy that makes this node no replica is there to
   * leave it a tombstone, and always does.
   */
  private Timer placeSnapshot(TimerStore store, Timer copy, ClusterView v, long lateByMillis) {
    Timer existing = store.get(copy.id());
    if (existing == null) {
      Forgotten forgotten = forgottenDuringResync.get(copy.id());
      existing = forgotten == null ? null : forgotten.timer();
    }
    if (existing != null
        && copy.replicas().contains(v.localAddress())
        && (VersionRule.isLaterPop(existing, copy, v.viewId(), lateByMillis)
            || VersionRule.isLaterDelete(existing, copy, v.localAddress(), lateByMillis))) {
      return null;
    }
    return keepingStart(existing, copy, lateByMillis);
  }

  /** This node's clock, in ms. */
  public long millis() {
    return clock.millis();
  }

  /** A peer's copy of a timer (a replication message or a resync entry), ready to merge. */
  public Timer replicaFrom(long id, int rf, TimerRequest request) {
    return replicaFrom(id, rf, request, clock.millis());
  }

  /**
   * As {@link #replicaFrom(long, int, TimerRequest)}, with the moment the copy's {@code
   * start-time-delta} counts from: for a resync page, when the page arrived, however long it then
   * waited to be processed.
   */
  public Timer replicaFrom(long id, int rf, TimerRequest request, long receivedMillis) {
    Timer incoming = toTimer(id, rf, request, receivedMillis);
    incoming.setReplicas(intern(request.replicas()));
    incoming.setClusterViewId(request.clusterViewId());
    if (request.sites() != null) {
      incoming.setSites(request.sites());
    }
    return incoming;
  }

  /**
   * A resync starts: until it finishes, timers the store forgets are remembered for {@link
   * #RESYNC_REMEMBERS_MILLIS} and stand in for the store's copy when a page's copy is merged.
   * Completes once in force.
   */
  public java.util.concurrent.CompletableFuture<Void> resyncStarting() {
    return service.query(
        s -> {
          resyncsRunning++;
          return null;
        });
  }

  /** A resync finished: forget what {@link #resyncStarting} had remembered. */
  public void resyncFinished() {
    service.query(
        s -> {
          resyncsRunning--;
          if (!remembersForgotten(clock.millis())) {
            forgetRemembered();
          }
          return null;
        });
  }

  /**
   * Another node's resync is reading this node's timers (it asked for a page): the copies it sends
   * back are snapshots taken now, so timers forgotten during the next {@link
   * #RESYNC_REMEMBERS_MILLIS} are remembered to compare them with. Asynchronous.
   */
  public void peerResyncing() {
    service.execute(s -> rememberForgottenForAWhile());
  }

  // Timer thread: timers the store forgets in the next RESYNC_REMEMBERS_MILLIS are remembered.
  private void rememberForgottenForAWhile() {
    rememberForgottenUntil =
        Math.max(rememberForgottenUntil, clock.millis() + RESYNC_REMEMBERS_MILLIS);
  }

  // Timer thread: drops what forgotten() remembered.
  private void forgetRemembered() {
    forgottenDuringResync.clear();
    forgottenOrder.clear();
    toldOfTheCap = false;
  }

  // Timer thread: whether timers the store forgets are to be remembered now.
  private boolean remembersForgotten(long now) {
    return resyncsRunning > 0 || now < rememberForgottenUntil;
  }

  @Override
  public void forgotten(Timer timer) {
    long now = clock.millis();
    if (!remembersForgotten(now)) {
      if (!forgottenOrder.isEmpty()) {
        forgetRemembered();
      }
      return;
    }
    while (!forgottenOrder.isEmpty()
        && forgottenOrder.peekFirst().atMillis() < now - RESYNC_REMEMBERS_MILLIS) {
      Forgotten oldest = forgottenOrder.pollFirst();
      forgottenDuringResync.remove(oldest.timer().id(), oldest);
    }
    Forgotten forgotten = new Forgotten(timer, now);
    forgottenDuringResync.put(timer.id(), forgotten);
    forgottenOrder.addLast(forgotten);
    while (forgottenOrder.size() > maxRemembered) {
      Forgotten oldest = forgottenOrder.pollFirst();
      forgottenDuringResync.remove(oldest.timer().id(), oldest);
      if (!toldOfTheCap) {
        toldOfTheCap = true;
        LOG.warn(
            "remembering only the last {} timers forgotten while snapshots may arrive (a resync's"
                + " pages or copies, another site's copies, a deletion told again;"
                + " resync.maxRememberedTimers): a snapshot taken before one of the others was"
                + " forgotten may bring it back",
            maxRemembered);
      }
    }
  }

  /** Told, on the timer thread, what became of one copy of a resync page. */
  @FunctionalInterface
  public interface ResyncMerged {
    /**
     * @param index the copy's position in the list merged
     * @param placed the copy with the start this node keeps for it (see {@link #keepingStart}),
     *     stored here if it was to be and won the version rule; null if this node holds a later pop
     *     or a deletion of it, and the copy must go nowhere. Valid on the timer thread only, for
     *     the duration of the call ({@link Timer#snapshot} it to keep it).
     */
    void merged(int index, Timer placed);
  }

  /**
   * Merges a resync page's copies (those flagged in {@code store}) by the version rule, except any
   * copy of which this node holds a later pop or a deletion (see {@link VersionRule#isLaterPop} and
   * {@link VersionRule#isLaterDelete}): a page is a snapshot, and applying it would undo them.
   * {@code then} hears of each copy right after, on the timer thread, so that a copy it sends on is
   * queued before anything this node sends about a later pop of the timer. Completes once done.
   *
   * <p>A copy whose next pop the peer was making as it wrote the page ({@code callbackOut}) is of
   * the timer before that pop, and overdue: popped here at once, it would be popped twice if the
   * peer's callback succeeded. It is held back as a backup's pop is ({@link
   * #CALLBACK_OUT_WAIT_MILLIS}), so that the peer's news of the pop arrives first; should the
   * callback fail, the peer drops its copy, and this node makes the pop then.
   *
   * @param transitMillis how long the page took from request to answer: the copies' starts, counted
   *     from its arrival, are up to that much later than the peer's
   */
  public java.util.concurrent.CompletableFuture<Void> mergeResyncCopies(
      List<Timer> copies,
      boolean[] store,
      boolean[] callbackOut,
      long transitMillis,
      ResyncMerged then) {
    return service.query(
        s -> {
          ClusterView v = view.get();
          for (int i = 0; i < copies.size(); i++) {
            // A page's copies all make this node a replica (the resync checks).
            Timer placed = placeSnapshot(s, copies.get(i), v, transitMillis);
            long notBefore =
                callbackOut[i] ? clock.millis() + CALLBACK_OUT_WAIT_MILLIS : Long.MIN_VALUE;
            if (placed != null && store[i] && !merge(s, placed, notBefore)) {
              placed = null; // a deletion this node owes another site is later (keepDeletion)
            }
            then.merged(i, placed);
          }
          return null;
        });
  }

  /**
   * A resync copy of the very timer this node holds (same pop, same interval) whose start is up to
   * the page's transit time plus {@link #RESYNC_DRIFT_MILLIS} later keeps this node's start: the
   * copy's start-time-delta was written when the peer built the page, so it arrives shifted by up
   * to the page's time from request to answer, and by the version rule a later start wins; the
   * timer would then pop that much late. Anything else is the copy unchanged.
   */
  static Timer keepingStart(Timer existing, Timer copy, long transitMillis) {
    if (existing == null
        || existing.isTombstone()
        || copy.isTombstone()
        || existing.sequence() != copy.sequence()
        || existing.intervalMillis() != copy.intervalMillis()
        || copy.startMillis() < existing.startMillis()
        || copy.startMillis() - existing.startMillis()
            > RESYNC_DRIFT_MILLIS + Math.max(0, transitMillis)) {
      return copy;
    }
    return copy.snapshot(
        existing.startMillis(), copy.sequence(), copy.callbackUri(), copy.opaque());
  }

  private boolean merge(TimerStore store, Timer incoming) {
    return merge(store, incoming, Long.MIN_VALUE);
  }

  /**
   * As {@link #merge(TimerStore, Timer)}, a live copy taken not popping before {@code notBefore}.
   */
  private boolean merge(TimerStore store, Timer incoming, long notBeforeMillis) {
    ClusterView v = view.get();
    long now = clock.millis();
    Timer existing = store.get(incoming.id());
    if (!incoming.isTombstone() && refusedForADeletion(store, existing, incoming, v, now)) {
      return false;
    }
    if (existing != null && !VersionRule.incomingWins(existing, incoming, v.viewId())) {
      LOG.debug("kept {} over replicated {}", existing, incoming);
      return true;
    }
    int index = incoming.replicas().indexOf(v.localAddress());
    Timer toStore = incoming;
    if (existing != null && incoming.isTombstone()) {
      // A tombstone keeps the interval and repeat-for of the timer it replaces (section 5), and
      // the start and sequence number it came with: after a last pop it must still beat a late
      // message about an earlier pop, which by the version rule would beat a sequence number 0.
      toStore = existing.toTombstone(incoming.startMillis(), incoming.sequence());
      toStore.setReplicas(incoming.replicas());
      toStore.setClusterViewId(incoming.clusterViewId());
    } else if (index < 0 && !incoming.isTombstone()) {
      toStore = incoming.toTombstone(now);
    }
    toStore.setSites(incoming.sites());
    toStore.setPopDelayMillis(popDelay(v, sites.get(), toStore));
    if (!toStore.isTombstone() && notBeforeMillis > toStore.nextDueMillis()) {
      long wait = toStore.popDelayMillis() + (notBeforeMillis - toStore.nextDueMillis());
      toStore.setPopDelayMillis((int) Math.min(wait, Integer.MAX_VALUE));
      popsInProgressHeld.mark();
    }
    // A tombstone told late (after retries, or of a pop made late) is kept an interval from now,
    // as on the node that made it.
    store.put(toStore, now);
    return true;
  }

  /**
   * Whether a live copy is of a series a client deleted since: news of a pop made before the
   * deletion (a retry, or another site's, passed on), or another site's copy re-sent, which by the
   * version rule would bring it back. The deletion is one this node holds as a replica, or owes
   * another site (its tombstone may have expired here); the later of the two counts. A refused
   * copy's sender may have missed the deletion and pop on, and this site's other replicas may have
   * taken the copy: they are told again ({@link #keepDeletion}); so are the timer's other sites,
   * for a deletion held here (one owed gets it when that site answers again). Timer thread.
   */
  private boolean refusedForADeletion(
      TimerStore store, Timer existing, Timer incoming, ClusterView v, long now) {
    Timer owed = owedDeletions.deletionOf(incoming.id(), now);
    Timer held = existing != null && isClientsDeletion(existing, v) ? existing : null;
    Timer deletion = later(owed, held);
    if (deletion == null || incoming.startMillis() >= deletion.startMillis()) {
      return false;
    }
    deletionsKept.mark();
    LOG.debug(
        "kept the deletion {} over {}, of a series that started before it", deletion, incoming);
    keepDeletion(store, existing, deletion, v, incoming.replicas());
    if (deletion == held) {
      sendToOtherSites(
          held, sites.get(), TimerPath.location(held.id(), held.replicationFactor()), now);
    }
    return true;
  }

  /**
   * A client's deletion against a copy of the timer from before it: one this node owes another
   * site, or sent it a moment ago ({@link OwedDeletions#deletionOf}), against news of that site's
   * pops or its copy re-sent when this site answered it again, which by the version rule would
   * bring the timer back (any pop beats a tombstone) once the tombstones here have expired; or one
   * held here against such news from a node that may have missed the deletion; or an owed one when
   * that site answers again. Unless this node holds a later series of the timer, or a later
   * tombstone of it as a replica (a marker kept as no replica does not count), the deletion is held
   * here again for an interval and told again to this site's replicas, which may have taken the
   * copy (passed on by the node that received it), as a snapshot: a replica that holds a later
   * series (the timer made again since, through another node) keeps it, where by the version rule
   * any tombstone would beat a pop. So are the replicas the refused copy names ({@code
   * copyReplicas}): in a rolling reload, a copy made under the other view names replicas this
   * node's view does not (a joining node that never heard of the deletion, and pops on). Timer
   * thread.
   */
  private void keepDeletion(
      TimerStore store,
      Timer existing,
      Timer deletion,
      ClusterView v,
      Collection<String> copyReplicas) {
    if (existing != null
        && (existing.isTombstone()
            ? existing.replicas().contains(v.localAddress())
                && existing.startMillis() > deletion.startMillis()
            : existing.startMillis() >= deletion.startMillis())) {
      LOG.debug("not telling the deletion {} again: this node holds {}", deletion, existing);
      return;
    }
    long now = clock.millis();
    long id = deletion.id();
    int rf = deletion.replicationFactor();
    List<String> replicas = intern(v.replicasFor(id, rf));
    Timer tombstone = deletion.toTombstone(deletion.startMillis(), 0);
    tombstone.setReplicas(replicas);
    tombstone.setClusterViewId(v.viewId());
    tombstone.setSites(deletion.sites());
    store.put(tombstone, now); // kept an interval from now
    LOG.debug("telling this site's replicas again of the deletion {}", tombstone);
    // The current replicas (and, during a scale-up or down, the extra ones), not those a reload
    // dropped: one takes any copy of the current view as a tombstone, and may hold the only copy
    // of the timer made again until a resync. And the replicas the refused copy names, which hold
    // the series it is of (under another view, in a rolling reload, they are none of the others).
    Set<String> to = currentPeersOf(v, id, rf, replicas);
    to.addAll(copyReplicas);
    to.remove(v.localAddress());
    if (!to.isEmpty()) {
      replicator.sendSnapshot(
          to, TimerPath.location(id, rf), TimerJson.write(tombstone, now), 0, null);
    }
  }

  /** The later (by start) of two deletions, either of which may be null. */
  private static Timer later(Timer a, Timer b) {
    if (a == null) {
      return b;
    }
    return b == null || a.startMillis() > b.startMillis() ? a : b;
  }

  /**
   * Whether {@code t} is a client's deletion this node holds as a replica: a tombstone of sequence
   * number 0, not a last pop's, nor one kept because this node is no replica (it names the timer's
   * replicas, not this node). Under whichever view it was made: one made by a node not reloaded yet
   * (or before this node's reload) is a client's deletion all the same, and a copy of the series it
   * ended, from a replica that never heard of it (a joining node the deleting node did not know),
   * must not bring the timer back.
   */
  private static boolean isClientsDeletion(Timer t, ClusterView v) {
    return t.isTombstone() && t.sequence() == 0 && t.replicas().contains(v.localAddress());
  }

  @Override
  public void popping(Timer timer, Pop pop) {
    ClusterView v = view.get();
    List<String> replicas = intern(v.replicasFor(timer.id(), timer.replicationFactor()));
    // The view id first: a replica dropped by the reload must get this as a message of the
    // current view, which wins over the copy it holds from before (section 5), and leaves it
    // a tombstone; under the old id the two copies' start times would decide.
    timer.setClusterViewId(v.viewId());
    if (!replicas.equals(timer.replicas())) {
      Set<String> dropped = withDroppedReplicas(Set.of(), timer, v.localAddress());
      dropped.removeAll(replicas);
      timer.setReplicas(replicas);
      if (!dropped.isEmpty()) {
        // Told once the callback succeeded, with the other replicas. Until then the dropped
        // replica's copy is the timer's backup: a new replica may not hold it yet (no resync
        // since the reload), and if this callback fails this node drops its copy.
        droppedUntilOutcome.put(pop, dropped);
      }
    }
    SitesConfig sc = sites.get();
    List<String> refreshed = sc.refresh(timer.sites());
    if (refreshed != timer.sites()) {
      timer.setSites(intern(refreshed));
    }
    timer.setPopDelayMillis(popDelay(v, sc, timer));
  }

  @Override
  public void callbackFailed(Pop pop, CallbackOutcome outcome, boolean dropped) {
    Set<String> droppedReplicas = droppedUntilOutcome.remove(pop);
    if (droppedReplicas != null && !dropped) {
      // Not dropped: the timer changed while its callback was out. The replicas the reload
      // dropped would otherwise not hear of the view (this copy no longer lists them).
      tellDroppedReplicas(pop.timerId(), droppedReplicas);
    }
    // Dropped: the dropped replicas' copies are the timer's backups now; they stay live.
  }

  /** Sends {@code to} the copy of {@code id} now held, which leaves them a tombstone. */
  private void tellDroppedReplicas(long id, Set<String> to) {
    service.query(
        store -> {
          Timer held = store.get(id);
          if (held != null) {
            replicator.send(
                to,
                TimerPath.location(id, held.replicationFactor()),
                TimerJson.write(held, clock.millis()));
          }
          return null;
        });
  }

  @Override
  public void callbackSucceeded(Pop pop, Timer timer) {
    Set<String> droppedReplicas = droppedUntilOutcome.remove(pop);
    if (timer == null) {
      if (droppedReplicas != null) {
        tellDroppedReplicas(pop.timerId(), droppedReplicas);
      }
      return;
    }
    // The other replicas then hold the popped version and skip this pop; replicas the view
    // dropped, told under the current view id, keep only a tombstone.
    ClusterView v = view.get();
    Timer popped = asLeftBy(pop, timer);
    Set<String> peers = currentPeersOf(v, timer.id(), timer.replicationFactor(), timer.replicas());
    if (droppedReplicas != null) {
      peers.addAll(droppedReplicas);
    }
    String path = TimerPath.location(timer.id(), timer.replicationFactor());
    long now = clock.millis();
    Replicator.Outcome outcome = null;
    if (!timer.isTombstone() && !timer.replicas().contains(v.localAddress())) {
      // This node popped a timer it is no replica of any more (it held it from before a reload,
      // and popped it first, as it was its primary then). The new replicas now hold this pop;
      // a live copy kept here would pop with them from now on, every time. Queued on the timer
      // thread before the news goes, so that a failure's restore always comes after it.
      LeftToNewReplicas left = new LeftToNewReplicas(timer);
      service.query(
          store -> {
            if (store.get(timer.id()) == timer) {
              left.tombstone = noReplicaHere(timer, timer, now);
              store.put(left.tombstone);
            }
            return null;
          });
      outcome = left;
    }
    if (!peers.isEmpty()) {
      replicator.send(peers, path, TimerJson.write(popped, now), outcome);
    }
    // Other sites' copies skip this pop too.
    sendToOtherSites(popped, sites.get(), path, now);
  }

  /**
   * A timer this node popped and left to its new replicas, keeping a tombstone. If none of them
   * takes the pop's news (each unreachable for {@code replication.retryFor}), the timer would be
   * gone; this node then holds it live again, and pops it until one does.
   */
  private final class LeftToNewReplicas implements Replicator.Outcome {
    private final Timer timer;
    private final Set<String> newReplicas;
    private final AtomicInteger unanswered;
    private final AtomicBoolean delivered = new AtomicBoolean();

    /** The tombstone stored instead of the timer; timer thread only. */
    private Timer tombstone;

    LeftToNewReplicas(Timer timer) {
      this.timer = timer;
      this.newReplicas = Set.copyOf(timer.replicas());
      this.unanswered = new AtomicInteger(newReplicas.size());
    }

    @Override
    public void delivered(String peer, boolean ok) {
      if (!newReplicas.contains(peer)) {
        return; // a dropped or extra replica, told only to leave it a tombstone
      }
      if (ok) {
        delivered.set(true);
      }
      if (unanswered.decrementAndGet() == 0 && !delivered.get()) {
        service.query(
            store -> {
              if (tombstone != null && store.get(timer.id()) == tombstone) {
                store.put(timer);
                keptForUnreachableReplicas.mark();
                LOG.warn(
                    "none of the replicas {} of timer {} took the news of its pop here, after"
                        + " retries: it stays here, live, and pops here until one does",
                    newReplicas,
                    Long.toHexString(timer.id()));
              }
              return null;
            });
      }
    }
  }

  /**
   * The timer as {@code pop} left it, to tell the other replicas about once that pop's callback
   * succeeded. Usually the stored timer itself; but a timer whose callbacks take longer than its
   * interval pops again while one is still out, and its sequence number then counts a pop whose
   * callback has not succeeded yet. Told that one, the next replica would skip it, and if its
   * callback then failed here, no node would make it.
   */
  private static Timer asLeftBy(Pop pop, Timer timer) {
    if (timer.sequence() == pop.sequence()) {
      return timer;
    }
    return timer.snapshot(timer.startMillis(), pop.sequence(), pop.uri(), pop.opaque());
  }

  /**
   * The tombstone a node keeps of a timer it is no replica of, instead of {@code timer}: its
   * interval and repeat-for, and the replicas, view id and sites of {@code placed} (the timer
   * itself, or the copy that says where it lives now).
   */
  private Timer noReplicaHere(Timer timer, Timer placed, long nowMillis) {
    Timer tombstone = timer.toTombstone(nowMillis);
    tombstone.setReplicas(placed.replicas());
    tombstone.setClusterViewId(placed.clusterViewId());
    tombstone.setSites(placed.sites());
    tombstone.setPopDelayMillis(popDelay(view.get(), sites.get(), tombstone));
    return tombstone;
  }

  /**
   * The replicas, the extra replicas, and the replicas under the view before the last reload, other
   * than this node. Those that are not replicas store what they are sent as a tombstone.
   */
  private Set<String> peersOf(ClusterView v, long id, int rf, List<String> replicas) {
    Set<String> peers = currentPeersOf(v, id, rf, replicas);
    ClusterView before = previousView.get();
    if (before != v) {
      peers.addAll(before.replicasFor(id, rf));
      peers.remove(v.localAddress());
    }
    return peers;
  }

  /** The replicas and extra replicas under the current view, other than this node. */
  private static Set<String> currentPeersOf(ClusterView v, long id, int rf, List<String> replicas) {
    Set<String> peers = new LinkedHashSet<>(replicas);
    peers.addAll(v.extraReplicasFor(id, rf));
    peers.remove(v.localAddress());
    return peers;
  }

  private static Set<String> withDroppedReplicas(Set<String> peers, Timer previous, String local) {
    Set<String> to = new LinkedHashSet<>(peers);
    if (previous != null) {
      to.addAll(previous.replicas());
      to.remove(local);
    }
    return to;
  }

  // Timers share replica lists: there are few distinct ones and millions of timers.
  private List<String> intern(List<String> replicas) {
    List<String> shared = replicaLists.get(replicas);
    if (shared != null) {
      return shared;
    }
    List<String> copy = List.copyOf(replicas);
    if (replicaLists.size() < MAX_INTERNED_LISTS) {
      replicaLists.putIfAbsent(copy, copy);
    }
    return copy;
  }

  static Timer toTimer(long id, int rf, TimerRequest request, long nowMillis) {
    long start = nowMillis;
    if (request.startTimeDeltaMillis() != null) {
      // Never before 1970: the wheel takes no negative time (a start that far back pops at once).
      start = Math.max(0, nowMillis + request.startTimeDeltaMillis());
    } else if (request.startTimeMillis() != null) {
      start = request.startTimeMillis();
    }
    int sequence = request.sequenceNumber() == null ? 0 : request.sequenceNumber();
    String uri = request.tombstone() ? null : request.callbackUri().intern();
    byte[] opaque = request.tombstone() ? null : request.opaque().getBytes(StandardCharsets.UTF_8);
    return new Timer(
        id,
        rf,
        start,
        request.intervalMillis(),
        request.repeatForMillis(),
        sequence,
        uri,
        opaque,
        request.tags());
  }
}
