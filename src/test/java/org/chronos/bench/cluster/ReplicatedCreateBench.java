package org.chronos.bench.cluster;

import com.fasterxml.jackson.databind.JsonNode;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.chronos.bench.Jit;

/**
 * Benchmark 1: {@code POST /timers} throughput against (a) a single node and (b) one node of a
 * two-node cluster with replication factor 2, so that every create is also sent to the other node.
 * Same body (interval 3600 s, so nothing pops), same closed-loop load generator, fresh node JVMs
 * for every phase, each warmed up until its JIT compilers are idle (see {@link
 * CreateLoad#runTimed}). With several rounds the cases alternate (a, b, a, b, ...).
 *
 * <p>For (b) it also reads node 1's replication counters for node 2 at both ends of the measured
 * window (messages sent, queue length), since node 1 answers the client before it replicates: a
 * create rate above what replication sustains shows as a growing queue. After the window it polls
 * until node 2's {@code chronos.timers.live} equals node 1's.
 *
 * <p>With {@code -Dcbench.jfr=true}, both nodes of (b) are profiled (JFR) from before the warm-up
 * to the end of the measured window.
 *
 * <p>{@code java -cp target/test-classes:target/chronos.jar
 * org.chronos.bench.cluster.ReplicatedCreateBench <work dir> [jar] [concurrency=32] [measured s=20]
 * [rounds=1] [min warm-up s=10] [max warm-up s=150]}
 */
public final class ReplicatedCreateBench {
  private ReplicatedCreateBench() {}

