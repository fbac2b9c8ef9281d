package org.chronos.resync;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.math.BigInteger;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Supplier;
import org.chronos.api.BadRequestException;
import org.chronos.api.TimerJson;
import org.chronos.cluster.ClusterView;
import org.chronos.timer.Clock;
import org.chronos.timer.Timer;
import org.chronos.timer.TimerService;

/**
 * Serves {@code GET /timers?node-for-replicas=...} (PROTOCOL.md section 6): the timers a resyncing
 * node replicates under the new view, in pop-time order, a page at a time. Thread-safe; called from
 * request threads.
 *
 * <p>Little of the work happens on the timer thread. For the listing it copies, per live timer, the
 * id, replication factor, pop time and replica list into flat arrays (no object per timer); replica
 * choice, filtering and sorting happen on the request thread. The sorted list is kept per requester
 * and view for a minute, so paging through it costs one copy, not one per page. For each page the
 * timer thread takes a detached snapshot of the page's timers as they are now (skipping those
 * deleted or popped for the last time since the listing), and the request thread writes the JSON
 * from the snapshots. A page never ends inside a run of equal pop times, because the next page
 * starts strictly after the last pop time the requester saw.
 */
public final class ResyncSource {
  private static final JsonFactory JSON = new JsonFactory();
  private static final long CACHE_MILLIS = 60_000;

  /** Largest page served, whatever the Range header asks. */
  public static final int MAX_PAGE = 10_000;

  private final Clock clock;
  private final TimerService service;
  private final Supplier<ClusterView> view;
  private final Map<String, Listing> listings = new ConcurrentHashMap<>();
  // Timer thread only: which new replicas a leaving node has heard hold each timer (bit per index).
  private final Map<Long, Long> informed = new java.util.HashMap<>();

  /** One resyncing node's timers, sorted by pop time. */
  private record Listing(
      String viewId,
      long createdMillis,
      long[] popTimes,
      long[] ids,
      List<List<String>> oldReplicas) {}

  /** One page: the JSON body and whether more timers remain. */
  public record Page(byte[] body, int count, boolean more) {}

  public ResyncSource(Clock clock, TimerService service, Supplier<ClusterView> view) {
    this.clock = clock;
    this.service = service;
    this.view = view;
  }

  public Page page(String requester, String viewId, Long timeFrom, int limit)
      throws BadRequestException {
    if (requester == null || requester.isEmpty()) {
      throw new BadRequestException("node-for-replicas is required");
    }
    if (viewId == null || viewId.isEmpty()) {
      throw new BadRequestException("cluster-view-id is required");
    }
    ClusterView v = view.get();
    if (!v.viewId().equals(viewId)) {
      throw new BadRequestException(
          "cluster-view-id "
              + viewId
              + " differs from this node's "
              + v.viewId()
              + ": reload the cluster configuration on every node first");
    }
    if (!v.isInCluster(requester)) {
      throw new BadRequestException(
          "node-for-replicas " + requester + " is not in this node's cluster");
    }
    int pageSize = Math.max(1, Math.min(limit, MAX_PAGE));
    Listing listing = listing(requester, v, timeFrom == null);
    int from = timeFrom == null ? 0 : firstAfter(listing.popTimes(), timeFrom);
    while (true) {
      int to = pageEnd(listing.popTimes(), from, pageSize);
      boolean more = to < listing.ids().length;
      long[] ids = Arrays.copyOfRange(listing.ids(), from, to);
      Timer[] timers = service.query(store -> snapshot(store, ids)).join();
      if (more && Arrays.stream(timers).allMatch(java.util.Objects::isNull)) {
        // Every timer of this page popped or went since the listing was made. An empty 206
        // would leave the requester no pop time to continue from: serve the next page instead.
        from = to;
        continue;
      }
      byte[] body = write(timers, listing.oldReplicas().subList(from, to), v);
      if (!more) {
        listings.remove(requester);
      }
      return new Page(body, to - from, more);
    }
  }

  /** The timer thread's part of a page: a copy of each listed timer still live, else null. */
  private static Timer[] snapshot(org.chronos.timer.TimerStore store, long[] ids) {
    Timer[] out = new Timer[ids.length];
    for (int i = 0; i < ids.length; i++) {
      Timer t = store.get(ids[i]);
      if (t != null && !t.isTombstone()) {
        out[i] = t.snapshot();
      }
    }
    return out;
  }

  /** Where a page starting at {@code from} ends: never inside a run of equal pop times. */
  private static int pageEnd(long[] popTimes, int from, int pageSize) {
    int to = Math.min(from + pageSize, popTimes.length);
    if (to < popTimes.length && to > from) {
      // The next page starts after the last pop time seen, so a run must not be split.
      long boundary = popTimes[to - 1];
      if (popTimes[to] == boundary) {
        int runStart = firstAtOrAfter(popTimes, boundary);
        to = runStart > from ? runStart : firstAfter(popTimes, boundary);
      }
    }
    return to;
  }

