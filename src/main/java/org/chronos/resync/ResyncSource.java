package org.chronos.resync;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Function;
import java.util.function.LongConsumer;
import java.util.function.Supplier;
import org.chronos.api.BadRequestException;
import org.chronos.api.TimerJson;
import org.chronos.cluster.ClusterView;
import org.chronos.timer.Clock;
import org.chronos.timer.Pop;
import org.chronos.timer.ScanStep;
import org.chronos.timer.Timer;
import org.chronos.timer.TimerService;
import org.chronos.timer.TimerStore;

/**
 * Serves {@code GET /timers?node-for-replicas=...} (PROTOCOL.md section 6): the timers a resyncing
 * node replicates under the new view, in pop-time order, a page at a time. Thread-safe; called from
 * request threads.
 *
 * <p>Little of the work happens on the timer thread. For the listing it copies, per live timer, the
 * id, replication factor, pop time and replica list into flat arrays (no object per timer), a few
 * thousand timers per query so that timers keep popping meanwhile; replica choice, filtering,
 * removing timers listed twice and sorting happen on the request thread. The sorted list is kept
 * per requester and view for a minute, so paging through it costs one copy, not one per page. For
 * each page the timer thread takes a detached snapshot of the page's timers as they are now
 * (skipping those deleted or popped for the last time since the listing), and the request thread
 * writes the JSON from the snapshots. A page never ends inside a run of equal pop times, because
 * the next page starts strictly after the last pop time the requester saw.
 */
public final class ResyncSource {
  private static final JsonFactory JSON = new JsonFactory();
  private static final long CACHE_MILLIS = 60_000;

  /** Largest page served, whatever the Range header asks. */
  public static final int MAX_PAGE = 10_000;

  /**
   * Timers copied per timer-thread query while listing: at ~0.45 us a timer (more on a slow or busy
   * machine), about 0.5 ms of the timer thread's time, between which timers pop and commands run.
   */
  static final int CHUNK_TIMERS = 1024;

  /** Timers a page's snapshot copies per timer-thread query, for the same reason. */
  static final int SNAPSHOT_TIMERS = 250;

  /** Index slots looked at per listing query, per timer asked for (empty slots cost little). */
  private static final int SLOTS_PER_TIMER = 4;

  private final Clock clock;
  private final TimerService service;
  private final Supplier<ClusterView> view;
  private final int chunkTimers;
  private final LongConsumer betweenChunks;
  // The store walks for one listing at a time.
  private final Object walkLock = new Object();
  private final Map<String, Listing> listings = new ConcurrentHashMap<>();
  // Timer thread only: which new replicas a leaving node has heard hold each timer (bit per index).
  private final Map<Long, Long> informed = new java.util.HashMap<>();
  // Timer thread only: the size of informed at which entries of timers gone are let go.
  private int informedSweepAt = 1024;

  /** One resyncing node's timers, sorted by pop time. */
  private record Listing(
      String viewId, long[] popTimes, long[] ids, List<List<String>> oldReplicas, Cursor cursor) {}

  /**
   * Where a requester's paging through its listing stands: the next page starts at {@code next};
   * the last page started at {@code lastFrom} and answered {@code lastTimeFrom} (an original
   * requester's), for a retry of it.
   */
  private static final class Cursor {
    int next;
    int lastFrom;
    String lastTimeFrom;
    boolean repeated;

    /** When the listing was last paged: it is kept a minute from then, not from its making. */
    volatile long usedMillis;
  }

  /**
   * One page: the JSON body and whether more timers remain. {@code heldMicros}: how long before the
   * page is handed back its {@code start-time-delta}s were written (the time it took to write the
   * page), which the requester may count them from less than its arrival (see {@link
   * org.chronos.replication.Replicator#HELD_HEADER}). {@code nextTimeFrom}, when there are more:
   * the {@code time-from} that asks for the page after this one, the listed pop time of its last
   * timer (see {@link #NEXT_TIME_FROM_HEADER}).
   */
  public record Page(byte[] body, int count, boolean more, long heldMicros, long nextTimeFrom) {}

