package org.chronos.resync;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.function.LongConsumer;
import org.chronos.api.BadRequestException;
import org.chronos.cluster.ClusterConfig;
import org.chronos.cluster.ClusterView;
import org.chronos.testing.ManualClock;
import org.chronos.timer.CallbackOutcome;
import org.chronos.timer.Timer;
import org.chronos.timer.TimerEvents;
import org.chronos.timer.TimerService;
import org.chronos.timer.TimerStore;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The listing behind resync pages, made a few timers at a time while the timer thread goes on
 * storing, deleting, dropping and popping timers between the chunks.
 */
class ResyncSourceTest {
  private static final long T0 = 1_700_000_000_000L;
  private static final String A = "10.0.0.1:7253";
  private static final String B = "10.0.0.2:7253";
  private static final ObjectMapper JSON = new ObjectMapper();

  private final ManualClock clock = new ManualClock(T0);
  private final TimerService service =
      new TimerService(
          clock,
          1,
          10_000,
          100_000,
          (pop, done) -> {
            done.accept(CallbackOutcome.succeeded("200"));
            return org.chronos.timer.CallbackSink.Handed.SENT;
          },
          TimerEvents.NONE,
          TimerStore.Listener.NONE);
  // Two nodes and replication factor 2: B replicates every timer, so B's listing is all of them.
  private final ClusterView view =
      new ClusterView(new ClusterConfig(A, List.of(A, B), List.of(), List.of(), 0, 0));
  private final Random random = new Random(5);
  private long nextMillis = 1_000_000;

  // Serves pages in the tests that wait for them with a limit (a daemon thread: one left waiting
  // does not hold up the JVM).
  private final ExecutorService serving =
      Executors.newSingleThreadExecutor(
          r -> {
            Thread t = new Thread(r, "test-serving");
            t.setDaemon(true);
            return t;
          });

  @AfterEach
  void stop() throws InterruptedException {
    service.stop(5000);
    serving.shutdownNow();
  }

  /** Ids as timer ids come: some alone in their millisecond, some in runs of up to 8. */
  private List<Long> newIds(int count) {
    List<Long> ids = new ArrayList<>();
    while (ids.size() < count) {
      int perMilli = random.nextInt(3) == 0 ? 1 + random.nextInt(8) : 1;
      for (int sequence = 0; sequence < perMilli && ids.size() < count; sequence++) {
        ids.add((nextMillis << 30) | (1L << 20) | sequence);
      }
      nextMillis++;
    }
    return ids;
  }

  private List<Long> loneIds(int count) {
    List<Long> ids = new ArrayList<>();
    for (int i = 0; i < count; i++) {
      ids.add((nextMillis++ << 30) | (1L << 20));
    }
    return ids;
  }

  /** Pops hourly for a day: stays live throughout the test unless deleted or dropped. */
  private static Timer longLived(long id) {
    return new Timer(id, 2, T0, 3_600_000, 86_400_000, 0, "http://cb/x", new byte[0], List.of());
  }

  /** Pops once, then is a tombstone until its would-be next pop, then leaves the index. */
  private static Timer oneShot(long id, long dueInMillis) {
    return new Timer(id, 2, T0, dueInMillis, dueInMillis, 0, "http://cb/x", new byte[0], List.of());
  }

  private void storeAll(List<Timer> timers) {
    service
        .query(
            store -> {
              timers.forEach(store::put);
              return null;
            })
        .join();
  }

  private List<Long> listedIds(ResyncSource source) throws Exception {
    ResyncSource.Page page = source.page(B, view.viewId(), null, ResyncSource.MAX_PAGE);
    assertThat(page.more()).isFalse();
    List<Long> ids = new ArrayList<>();
    for (JsonNode entry : JSON.readTree(page.body()).get("Timers")) {
      ids.add(entry.get("TimerID").bigIntegerValue().longValue());
    }
    return ids;
  }

