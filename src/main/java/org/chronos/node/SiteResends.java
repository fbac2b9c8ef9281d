package org.chronos.node;

import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import java.util.function.Predicate;
import java.util.function.ToIntFunction;
import org.chronos.http.AsyncHttp;
import org.chronos.timer.Timer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The re-sends of timers to other sites that answer again ({@link TimerNode#resendToSite}): one per
 * site at a time, each on a thread of its own, and paced by the replication queue to the site.
 *
 * <p>A node may hold far more timers than the replication queue to a site takes ({@code
 * replication.maxQueuedPerPeer}). Queued all at once, those past it failed there, the site was
 * taken for down again, and its next answer (or the next message to it that got through) started
 * the re-send over, in the same order: the timers past the queue's size never reached it, the site
 * flapped between down and answering, and live news to it waited behind the flood. Here each chunk
 * waits until the site's queue has drained to a chunk's size, so live news waits behind at most
 * that much. A re-send cut short by the site's next failure is not started over from the same head
 * the next time, but goes on where it stopped ({@link #inResendOrder}).
 *
 * <p>Also which timers' live news to a site failed on this node ({@link #owe}): the site's re-send
 * then includes them though this node is not their primary (the primary may never have seen the
 * site fail), with the timer as it was sent when this node holds no copy of it (it took a client's
 * request for a timer it is no replica of), or was not sent because the site does not answer. At
 * most {@code maxOwedPerSite} per site; beyond that the site gets those timers at their next change
 * (news to a site taken for down is then queued and retried, not owed).
 */
final class SiteResends {
  private static final Logger LOG = LoggerFactory.getLogger(SiteResends.class);

  /** How often a paced re-send looks whether the site's queue has room. */
  static final long POLL_MILLIS = 10;

  /**
   * A re-send that must stop: the site failed again (the next goes on where it stopped, when the
   * site answers), or a stop.
   */
  static final class Abandoned extends Exception {
    Abandoned(String why) {
      super(why, null, false, false);
    }
  }

  /** The work of one re-send, run on the re-send thread. */
  @FunctionalInterface
  interface Job {
    void run() throws Exception;
  }

  // A thread per site re-sending at once (the per-site guard below), so a slow site does not hold
  // up another's; none while no re-send runs.
  private final ExecutorService thread =
      Executors.newCachedThreadPool(AsyncHttp.daemonThreads("chronos-site-resend"));
  private final Map<String, AtomicInteger> asked = new ConcurrentHashMap<>();
  private final ToIntFunction<String> pending;
  private final Predicate<String> failing;
  private final Function<String, String> addressOf;
  private final int chunk;
  private final int maxOwedPerSite;
  private final Map<String, LinkedHashMap<Long, Owed>> owed = new HashMap<>();
  // Per site, the last id a re-send handed over of the timers this node is primary for.
  private final Map<String, Long> handedOverUpTo = new HashMap<>();

  /**
   * A timer whose live news to a site failed here: {@code sent} is the timer as sent when this node
   * holds no copy of it (detached), null when it does (its copy, as it is at the re-send, goes).
   */
  record Owed(long id, Timer sent) {}

  private volatile boolean stopped;

  /**
   * @param pending messages queued or in flight to an address
   * @param failing whether a site (by name) has failed since it last answered
   * @param addressOf a site's address in the sites file now, null if it is no longer there
   * @param maxQueuedPerPeer the replication queue's size, which a chunk is well within
   */
  SiteResends(
      ToIntFunction<String> pending,
      Predicate<String> failing,
      Function<String, String> addressOf,
      int maxQueuedPerPeer,
      int maxOwedPerSite) {
    this.pending = pending;
    this.failing = failing;
    this.addressOf = addressOf;
    this.chunk = Math.max(1, Math.min(1000, maxQueuedPerPeer / 4));
    this.maxOwedPerSite = maxOwedPerSite;
  }

  /** How many timers a re-send hands to the replicator at a time. */
  int chunk() {
    return chunk;
  }

  /**
   * Runs the site's re-send on the re-send thread, unless one is already running or waiting, in
   * which case that one runs once more when it ends (the site may have restarted again since it
   * gathered its timers).
   */
  void request(String site, Job job) {
    if (stopped) {
      return;
    }
    AtomicInteger requests = asked.computeIfAbsent(site, s -> new AtomicInteger());
    if (requests.getAndIncrement() != 0) {
      return;
    }
    try {
      thread.execute(() -> runUntilNotAskedAgain(site, requests, job));
    } catch (java.util.concurrent.RejectedExecutionException e) {
      requests.set(0); // stopping
    }
  }

  private void runUntilNotAskedAgain(String site, AtomicInteger requests, Job job) {
    int seen;
    do {
      seen = requests.get();
      try {
        job.run();
      } catch (Abandoned e) {
        LOG.info("re-send to site {} stopped: {}", site, e.getMessage());
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return;
      } catch (Exception | Error e) {
        if (e instanceof java.util.concurrent.ExecutionException
            && e.getCause() instanceof IllegalStateException stopping) {
          // The timer thread has stopped (the node is stopping, before the re-sends are stopped).
          LOG.info("re-send to site {} stopped: {}", site, stopping.getMessage());
          return;
        }
        // The thread must go on: the next answer of this site, or of another, starts a re-send.
        LOG.error("re-send to site {} failed; it goes on when the site answers again", site, e);
      }
    } while (!stopped && !requests.compareAndSet(seen, 0));
  }

  /**
   * Waits until the site's replication queue at {@code address} holds no more than a chunk.
   *
   * @throws Abandoned if the site fails meanwhile, a reload moves it or takes it out of the sites
   *     file (a move starts a re-send to its new address), or the node stops
   */
  void awaitRoom(String site, String address) throws Abandoned, InterruptedException {
    while (true) {
      if (stopped) {
        throw new Abandoned("the node is stopping");
      }
      if (!Objects.equals(addressOf.apply(site), address)) {
        throw new Abandoned("the site is no longer at " + address);
      }
      if (failing.test(site)) {
        throw new Abandoned("the site failed again; the re-send goes on when it answers");
      }
      if (pending.applyAsInt(address) <= chunk) {
        return;
      }
      Thread.sleep(POLL_MILLIS);
    }
  }

  /**
   * Live news of timer {@code id} did not reach {@code site} from this node, or was not sent since
   * the site does not answer; {@code sent} is the timer as sent if this node holds no copy of it
   * (detached, never changed afterwards), else null. Returns whether it is owed: false when the
   * site is owed {@code maxOwedPerSite} others already.
   */
  synchronized boolean owe(String site, long id, Timer sent) {
    LinkedHashMap<Long, Owed> ids = owed.computeIfAbsent(site, s -> new LinkedHashMap<>());
    Owed before = ids.get(id);
    if (before == null && ids.size() >= maxOwedPerSite) {
      return false;
    }
    if (before != null
        && sent != null
        && before.sent() != null
        && before.sent().startMillis() > sent.startMillis()) {
      return true; // a later version's failure got here first
    }
    ids.put(id, new Owed(id, sent));
    return true;
  }

  /** Lets go of the timers owed to sites no longer in the sites file. */
  synchronized void keepOnly(java.util.Set<String> configured) {
    owed.keySet().retainAll(configured);
    handedOverUpTo.keySet().retainAll(configured);
  }

  /** Takes the timers owed to {@code site} ({@link #owe}), by id. */
  synchronized Map<Long, Owed> takeOwed(String site) {
    Map<Long, Owed> ids = owed.remove(site);
    return ids == null ? Map.of() : ids;
  }

  /** Gives back timers taken by {@link #takeOwed} that a re-send did not get to. */
  synchronized void oweAgain(String site, Collection<Owed> notSent) {
    for (Owed o : notSent) {
      owe(site, o.id(), o.sent());
    }
  }

  /**
   * The ids of the timers this node is primary for, in the order a re-send to {@code site} sends
   * them: ascending, from after the last one the previous re-send handed over ({@link
   * #handedOver}), then round from the lowest, so that a site failing again sooner than a whole
   * re-send takes still gets the tail. Timers handed over before come round again at the end, read
   * as they are then.
   */
  List<Long> inResendOrder(String site, List<Long> ids) {
    List<Long> sorted = new ArrayList<>(ids);
    sorted.sort(null);
    Long after;
    synchronized (this) {
      after = handedOverUpTo.get(site);
    }
    if (after == null) {
      return sorted;
    }
    int from = Collections.binarySearch(sorted, after);
    from = from >= 0 ? from + 1 : -from - 1;
    List<Long> inOrder = new ArrayList<>(sorted.size());
    inOrder.addAll(sorted.subList(from, sorted.size()));
    inOrder.addAll(sorted.subList(0, from));
    return inOrder;
  }

  /**
   * A re-send to {@code site} has handed over the ids of {@link #inResendOrder} up to {@code id}.
   */
  synchronized void handedOver(String site, long id) {
    handedOverUpTo.put(site, id);
  }

  /** The list in chunks of {@link #chunk}. */
  <T> List<List<T>> chunks(List<T> items) {
    List<List<T>> chunks = new ArrayList<>();
    for (int from = 0; from < items.size(); from += chunk) {
      chunks.add(items.subList(from, Math.min(items.size(), from + chunk)));
    }
    return chunks;
  }

  /** Ends the re-sends: a running one stops at its next chunk. */
  void stop() {
    stopped = true;
    thread.shutdownNow();
  }
}