  /**
   * Response header of a 206 page between our nodes: the {@code time-from} to ask for the next page
   * with. A page holds each timer as it is when the page is written, but the pages follow the
   * listing made at the first request, in the pop times the timers had then. A timer that popped or
   * was updated since is on its page with a later pop time, so the latest pop time on the page
   * (what a requester would otherwise continue from) can be past timers the listing has yet to
   * serve, and continuing from it would skip them. An original node's requester does not read the
   * header, and pages from an original node do not carry it: then the latest pop time seen is the
   * cursor.
   */
  public static final String NEXT_TIME_FROM_HEADER = "X-Chronos-Next-Time-From";

  /**
   * Request header of our requesters: the listing's pop time to go on from, the value of the last
   * page's {@link #NEXT_TIME_FROM_HEADER}. The {@code time-from} parameter beside it is for an
   * original node, which reads it as an offset from its clock ({@link #pageFollowing}).
   */
  public static final String TIME_FROM_HEADER = "X-Chronos-Time-From";

  public ResyncSource(Clock clock, TimerService service, Supplier<ClusterView> view) {
    this(clock, service, view, CHUNK_TIMERS, lastListed -> {});
  }

  /**
   * For tests: chunks of the listing of another size, and something to do between them, given the
   * id of the last timer the chunk listed (-1 if none).
   */
  ResyncSource(
      Clock clock,
      TimerService service,
      Supplier<ClusterView> view,
      int chunkTimers,
      LongConsumer betweenChunks) {
    this.clock = clock;
    this.service = service;
    this.view = view;
    this.chunkTimers = chunkTimers;
    this.betweenChunks = betweenChunks;
  }

  /**
   * A page for a requester that gives the listing's pop time to go on from (ours: {@link
   * #TIME_FROM_HEADER}), or none for the first page (a new listing).
   */
  public Page page(String requester, String viewId, Long timeFrom, int limit)
      throws BadRequestException {
    ClusterView v = checked(requester, viewId);
    Listing listing = listing(requester, v, timeFrom == null);
    int from = timeFrom == null ? 0 : firstAfter(listing.popTimes(), timeFrom);
    return serve(requester, v, listing, from, limit, null);
  }

  /**
   * The next page for a requester that gives {@code time-from} as an original node does: an offset
   * in ms from the serving node's clock (an unsigned 32-bit number on the wire, which may stand for
   * a negative one), computed from the last page's timers with that node's own replica delays. It
   * goes on where this node's listing for the requester stopped, which is exact: the same offset
   * again (a retry) gets the same page again, once. Without a listing (one goes a minute after its
   * last page) the offset from now says where to start.
   */
  public Page pageFollowing(String requester, String viewId, String timeFrom, int limit)
      throws BadRequestException {
    ClusterView v = checked(requester, viewId);
    long offset;
    try {
      offset = (int) Long.parseLong(timeFrom.trim()); // 4294967295 is -1
    } catch (NumberFormatException e) {
      offset = 0; // as the original reads it
    }
    // Older originals send time-from=0 with their first request: a new listing, as without it.
    Listing cached = offset == 0 ? null : cachedListing(requester, v);
    if (cached != null) {
      Cursor cursor = cached.cursor();
      synchronized (cursor) {
        // The same time-from again is a retry, once: twice, the requester is going round in
        // circles (two pages with the same latest pop as it counts them), and gets the next.
        boolean retry = timeFrom.equals(cursor.lastTimeFrom) && !cursor.repeated;
        Page page =
            serve(requester, v, cached, retry ? cursor.lastFrom : cursor.next, limit, timeFrom);
        cursor.repeated = retry;
        return page;
      }
    }
    Listing listing = listing(requester, v, true);
    int from = firstAtOrAfter(listing.popTimes(), clock.millis() + offset);
    return serve(requester, v, listing, from, limit, timeFrom);
  }

  /** The view, once the request's parameters are found to fit it. */
  private ClusterView checked(String requester, String viewId) throws BadRequestException {
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
    return v;
  }

