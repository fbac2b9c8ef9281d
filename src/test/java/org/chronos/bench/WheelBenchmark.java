package org.chronos.bench;

import io.netty.util.HashedWheelTimer;
import io.netty.util.Timeout;
import io.netty.util.TimerTask;
import io.netty.util.internal.logging.InternalLoggerFactory;
import io.netty.util.internal.logging.JdkLoggerFactory;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import org.chronos.timer.CallbackSink;
import org.chronos.timer.Clock;
import org.chronos.timer.Pop;
import org.chronos.timer.Timer;
import org.chronos.timer.TimerEvents;
import org.chronos.timer.TimerIdGenerator;
import org.chronos.timer.TimerService;
import org.chronos.timer.TimerStore;
import org.chronos.timer.TimerWheel;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.BenchmarkParams;
import org.openjdk.jmh.infra.IterationParams;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.IterationType;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.options.Options;
import org.openjdk.jmh.runner.options.OptionsBuilder;

/**
 * Timer structures holding 1M pending timers (deadlines spread uniformly over one hour): how fast
 * can one more timer be scheduled and cancelled, or scheduled and expired? Compares our {@link
 * TimerStore} (id index + hierarchical wheel, what the timer thread uses) with Netty's {@link
 * HashedWheelTimer} and the JDK's {@link ScheduledThreadPoolExecutor}.
 *
 * <p>Run it with {@code bench/run-all.sh}, or alone with {@code java -cp "$(bench/cp.sh)"
 * org.chronos.bench.WheelBenchmark [include regex...] [-p name=values]}; {@link #main} runs JMH
 * (one fork per benchmark, 2x5 s warm-up, 3x5 s measurement: about 6 minutes for all 11) and prints
 * a summary with the ratios and the CPU each design spends per operation.
 *
 * <h2>Making the comparison fair</h2>
 *
 * <ul>
 *   <li>Every operation allocates what production allocates: a {@link Timer} for ours (the HTTP
 *       layer builds one per request), a {@code HashedWheelTimeout} inside Netty, a {@code
 *       ScheduledFutureTask} inside STPE. Random delays come from one pre-computed table shared by
 *       all three.
 *   <li>Ours gets its ids from {@link TimerIdGenerator}, as the HTTP layer does ({@code millis <<
 *       30 | node << 20 | sequence}, {@value #IDS_PER_MILLI} ids per millisecond), so the id index
 *       sees keys shaped like production's rather than 0, 1, 2...; making them (a compare-and-set)
 *       is counted in ours although a node does it on the request thread. Ours cancels by id, as a
 *       DELETE does: look the timer up in the index, then remove it from the index and the wheel.
 *       (A real DELETE then stores a tombstone in its place; that is not measured here.)
 *   <li><b>schedule+cancel</b>: each operation schedules a new timer and cancels the one it
 *       scheduled {@value #LAG} operations earlier, so what is cancelled really sits in the
 *       structure (for Netty: already moved from its hand-off queue into a wheel bucket by the
 *       worker), and the pending count stays at 1M + {@value #LAG}.
 *   <li><b>schedule+expire</b>: each operation schedules a timer due 1 ms (one tick) from now by
 *       the wall clock; the timers expire about a millisecond later and the benchmark counts them.
 *       Ours is driven like the timer thread drives it: every operation also calls {@code
 *       poll(System.currentTimeMillis())}, which hands out whatever has come due. Netty (tick 1 ms)
 *       and STPE expire on their own threads.
 *   <li>Netty and STPE do part of their work on their own thread: Netty's caller only enqueues adds
 *       and cancels and its worker applies them at the next tick. Measuring only the caller would
 *       credit Netty with work it has merely postponed, so the benchmark thread is never allowed
 *       more than {@value #WINDOW} operations ahead of the worker (cancels not yet applied for
 *       schedule+cancel, timers not yet expired for schedule+expire); it parks until the worker
 *       catches up. The reported rate is therefore the rate the whole pipeline sustains, and after
 *       each iteration the benchmark waits for the backlog to drain (not timed). The window is far
 *       larger than one tick's worth of work, so the worker's 1 ms sleeps never starve the
 *       pipeline.
 *   <li>That still lets Netty and STPE use the second core for free, which ours (one thread) does
 *       not. So each iteration also records the CPU time of the benchmark thread and of the
 *       implementation's own thread; the summary prints CPU ns per operation next to the rate. On a
 *       loaded node the CPU figure is the one that matters.
 *   <li>{@code oursWheel} is the bare {@link TimerWheel} with the same {@link Timer} entries and no
 *       id index. Netty and STPE have no id index either (the caller keeps the handle); a Chronos
 *       node needs one for PUT and DELETE by id, so the store is the production figure and the bare
 *       wheel shows what the index costs.
 *   <li>The forks run the JVM's default collector (G1), as the node does. The store's id index
 *       writes references into a large old-generation array, which G1's write barrier and
 *       remembered-set refinement made expensive while every insert went to a random slot; {@code
 *       bench/run-all.sh} therefore also runs ours and Netty with {@code -XX:+UseParallelGC} (see
 *       bench/README.md).
 *   <li>{@code oursService} is the production path for expiry: {@link TimerService#store} from the
 *       caller thread (a bounded command queue) and the timer thread pops, records each pop
 *       (sequence number, tombstone kept until the next would-be pop) and hands it to a callback
 *       sink that does nothing. It does more work per timer than the others (two passes through the
 *       wheel), and is there to show what the thread hop costs.
 *   <li>Netty is run with its default wheel of 512 buckets and with 65,536 buckets: with 1M timers
 *       over an hour its worker walks ~2,000 timers per bucket on every tick at the default size,
 *       which is Netty's design, but a user who knows the population would size the wheel up.
 * </ul>
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Fork(
    value = 1,
    jvmArgsAppend = {"-Xms2g", "-Xmx2g"})
@Warmup(iterations = 2, time = 5)
@Measurement(iterations = 3, time = 5)
public class WheelBenchmark {
  /** Timers already pending when a benchmark starts. */
  static final int PENDING = 1_000_000;

  /** Their deadlines are spread uniformly over this span. */
  static final long SPREAD_MILLIS = 3_600_000L;

  /** schedule+cancel cancels the timer scheduled this many operations earlier. */
  static final int LAG = 1 << 16;

  /** How far the caller may run ahead of an implementation's own thread. */
  static final int WINDOW = 1 << 18;

  /** Ids of the benchmark's own timers start here; background timers use ids below. */
  static final long BENCH_IDS = 1L << 40;

  static final String URI = "http://10.0.0.1:8080/callbacks/timer-pop";
  static final byte[] OPAQUE = new byte[100];
  static final List<String> REPLICAS = List.of("10.0.0.1:7253", "10.0.0.2:7253");

  private static final int DELAY_MASK = (1 << 16) - 1;
  private static final long[] DELAYS = new long[DELAY_MASK + 1];

  static {
    SplittableRandom random = new SplittableRandom(42);
    for (int i = 0; i < DELAYS.length; i++) {
      DELAYS[i] = 1 + random.nextLong(SPREAD_MILLIS);
    }
    // Netty logs through slf4j/logback, which defaults to DEBUG without a config file.
    InternalLoggerFactory.setDefaultFactory(JdkLoggerFactory.INSTANCE);
  }

  /**
   * Timer ids for ours come from {@link TimerIdGenerator} (millis << 30 | node << 20 | sequence),
   * on a clock that advances one millisecond every {@value #IDS_PER_MILLI} ids: the id density of a
   * node creating ~16,000 timers a second, about what one node sustains in the creation benchmark
   * (section 4 of bench/README.md). The id index is sensitive to the shape of its keys, so they
   * must look like production's.
   */
  static final int IDS_PER_MILLI = 16;

  /** A clock for the id generator only: advances 1 ms every {@value #IDS_PER_MILLI} readings. */
  static final class IdClock implements Clock {
    private final long startMillis;
    private long readings;

    IdClock(long startMillis) {
      this.startMillis = startMillis;
    }

    @Override
    public long millis() {
      return startMillis + readings++ / IDS_PER_MILLI;
    }
  }

  static Timer newTimer(long id, long startMillis, long delayMillis) {
    Timer t = new Timer(id, 2, startMillis, delayMillis, delayMillis, 0, URI, OPAQUE, List.of());
    t.setReplicas(REPLICAS);
    return t;
  }

  // ---------------------------------------------------------------------------------------------
  // CPU accounting shared by the states: caller thread + the implementation's thread, per op.

  abstract static class CpuAccounted {
    private static final ThreadMXBean THREADS = ManagementFactory.getThreadMXBean();
    volatile Thread worker;
    long ops;
    private long opsAtStart;
    private long callerCpuAtStart;
    private long workerCpuAtStart;

    final ThreadFactory recordingFactory(String name) {
      return r -> {
        Thread t = new Thread(r, name);
        t.setDaemon(true);
        worker = t;
        return t;
      };
    }

    private long workerCpu() {
      Thread w = worker;
      return w == null ? 0 : Math.max(0, THREADS.getThreadCpuTime(w.getId()));
    }

    @Setup(Level.Iteration)
    public void startIteration() {
      opsAtStart = ops;
      callerCpuAtStart = THREADS.getCurrentThreadCpuTime();
      workerCpuAtStart = workerCpu();
    }

    @TearDown(Level.Iteration)
    public void endIteration(BenchmarkParams benchmark, IterationParams iteration)
        throws IOException {
      drain();
      long n = ops - opsAtStart;
      if (n == 0 || iteration.getType() != IterationType.MEASUREMENT) {
        return;
      }
      double caller = (THREADS.getCurrentThreadCpuTime() - callerCpuAtStart) / (double) n;
      double other = (workerCpu() - workerCpuAtStart) / (double) n;
      String line =
          String.format(
              Locale.ROOT,
              "%s\t%s\t%.1f\t%.1f%n",
              shortName(benchmark),
              params(benchmark),
              caller,
              other);
      Path file =
          Path.of(System.getProperty("chronos.bench.cpuFile", "target/bench/wheel-cpu.tsv"));
      Files.createDirectories(file.toAbsolutePath().getParent());
      Files.writeString(
          file, line, StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
    }

    /** Waits (untimed) until the implementation has done all the work handed to it. */
    abstract void drain();
  }

  static String shortName(BenchmarkParams b) {
    String name = b.getBenchmark();
    return name.substring(name.lastIndexOf('.') + 1);
  }

  static String params(BenchmarkParams b) {
    StringBuilder sb = new StringBuilder();
    for (String key : b.getParamsKeys()) {
      sb.append(sb.length() == 0 ? "" : ",").append(key).append('=').append(b.getParam(key));
    }
    return sb.length() == 0 ? "-" : sb.toString();
  }

  static void parkBriefly() {
    LockSupport.parkNanos(50_000);
  }

  // ---------------------------------------------------------------------------------------------
  // Ours: the TimerStore the timer thread owns (single-threaded, driven by the caller).

  @State(Scope.Thread)
  public static class Ours extends CpuAccounted implements TimerWheel.Handler<Timer> {
    TimerStore store;
    TimerIdGenerator ids;
    long[] ring;
    int cursor;
    long frozenNow;
    long fired;
    long expireScheduled;
    long lastSetUpId;

    @Setup(Level.Trial)
    public void setUp() {
      frozenNow = System.currentTimeMillis();
      ids = new TimerIdGenerator(new IdClock(frozenNow - PENDING / IDS_PER_MILLI), 0, 1);
      store = new TimerStore(1, frozenNow, TimerStore.Listener.NONE);
      SplittableRandom random = new SplittableRandom(7);
      for (int i = 0; i < PENDING; i++) {
        store.put(newTimer(ids.next(), frozenNow, 1 + random.nextLong(SPREAD_MILLIS)));
      }
      ring = new long[LAG];
      for (int i = 0; i < LAG; i++) {
        Timer t = newTimer(ids.next(), frozenNow, DELAYS[i & DELAY_MASK]);
        store.put(t);
        ring[i] = t.id();
      }
      lastSetUpId = ring[LAG - 1];
    }

    @Override
    public boolean onExpiry(Timer timer) {
      store.remove(timer);
      if (timer.id() > lastSetUpId) {
        fired++;
      }
      return true;
    }

    @Override
    void drain() {
      // schedule+expire only: everything scheduled is due within ~1 ms.
      while (expireScheduled > fired) {
        store.poll(System.currentTimeMillis(), this, 10_000);
      }
    }
  }

  /**
   * Ours, schedule+cancel: a new timer with a new id (made by {@link TimerIdGenerator}, as the HTTP
   * layer does, so the id index sees production-shaped keys) goes into the store; the one scheduled
   * {@value #LAG} operations earlier is cancelled by id, as a DELETE would find it: index lookup,
   * then removal from the index and the wheel. Time is frozen (nothing is polled): the background
   * timers are due within the hour anyway, and Netty's and STPE's threads expire only ~280 of them
   * a second.
   */
  @Benchmark
  public void oursScheduleCancel(Ours s) {
    int slot = s.cursor++ & (LAG - 1);
    long id = s.ids.next();
    Timer t = newTimer(id, s.frozenNow, DELAYS[slot & DELAY_MASK]);
    s.store.put(t);
    s.store.remove(s.store.get(s.ring[slot]));
    s.ring[slot] = id;
    s.ops++;
  }

  /** Ours, schedule+expire: add a timer due at the next tick; poll out whatever is due now. */
  @Benchmark
  public void oursScheduleExpire(Ours s) {
    long now = System.currentTimeMillis();
    s.store.put(newTimer(s.ids.next(), now, 1));
    s.store.poll(now, s, 10_000);
    s.expireScheduled++;
    s.ops++;
  }

  // ---------------------------------------------------------------------------------------------
  // Ours without the id index: the bare TimerWheel with Timer entries, to show what the index
  // (needed for PUT and DELETE by id, which Netty and STPE do not offer) costs.

  @State(Scope.Thread)
  public static class OursWheel extends CpuAccounted implements TimerWheel.Handler<Timer> {
    TimerWheel<Timer> wheel;
    Timer[] ring;
    int cursor;
    long nextId = BENCH_IDS;
    long frozenNow;
    long fired;
    long expireScheduled;

    @Setup(Level.Trial)
    public void setUp() {
      frozenNow = System.currentTimeMillis();
      wheel = new TimerWheel<>(1, frozenNow);
      SplittableRandom random = new SplittableRandom(7);
      for (long id = 0; id < PENDING; id++) {
        Timer t = newTimer(id, frozenNow, 1 + random.nextLong(SPREAD_MILLIS));
        wheel.add(t, t.nextDueMillis());
      }
      ring = new Timer[LAG];
      for (int i = 0; i < LAG; i++) {
        ring[i] = newTimer(nextId++, frozenNow, DELAYS[i & DELAY_MASK]);
        wheel.add(ring[i], ring[i].nextDueMillis());
      }
    }

    @Override
    public boolean onExpiry(Timer timer) {
      if (timer.id() >= BENCH_IDS) {
        fired++;
      }
      return true;
    }

    @Override
    void drain() {
      while (expireScheduled > fired) {
        wheel.poll(System.currentTimeMillis(), this, 10_000);
      }
    }
  }

  @Benchmark
  public void oursWheelScheduleCancel(OursWheel s) {
    int slot = s.cursor++ & (LAG - 1);
    long id = s.nextId++;
    long delay = DELAYS[(int) id & DELAY_MASK];
    Timer t = newTimer(id, s.frozenNow, delay);
    s.wheel.add(t, s.frozenNow + delay);
    s.wheel.cancel(s.ring[slot]);
    s.ring[slot] = t;
    s.ops++;
  }

  @Benchmark
  public void oursWheelScheduleExpire(OursWheel s) {
    long now = System.currentTimeMillis();
    s.wheel.add(newTimer(s.nextId++, now, 1), now + 1);
    s.wheel.poll(now, s, 10_000);
    s.expireScheduled++;
    s.ops++;
  }

  // ---------------------------------------------------------------------------------------------
  // Ours through TimerService: the production path (command queue + timer thread).

  @State(Scope.Thread)
  public static class OursService extends CpuAccounted implements TimerEvents, CallbackSink {
    TimerService service;
    long nextId = BENCH_IDS;
    volatile long fired;

    @Setup(Level.Trial)
    public void setUp() throws Exception {
      service =
          new TimerService(Clock.SYSTEM, 1, 100_000, 10_000, this, this, TimerStore.Listener.NONE);
      service.start();
      SplittableRandom random = new SplittableRandom(7);
      long now = System.currentTimeMillis();
      for (long id = 0; id < PENDING; id++) {
        Timer t = newTimer(id, now, 1 + random.nextLong(SPREAD_MILLIS));
        while (!service.store(t)) {
          parkBriefly();
        }
      }
      // Every store command has run once the queue is empty and a later query has answered.
      while (service.queuedCommands() > 0) {
        Thread.sleep(10);
      }
      service.query(TimerStore::size).get();
      worker = findThread("chronos-timer");
    }

    @TearDown(Level.Trial)
    public void tearDown() throws InterruptedException {
      service.stop(5000);
    }

    @Override
    public Handed trySend(
        Pop pop, java.util.function.Consumer<org.chronos.timer.CallbackOutcome> whenDone) {
      return Handed.SENT; // a sink with unlimited capacity that delivers nothing
    }

    @Override
    public void popped(Timer timer, Pop pop, long latenessMicros) {
      if (timer.id() >= BENCH_IDS) {
        fired++; // only the timer thread writes
      }
    }

    @Override
    void drain() {
      while (nextId - BENCH_IDS > fired) {
        parkBriefly();
      }
    }
  }

  static Thread findThread(String name) {
    for (Thread t : Thread.getAllStackTraces().keySet()) {
      if (t.getName().equals(name)) {
        return t;
      }
    }
    throw new IllegalStateException("no thread named " + name);
  }

  /** Ours via the timer thread, schedule+expire; a full command queue makes the caller wait. */
  @Benchmark
  public void oursServiceScheduleExpire(OursService s) {
    long now = System.currentTimeMillis();
    Timer t = new Timer(s.nextId++, 2, now, 1, 1, 0, URI, OPAQUE, List.of());
    t.setReplicas(REPLICAS);
    while (!s.service.store(t)) {
      parkBriefly();
    }
    if ((++s.ops & 1023) == 0) {
      while (s.nextId - BENCH_IDS - s.fired > WINDOW) {
        parkBriefly();
      }
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Netty HashedWheelTimer, tick 1 ms.

  @State(Scope.Thread)
  public static class Netty extends CpuAccounted {
    @Param({"512", "65536"})
    int ticksPerWheel;

    HashedWheelTimer timer;
    Timeout[] ring;
    int cursor;
    long baseline;
    long expireScheduled;
    volatile long fired;

    final TimerTask noop = timeout -> {};
    // Runs on the worker thread only, so a plain increment of the volatile is safe.
    final TimerTask counting = timeout -> fired++;

    @Setup(Level.Trial)
    public void setUp() throws InterruptedException {
      timer =
          new HashedWheelTimer(
              recordingFactory("netty-wheel"), 1, TimeUnit.MILLISECONDS, ticksPerWheel, false);
      timer.start();
      SplittableRandom random = new SplittableRandom(7);
      for (int i = 0; i < PENDING; i++) {
        timer.newTimeout(noop, 1 + random.nextLong(SPREAD_MILLIS), TimeUnit.MILLISECONDS);
      }
      ring = new Timeout[LAG];
      for (int i = 0; i < LAG; i++) {
        ring[i] = timer.newTimeout(noop, DELAYS[i & DELAY_MASK], TimeUnit.MILLISECONDS);
      }
      baseline = timer.pendingTimeouts();
      Thread.sleep(500); // lets the worker move everything from its queue into buckets
    }

    @TearDown(Level.Trial)
    public void tearDown() {
      timer.stop();
    }

    @Override
    void drain() {
      while (timer.pendingTimeouts() > baseline || expireScheduled > fired) {
        parkBriefly();
      }
    }
  }

  @Benchmark
  public void nettyScheduleCancel(Netty s) {
    int slot = s.cursor++ & (LAG - 1);
    Timeout t = s.timer.newTimeout(s.noop, DELAYS[slot & DELAY_MASK], TimeUnit.MILLISECONDS);
    s.ring[slot].cancel();
    s.ring[slot] = t;
    if ((++s.ops & 1023) == 0) {
      // Cancels are applied by the worker; pendingTimeouts falls only when it has.
      while (s.timer.pendingTimeouts() - s.baseline > WINDOW) {
        parkBriefly();
      }
    }
  }

  @Benchmark
  public void nettyScheduleExpire(Netty s) {
    s.timer.newTimeout(s.counting, 1, TimeUnit.MILLISECONDS);
    s.expireScheduled++;
    if ((++s.ops & 1023) == 0) {
      while (s.expireScheduled - s.fired > WINDOW) {
        parkBriefly();
      }
    }
  }

  // ---------------------------------------------------------------------------------------------
  // java.util.concurrent.ScheduledThreadPoolExecutor, one thread, remove-on-cancel.

  @State(Scope.Thread)
  public static class Stpe extends CpuAccounted {
    ScheduledThreadPoolExecutor executor;
    ScheduledFuture<?>[] ring;
    int cursor;
    long expireScheduled;
    volatile long fired;

    final Runnable noop = () -> {};
    final Runnable counting = () -> fired++; // the executor's single thread only

    @Setup(Level.Trial)
    public void setUp() {
      executor = new ScheduledThreadPoolExecutor(1, recordingFactory("stpe"));
      executor.setRemoveOnCancelPolicy(true);
      executor.prestartAllCoreThreads();
      SplittableRandom random = new SplittableRandom(7);
      for (int i = 0; i < PENDING; i++) {
        executor.schedule(noop, 1 + random.nextLong(SPREAD_MILLIS), TimeUnit.MILLISECONDS);
      }
      ring = new ScheduledFuture<?>[LAG];
      for (int i = 0; i < LAG; i++) {
        ring[i] = executor.schedule(noop, DELAYS[i & DELAY_MASK], TimeUnit.MILLISECONDS);
      }
    }

    @TearDown(Level.Trial)
    public void tearDown() {
      executor.shutdownNow();
    }

    @Override
    void drain() {
      while (expireScheduled > fired) {
        parkBriefly();
      }
    }
  }

  @Benchmark
  public void stpeScheduleCancel(Stpe s) {
    int slot = s.cursor++ & (LAG - 1);
    ScheduledFuture<?> f =
        s.executor.schedule(s.noop, DELAYS[slot & DELAY_MASK], TimeUnit.MILLISECONDS);
    s.ring[slot].cancel(false);
    s.ring[slot] = f;
    s.ops++;
  }

  @Benchmark
  public void stpeScheduleExpire(Stpe s) {
    s.executor.schedule(s.counting, 1, TimeUnit.MILLISECONDS);
    s.expireScheduled++;
    if ((++s.ops & 1023) == 0) {
      while (s.expireScheduled - s.fired > WINDOW) {
        parkBriefly();
      }
    }
  }

  // ---------------------------------------------------------------------------------------------

  /**
   * Runs the benchmarks and prints a summary. Arguments: JMH include regexes (default: every
   * benchmark of this class) and {@code -p name=v1,v2} parameter overrides. System properties:
   * {@code chronos.bench.jvmArgs} (space-separated, appended to the forked JVMs' options, e.g.
   * {@code -XX:+UseParallelGC}), {@code chronos.bench.tag} (names the output files) and {@code
   * chronos.bench.out} (output directory, default target/bench).
   */
  public static void main(String[] args) throws Exception {
    Path outDir = Path.of(System.getProperty("chronos.bench.out", "target/bench"));
    String tag = System.getProperty("chronos.bench.tag", "default");
    Files.createDirectories(outDir);
    Path cpuFile = outDir.resolve("wheel-cpu-" + tag + ".tsv").toAbsolutePath();
    Files.deleteIfExists(cpuFile);
    OptionsBuilder builder = new OptionsBuilder();
    boolean included = false;
    for (int i = 0; i < args.length; i++) {
      if (args[i].equals("-p") && i + 1 < args.length) {
        String[] kv = args[++i].split("=", 2);
        builder.param(kv[0], kv[1].split(","));
      } else {
        builder.include(args[i]);
        included = true;
      }
    }
    if (!included) {
      builder.include(WheelBenchmark.class.getName() + "\\.");
    }
    List<String> jvmArgs =
        new ArrayList<>(List.of("-Xms2g", "-Xmx2g", "-Dchronos.bench.cpuFile=" + cpuFile));
    String extra = System.getProperty("chronos.bench.jvmArgs", "").trim();
    if (!extra.isEmpty()) {
      jvmArgs.addAll(List.of(extra.split("\\s+")));
    }
    builder.jvmArgsAppend(jvmArgs.toArray(new String[0]));
    builder.resultFormat(org.openjdk.jmh.results.format.ResultFormatType.CSV);
    builder.result(outDir.resolve("wheel-" + tag + ".csv").toString());
    Options options = builder.build();
    long started = System.nanoTime();
    Collection<RunResult> results = new Runner(options).run();
    summarize(results, cpuFile, (System.nanoTime() - started) / 1_000_000_000L, args, tag, extra);
  }

  private static void summarize(
      Collection<RunResult> results,
      Path cpuFile,
      long seconds,
      String[] args,
      String tag,
      String jvmArgs)
      throws IOException {
    Map<String, double[]> cpu = new LinkedHashMap<>(); // key -> {caller sum, other sum, count}
    if (Files.exists(cpuFile)) {
      for (String line : Files.readAllLines(cpuFile)) {
        String[] f = line.split("\t");
        double[] acc = cpu.computeIfAbsent(f[0] + " " + f[1], k -> new double[3]);
        acc[0] += Double.parseDouble(f[2]);
        acc[1] += Double.parseDouble(f[3]);
        acc[2]++;
      }
    }
    Map<String, Double> score = new LinkedHashMap<>();
    List<String> rows = new ArrayList<>();
    for (RunResult r : results) {
      BenchmarkParams p = r.getParams();
      String key = shortName(p) + " " + params(p);
      double ops = r.getPrimaryResult().getScore();
      double err = r.getPrimaryResult().getScoreError();
      score.put(key, ops);
      double[] c = cpu.getOrDefault(key, new double[] {Double.NaN, Double.NaN, 1});
      rows.add(
          String.format(
              Locale.ROOT,
              "%-28s %-18s %10.2f ± %5.2f Mops/s   cpu/op: %6.1f ns caller + %6.1f ns own thread",
              shortName(p),
              params(p),
              ops / 1e6,
              Double.isNaN(err) ? 0 : err / 1e6,
              c[0] / c[2],
              c[1] / c[2]));
    }
    System.out.println();
    System.out.println(
        "== WheelBenchmark summary (1M pending timers; JVM options: -Xms2g -Xmx2g "
            + (jvmArgs.isEmpty() ? "(default GC: G1)" : jvmArgs)
            + "; "
            + seconds
            + " s) ==");
    rows.forEach(System.out::println);
    for (String op : List.of("ScheduleCancel", "ScheduleExpire")) {
      Double ours = score.get("ours" + op + " -");
      if (ours == null) {
        continue;
      }
      for (Map.Entry<String, Double> e : score.entrySet()) {
        if (!e.getKey().equals("ours" + op + " -") && e.getKey().contains(op)) {
          System.out.printf(
              Locale.ROOT,
              "RESULT wheel [%s] %s: ours %.2f Mops/s / %s %.2f Mops/s = %.2fx%n",
              tag,
              op,
              ours / 1e6,
              e.getKey().replace(" -", ""),
              e.getValue() / 1e6,
              ours / e.getValue());
        }
      }
    }
    StringBuilder command = new StringBuilder("reproduce: java -cp \"$(bench/cp.sh)\"");
    if (!jvmArgs.isEmpty()) {
      command.append(" -Dchronos.bench.jvmArgs='").append(jvmArgs).append("'");
    }
    command.append(" -Dchronos.bench.tag=").append(tag).append(" org.chronos.bench.WheelBenchmark");
    for (String a : args) {
      command.append(' ').append(a.startsWith("-") ? a : "'" + a + "'");
    }
    System.out.println(command);
  }
}
