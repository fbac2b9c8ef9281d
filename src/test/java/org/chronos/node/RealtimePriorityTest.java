package org.chronos.node;

import static org.assertj.core.api.Assertions.assertThat;

import io.dropwizard.testing.junit5.DropwizardAppExtension;
import io.dropwizard.testing.junit5.DropwizardExtensionsSupport;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.chronos.ChronosApplication;
import org.chronos.ChronosConfiguration;
import org.chronos.testing.CallbackServer;
import org.chronos.testing.ChronosClient;
import org.chronos.testing.SingleNodeApp;
import org.chronos.testing.TimerJson;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * {@code timers.realtimePriority}: the timer thread runs under Linux's SCHED_FIFO at the priority
 * asked for whenever this process may do that (as root, or with a real-time priority limit), and a
 * node that may not still starts and pops. Which case applies is found out independently of the
 * node, by putting a thread of the test's own under SCHED_FIFO with chrt.
 */
@ExtendWith(DropwizardExtensionsSupport.class)
class RealtimePriorityTest {
  private static final int PRIORITY = 3;
  private static final CallbackServer CALLBACKS = CallbackServer.start();
  static final DropwizardAppExtension<ChronosConfiguration> APP =
      SingleNodeApp.create("timers:", "  realtimePriority: " + PRIORITY);

  @AfterAll
  static void closeCallbacks() {
    CALLBACKS.close();
  }

  @Test
  void theTimerThreadRunsUnderSchedFifoWhenThisProcessMayAndPopsEitherWay() throws Exception {
    ChronosApplication app = APP.getApplication();
    long tid = app.timerService().query(store -> RealtimePriority.currentThreadId()).join();
    assertThat(tid).isPositive();
    assertThat(comm(tid)).isEqualTo("chronos-timer");

    boolean allowed = processMayUseSchedFifo();
    // /proc/<pid>/task/<tid>/stat fields 40 and 41: rt_priority and policy (1 = SCHED_FIFO).
    String[] stat = statFields(tid);
    assertThat(Integer.parseInt(stat[41 - 3]))
        .as("scheduling policy (SCHED_FIFO allowed here: %s)", allowed)
        .isEqualTo(allowed ? 1 : 0);
    assertThat(Integer.parseInt(stat[40 - 3])).isEqualTo(allowed ? PRIORITY : 0);

    String path = CALLBACKS.newPath("rt");
    ChronosClient.of(APP)
        .createTimer(TimerJson.timer().interval(1).callback(CALLBACKS.url(path), "rt").json());
    CALLBACKS.awaitRequest(path);

    // Threads the timer thread starts (the callback client starts its executors' threads lazily,
    // on the first pop) must not inherit SCHED_FIFO: one that then runs busy, or spins on a lock
    // with another real-time thread, shuts every ordinary thread out of its core (bench/README.md
    // 3e: pops held up for a second).
    long child =
        app.timerService()
            .query(
                store -> {
                  CompletableFuture<Long> id = new CompletableFuture<>();
                  CompletableFuture<Void> release = new CompletableFuture<>();
                  Thread t =
                      new Thread(
                          () -> {
                            id.complete(RealtimePriority.currentThreadId());
                            release.join();
                          },
                          "rt-child-probe");
                  t.setDaemon(true);
                  t.start();
                  long childId = id.join();
                  childPolicies.append(statFields(childId)[41 - 3]);
                  release.complete(null);
                  return childId;
                })
            .join();
    assertThat(child).isPositive().isNotEqualTo(tid);
    assertThat(childPolicies.toString())
        .as("policy of a thread the timer thread started")
        .isEqualTo("0");
    for (long other : threadIds()) {
      Path statFile = Path.of("/proc/self/task/" + other + "/stat");
      String line;
      try {
        line = Files.readString(statFile, StandardCharsets.UTF_8);
      } catch (NoSuchFileException ended) {
        continue; // the thread ended since the listing
      }
      if (other != tid) {
        String[] fields = line.substring(line.lastIndexOf(')') + 2).trim().split(" ");
        assertThat(Integer.parseInt(fields[41 - 3]))
            .as("policy of thread %d (%s)", other, line.substring(0, line.lastIndexOf(')') + 1))
            .isZero();
      }
    }
  }

  private final StringBuilder childPolicies = new StringBuilder();

  private static long[] threadIds() throws IOException {
    try (var tasks = Files.list(Path.of("/proc/self/task"))) {
      return tasks.mapToLong(p -> Long.parseLong(p.getFileName().toString())).toArray();
    }
  }

  @Test
  void eachThreadHasItsOwnId() throws Exception {
    CompletableFuture<long[]> other = new CompletableFuture<>();
    Thread t =
        new Thread(
            () -> other.complete(new long[] {RealtimePriority.currentThreadId()}), "rt-id-probe");
    t.start();
    long otherId = other.get(5, TimeUnit.SECONDS)[0];
    assertThat(otherId).isPositive().isNotEqualTo(RealtimePriority.currentThreadId());
    t.join();
  }

  @Test
  void aPriorityChrtRefusesIsReportedNotThrown() {
    String failure = RealtimePriority.raise(RealtimePriority.currentThreadId(), 100);
    assertThat(failure).isNotNull().contains("chrt");
  }

  /** Whether this process may put one of its threads under SCHED_FIFO at {@link #PRIORITY}. */
  private static boolean processMayUseSchedFifo() throws Exception {
    CompletableFuture<Long> tid = new CompletableFuture<>();
    CompletableFuture<Void> done = new CompletableFuture<>();
    Thread probe =
        new Thread(
            () -> {
              tid.complete(RealtimePriority.currentThreadId());
              done.join();
            },
            "rt-probe");
    probe.start();
    try {
      Process chrt =
          new ProcessBuilder(
                  "chrt", "-f", "-p", Integer.toString(PRIORITY), Long.toString(tid.get()))
              .redirectErrorStream(true)
              .start();
      chrt.getInputStream().readAllBytes();
      return chrt.waitFor() == 0;
    } catch (IOException e) {
      return false; // no chrt: the node cannot raise its thread either
    } finally {
      done.complete(null);
      probe.join();
    }
  }

  private static String comm(long tid) throws IOException {
    return Files.readString(Path.of("/proc/self/task/" + tid + "/comm"), StandardCharsets.UTF_8)
        .trim();
  }

  /** The fields of the thread's stat line from field 3 on (after the parenthesized name). */
  private static String[] statFields(long tid) {
    String stat;
    try {
      stat = Files.readString(Path.of("/proc/self/task/" + tid + "/stat"), StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
    return stat.substring(stat.lastIndexOf(')') + 2).trim().split(" ");
  }
}