  private Listing listing(String requester, ClusterView v, boolean fresh) {
    long now = clock.millis();
    Listing cached = listings.get(requester);
    if (!fresh
        && cached != null
        && cached.viewId().equals(v.viewId())
        && now - cached.createdMillis() < CACHE_MILLIS) {
      return cached;
    }
    Snapshot all = service.query(ResyncSource::listAll).join();
    Integer[] mine = new Integer[all.size];
    int count = 0;
    for (int i = 0; i < all.size; i++) {
      if (v.replicasFor(all.ids[i], all.rfs[i]).contains(requester)) {
        mine[count++] = i;
      }
    }
    Arrays.sort(mine, 0, count, Comparator.comparingLong(i -> all.popTimes[i]));
    long[] popTimes = new long[count];
    long[] ids = new long[count];
    List<List<String>> oldReplicas = new ArrayList<>(count);
    for (int k = 0; k < count; k++) {
      int i = mine[k];
      popTimes[k] = all.popTimes[i];
      ids[k] = all.ids[i];
      @SuppressWarnings("unchecked")
      List<String> replicas = (List<String>) all.replicas[i];
      oldReplicas.add(replicas);
    }
    Listing listing = new Listing(v.viewId(), now, popTimes, ids, oldReplicas);
    listings.put(requester, listing);
    return listing;
  }

  /** Every live timer's id, replication factor, pop time and replicas, in flat arrays. */
  private static final class Snapshot {
    final long[] ids;
    final int[] rfs;
    final long[] popTimes;
    final Object[] replicas;
    int size;

    Snapshot(int capacity) {
      ids = new long[capacity];
      rfs = new int[capacity];
      popTimes = new long[capacity];
      replicas = new Object[capacity];
    }
  }

  /** The timer thread's part of a listing: no allocation per timer. */
  private static Snapshot listAll(org.chronos.timer.TimerStore store) {
    Snapshot out = new Snapshot(store.liveCount());
    store.forEach(
        t -> {
          if (!t.isTombstone() && out.size < out.ids.length) {
            int i = out.size++;
            out.ids[i] = t.id();
            out.rfs[i] = t.replicationFactor();
            out.popTimes[i] = popTime(t);
            out.replicas[i] = t.replicas();
          }
        });
    return out;
  }

  /** The pop-time key of a timer: its next pop without this node's replica delay. */
  public static long popTime(Timer t) {
    return t.startMillis() + (t.sequence() + 1L) * t.intervalMillis();
  }

  /** A page's JSON, from the snapshots (null: no longer live, left out); any thread. */
  private byte[] write(Timer[] timers, List<List<String>> old, ClusterView v) {
    long now = clock.millis();
    ByteArrayOutputStream out = new ByteArrayOutputStream(512 * timers.length + 16);
    try (JsonGenerator g = JSON.createGenerator(out)) {
      g.writeStartObject();
      g.writeArrayFieldStart("Timers");
      for (int i = 0; i < timers.length; i++) {
        Timer t = timers[i];
        if (t == null) {
          continue; // deleted or popped for the last time since the listing was made
        }
        g.writeStartObject();
        g.writeFieldName("TimerID");
        g.writeNumber(new BigInteger(Long.toUnsignedString(t.id())));
        g.writeArrayFieldStart("OldReplicas");
        for (String r : old.get(i)) {
          g.writeString(r);
        }
        g.writeEndArray();
        g.writeFieldName("Timer");
        TimerJson.writeTo(g, t, now, v.replicasFor(t.id(), t.replicationFactor()), v.viewId());
        g.writeEndObject();
      }
      g.writeEndArray();
      g.writeEndObject();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return out.toByteArray();
  }

  private static int firstAfter(long[] sorted, long value) {
    int lo = 0;
    int hi = sorted.length;
    while (lo < hi) {
      int mid = (lo + hi) >>> 1;
      if (sorted[mid] <= value) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    return lo;
  }

  private static int firstAtOrAfter(long[] sorted, long value) {
    int lo = 0;
    int hi = sorted.length;
    while (lo < hi) {
      int mid = (lo + hi) >>> 1;
      if (sorted[mid] < value) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    return lo;
  }

  /**
   * {@code DELETE /timers/references}: the requester now holds these timers at these replica
   * indexes. A leaving node drops its informational copy once every new replica holds it; a staying
   * node has nothing to do.
   *
   * @return how many timers this node dropped
   */
  public int references(List<long[]> idAndIndex) {
    ClusterView v = view.get();
    if (v.newCluster().contains(v.localAddress())) {
      return 0;
    }
    return service
        .query(
            store -> {
              int dropped = 0;
              for (long[] ref : idAndIndex) {
                Timer t = store.get(ref[0]);
                if (t == null || ref[1] < 0 || ref[1] >= 63) {
                  continue;
                }
                long mask = informed.merge(ref[0], 1L << ref[1], (a, b) -> a | b);
                int needed = Math.min(t.replicationFactor(), v.newCluster().size());
                if (Long.bitCount(mask & ((1L << needed) - 1)) == needed) {
                  store.remove(t);
                  informed.remove(ref[0]);
                  dropped++;
                }
              }
              return dropped;
            })
        .join();
  }
}