  @Test
  void shouldListEveryTimerLiveThroughoutTheListingWhileTimersComeAndGoBetweenChunks()
      throws Exception {
    service.start();
    // Lone ids, so every timer is an entry of its own in the index's map, which is about
    // two-thirds full, so many entries sit past their home slot. The worst case for a listing made
    // in chunks: the timer listed last leaves right after its chunk, so the index shifts the entry
    // after it, which the listing has not reached yet, back into its place.
    List<Long> live = new ArrayList<>(); // listed unless the test deletes or drops it
    List<Long> churning = new ArrayList<>(); // dropped between chunks, and replaced by new ones
    for (long id : loneIds(1300)) {
      (random.nextBoolean() ? live : churning).add(id);
    }
    Collections.shuffle(live, random);
    List<Long> all = new ArrayList<>(churning);
    all.addAll(live);
    Collections.shuffle(all, random);
    storeAll(all.stream().map(ResyncSourceTest::longLived).toList());
    int[] chunks = {0};
    LongConsumer betweenChunks =
        lastListed -> {
          chunks[0]++;
          clock.advance(10); // lets the one-shot timers pop and leave
          if (lastListed != -1) {
            drop(lastListed);
            live.remove(Long.valueOf(lastListed));
            churning.remove(Long.valueOf(lastListed));
          }
          if (chunks[0] % 8 == 0) {
            service.delete(live.remove(live.size() - 1), 2); // becomes a tombstone
          }
          for (int i = 0; i < 2; i++) {
            drop(churning.remove(random.nextInt(churning.size())));
          }
          for (long id : loneIds(lastListed == -1 ? 2 : 3)) {
            // Stored during the listing: may or may not be listed.
            service.store(random.nextInt(4) == 0 ? oneShot(id, 5) : longLived(id));
            churning.add(id);
          }
        };
    ResyncSource source = new ResyncSource(clock, service, () -> view, 4, betweenChunks);

    List<Long> listed = listedIds(source);

    assertThat(chunks[0]).as("chunks").isGreaterThan(100);
    assertThat(listed).doesNotHaveDuplicates();
    Set<Long> missed = new HashSet<>(live);
    missed.removeAll(listed);
    assertThat(missed).as("live throughout, not listed").isEmpty();
  }

  /** Drops the timer from the index, as a leaving node does once the new replicas hold it. */
  private void drop(long id) {
    service.execute(
        store -> {
          Timer t = store.get(id);
          if (t != null) { // a one-shot timer may have left already
            store.remove(t);
          }
        });
  }

  /**
   * The node stops while a peer pages through its listing: the timer thread ends between two
   * chunks. The page request fails at once instead of waiting forever for a chunk nothing will copy
   * (which held the node's stop for the serving executor's grace and left its threads stuck).
   */
  @Test
  void aListingUnderWayWhenTheTimerThreadStopsFailsInsteadOfWaitingForever() {
    service.start();
    storeAll(newIds(100).stream().map(ResyncSourceTest::longLived).toList());
    LongConsumer betweenChunks =
        lastListed -> {
          try {
            service.stop(5000);
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
          }
        };
    ResyncSource source = new ResyncSource(clock, service, () -> view, 4, betweenChunks);

    CompletableFuture<ResyncSource.Page> page =
        CompletableFuture.supplyAsync(
            () -> {
              try {
                return source.page(B, view.viewId(), null, ResyncSource.MAX_PAGE);
              } catch (BadRequestException e) {
                throw new AssertionError(e);
              }
            },
            serving);

    await().atMost(Duration.ofSeconds(5)).until(page::isDone);
    assertThat(service.isAlive()).isFalse();
    assertThat(page)
        .failsWithin(Duration.ZERO)
        .withThrowableOfType(ExecutionException.class)
        .havingRootCause()
        .isInstanceOf(IllegalStateException.class)
        .withMessageContaining("timer thread has stopped");
  }

  @Test
  void shouldListEachTimerOnceWhenTheIndexGrowsMidListing() throws Exception {
    service.start();
    List<Long> live = newIds(3000);
    storeAll(live.stream().map(ResyncSourceTest::longLived).toList());
    int[] chunks = {0};
    LongConsumer betweenChunks =
        lastListed -> {
          if (++chunks[0] == 30) {
            // Far more groups than the index has room for: it grows, and the walk starts over.
            storeAll(newIds(6000).stream().map(ResyncSourceTest::longLived).toList());
          }
        };
    ResyncSource source = new ResyncSource(clock, service, () -> view, 64, betweenChunks);

    List<Long> listed = listedIds(source);

    assertThat(chunks[0]).isGreaterThan(30);
    assertThat(listed).doesNotHaveDuplicates();
    assertThat(new HashSet<>(listed)).containsAll(live);
  }

