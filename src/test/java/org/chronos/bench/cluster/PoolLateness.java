package org.chronos.bench.cluster;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Pools the callback lateness samples of several {@link ResyncBench} runs ({@code
 * -Dcbench.samples=<file>}, one file per run) so that the resync phase's p99 rests on more than the
 * 15-20 latest callbacks one run has.
 *
 * <p>Prints, per run and pooled, each phase's p99 (all timers and those A is primary for, which
 * reach the target without the replication transit of B's, {@code bench/cluster/README.md} 2q), the
 * ratio of the resync phases' p99 to the idle phase's, and a 95% interval for the pooled ratio by
 * resampling whole runs with replacement (a run's phases share its machine's state, so runs, not
 * callbacks, are the independent units).
 *
 * <pre>
 * java -cp target/test-classes:target/chronos.jar org.chronos.bench.cluster.PoolLateness run1.csv run2.csv ...
 * </pre>
 */
public final class PoolLateness {
  private static final int DRAWS = 10_000;
  private static final List<String> RATIO_PHASES = List.of("resync", "resync2");

  private PoolLateness() {}

  /** One run's samples: phase -> primary ("A", "B", "?") -> lateness in ns. */
  record Run(String name, Map<String, Map<String, long[]>> phases, int missing) {
    long[] samples(String phase, boolean onlyA) {
      Map<String, long[]> byPrimary = phases.getOrDefault(phase, Map.of());
      if (onlyA) {
        return byPrimary.getOrDefault("A", new long[0]);
      }
      return concat(new ArrayList<>(byPrimary.values()));
    }
  }

  public static void main(String[] args) throws IOException {
    if (args.length == 0) {
      System.err.println("usage: PoolLateness <samples file>...");
      System.exit(2);
    }
    List<Run> runs = new ArrayList<>();
    for (String arg : args) {
      runs.add(read(Path.of(arg)));
    }
    List<String> phases = new ArrayList<>();
    for (Run run : runs) {
      for (String phase : run.phases().keySet()) {
        if (!phases.contains(phase)) {
          phases.add(phase);
        }
      }
    }
    List<String> ratioPhases = RATIO_PHASES.stream().filter(phases::contains).toList();

    System.out.printf(
        "%d runs; callback lateness p99 in ms (all timers / timers A is primary for)%n",
        runs.size());
    StringBuilder header = new StringBuilder(String.format("%-28s", "run"));
    for (String phase : phases) {
      header.append(String.format(" %17s", phase));
    }
    for (String phase : ratioPhases) {
      header.append(String.format(" %13s", phase + "/idle"));
    }
    System.out.println(header);
    for (Run run : runs) {
      System.out.println(row(run.name(), List.of(run), phases, ratioPhases));
    }
    System.out.println(row("pooled", runs, phases, ratioPhases));

    System.out.println();
    for (String phase : phases) {
      long[] all = pooled(runs, phase, false);
      long[] a = pooled(runs, phase, true);
      System.out.printf(
          "pooled %-8s %6d callbacks: p50 %6.2f ms, p99 %6.2f ms (p99 rests on the %d latest); A's %6d: p99 %6.2f ms%n",
          phase,
          all.length,
          p(all, 0.50) / 1e6,
          p(all, 0.99) / 1e6,
          all.length - (int) Math.ceil(0.99 * all.length) + 1,
          a.length,
          p(a, 0.99) / 1e6);
    }
    int missing = runs.stream().mapToInt(Run::missing).sum();
    System.out.printf("missing callbacks in all runs: %d%n", missing);

    System.out.println();
    SplittableRandom random = new SplittableRandom(20261206L);
    for (String phase : ratioPhases) {
      for (boolean onlyA : new boolean[] {false, true}) {
        double ratio = ratio(runs, phase, onlyA);
        double[] draws = new double[DRAWS];
        for (int d = 0; d < DRAWS; d++) {
          List<Run> sample = new ArrayList<>(runs.size());
          for (int i = 0; i < runs.size(); i++) {
            sample.add(runs.get(random.nextInt(runs.size())));
          }
          draws[d] = ratio(sample, phase, onlyA);
        }
        Arrays.sort(draws);
        long within = runs.stream().filter(r -> ratio(List.of(r), phase, onlyA) <= 2.0).count();
        System.out.printf(
            "SUMMARY pooled p99 %s / idle, %s: %.2fx (95%% interval over runs %.2f-%.2fx); runs within 2x: %d of %d%n",
            phase,
            onlyA ? "timers A is primary for" : "all timers",
            ratio,
            draws[(int) (0.025 * DRAWS)],
            draws[(int) (0.975 * DRAWS) - 1],
            within,
            runs.size());
      }
    }
  }

  private static String row(String name, List<Run> runs, List<String> phases, List<String> ratios) {
    StringBuilder line = new StringBuilder(String.format("%-28s", name));
    for (String phase : phases) {
      line.append(
          String.format(
              " %8.2f / %6.2f",
              p(pooled(runs, phase, false), 0.99) / 1e6, p(pooled(runs, phase, true), 0.99) / 1e6));
    }
    for (String phase : ratios) {
      line.append(
          String.format(" %5.1fx / %4.1fx", ratio(runs, phase, false), ratio(runs, phase, true)));
    }
    return line.toString();
  }

  private static double ratio(List<Run> runs, String phase, boolean onlyA) {
    long idle = p(pooled(runs, "idle", onlyA), 0.99);
    return (double) p(pooled(runs, phase, onlyA), 0.99) / Math.max(1, idle);
  }

  private static long[] pooled(List<Run> runs, String phase, boolean onlyA) {
    List<long[]> parts = new ArrayList<>();
    for (Run run : runs) {
      parts.add(run.samples(phase, onlyA));
    }
    return concat(parts);
  }

  private static long p(long[] values, double q) {
    long[] sorted = values.clone();
    Arrays.sort(sorted);
    return Stats.percentile(sorted, q);
  }

  private static long[] concat(List<long[]> parts) {
    int n = parts.stream().mapToInt(x -> x.length).sum();
    long[] out = new long[n];
    int at = 0;
    for (long[] part : parts) {
      System.arraycopy(part, 0, out, at, part.length);
      at += part.length;
    }
    return out;
  }

  static Run read(Path file) throws IOException {
    Map<String, Map<String, List<Long>>> lists = new LinkedHashMap<>();
    int missing = 0;
    for (String line : Files.readAllLines(file)) {
      if (line.isBlank()) {
        continue;
      }
      String[] f = line.split(",");
      if (f.length != 3) {
        throw new IOException(file + ": not phase,primary,lateness: " + line);
      }
      if (f[2].equals("missing")) {
        missing++;
        continue;
      }
      lists
          .computeIfAbsent(f[0], k -> new LinkedHashMap<>())
          .computeIfAbsent(f[1], k -> new ArrayList<>())
          .add(Long.parseLong(f[2]));
    }
    Map<String, Map<String, long[]>> phases = new LinkedHashMap<>();
    lists.forEach(
        (phase, byPrimary) -> {
          Map<String, long[]> arrays = new LinkedHashMap<>();
          byPrimary.forEach(
              (who, values) ->
                  arrays.put(who, values.stream().mapToLong(Long::longValue).toArray()));
          phases.put(phase, arrays);
        });
    String name = file.getFileName().toString().replaceFirst("\\.csv$", "");
    return new Run(name, phases, missing);
  }
}
