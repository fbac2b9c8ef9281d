package org.chronos.bench.cluster;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.net.URI;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.chronos.bench.Jit;
import org.chronos.bench.LatePops;
import org.chronos.cluster.ClusterConfig;
import org.chronos.cluster.ClusterView;

/**
 * Benchmark 2: a node joins a one-node cluster holding 100,000 timers, and resyncs them.
 *
 * <ol>
 *   <li>Node A alone; the load generator creates the timers on it as fast as it can (interval 3600
 *       s, rf 2: nothing pops).
 *   <li>Node B starts with a cluster file listing A as {@code node} and B as {@code joining}; A's
 *       file is rewritten the same way and A reloaded ({@code POST /tasks/reload}).
 *   <li>A steady background of short timers (interval 1 s, one pop) is created on A and pops into a
 *       callback target in this JVM; with the joined view, about half have A as primary and half B.
 *   <li>Phases, each with a snapshot of A's and B's lateness histograms at both ends and the
 *       callback-side lateness of the background timers due inside it: <b>idle</b> (the background
 *       alone), <b>resync</b> ({@code POST /tasks/resync} on B, timed), <b>drain</b> (after the
 *       resync answered, until B's replication queue to A is empty: the resync sends A the new
 *       version of every timer B is now primary for), <b>after</b>.
 * </ol>
 *
 * <p>Before the idle phase the background runs until both nodes' JIT compilers are nearly idle (B
 * has just started; on two cores its compilation takes a minute and would otherwise be part of the
 * idle baseline). The resync itself runs on B's code paths for the first time, as it does on a node
 * that has just joined.
 *
 * <p>With {@code -Dcbench.jfr=true}, A and B are profiled (JFR) from the warm-up to the end of the
 * resync; the recordings stay in the work directory.
 *
 * <p>{@code java -cp target/test-classes:target/chronos.jar org.chronos.bench.cluster.ResyncBench
 * <work dir> [jar] [timers=100000] [background/s=300] [idle s=30] [after s=10] [min warm-up s=15]
 * [max warm-up s=120]}
 */
public final class ResyncBench {
  private static final ObjectMapper JSON = new ObjectMapper();

  private ResyncBench() {}

  /** One phase's window and both nodes' histograms at its ends. */
  private record Phase(
      String name,
      long from,
      long to,
      ChronosNode.HistogramSnapshot aBefore,
      ChronosNode.HistogramSnapshot aAfter,
      ChronosNode.HistogramSnapshot bBefore,
      ChronosNode.HistogramSnapshot bAfter,
      String cpu,
      double otherCores) {
    /** A's pops in the phase and how late they left A (its late-pop counters). */
    LatePops aLate() {
      return aAfter.late().since(aBefore.late());
    }

    LatePops bLate() {
      return bAfter.late().since(bBefore.late());
    }

    /** At least a second long: CPU shares from /proc's 10 ms ticks mean something. */
    boolean longEnoughForCpuShares() {
      return to - from >= 1_000_000_000L;
    }

    LatePops bothLate() {
      return aLate().plus(bLate());
    }
  }