  @Test
  void shouldKeepTheLastOfEachIdListedMoreThanOnceInOrder() {
    long[] ids = {5, 7, 5, 9, 7, 5, 11};
    assertThat(ResyncSource.lastVisitOfEachId(ids, ids.length)).containsExactly(3, 4, 5, 6);
    assertThat(ResyncSource.lastVisitOfEachId(ids, 3)).containsExactly(1, 2);
    assertThat(ResyncSource.lastVisitOfEachId(new long[] {3, 2, 1}, 3)).containsExactly(0, 1, 2);
  }

  /** The listing's order: by pop time, equal pop times in the order the walk visited them. */
  @Test
  void shouldOrderAListingByPopTimeKeepingVisitOrderForEqualPopTimes() {
    for (long spread : new long[] {10, 86_400_000L * 365 * 20, Long.MAX_VALUE}) {
      for (int n : new int[] {0, 1, 2, 3, 1000, 70_000}) {
        long[] popTimes = new long[n];
        for (int i = 0; i < popTimes.length; i++) {
          // Many equal pop times for a small spread; for Long.MAX_VALUE, values of both signs.
          popTimes[i] =
              T0 + (spread == Long.MAX_VALUE ? random.nextLong() : random.nextLong(spread));
        }
        int[] positions =
            java.util.stream.IntStream.range(0, popTimes.length).filter(i -> i % 7 != 3).toArray();
        List<Integer> expected = new ArrayList<>();
        for (int p : positions) {
          expected.add(p);
        }
        // A stable sort by pop time alone: ties stay in position order.
        expected.sort(java.util.Comparator.comparingLong(p -> popTimes[p]));

        int[] ordered = ResyncSource.byPopTime(positions, popTimes);

        assertThat(ordered)
            .as("spread %d, %d timers", spread, n)
            .containsExactly(expected.stream().mapToInt(Integer::intValue).toArray());
      }
    }
  }

  /**
   * The resync warm-up serves pages from a store of its own on its own thread ({@link
   * ResyncSource#allPages}): they must be what a peer's request gets, or the warm-up would compile
   * other code than a resync runs.
   */
  @Test
  void shouldServeFromACallersStoreThePagesARequesterGets() throws Exception {
    service.start();
    List<Long> ids = newIds(2500);
    // Runs of a few equal pop times, which a page must not split.
    java.util.function.LongFunction<Timer> timer =
        id -> {
          long start = T0 + ids.indexOf(id) % 700;
          Timer t =
              new Timer(
                  id, 2, start, 3_600_000, 86_400_000, 0, "http://cb/x", new byte[3], List.of());
          t.setReplicas(List.of(A));
          return t;
        };
    storeAll(ids.stream().map(timer::apply).toList());
    TimerStore own = new TimerStore(8, T0, TimerStore.Listener.NONE);
    ids.forEach(id -> own.put(timer.apply(id)));
    ResyncSource source = new ResyncSource(clock, service, () -> view);

    byte[] served = source.page(B, view.viewId(), null, ResyncSource.MAX_PAGE).body();
    List<byte[]> whole = ResyncSource.allPages(own, B, view, ResyncSource.MAX_PAGE, clock.millis());
    List<byte[]> paged = ResyncSource.allPages(own, B, view, 1000, clock.millis());

    assertThat(whole).hasSize(1);
    assertThat(new String(whole.get(0), java.nio.charset.StandardCharsets.UTF_8))
        .isEqualTo(new String(served, java.nio.charset.StandardCharsets.UTF_8));
    assertThat(paged).hasSizeGreaterThanOrEqualTo(3);
    List<Long> pagedIds = new ArrayList<>();
    long lastPopOfPreviousPage = Long.MIN_VALUE;
    for (byte[] page : paged) {
      JsonNode entries = JSON.readTree(page).get("Timers");
      assertThat(entries.size()).isLessThanOrEqualTo(1000);
      long first = startOf(entries.get(0));
      assertThat(first)
          .as("a page starts after the last pop time of the one before")
          .isGreaterThan(lastPopOfPreviousPage);
      for (JsonNode entry : entries) {
        pagedIds.add(entry.get("TimerID").bigIntegerValue().longValue());
      }
      lastPopOfPreviousPage = startOf(entries.get(entries.size() - 1));
    }
    List<Long> servedIds = new ArrayList<>();
    for (JsonNode entry : JSON.readTree(served).get("Timers")) {
      servedIds.add(entry.get("TimerID").bigIntegerValue().longValue());
    }
    assertThat(pagedIds).isEqualTo(servedIds).hasSize(2500);
  }