  /**
   * The page of {@code listing} from index {@code from}; {@code timeFrom}: the original's {@code
   * time-from} it answers, if any, kept with where the page starts, for a retry of it.
   */
  private Page serve(
      String requester, ClusterView v, Listing listing, int from, int limit, String timeFrom) {
    int pageSize = Math.max(1, Math.min(limit, MAX_PAGE));
    int requested = from;
    while (true) {
      int to = pageEnd(listing.popTimes(), from, pageSize);
      boolean more = to < listing.ids().length;
      long[] ids = Arrays.copyOfRange(listing.ids(), from, to);
      boolean[] callbackOut = new boolean[ids.length];
      Timer[] timers = snapshotInChunks(ids, callbackOut);
      if (more && Arrays.stream(timers).allMatch(java.util.Objects::isNull)) {
        // Every timer of this page popped or went since the listing was made. An empty 206
        // would leave the requester no pop time to continue from: serve the next page instead.
        from = to;
        continue;
      }
      long now = clock.millis();
      long nowNanos = clock.nanos();
      byte[] body = write(timers, callbackOut, listing.oldReplicas().subList(from, to), v, now);
      long heldMicros = (clock.nanos() - nowNanos) / 1000;
      if (!more) {
        listings.remove(requester);
      }
      Cursor cursor = listing.cursor();
      synchronized (cursor) {
        cursor.lastTimeFrom = timeFrom;
        cursor.lastFrom = requested;
        cursor.next = to;
        cursor.usedMillis = now;
      }
      // A page never ends inside a run of equal pop times, so the next starts after its last.
      long nextTimeFrom = more ? listing.popTimes()[to - 1] : 0;
      return new Page(body, to - from, more, heldMicros, nextTimeFrom);
    }
  }

  /** The timer thread's part of a page: a copy of each listed timer still live, else null. */
  private static Timer[] snapshot(TimerStore store, long[] ids, Function<Timer, Pop> popsOut) {
    Timer[] out = new Timer[ids.length];
    snapshot(store, ids, 0, ids.length, out, null, popsOut);
    return out;
  }

  /**
   * Copies of the live timers among {@code ids[from..to)} into {@code out}; null for the rest. A
   * timer whose callback is out is copied as it was before that pop, a last pop's included: the pop
   * is not made until the callback succeeds. Were the requester given the popped sequence number
   * and the callback then failed, this node would drop its copy and the requester would skip that
   * pop, and no node would make it. Should the callback succeed, its news reaches the requester as
   * it reaches every replica; a requester of ours waits for that news as a backup would, rather
   * than making the pop at once (the copy is overdue): {@code callbackOut}, if given, marks such
   * copies, which the page says ({@link #CALLBACK_OUT_FIELD}). {@code popsOut} gives a timer's
   * oldest pop whose callback is out.
   */
  private static void snapshot(
      TimerStore store,
      long[] ids,
      int from,
      int to,
      Timer[] out,
      boolean[] callbackOut,
      Function<Timer, Pop> popsOut) {
    for (int i = from; i < to; i++) {
      Timer t = store.get(ids[i]);
      if (t == null) {
        continue;
      }
      Pop pending = popsOut.apply(t);
      if (pending != null) {
        out[i] =
            t.snapshot(t.startMillis(), pending.sequence() - 1, pending.uri(), pending.opaque());
        if (callbackOut != null) {
          callbackOut[i] = true;
        }
      } else if (!t.isTombstone()) {
        out[i] = t.snapshot();
      }
    }
  }

