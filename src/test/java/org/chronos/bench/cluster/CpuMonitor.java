package org.chronos.bench.cluster;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.function.Supplier;
import org.chronos.bench.Jit;

/**
 * Where the machine's CPU went during a window, from {@code /proc}: all busy time, the time of this
 * benchmark's processes (the load generator and its nodes), and the rest (other processes sharing
 * the machine). The benchmarks print it beside each phase so that a figure taken while something
 * else ran is recognisable as such. Linux only; elsewhere it reports nothing.
 */
final class CpuMonitor {
  private static final double TICKS_PER_SECOND = Jit.TICKS_PER_SECOND;
  private final Supplier<List<Long>> pids;
  private long machineBusy;
  private long[] perNode;
  private long nodes;
  private long jit;
  private long self;
  private long startNanos;
  private double others;

  /**
   * @param pids this benchmark's node PIDs, read at the start and end of each window
   */
  CpuMonitor(Supplier<List<Long>> pids) {
    this.pids = pids;
  }

  void start() {
    machineBusy = machineBusyTicks();
    nodes = ticks(pids.get());
    jit = Jit.compilerTicks(pids.get());
    perNode = pids.get().stream().mapToLong(p -> ticks(List.of(p))).toArray();
    self = ticks(List.of(ProcessHandle.current().pid()));
    startNanos = System.nanoTime();
  }

  /**
   * Busy cores over the window: machine, ours, others; e.g. "machine 1.98 cores: ours 1.20, others
   * 0.78".
   */
  String stop() {
    double seconds = (System.nanoTime() - startNanos) / 1e9;
    long machineNow = machineBusyTicks();
    long nodesNow = ticks(pids.get());
    long selfNow = ticks(List.of(ProcessHandle.current().pid()));
    if (machineNow < 0 || seconds <= 0) {
      return "cpu: n/a";
    }
    double machine = (machineNow - machineBusy) / TICKS_PER_SECOND / seconds;
    double node = (nodesNow - nodes) / TICKS_PER_SECOND / seconds;
    double generator = (selfNow - self) / TICKS_PER_SECOND / seconds;
    double compiling = Jit.cores(jit, Jit.compilerTicks(pids.get()), seconds);
    StringBuilder each = new StringBuilder();
    List<Long> now = pids.get();
    for (int i = 0; now.size() > 1 && i < now.size() && i < perNode.length; i++) {
      each.append(i == 0 ? " (" : " + ")
          .append(
              String.format(
                  "%.2f", (ticks(List.of(now.get(i))) - perNode[i]) / TICKS_PER_SECOND / seconds));
    }
    if (each.length() > 0) {
      each.append(')');
    }
    others = Math.max(0, machine - node - generator);
    return String.format(
        "cpu busy %.2f of %d cores: nodes %.2f%s (of which JIT compiling %.2f), load generator %.2f, "
            + "other processes %.2f",
        machine,
        Runtime.getRuntime().availableProcessors(),
        node,
        each,
        compiling,
        generator,
        Math.max(0, machine - node - generator));
  }

  /** Cores used by processes other than this benchmark's during the last window. */
  double others() {
    return others;
  }

  private static long ticks(List<Long> pids) {
    long sum = 0;
    for (long pid : pids) {
      try {
        String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
        String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
        sum += Long.parseLong(f[11]) + Long.parseLong(f[12]); // utime, stime (fields 14, 15)
      } catch (IOException | RuntimeException gone) {
        // the process ended; its time is lost to the window, which only understates ours
      }
    }
    return sum;
  }

  private static long machineBusyTicks() {
    try {
      String cpu = Files.readAllLines(Path.of("/proc/stat")).get(0);
      String[] f = cpu.trim().split("\\s+");
      long total = 0;
      for (int i = 1; i <= Math.min(8, f.length - 1); i++) { // user..steal; guest is inside user
        total += Long.parseLong(f[i]);
      }
      return total - Long.parseLong(f[4]) - Long.parseLong(f[5]); // minus idle and iowait
    } catch (IOException | RuntimeException e) {
      return -1;
    }
  }
}