  public static void main(String[] args) throws Exception {
    ChronosNode.quietLogging();
    Path work = Files.createDirectories(Path.of(args.length > 0 ? args[0] : "target/cbench"));
    Path jar = Path.of(args.length > 1 ? args[1] : "target/chronos.jar").toAbsolutePath();
    int concurrency = args.length > 2 ? Integer.parseInt(args[2]) : 32;
    long measureMillis = (args.length > 3 ? Long.parseLong(args[3]) : 20) * 1000;
    int rounds = args.length > 4 ? Integer.parseInt(args[4]) : 1;
    long minWarmupMillis = (args.length > 5 ? Long.parseLong(args[5]) : 10) * 1000;
    long maxWarmupMillis = (args.length > 6 ? Long.parseLong(args[6]) : 150) * 1000;
    byte[] body = CreateLoad.timerBody(3600, 2, "http://127.0.0.1:9/never", "bench");
    List<CreateLoad.Result> singles = new ArrayList<>();
    List<CreateLoad.Result> clusters = new ArrayList<>();
    List<Double> replicatedRates = new ArrayList<>();
    boolean allEqual = true;
    double others = 0;
    double worstLag = 0;
    try (CreateLoad load = new CreateLoad(2)) {
      System.out.printf(
          "== 1. replicated creation throughput: POST /timers (interval 3600, rf 2), %d in flight (%s); "
              + "warm-up %d-%d s (until the nodes' JIT is idle and throughput steady), then %d s measured; %d round(s); "
              + "%d cores, JVM %s%n",
          concurrency,
          load.clientName(),
          minWarmupMillis / 1000,
          maxWarmupMillis / 1000,
          measureMillis / 1000,
          rounds,
          Runtime.getRuntime().availableProcessors(),
          System.getProperty("java.vm.version"));
      for (int round = 1; round <= rounds; round++) {
        // (a) one node alone.
        try (ChronosNode solo = new ChronosNode(work, "r" + round + "-single")) {
          solo.writeClusterFile(1, List.of(solo), List.of());
          solo.start(jar);
          List<Long> pids = List.of(solo.pid());
          CpuMonitor cpu = new CpuMonitor(() -> pids);
          CreateLoad.Result single =
              load.runTimed(
                  URI.create("http://127.0.0.1:" + solo.port + "/timers"),
                  body,
                  concurrency,
                  minWarmupMillis,
                  maxWarmupMillis,
                  measureMillis,
                  () -> Jit.compilerTicks(pids),
                  cpu::start);
          String used = cpu.stop();
          others = Math.max(others, cpu.others());
          singles.add(single);
          System.out.printf(
              "round %d (a) single node:     %s%n    %s; live timers %d%n",
              round, single.describe(), used, solo.gauge("chronos.timers.live"));
        }

        // (b) node 1 of a two-node cluster; every create is replicated to node 2.
        try (ChronosNode one = new ChronosNode(work, "r" + round + "-node1");
            ChronosNode two = new ChronosNode(work, "r" + round + "-node2")) {
          one.writeClusterFile(1, List.of(one, two), List.of());
          two.writeClusterFile(2, List.of(one, two), List.of());
          one.start(jar);
          two.start(jar);
          // Attaching JFR deoptimizes code for a while: do it before the warm-up.
          boolean profile = Boolean.getBoolean("cbench.jfr");
          if (profile) {
            one.startProfile("create-node1");
            two.startProfile("create-node2");
          }
          String peer = "chronos.replication." + two.address();
          List<Long> pids = List.of(one.pid(), two.pid());
          CpuMonitor cpu = new CpuMonitor(() -> pids);
          long[] atStart = new long[2];
          CreateLoad.Result cluster =
              load.runTimed(
                  URI.create("http://127.0.0.1:" + one.port + "/timers"),
                  body,
                  concurrency,
                  minWarmupMillis,
                  maxWarmupMillis,
                  measureMillis,
                  () -> Jit.compilerTicks(pids),
                  () -> {
                    cpu.start();
                    try {
                      JsonNode m = one.metrics();
                      atStart[0] = ChronosNode.counter(m, peer + ".sent");
                      atStart[1] = ChronosNode.gauge(m, peer + ".queued");
                    } catch (Exception e) {
                      throw new IllegalStateException(e);
                    }
                  });
          String used = cpu.stop();
          if (profile) {
            one.stopProfile();
            two.stopProfile();
          }
          others = Math.max(others, cpu.others());
          JsonNode atEnd = one.metrics();
          long ended = System.nanoTime();
          double replicated =
              (ChronosNode.counter(atEnd, peer + ".sent") - atStart[0]) / cluster.seconds();
          clusters.add(cluster);
          replicatedRates.add(replicated);
          System.out.printf(
              "round %d (b) node 1 of 2, rf 2: %s%n    %s%n", round, cluster.describe(), used);
          System.out.printf(
              "    replication node1 -> node2 in the window: %.0f msgs/s sent; queue %d at start, %d at end; failed %d%n",
              replicated,
              atStart[1],
              ChronosNode.gauge(atEnd, peer + ".queued"),
              ChronosNode.counter(atEnd, peer + ".failed"));
          // Replication kept up: node 2 holds every timer node 1 holds, within a few seconds.
          long live1 = -1;
          long live2 = -2;
          long queued = -1;
          while (System.nanoTime() - ended < 60_000_000_000L) {
            JsonNode m1 = one.metrics();
            live1 = ChronosNode.gauge(m1, "chronos.timers.live");
            queued = ChronosNode.gauge(m1, peer + ".queued");
            live2 = two.gauge("chronos.timers.live");
            if (live1 == live2 && live1 > 0 && queued == 0) {
              break;
            }
            Thread.sleep(100);
          }
          double lag = (System.nanoTime() - ended) / 1e9;
          JsonNode m1 = one.metrics();
          System.out.printf(
              "    after the load: node1 live %d, node2 live %d: %s %.1f s after the load stopped; "
                  + "node1 -> node2 sent %d, failed %d, queued %d%n",
              live1,
              live2,
              live1 == live2 ? "equal" : "NOT EQUAL",
              lag,
              ChronosNode.counter(m1, peer + ".sent"),
              ChronosNode.counter(m1, peer + ".failed"),
              queued);
          allEqual &= live1 == live2;
          worstLag = Math.max(worstLag, lag);
        }
      }
    }
    CreateLoad.Result a = CreateLoad.Result.combine(singles);
    CreateLoad.Result b = CreateLoad.Result.combine(clusters);
    double replicated =
        replicatedRates.stream().mapToDouble(Double::doubleValue).average().orElse(0);
    StringBuilder perRound = new StringBuilder();
    for (int i = 0; i < rounds; i++) {
      perRound
          .append(i == 0 ? "" : ", ")
          .append(String.format("%.2f", clusters.get(i).perSecond() / singles.get(i).perSecond()));
    }
    System.out.printf(
        "SUMMARY create, single node:        %6.0f req/s, p50 %.2f ms, p99 %.2f ms, errors %d%n",
        a.perSecond(), a.p50Millis(), a.p99Millis(), a.errors());
    System.out.printf(
        "SUMMARY create, node of 2-node rf 2: %6.0f req/s, p50 %.2f ms, p99 %.2f ms, errors %d; "
            + "replicated to node 2 meanwhile: %.0f/s%n",
        b.perSecond(), b.p50Millis(), b.p99Millis(), b.errors(), replicated);
    System.out.printf(
        "SUMMARY create, ratio cluster/single: %.2f (per round: %s; goal >= 0.5); replicated/single: %.2f; "
            + "node 2 caught up: %s, %.1f s after the load%n",
        b.perSecond() / a.perSecond(),
        perRound,
        replicated / a.perSecond(),
        allEqual ? "yes" : "NO",
        worstLag);
    if (others > 0.15) {
      System.out.printf(
          "SUMMARY WARNING: other processes used up to %.2f cores during the measured windows; figures are disturbed%n",
          others);
    }
  }
}
