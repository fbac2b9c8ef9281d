package org.chronos.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * How much CPU the JIT compilers of some processes use, from {@code /proc} (Linux only; elsewhere
 * it reads 0). A node is warmed up when its compilers stop using CPU: until then its figures
 * describe code still being compiled, next to a compiler taking a core of the machine.
 */
public final class Jit {
  /** {@code USER_HZ}: the unit of the CPU times in {@code /proc/<pid>/task/<tid>/stat}. */
  public static final double TICKS_PER_SECOND = 100.0;

  /** Compilers using less than this many cores over a window count as quiet: warmed up. */
  public static final double QUIET_CORES = 0.05;

  private Jit() {}

  /**
   * CPU ticks the JIT compiler threads ({@code C1/C2 CompilerThread*}) of these processes have used
   * so far.
   */
  public static long compilerTicks(List<Long> pids) {
    long sum = 0;
    for (long pid : pids) {
      try (java.util.stream.Stream<Path> tasks =
          Files.list(Path.of("/proc", Long.toString(pid), "task"))) {
        for (Path task : (Iterable<Path>) tasks::iterator) {
          try {
            String comm = Files.readString(task.resolve("comm")).strip();
            if (comm.startsWith("C1 Compiler") || comm.startsWith("C2 Compiler")) {
              String stat = Files.readString(task.resolve("stat"));
              String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
              sum += Long.parseLong(f[11]) + Long.parseLong(f[12]); // utime, stime
            }
          } catch (IOException | RuntimeException gone) {
            // thread ended
          }
        }
      } catch (IOException | RuntimeException gone) {
        // process ended, or no /proc
      }
    }
    return sum;
  }

  /** Cores the compilers used between two readings of {@link #compilerTicks} over a window. */
  public static double cores(long ticksBefore, long ticksAfter, double seconds) {
    return seconds <= 0 ? 0 : (ticksAfter - ticksBefore) / TICKS_PER_SECOND / seconds;
  }
}
