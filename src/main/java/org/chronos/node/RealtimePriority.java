package org.chronos.node;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.chronos.timer.TimerService;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Real-time scheduling for the timer thread ({@code timers.realtimePriority}): Linux's {@code
 * SCHED_FIFO} at a given priority, set with util-linux's {@code chrt}. A thread under it runs as
 * soon as it is runnable, ahead of every ordinary thread on the machine, so a pop waits neither for
 * a busy core nor for another thread's time slice: in the resync benchmark on two saturated cores a
 * node's p99 pop lateness stayed at 100-200 us instead of 2-5 ms (bench/cluster/README.md, 2n). It
 * is set with {@code --reset-on-fork}: threads the timer thread starts (the callback client starts
 * its threads on the first pop) would otherwise inherit it, and two real-time threads yielding to
 * each other kept every ordinary thread off a core for up to a second (bench/README.md, 3e). Off by
 * default: a real-time thread that spins on a JVM-internal lock held by an ordinary thread on its
 * core still holds pops up now and then (20-150 ms in the runs of 3e) until Linux moves that thread
 * to another core. {@code timers.realtimeBudget} puts the thread under {@code SCHED_DEADLINE}
 * instead ({@link #budget}): ahead of every thread too, but only for a budget of CPU per period,
 * after which it waits for the next period and whatever it spins on gets the core.
 *
 * <p>A node that may not raise the thread (neither root nor a {@code RLIMIT_RTPRIO} of at least the
 * priority: {@code LimitRTPRIO=} in a systemd unit) logs why and runs on at normal priority.
 */
public final class RealtimePriority {
  private static final Logger LOG = LoggerFactory.getLogger(RealtimePriority.class);
  private static final Path THREAD_SELF = Path.of("/proc/thread-self");
  private static final long CHRT_TIMEOUT_SECONDS = 10;

  private RealtimePriority() {}

  /** The calling thread's Linux thread id (from {@code /proc/thread-self}); -1 without one. */
  public static long currentThreadId() {
    try {
      // "<pid>/task/<tid>"
      return Long.parseLong(Files.readSymbolicLink(THREAD_SELF).getFileName().toString());
    } catch (IOException | UnsupportedOperationException | NumberFormatException e) {
      return -1;
    }
  }

  /**
   * Puts thread {@code tid} under {@code SCHED_FIFO} at {@code priority} (1-99) with {@code chrt}.
   *
   * @return null if it did, else why not (chrt's message, or that chrt could not be run)
   */
  public static String raise(long tid, int priority) {
    return chrt(
        List.of(
            "chrt",
            "--fifo",
            // Threads this one starts begin as ordinary threads instead of inheriting SCHED_FIFO.
            "--reset-on-fork",
            "--pid",
            Integer.toString(priority),
            Long.toString(tid)));
  }

  /**
   * Puts thread {@code tid} under {@code SCHED_DEADLINE} with {@code chrt}: it runs ahead of every
   * other thread for up to {@code runtimeNanos} of CPU in each {@code periodNanos}, and is set
   * aside for the rest of a period once it has used that.
   *
   * @return null if it did, else why not
   */
  public static String budget(long tid, long runtimeNanos, long periodNanos) {
    return chrt(
        List.of(
            "chrt",
            "--deadline",
            "--reset-on-fork",
            "--sched-runtime",
            Long.toString(runtimeNanos),
            "--sched-deadline",
            Long.toString(periodNanos),
            "--sched-period",
            Long.toString(periodNanos),
            "--pid",
            "0",
            Long.toString(tid)));
  }

  private static String chrt(List<String> command) {
    try {
      Process chrt = new ProcessBuilder(command).redirectErrorStream(true).start();
      chrt.getOutputStream().close();
      // Waited for first (its output is a line at most, so it cannot fill the pipe): a chrt that
      // hangs must not hold up the node's start.
      if (!chrt.waitFor(CHRT_TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
        chrt.destroyForcibly();
        return "chrt did not finish within " + CHRT_TIMEOUT_SECONDS + " s";
      }
      if (chrt.exitValue() == 0) {
        return null;
      }
      String output;
      try (InputStream in = chrt.getInputStream()) {
        output = new String(in.readAllBytes(), StandardCharsets.UTF_8).trim();
      }
      return String.join(" ", command) + " failed (exit " + chrt.exitValue() + "): " + output;
    } catch (IOException e) {
      return "could not run chrt (util-linux): " + e.getMessage();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return "interrupted";
    }
  }

  /**
   * What {@link #raiseTimerThread} did: whether the timer thread now runs under a real-time policy,
   * and how it is scheduled, for the health check ({@code "normal"} when no policy was asked for,
   * the policy when it was granted, {@code "normal, could not get <policy> ..."} when refused).
   */
  public record Outcome(boolean realtime, String scheduling) {}

  /** The policy {@link #raiseTimerThread} asks for: only called with a budget or a priority. */
  private static String describe(int priority, long budgetNanos, long periodNanos) {
    if (budgetNanos > 0) {
      return "SCHED_DEADLINE, up to "
          + budgetNanos / 1000
          + " us of CPU per "
          + periodNanos / 1000
          + " us (timers.realtimeBudget, timers.realtimePeriod)";
    }
    return "SCHED_FIFO at priority " + priority + " (timers.realtimePriority)";
  }

  /**
   * Puts {@code service}'s timer thread under {@code SCHED_DEADLINE} if {@code budgetNanos} is
   * above 0 (at most that much CPU per {@code periodNanos}, ahead of everything else), else under
   * {@code SCHED_FIFO} at {@code priority} if that is above 0. Never throws: a node whose thread
   * stays at normal priority still works, and the log says why.
   */
  public static Outcome raiseTimerThread(
      TimerService service, int priority, long budgetNanos, long periodNanos) {
    boolean deadline = budgetNanos > 0;
    if (!deadline && priority <= 0) {
      return new Outcome(false, "normal");
    }
    String policy = describe(priority, budgetNanos, periodNanos);
    long tid = service.query(store -> currentThreadId()).join();
    String failure;
    if (tid < 0) {
      failure = "no /proc/thread-self here (Linux only)";
    } else {
      failure = deadline ? budget(tid, budgetNanos, periodNanos) : raise(tid, priority);
    }
    if (failure == null) {
      LOG.info("timer thread (tid {}) runs under {}", tid, policy);
      return new Outcome(true, policy);
    }
    LOG.warn(
        "timer thread left at normal priority: could not put it under {}: {}. {}",
        policy,
        failure,
        deadline
            ? "SCHED_DEADLINE needs root or CAP_SYS_NICE (AmbientCapabilities=CAP_SYS_NICE in a"
                + " systemd unit)"
            : "A node not run as root needs a real-time priority limit of at least "
                + priority
                + " (LimitRTPRIO= in its systemd unit; the package's has it)");
    return new Outcome(false, "normal, could not get " + policy + " (the log at start says why)");
  }
}
