package org.chronos.bench;

import com.sun.management.HotSpotDiagnosticMXBean;
import java.lang.management.GarbageCollectorMXBean;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryMXBean;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.TreeSet;
import java.util.function.IntFunction;
import org.chronos.timer.Clock;
import org.chronos.timer.Timer;
import org.chronos.timer.TimerIdGenerator;
import org.chronos.timer.TimerStore;

/**
 * Heap bytes per stored timer: ours ({@link Timer} in a {@link TimerStore}) against a naive object
 * graph for the same timer. A plain main; run it with a fixed heap:
 *
 * <pre>java -Xms4g -Xmx4g -cp "$(bench/cp.sh)" org.chronos.bench.MemoryPerTimer [count]</pre>
 *
 * <p>Each timer is what a client's {@code POST /timers} leaves on a node: replication factor 2, a
 * 2-element replica list, one 40-character callback URI shared by every timer (the node interns
 * it), a distinct 100-byte opaque, a cluster view id shared by every timer, interval and repeat-for
 * spread over an hour, no tags. Method: force GC (several {@code System.gc()} and {@link
 * MemoryMXBean#gc()}) and read used heap before and after building {@code count} timers (default
 * 1M) while holding them reachable; the difference divided by the count is the figure. It includes
 * each structure's own index and ordering (hash table slack, tree nodes, wheel).
 *
 * <p>Variants printed:
 *
 * <ul>
 *   <li><b>ours</b>: as the brief specifies, the replica list is one shared list.
 *   <li><b>ours, per-timer replica list</b>: what production does today, since {@code
 *       ClusterView.replicasFor} returns a fresh {@code List.of(...)} per timer.
 *   <li><b>naive</b>: {@code HashMap<Long, NaiveTimer>} by id plus a {@code TreeSet} ordered by
 *       (deadline, id) for the next pop (O(log n) cancel, which a {@code PriorityQueue} lacks);
 *       boxed {@code Long}/{@code Integer} fields, an {@code ArrayList} copy of the replicas, the
 *       opaque as its own {@code String}, and the URI as the JSON parser hands it over (a new
 *       {@code String} per request).
 *   <li><b>naive, URI shared</b>: the same with the URI interned as ours does, to show how much of
 *       the difference is only that.
 * </ul>
 */
public final class MemoryPerTimer {
  static final String URI = "http://10.20.30.40:8080/chronos/callback"; // 40 characters
  static final List<String> REPLICAS = List.of("10.0.0.1:7253", "10.0.0.2:7253");
  static final String VIEW_ID = "1152921504606846976";
  static final int OPAQUE_BYTES = 100;
  static final long SPREAD_MILLIS = 3_600_000L;

  private static final MemoryMXBean MEMORY = ManagementFactory.getMemoryMXBean();

  /** A straightforward first implementation's timer. */
  static final class NaiveTimer {
    Long id;
    Integer replicationFactor;
    Long startTime;
    Long interval;
    Long repeatFor;
    Integer sequenceNumber;
    Long deadline;
    String callbackUri;
    String opaque;
    List<String> replicas;
    String clusterViewId;
    List<String> sites; // null: not sent by clients
    List<String> tags; // null: no statistics section
  }

  /** The naive store: id index plus ordering by deadline. */
  static final class NaiveStore {
    final HashMap<Long, NaiveTimer> byId = new HashMap<>();
    final TreeSet<NaiveTimer> byDeadline =
        new TreeSet<>(
            Comparator.comparingLong((NaiveTimer t) -> t.deadline).thenComparingLong(t -> t.id));

    void put(NaiveTimer t) {
      byId.put(t.id, t);
      byDeadline.add(t);
    }
  }

