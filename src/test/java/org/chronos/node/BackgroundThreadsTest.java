package org.chronos.node;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The threads a resync runs on ({@link BackgroundThreads}): with {@code resync.idleScheduling} each
 * is under Linux's SCHED_IDLE before its first task runs, wherever this process may do that (found
 * out independently, with chrt on a thread of the test's own); without it, an ordinary thread.
 * Either way a daemon at Java's lowest priority (nice 4 under {@code -XX:ThreadPriorityPolicy=1}).
 */
class BackgroundThreadsTest {
  /** What a task saw of the thread it ran on. */
  private record Seen(String name, int policy, int javaPriority, boolean daemon) {}

  private static Seen look() {
    Thread t = Thread.currentThread();
    return new Seen(
        t.getName(),
        Scheduling.policyOf(RealtimePriority.currentThreadId()),
        t.getPriority(),
        t.isDaemon());
  }

  /** Runs one task on each of {@code n} threads from {@code pool}, all at once. */
  private static List<Seen> onEachThread(ExecutorService pool, int n) throws Exception {
    CountDownLatch allThere = new CountDownLatch(n);
    List<Future<Seen>> seen = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      seen.add(
          pool.submit(
              () -> {
                allThere.countDown();
                // Holds its thread until every task has one, so that each runs on its own.
                assertThat(allThere.await(10, TimeUnit.SECONDS)).isTrue();
                return look();
              }));
    }
    List<Seen> result = new ArrayList<>();
    for (Future<Seen> f : seen) {
      result.add(f.get(30, TimeUnit.SECONDS));
    }
    return result;
  }

  /**
   * Stops the pool and waits for its threads to end (a test of the nodes counts SCHED_IDLE ones).
   */
  private static void shutDown(ExecutorService pool) throws InterruptedException {
    pool.shutdownNow();
    assertThat(pool.awaitTermination(30, TimeUnit.SECONDS)).isTrue();
  }

  @Test
  void withIdleSchedulingEveryThreadIsUnderSchedIdleBeforeItsFirstTaskWhereThisProcessMay()
      throws Exception {
    boolean allowed = Scheduling.processMay("--idle", "--pid", "0");
    BackgroundThreads threads = new BackgroundThreads(true);
    assertThat(threads.scheduling()).isEqualTo("SCHED_IDLE (none started yet)");

    ExecutorService pool = Executors.newFixedThreadPool(2, threads.numbered("bg-idle"));
    try {
      List<Seen> seen = onEachThread(pool, 2);
      assertThat(seen).extracting(Seen::name).containsExactlyInAnyOrder("bg-idle-1", "bg-idle-2");
      assertThat(seen)
          .as("SCHED_IDLE allowed here: %s", allowed)
          .allSatisfy(
              s -> {
                assertThat(s.policy())
                    .isEqualTo(allowed ? Scheduling.SCHED_IDLE : Scheduling.SCHED_OTHER);
                assertThat(s.javaPriority()).isEqualTo(Thread.MIN_PRIORITY);
                assertThat(s.daemon()).isTrue();
              });
      assertThat(threads.scheduling())
          .startsWith(allowed ? "SCHED_IDLE" : "background priority, could not get SCHED_IDLE")
          .doesNotContain("none started yet");
    } finally {
      shutDown(pool);
    }
  }

  @Test
  void withoutIdleSchedulingThreadsAreOrdinaryAtTheLowestJavaPriority() throws Exception {
    BackgroundThreads threads = new BackgroundThreads(false);
    ExecutorService pool = Executors.newSingleThreadExecutor(threads.named("bg-plain"));
    try {
      Seen seen = onEachThread(pool, 1).get(0);
      assertThat(seen)
          .isEqualTo(new Seen("bg-plain", Scheduling.SCHED_OTHER, Thread.MIN_PRIORITY, true));
      assertThat(threads.scheduling()).isEqualTo("background priority (resync.idleScheduling off)");
    } finally {
      shutDown(pool);
    }
  }
}