  @Test
  void shouldGoOnFromItsListingWhenAPagesTimersPoppedAfterTheListingWasMade() throws Exception {
    service.start();
    // Three pages of ten, listed by pop time 10 ms apart: the middle page's timers pop every
    // second, the others hourly.
    List<Long> ids = loneIds(30);
    List<Timer> timers = new ArrayList<>();
    for (int i = 0; i < 30; i++) {
      long interval = i >= 10 && i < 20 ? 1000 : 3_600_000;
      long due = T0 + 1000 + i * 10L;
      timers.add(
          new Timer(
              ids.get(i),
              2,
              due - interval,
              interval,
              86_400_000,
              0,
              "http://cb/x",
              new byte[0],
              List.of()));
    }
    storeAll(timers);
    ResyncSource source = new ResyncSource(clock, service, () -> view);

    ResyncSource.Page first = source.page(B, view.viewId(), null, 10);
    // After the listing, the first two pages' timers pop; the last page's are not due yet.
    clock.advance(1195);
    service.wakeUp();
    await()
        .atMost(java.time.Duration.ofSeconds(10))
        .until(
            () ->
                service
                    .query(store -> ids.subList(0, 20).stream().allMatch(id -> popped(store, id)))
                    .join());
    ResyncSource.Page second = source.page(B, view.viewId(), first.nextTimeFrom(), 10);
    long latestPopTimeOnSecond = 0;
    for (JsonNode entry : JSON.readTree(second.body()).get("Timers")) {
      latestPopTimeOnSecond = Math.max(latestPopTimeOnSecond, popTimeOf(entry));
    }
    ResyncSource.Page third = source.page(B, view.viewId(), second.nextTimeFrom(), 10);

    assertThat(idsOn(first)).isEqualTo(ids.subList(0, 10));
    assertThat(idsOn(second)).isEqualTo(ids.subList(10, 20));
    // The middle page holds its timers as they are now, a second later than listed: past every
    // timer of the last page, which a requester going on from that pop time would never get.
    assertThat(latestPopTimeOnSecond).isGreaterThan(T0 + 1000 + 29 * 10L);
    assertThat(second.more()).isTrue();
    assertThat(second.nextTimeFrom()).isEqualTo(T0 + 1000 + 19 * 10L);
    assertThat(idsOn(third)).isEqualTo(ids.subList(20, 30));
    assertThat(third.more()).isFalse();
  }

  /**
   * A listing goes when its requester fetches the last page. One that stops paging (it died, or its
   * run failed) would otherwise keep its listing, about 20 bytes a timer, for good.
   */
  @Test
  void aListingWhoseRequesterStoppedPagingGoesOnceItIsOld() throws Exception {
    String c = "10.0.0.3:7253";
    ClusterView three =
        new ClusterView(new ClusterConfig(A, List.of(A, B, c), List.of(), List.of(), 0, 0));
    service.start();
    storeDistinct(50); // pop times of their own: a page never ends inside a run of equal ones
    ResyncSource source = new ResyncSource(clock, service, () -> three);

    assertThat(source.page(B, three.viewId(), null, 1).more()).isTrue(); // and B goes no further
    assertThat(source.listingsKept()).isEqualTo(1);
    clock.advance(61_000);
    source.page(c, three.viewId(), null, ResyncSource.MAX_PAGE);

    assertThat(source.listingsKept()).as("C's last page taken, B's listing too old").isZero();
  }