  /**
   * A page's copies, {@link #SNAPSHOT_TIMERS} per timer-thread query, so that a page of thousands
   * of timers does not hold up the pops due meanwhile. Each copy is of one moment of its timer; all
   * are taken while the request is answered, and the requester already takes a page's copies to be
   * as old as its request (a pop it made since then wins over them).
   */
  private Timer[] snapshotInChunks(long[] ids, boolean[] callbackOut) {
    Timer[] out = new Timer[ids.length];
    for (int from = 0; from < ids.length; from += SNAPSHOT_TIMERS) {
      int start = from;
      int end = Math.min(ids.length, from + SNAPSHOT_TIMERS);
      service
          .queryBackground(
              store -> {
                snapshot(store, ids, start, end, out, callbackOut, service::popOut);
                return null;
              })
          .join();
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
    Listing cached = fresh ? null : cachedListing(requester, v);
    if (cached != null) {
      return cached;
    }
    Listing listing = order(listAll(), requester, v, now);
    // A requester that stopped paging (it died, or its run failed) never fetches its last page,
    // which is what lets its listing go; one older than the cache's time is of no use any more.
    listings.values().removeIf(old -> now - old.cursor().usedMillis >= CACHE_MILLIS);
    listings.put(requester, listing);
    return listing;
  }

  /** The requester's timers among those listed in {@code parts}, in pop-time order. */
  private static Listing order(List<Snapshot> parts, String requester, ClusterView v, long now) {
    // The requester's timers, in the order the walk visited them.
    int total = 0;
    for (Snapshot part : parts) {
      total += part.size;
    }
    long[] allIds = new long[total];
    long[] allPopTimes = new long[total];
    Object[] allReplicas = new Object[total];
    int count = 0;
    for (Snapshot part : parts) {
      for (int i = 0; i < part.size; i++) {
        if (v.replicasFor(part.ids[i], part.rfs[i]).contains(requester)) {
          allIds[count] = part.ids[i];
          allPopTimes[count] = part.popTimes[i];
          allReplicas[count] = part.replicas[i];
          count++;
        }
      }
    }
    int[] mine = byPopTime(lastVisitOfEachId(allIds, count), allPopTimes);
    long[] popTimes = new long[mine.length];
    long[] ids = new long[mine.length];
    List<List<String>> oldReplicas = new ArrayList<>(mine.length);
    for (int k = 0; k < mine.length; k++) {
      int i = mine[k];
      popTimes[k] = allPopTimes[i];
      ids[k] = allIds[i];
      @SuppressWarnings("unchecked")
      List<String> replicas = (List<String>) allReplicas[i];
      oldReplicas.add(replicas);
    }
    Cursor cursor = new Cursor();
    cursor.usedMillis = now;
    return new Listing(v.viewId(), popTimes, ids, oldReplicas, cursor);
  }

  /**
   * Every page of the requester's timers in {@code store}, as {@link #page} would serve them, but
   * all on the calling thread, which must own the store: for {@link ResyncWarmUp}, which runs this
   * code on a store of made-up timers so that the JIT has compiled it before a real resync.
   */
  static List<byte[]> allPages(
      TimerStore store, String requester, ClusterView v, int pageSize, long now) {
    List<Snapshot> parts = new ArrayList<>();
    long scanId = store.beginScan();
    ScanStep step = ScanStep.MORE;
    while (step != ScanStep.DONE) {
      Chunk chunk = chunk(store, scanId, CHUNK_TIMERS, t -> null);
      step = chunk.step();
      if (step == ScanStep.RESTARTED) {
        parts.clear();
      } else {
        parts.add(chunk.part());
      }
    }
    Listing listing = order(parts, requester, v, now);
    List<byte[]> pages = new ArrayList<>();
    for (int from = 0; from < listing.ids().length; ) {
      int to = pageEnd(listing.popTimes(), from, pageSize);
      Timer[] timers = snapshot(store, Arrays.copyOfRange(listing.ids(), from, to), t -> null);
      pages.add(write(timers, null, listing.oldReplicas().subList(from, to), v, now));
      from = to;
    }
    return pages;
  }

  /**
   * The positions of the first {@code count} ids, in order, leaving out all but the last of any id
   * listed more than once (the store's walk hands a timer over twice when the index moves it from
   * the visited part back to the unvisited part; the later copy is the newer).
   */
  static int[] lastVisitOfEachId(long[] ids, int count) {
    long[] sorted = Arrays.copyOf(ids, count);
    Arrays.sort(sorted);
    Set<Long> repeated = new HashSet<>();
    for (int i = 1; i < count; i++) {
      if (sorted[i] == sorted[i - 1]) {
        repeated.add(sorted[i]);
      }
    }
    boolean[] superseded = new boolean[count];
    int kept = count;
    if (!repeated.isEmpty()) {
      Set<Long> seen = new HashSet<>();
      for (int i = count - 1; i >= 0; i--) {
        if (repeated.contains(ids[i]) && !seen.add(ids[i])) {
          superseded[i] = true;
          kept--;
        }
      }
    }
    int[] out = new int[kept];
    int k = 0;
    for (int i = 0; i < count; i++) {
      if (!superseded[i]) {
        out[k++] = i;
      }
    }
    return out;
  }

  /**
   * {@code positions} (ascending) ordered by {@code popTimes[position]}, equal pop times in
   * position order: the listing's order. One primitive sort of (pop time, rank) keys packed into
   * longs, no boxing and no comparator; when the pop times span too much for that (timers years
   * apart in a very large listing), a sort of the same keys as pairs.
   */
  static int[] byPopTime(int[] positions, long[] popTimes) {
    int n = positions.length;
    if (n < 2) {
      return positions;
    }
    long min = Long.MAX_VALUE;
    long max = Long.MIN_VALUE;
    for (int p : positions) {
      min = Math.min(min, popTimes[p]);
      max = Math.max(max, popTimes[p]);
    }
    // The low bits hold the rank in positions (which is position order), the high bits the pop
    // time's offset from the earliest; both fit when the offset needs at most 63 - rankBits bits.
    int rankBits = 32 - Integer.numberOfLeadingZeros(n - 1);
    long span = max - min; // negative if it overflowed: then it does not fit either
    int[] out = new int[n];
    if (span >= 0 && (span >>> (63 - rankBits)) == 0) {
      long[] keys = new long[n];
      for (int k = 0; k < n; k++) {
        keys[k] = ((popTimes[positions[k]] - min) << rankBits) | k;
      }
      Arrays.sort(keys);
      long rankMask = (1L << rankBits) - 1;
      for (int k = 0; k < n; k++) {
        out[k] = positions[(int) (keys[k] & rankMask)];
      }
      return out;
    }
    long[][] pairs = new long[n][];
    for (int k = 0; k < n; k++) {
      pairs[k] = new long[] {popTimes[positions[k]], positions[k]};
    }
    Arrays.sort(
        pairs, (a, b) -> a[0] != b[0] ? Long.compare(a[0], b[0]) : Long.compare(a[1], b[1]));
    for (int k = 0; k < n; k++) {
      out[k] = (int) pairs[k][1];
    }
    return out;
  }

  /**
   * Copies every live timer's id, replication factor, pop time and replicas, a chunk of the store
   * per timer-thread query so that pops and commands run in between. Every timer live from the
   * first chunk to the last is listed (see {@link TimerStore#scan}), perhaps twice. Timers stored
   * while the walk is under way may be missed, which is fine: the requester asks once this node has
   * the current view, and timers created or replicated in since were replicated to their replicas
   * under that view by normal replication. Timers removed meanwhile may be listed or not; pages
   * leave out those gone by then. One walk at a time, as the store allows: a second requester's
   * listing waits for the first.
   */
  private List<Snapshot> listAll() {
    synchronized (walkLock) {
      List<Snapshot> parts = new ArrayList<>();
      long scanId = service.query(TimerStore::beginScan).join();
      boolean done = false;
      try {
        while (!done) {
          Chunk chunk =
              service
                  .queryBackground(store -> chunk(store, scanId, chunkTimers, service::popOut))
                  .join();
          if (chunk.step() == ScanStep.RESTARTED) {
            parts.clear(); // the index grew: the walk starts over
          } else {
            parts.add(chunk.part());
            done = chunk.step() == ScanStep.DONE;
          }
          if (!done) {
            Snapshot last = parts.isEmpty() ? null : parts.get(parts.size() - 1);
            betweenChunks.accept(last == null || last.size == 0 ? -1 : last.ids[last.size - 1]);
          }
        }
      } finally {
        if (!done) {
          // Failed or interrupted: don't leave the store tracking a walk nobody finishes.
          service.execute(store -> store.endScan(scanId));
        }
      }
      return parts;
    }
  }

  private record Chunk(ScanStep step, Snapshot part) {}

  /**
   * The timer thread's part of a listing: one chunk of the walk, no allocation per timer. Live
   * timers, and last pops whose callback is out (served as they were before it, see {@link
   * #snapshot(TimerStore, long[], int, int, Timer[], Function)}).
   */
  private static Chunk chunk(
      TimerStore store, long scanId, int maxTimers, Function<Timer, Pop> popsOut) {
    Snapshot out = new Snapshot(256);
    ScanStep step =
        store.scan(
            scanId,
            maxTimers,
            maxTimers * SLOTS_PER_TIMER,
            t -> {
              if (!t.isTombstone() || popsOut.apply(t) != null) {
                out.add(t);
              }
            });
    return new Chunk(step, out);
  }

  /** Live timers' id, replication factor, pop time and replicas, in flat arrays. */
  private static final class Snapshot {
    long[] ids;
    int[] rfs;
    long[] popTimes;
    Object[] replicas;
    int size;

    Snapshot(int capacity) {
      ids = new long[capacity];
      rfs = new int[capacity];
      popTimes = new long[capacity];
      replicas = new Object[capacity];
    }

    void add(Timer t) {
      if (size == ids.length) {
        int capacity = size * 2;
        ids = Arrays.copyOf(ids, capacity);
        rfs = Arrays.copyOf(rfs, capacity);
        popTimes = Arrays.copyOf(popTimes, capacity);
        replicas = Arrays.copyOf(replicas, capacity);
      }
      int i = size++;
      ids[i] = t.id();
      rfs[i] = t.replicationFactor();
      popTimes[i] = popTime(t);
      replicas[i] = t.replicas();
    }
  }

  /** The pop-time key of a timer: its next pop without this node's replica delay. */
  public static long popTime(Timer t) {
    return t.startMillis() + (t.sequence() + 1L) * t.intervalMillis();
  }

  /**
   * A page entry's field, beside {@code TimerID}, {@code OldReplicas} and {@code Timer}: {@code
   * true} when the timer's pop was being made here as the page was written, its callback still out
   * (the copy is of the timer before that pop). An original requester ignores it.
   */
  public static final String CALLBACK_OUT_FIELD = "CallbackOut";

  /**
   * A page's JSON, from the snapshots (null: no longer live, left out), start-time deltas from
   * {@code now}; {@code callbackOut} (or null) marks copies whose pop's callback is out. Any
   * thread.
   */
  private static byte[] write(
      Timer[] timers, boolean[] callbackOut, List<List<String>> old, ClusterView v, long now) {
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
        TimerJson.writeId(g, t.id());
        g.writeArrayFieldStart("OldReplicas");
        for (String r : old.get(i)) {
          g.writeString(r);
        }
        g.writeEndArray();
        g.writeFieldName("Timer");
        TimerJson.writeTo(g, t, now, v.replicasFor(t.id(), t.replicationFactor()), v.viewId());
        if (callbackOut != null && callbackOut[i]) {
          g.writeBooleanField(CALLBACK_OUT_FIELD, true);
        }
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

  /** The requester's listing if it is of this view and less than a minute old, else null. */
  private Listing cachedListing(String requester, ClusterView v) {
    Listing cached = listings.get(requester);
    if (cached != null
        && cached.viewId().equals(v.viewId())
        && clock.millis() - cached.cursor().usedMillis < CACHE_MILLIS) {
      return cached;
    }
    return null;
  }

  /** How many requesters' listings this node keeps, for tests. */
  int listingsKept() {
    return listings.size();
  }

  /** How many timers a leaving node keeps partial references of, for tests. */
  int referencesKept() {
    return service.query(store -> informed.size()).join();
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
              if (informed.size() >= informedSweepAt) {
                // Timers that popped for the last time, or were deleted, before every new replica
                // said it held them.
                informed.keySet().removeIf(id -> store.get(id) == null);
                informedSweepAt = Math.max(1024, informed.size() * 2);
              }
              return dropped;
            })
        .join();
  }
}