  public static void main(String[] args) throws Exception {
    ChronosNode.quietLogging();
    Path work = Files.createDirectories(Path.of(args.length > 0 ? args[0] : "target/cbench"));
    Path jar = Path.of(args.length > 1 ? args[1] : "target/chronos.jar").toAbsolutePath();
    int timers = args.length > 2 ? Integer.parseInt(args[2]) : 100_000;
    int backgroundRate = args.length > 3 ? Integer.parseInt(args[3]) : 300;
    long idleMillis = (args.length > 4 ? Long.parseLong(args[4]) : 30) * 1000;
    long afterMillis = (args.length > 5 ? Long.parseLong(args[5]) : 10) * 1000;
    long minWarmupMillis = (args.length > 6 ? Long.parseLong(args[6]) : 15) * 1000;
    long maxWarmupMillis = (args.length > 7 ? Long.parseLong(args[7]) : 120) * 1000;
    // -Dcbench.interval=<s>: the background timers' interval (default 1 s). A longer one gives a
    // timer's replica more time to reach its primary before the pop.
    int interval = Integer.getInteger("cbench.interval", 1);
    System.out.printf(
        "== 2. resync of %d timers: background %d pops/s (interval %d s); %d cores, JVM %s%n",
        timers,
        backgroundRate,
        interval,
        Runtime.getRuntime().availableProcessors(),
        System.getProperty("java.vm.version"));

    try (PopRecorder background = new PopRecorder(1 << 20, interval, 32);
        CreateLoad load = new CreateLoad(2);
        ChronosNode a = new ChronosNode(work, "A");
        ChronosNode b = new ChronosNode(work, "B")) {
      // 1. A alone, loaded with the timers.
      a.writeClusterFile(1, List.of(a), List.of());
      a.start(jar);
      CreateLoad.Result preload =
          load.runCount(
              URI.create("http://127.0.0.1:" + a.port + "/timers"),
              CreateLoad.timerBody(3600, 2, background.base() + "/never", "resync-bench"),
              32,
              timers);
      System.out.println("preload on A: " + preload.describe());
      long aLive = a.gauge("chronos.timers.live");
      System.out.println("A live timers: " + aLive);

      // 2. B joins: B's file lists A as node and B as joining; A's the same, then A reloads.
      b.writeClusterFile(2, List.of(a), List.of(b));
      b.start(jar);
      a.writeClusterFile(1, List.of(a), List.of(b));
      HttpResponse<String> reload = a.task("reload", Duration.ofSeconds(30));
      System.out.println("reload A: " + reload.statusCode() + " " + reload.body().strip());
      if (reload.statusCode() != 200) {
        throw new IllegalStateException("reload of A failed");
      }
      ClusterView view =
          new ClusterView(ClusterConfig.parse(Files.readString(a.clusterFile), "A", a.port));
      List<String> nodes = List.of(a.address(), b.address());

      // Attaching JFR deoptimizes code and stalls the node for a while: do it before the warm-up.
      boolean profile = Boolean.getBoolean("cbench.jfr");
      if (profile) {
        a.startProfile("resync-A");
        b.startProfile("resync-B");
      }

      // 3. The background: created on A, primary A (1) or B (2) under the joined view.
      background.start(
          URI.create("http://127.0.0.1:" + a.port + "/timers"),
          backgroundRate,
          id -> nodes.indexOf(view.replicasFor(id, 2).get(0)) + 1);
      String bReplicationQueue = "chronos.replication." + a.address() + ".queued";
      long[] maxQueued = new long[1];
      Thread poller =
          new Thread(
              () -> {
                while (!Thread.currentThread().isInterrupted()) {
                  try {
                    // B's /metrics is a few hundred microseconds of work: poll gently, it is a
                    // measurement. Polled from the warm-up on, as a monitoring system would, so
                    // that B has compiled what /metrics runs (sorting histogram snapshots) before
                    // the resync; the maximum is reset when the resync starts.
                    maxQueued[0] = Math.max(maxQueued[0], b.gauge(bReplicationQueue));
                    Thread.sleep(1000);
                  } catch (InterruptedException e) {
                    return;
                  } catch (Exception e) {
                    // keep polling
                  }
                }
              });
      poller.start();

      // Warm-up: the first pops land after 1 s; B (just started) compiles its request, pop and
      // replication paths. Wait until both nodes' JIT compilers are nearly idle, so that the idle
      // phase is a baseline of the nodes at rest rather than of B compiling.
      List<Long> nodePids = List.of(a.pid(), b.pid());
      long warmupStart = System.nanoTime();
      long jit = Jit.compilerTicks(nodePids);
      StringBuilder jitSlices = new StringBuilder();
      while (true) {
        Thread.sleep(5000);
        long now = Jit.compilerTicks(nodePids);
        double cores = Jit.cores(jit, now, 5);
        jit = now;
        jitSlices.append(String.format(" %.2f", cores));
        long elapsed = (System.nanoTime() - warmupStart) / 1_000_000;
        if ((elapsed >= minWarmupMillis && cores < Jit.QUIET_CORES) || elapsed >= maxWarmupMillis) {
          break;
        }
      }
      System.out.printf(
          "background warm-up: %.0f s (JIT compiling, cores per 5 s:%s)%n",
          (System.nanoTime() - warmupStart) / 1e9, jitSlices);

      List<Long> pids = List.of(a.pid(), b.pid());
      List<Phase> phases = new ArrayList<>();

      // 4a. Idle: the background alone.
      phases.add(phase("idle", a, b, pids, () -> Thread.sleep(idleMillis)));

      // 4b. Resync on B, timed.
      String[] summary = new String[1];
      long[] wall = new long[1];
      phases.add(
          phase(
              "resync",
              a,
              b,
              pids,
              () -> {
                maxQueued[0] = 0;
                long t0 = System.nanoTime();
                HttpResponse<String> response = b.task("resync", Duration.ofMinutes(5));
                wall[0] = (System.nanoTime() - t0) / 1_000_000;
                summary[0] = response.statusCode() + " " + response.body().strip();
                if (profile) {
                  a.stopProfile();
                  b.stopProfile();
                  System.out.println(
                      "JFR recordings of the resync: "
                          + a.dir.resolve("resync-A.jfr")
                          + ", "
                          + b.dir.resolve("resync-B.jfr"));
                }
              }));
      System.out.println("resync on B: " + summary[0]);
      System.out.println("resync wall time (POST /tasks/resync round trip): " + wall[0] + " ms");

      // 4c. Drain: B's replication queue to A empties.
      long[] drainMillis = new long[1];
      phases.add(
          phase(
              "drain",
              a,
              b,
              pids,
              () -> {
                long t0 = System.nanoTime();
                while (b.gauge(bReplicationQueue) > 0
                    && System.nanoTime() - t0 < 120_000_000_000L) {
                  Thread.sleep(250);
                }
                drainMillis[0] = (System.nanoTime() - t0) / 1_000_000;
              }));
      poller.interrupt();
      poller.join();
      System.out.printf(
          "B's replication queue to A: at most %d during the resync (polled each second), empty %d ms after it "
              + "answered (polled every 250 ms)%n",
          maxQueued[0], drainMillis[0]);

      // 4d. After: the background alone again.
      phases.add(phase("after", a, b, pids, () -> Thread.sleep(afterMillis)));

      // 4e. Optionally (-Dcbench.resyncAgain=true) the same resync once more, now on code the
      // first one got compiled: B holds every timer already, but the run does the same work (every
      // page fetched, merged, and the copies for which B is primary sent to A again).
      String[] summary2 = new String[1];
      long[] wall2 = new long[1];
      if (Boolean.getBoolean("cbench.resyncAgain")) {
        phases.add(
            phase(
                "resync2",
                a,
                b,
                pids,
                () -> {
                  long t0 = System.nanoTime();
                  HttpResponse<String> response = b.task("resync", Duration.ofMinutes(5));
                  wall2[0] = (System.nanoTime() - t0) / 1_000_000;
                  summary2[0] = response.statusCode() + " " + response.body().strip();
                }));
        System.out.println("second resync on B: " + summary2[0]);
        System.out.println("second resync wall time: " + wall2[0] + " ms");
      }

      background.stopCreating();
      Thread.sleep(4000); // the last timers pop (1 s), and a backup would pop 2 s later
      JsonNode am = a.metrics();
      JsonNode bm = b.metrics();
      System.out.printf(
          "live timers after: A %d, B %d (expected %d each); background created %d, create errors %d, "
              + "stray callbacks %d%n",
          ChronosNode.gauge(am, "chronos.timers.live"),
          ChronosNode.gauge(bm, "chronos.timers.live"),
          timers,
          background.created(),
          background.createErrors(),
          background.strayCallbacks());
      System.out.printf(
          "A: popped %d, callbacks failed %d (sent again %d); B: popped %d, callbacks failed %d (sent"
              + " again %d); B -> A replication sent %d, failed %d%n",
          am.path("meters").path("chronos.timers.popped").path("count").asLong(),
          ChronosNode.counter(am, "chronos.callbacks.failed"),
          ChronosNode.counter(am, "chronos.callbacks.resent"),
          bm.path("meters").path("chronos.timers.popped").path("count").asLong(),
          ChronosNode.counter(bm, "chronos.callbacks.failed"),
          ChronosNode.counter(bm, "chronos.callbacks.resent"),
          ChronosNode.counter(bm, "chronos.replication." + a.address() + ".sent"),
          ChronosNode.counter(bm, "chronos.replication." + a.address() + ".failed"));
      System.out.printf(
          "A skipped %d of B's resync copies as older than a pop or deletion it held%n",
          am.path("meters").path("chronos.resync.copies-superseded").path("count").asLong());

      System.out.println();
      System.out.println(
          "phase     length  callback side (background timers due in the phase; primary A / B / all)");
      for (Phase p : phases) {
        PopRecorder.PhaseStats sa = background.phase(p.from(), p.to(), 1);
        PopRecorder.PhaseStats sb = background.phase(p.from(), p.to(), 2);
        PopRecorder.PhaseStats s = background.phase(p.from(), p.to(), 0);
        System.out.printf(
            "%-8s %6.1f s  A:   %s%n", p.name(), (p.to() - p.from()) / 1e9, sa.describe());
        System.out.printf("%17s B:   %s%n", "", sb.describe());
        System.out.printf("%17s all: %s%n", "", s.describe());
        System.out.printf("%17s node A histogram before: %s%n", "", p.aBefore().describe());
        System.out.printf(
            "%17s node A histogram after:  %s  (+%d pops)%n",
            "", p.aAfter().describe(), p.aAfter().count() - p.aBefore().count());
        System.out.printf(
            "%17s node B histogram after:  %s  (+%d pops)%n",
            "", p.bAfter().describe(), p.bAfter().count() - p.bBefore().count());
        System.out.printf("%17s node A's own pops: %s%n", "", p.aLate().describe());
        System.out.printf("%17s node B's own pops: %s%n", "", p.bLate().describe());
        System.out.printf(
            "%17s %s%n",
            "",
            p.longEnoughForCpuShares()
                ? p.cpu()
                : "cpu: phase too short for CPU shares (the kernel counts in 10 ms ticks)");
      }

      for (Phase p : phases) {
        List<String> twice = background.duplicates(p.from(), p.to());
        if (!twice.isEmpty()) {
          System.out.printf("duplicate callbacks, %s phase (%d):%n", p.name(), twice.size());
          twice.stream().limit(40).forEach(line -> System.out.println("  " + line));
        }
      }

      // -Dcbench.samples=<file>: every background callback's lateness, per phase, for pooling
      // several runs (bench/cluster/pooled.sh).
      String samples = System.getProperty("cbench.samples");
      if (samples != null) {
        try (java.io.Writer out =
            Files.newBufferedWriter(Path.of(samples), java.nio.charset.StandardCharsets.UTF_8)) {
          for (Phase p : phases) {
            background.writeSamples(out, p.name(), p.from(), p.to());
          }
        }
        System.out.println("callback lateness samples written to " + samples);
      }

      Phase during = phases.get(1);
      System.out.println("latest pops, resync phase:");
      background
          .latest(during.from(), during.to(), 15)
          .forEach(line -> System.out.println("  " + line));

      JsonNode s = JSON.readTree(summary[0].substring(summary[0].indexOf(' ') + 1));
      Phase idle = phases.get(0);
      Phase resync = phases.get(1);
      System.out.println();
      System.out.printf(
          "SUMMARY resync of %d timers: %d ms (POST /tasks/resync round trip), durationMillis %d (goal <= 10000); "
              + "timersReceived %d, stored %d, sent back to A %d; live after: B %d, A %d; B's replication queue to A empty "
              + "%d ms after the resync answered%n",
          timers,
          wall[0],
          s.path("durationMillis").asLong(),
          s.path("timersReceived").asLong(),
          s.path("stored").asLong(),
          s.path("replicated").asLong(),
          ChronosNode.gauge(bm, "chronos.timers.live"),
          ChronosNode.gauge(am, "chronos.timers.live"),
          drainMillis[0]);
      long bLive = ChronosNode.gauge(bm, "chronos.timers.live");
      if (bLive < timers) {
        System.out.printf(
            "SUMMARY RESYNC INCOMPLETE: B holds %d of the %d timers although the resync reported success%n",
            bLive, timers);
      }
      StringBuilder lateness = new StringBuilder();
      StringBuilder duplicates = new StringBuilder();
      for (Phase p : phases) {
        PopRecorder.PhaseStats all = background.phase(p.from(), p.to(), 0);
        PopRecorder.PhaseStats onA = background.phase(p.from(), p.to(), 1);
        PopRecorder.PhaseStats onB = background.phase(p.from(), p.to(), 2);
        lateness.append(
            String.format(
                "%n  %-6s all %6.2f / %7.2f   primary A %6.2f / %7.2f   primary B %6.2f / %7.2f",
                p.name(),
                all.fromAnswer()[0] / 1e6,
                all.fromAnswer()[1] / 1e6,
                onA.fromAnswer()[0] / 1e6,
                onA.fromAnswer()[1] / 1e6,
                onB.fromAnswer()[0] / 1e6,
                onB.fromAnswer()[1] / 1e6));
        duplicates.append(
            String.format(
                "%s %s %d of %d",
                duplicates.length() == 0 ? "" : ",", p.name(), all.duplicates(), all.pops()));
      }
      PopRecorder.PhaseStats ci = background.phase(idle.from(), idle.to(), 0);
      PopRecorder.PhaseStats cr = background.phase(resync.from(), resync.to(), 0);
      PopRecorder.PhaseStats ai = background.phase(idle.from(), idle.to(), 1);
      PopRecorder.PhaseStats ar = background.phase(resync.from(), resync.to(), 1);
      System.out.printf(
          "SUMMARY pop lateness, callback side, p50 / p99 ms (background timers due in each phase):%s%n",
          lateness.toString().replace("\n", "\nSUMMARY "));
      System.out.printf(
          "SUMMARY pop lateness p99 during resync / idle: %.1fx all timers, %.1fx timers popped by A (goal <= 2)%n",
          (double) cr.fromAnswer()[1] / Math.max(1, ci.fromAnswer()[1]),
          (double) ar.fromAnswer()[1] / Math.max(1, ai.fromAnswer()[1]));
      System.out.printf(
          "SUMMARY pop lateness, node A histogram (cumulative, decaying): after idle p50 %.0f / p99 %.0f us; "
              + "after resync p50 %.0f / p99 %.0f us, max %.0f us (+%d pops)%n",
          idle.aAfter().p50(),
          idle.aAfter().p99(),
          resync.aAfter().p50(),
          resync.aAfter().p99(),
          resync.aAfter().max(),
          resync.aAfter().count() - resync.aBefore().count());
      StringBuilder nodeSide = new StringBuilder();
      for (Phase p : phases) {
        nodeSide.append(String.format("%n  %-7s A and B: %s", p.name(), p.bothLate().describe()));
      }
      System.out.printf(
          "SUMMARY pop lateness, node side (each node's own pops, counted exactly per phase):%s%n",
          nodeSide.toString().replace("\n", "\nSUMMARY "));
      System.out.printf(
          "SUMMARY pop lateness p99 during resync / idle, node side (each node's own pops): %s%n",
          resync.bothLate().p99RatioTo(idle.bothLate()));
      System.out.printf("SUMMARY duplicate pops (a timer's callback twice):%s%n", duplicates);
      if (summary2[0] != null) {
        Phase again = phases.get(phases.size() - 1);
        PopRecorder.PhaseStats c2 = background.phase(again.from(), again.to(), 0);
        PopRecorder.PhaseStats a2 = background.phase(again.from(), again.to(), 1);
        JsonNode s2 = JSON.readTree(summary2[0].substring(summary2[0].indexOf(' ') + 1));
        System.out.printf(
            "SUMMARY second resync (compiled code): %d ms round trip, durationMillis %d, timersReceived %d; "
                + "pop lateness p99 / idle: %.1fx all timers, %.1fx timers popped by A%n",
            wall2[0],
            s2.path("durationMillis").asLong(),
            s2.path("timersReceived").asLong(),
            (double) c2.fromAnswer()[1] / Math.max(1, ci.fromAnswer()[1]),
            (double) a2.fromAnswer()[1] / Math.max(1, ai.fromAnswer()[1]));
      }
      // A phase of a few ticks (the drain is often over in tens of ms) gives meaningless shares.
      double others =
          phases.stream()
              .filter(Phase::longEnoughForCpuShares)
              .mapToDouble(Phase::otherCores)
              .max()
              .orElse(0);
      if (others > 0.15) {
        System.out.printf(
            "SUMMARY WARNING: other processes used up to %.2f cores during these phases; figures are disturbed%n",
            others);
      }
    }
  }

  @FunctionalInterface
  private interface Body {
    void run() throws Exception;
  }

  private static Phase phase(String name, ChronosNode a, ChronosNode b, List<Long> pids, Body body)
      throws Exception {
    ChronosNode.HistogramSnapshot aBefore = a.lateness();
    ChronosNode.HistogramSnapshot bBefore = b.lateness();
    CpuMonitor cpu = new CpuMonitor(() -> pids);
    cpu.start();
    long from = System.nanoTime();
    body.run();
    long to = System.nanoTime();
    String used = cpu.stop();
    return new Phase(
        name, from, to, aBefore, a.lateness(), bBefore, b.lateness(), used, cpu.others());
  }
}