  public static void main(String[] args) throws Exception {
    int count = args.length > 0 ? Integer.parseInt(args[0]) : 1_000_000;
    if (URI.length() != 40) {
      throw new AssertionError("URI must be 40 characters: " + URI.length());
    }
    printJvm();
    System.out.printf(Locale.ROOT, "building %,d timers per variant%n%n", count);

    long now = System.currentTimeMillis();
    TimerIdGenerator ids = new TimerIdGenerator(Clock.SYSTEM, 0, 1);
    long[] idOf = new long[count];
    long[] intervalOf = new long[count];
    SplittableRandom random = new SplittableRandom(42);
    for (int i = 0; i < count; i++) {
      idOf[i] = ids.next();
      intervalOf[i] = 1000 * (1 + random.nextLong(SPREAD_MILLIS / 1000));
    }

    double ours =
        measure(
            "ours (Timer in TimerStore, shared replica list)",
            count,
            n -> {
              TimerStore store = new TimerStore(1, now, TimerStore.Listener.NONE);
              for (int i = 0; i < n; i++) {
                store.put(ourTimer(idOf[i], now, intervalOf[i], opaqueBytes(i), REPLICAS));
              }
              return store;
            });
    // The id index groups 8 consecutive ids; a node creating ~1,000 timers a second makes one id
    // per millisecond, so no two share a group.
    long[] loneIdOf = new long[count];
    for (int i = 0; i < count; i++) {
      loneIdOf[i] = ((now + i) << 30) | (1L << 20);
    }
    double oursLone =
        measure(
            "ours, one id per millisecond (no two ids share an index group)",
            count,
            n -> {
              TimerStore store = new TimerStore(1, now, TimerStore.Listener.NONE);
              for (int i = 0; i < n; i++) {
                store.put(ourTimer(loneIdOf[i], now, intervalOf[i], opaqueBytes(i), REPLICAS));
              }
              return store;
            });
    double oursProduction =
        measure(
            "ours, per-timer replica list (as ClusterView.replicasFor returns today)",
            count,
            n -> {
              TimerStore store = new TimerStore(1, now, TimerStore.Listener.NONE);
              for (int i = 0; i < n; i++) {
                List<String> replicas = List.of(REPLICAS.toArray(new String[0]));
                store.put(ourTimer(idOf[i], now, intervalOf[i], opaqueBytes(i), replicas));
              }
              return store;
            });
    double naive =
        measure(
            "naive (HashMap + TreeSet, boxed fields, String opaque, URI per request)",
            count,
            n -> {
              NaiveStore store = new NaiveStore();
              for (int i = 0; i < n; i++) {
                store.put(
                    naiveTimer(idOf[i], now, intervalOf[i], i, new String(URI.toCharArray())));
              }
              return store;
            });
    double naiveShared =
        measure(
            "naive, URI shared (interned like ours)",
            count,
            n -> {
              NaiveStore store = new NaiveStore();
              for (int i = 0; i < n; i++) {
                store.put(naiveTimer(idOf[i], now, intervalOf[i], i, URI));
              }
              return store;
            });

    System.out.println();
    System.out.printf(
        Locale.ROOT,
        "RESULT memory: ours %.0f B/timer (goal <= 400), naive %.0f B/timer (ours = %.2fx naive)%n",
        ours,
        naive,
        ours / naive);
    System.out.printf(
        Locale.ROOT,
        "RESULT memory: ours with one id per millisecond %.0f B/timer; ours with per-timer replica list (production today) %.0f B/timer; naive with shared URI %.0f B/timer%n",
        oursLone,
        oursProduction,
        naiveShared);
    System.out.println(
        "reproduce: java -Xms4g -Xmx4g -cp \"$(bench/cp.sh)\" org.chronos.bench.MemoryPerTimer "
            + (args.length > 0 ? args[0] : ""));
  }

  static Timer ourTimer(long id, long now, long interval, byte[] opaque, List<String> replicas) {
    Timer t = new Timer(id, 2, now, interval, interval, 0, URI, opaque, List.of());
    t.setReplicas(replicas);
    t.setClusterViewId(VIEW_ID);
    t.setPopDelayMillis(0);
    return t;
  }

  static NaiveTimer naiveTimer(long id, long now, long interval, int i, String uri) {
    NaiveTimer t = new NaiveTimer();
    t.id = id;
    t.replicationFactor = 2;
    t.startTime = now;
    t.interval = interval;
    t.repeatFor = Long.valueOf(interval); // boxed separately, as a parser would
    t.sequenceNumber = 0;
    t.deadline = now + interval;
    t.callbackUri = uri;
    t.opaque = new String(opaqueBytes(i), StandardCharsets.ISO_8859_1);
    t.replicas = new ArrayList<>(REPLICAS);
    t.clusterViewId = VIEW_ID;
    return t;
  }

  /** A distinct 100-byte ASCII opaque: the index in decimal, padded with letters. */
  static byte[] opaqueBytes(int i) {
    byte[] b = new byte[OPAQUE_BYTES];
    Arrays.fill(b, (byte) 'o');
    byte[] digits = Integer.toString(i).getBytes(StandardCharsets.US_ASCII);
    System.arraycopy(digits, 0, b, 0, digits.length);
    return b;
  }

  /**
   * Builds a structure of n timers and returns heap growth per timer, holding it until measured.
   */
  static double measure(String label, int n, IntFunction<Object> build)
      throws InterruptedException {
    long before = usedAfterGc();
    long startNanos = System.nanoTime();
    Object structure = build.apply(n);
    long buildMillis = (System.nanoTime() - startNanos) / 1_000_000;
    long after = usedAfterGc();
    java.lang.ref.Reference.reachabilityFence(structure);
    double perTimer = (after - before) / (double) n;
    System.out.printf(
        Locale.ROOT,
        "%-78s %7.1f B/timer  (heap +%,d B; built in %,d ms)%n",
        label,
        perTimer,
        after - before,
        buildMillis);
    structure = null;
    return perTimer;
  }

  static long usedAfterGc() throws InterruptedException {
    long previous = Long.MAX_VALUE;
    for (int i = 0; i < 10; i++) {
      System.gc();
      MEMORY.gc();
      Thread.sleep(50);
      long used = MEMORY.getHeapMemoryUsage().getUsed();
      if (i >= 3 && Math.abs(previous - used) < 64 * 1024) {
        return used;
      }
      previous = used;
    }
    return MEMORY.getHeapMemoryUsage().getUsed();
  }

  static void printJvm() {
    HotSpotDiagnosticMXBean hotspot =
        ManagementFactory.getPlatformMXBean(HotSpotDiagnosticMXBean.class);
    List<String> gcs = new ArrayList<>();
    for (GarbageCollectorMXBean gc : ManagementFactory.getGarbageCollectorMXBeans()) {
      gcs.add(gc.getName());
    }
    System.out.printf(
        Locale.ROOT,
        "JVM %s %s; max heap %,d MB; compressed oops %s; object alignment %s; GC %s%n",
        System.getProperty("java.vm.name"),
        Runtime.version(),
        Runtime.getRuntime().maxMemory() >> 20,
        hotspot.getVMOption("UseCompressedOops").getValue(),
        hotspot.getVMOption("ObjectAlignmentInBytes").getValue(),
        gcs);
  }
}