  /**
   * A leaving node notes which new replicas said they hold each timer, until all have. A timer that
   * popped for the last time or was deleted before then must not keep its note for good.
   */
  @Test
  void aLeavingNodeLetsGoTheReferencesOfTimersItNoLongerHolds() {
    String c = "10.0.0.3:7253";
    ClusterView leaving =
        new ClusterView(new ClusterConfig(A, List.of(B, c), List.of(), List.of(A), 0, 0));
    service.start();
    List<Long> gone = newIds(1100);
    storeAll(gone.stream().map(ResyncSourceTest::longLived).toList());
    ResyncSource source = new ResyncSource(clock, service, () -> leaving);
    source.references(gone.stream().map(id -> new long[] {id, 0}).toList()); // 1 of 2 replicas
    assertThat(source.referencesKept()).isEqualTo(1100);
    service
        .query(
            store -> {
              gone.forEach(id -> store.remove(store.get(id)));
              return null;
            })
        .join();

    // Enough more partial references to reach the size at which the others are looked at again.
    List<Long> more = newIds(1100);
    storeAll(more.stream().map(ResyncSourceTest::longLived).toList());
    source.references(more.stream().map(id -> new long[] {id, 0}).toList());

    assertThat(source.referencesKept()).isEqualTo(1100);
  }

  /** Timers popping in an hour or more, each at a time of its own. */
  private List<Long> storeDistinct(int count) {
    List<Timer> timers = new ArrayList<>();
    List<Long> ids = newIds(count);
    for (long id : ids) {
      timers.add(
          new Timer(
              id,
              2,
              T0,
              3_600_000 + timers.size(),
              86_400_000,
              0,
              "http://cb/x",
              new byte[0],
              List.of()));
    }
    storeAll(timers);
    return ids;
  }

  /**
   * An original requester pages on from where its listing stopped, whatever its time-from says, for
   * as long as it goes on paging: a run of many pages lasts longer than a minute.
   */
  @Test
  void anOriginalRequesterPagesOnThroughItsListingForAsLongAsItPages() throws Exception {
    service.start();
    List<Long> ids = storeDistinct(30);
    ResyncSource source = new ResyncSource(clock, service, () -> view);

    ResyncSource.Page first = source.page(B, view.viewId(), null, 10);
    clock.advance(40_000);
    ResyncSource.Page second = source.pageFollowing(B, view.viewId(), "12345", 10);
    clock.advance(40_000);
    ResyncSource.Page third = source.pageFollowing(B, view.viewId(), "4294967295", 10);

    List<Long> paged = new ArrayList<>(idsOn(first));
    paged.addAll(idsOn(second));
    paged.addAll(idsOn(third));
    assertThat(paged).isEqualTo(ids);
    assertThat(third.more()).isFalse();
  }

  /**
   * The same time-from again is a retry, once; a third time the requester goes round in circles.
   */
  @Test
  void theSameTimeFromAgainGetsThePageAgainOnceAndThenTheNext() throws Exception {
    service.start();
    List<Long> ids = storeDistinct(30);
    ResyncSource source = new ResyncSource(clock, service, () -> view);

    source.page(B, view.viewId(), null, 10);
    ResyncSource.Page second = source.pageFollowing(B, view.viewId(), "777", 10);
    ResyncSource.Page again = source.pageFollowing(B, view.viewId(), "777", 10);
    ResyncSource.Page third = source.pageFollowing(B, view.viewId(), "777", 10);

    assertThat(idsOn(second)).isEqualTo(ids.subList(10, 20));
    assertThat(idsOn(again)).isEqualTo(ids.subList(10, 20));
    assertThat(idsOn(third)).isEqualTo(ids.subList(20, 30));
  }

  private static boolean popped(TimerStore store, long id) {
    Timer t = store.get(id);
    return t != null && t.sequence() == 1;
  }

  private static List<Long> idsOn(ResyncSource.Page page) throws java.io.IOException {
    List<Long> ids = new ArrayList<>();
    for (JsonNode entry : JSON.readTree(page.body()).get("Timers")) {
      ids.add(entry.get("TimerID").bigIntegerValue().longValue());
    }
    return ids;
  }

  /** An entry's next pop time, as a requester reads it (the page writes the absolute start). */
  private static long popTimeOf(JsonNode entry) {
    JsonNode timing = entry.path("Timer").path("timing");
    return timing.path("start-time").asLong()
        + (timing.path("sequence-number").asLong() + 1) * timing.path("interval").asLong() * 1000;
  }

  /** A page entry's start (all test timers have the same interval and sequence number 0). */
  private static long startOf(JsonNode entry) {
    return entry.path("Timer").path("timing").path("start-time").asLong();
  }
}
