package org.chronos.node;

import java.util.concurrent.ThreadFactory;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Threads for a resync's work and for serving another node's resync: work that can wait while this
 * node's pops and requests cannot.
 *
 * <p>They run at Java's lowest priority, nice 4 under {@code -XX:ThreadPriorityPolicy=1} (which the
 * Debian package sets). With {@code resync.idleScheduling} (the default) each of them also puts
 * itself under Linux's {@code SCHED_IDLE} as it starts ({@code chrt --idle}, which any user may
 * do). Nice 4 only weighs a thread's share: on the two saturated cores of the resync benchmark an
 * ordinary thread that woke still waited for a resync thread's time slice, and callbacks reached
 * their target at p99 2.8-3.4x their idle lateness. A thread under {@code SCHED_IDLE} gives its
 * core to any ordinary thread at once, so the resync runs on what the node's pops, callbacks and
 * requests leave, and on that benchmark callbacks stayed at 0.9-1.6x their idle lateness while the
 * resync finished no later (bench/cluster/README.md, 2w). The price: on a node whose cores its
 * ordinary work keeps busy, a resync (and serving another node's) gets almost nothing until that
 * work eases.
 *
 * <p>A thread that cannot get {@code SCHED_IDLE} (not Linux, no util-linux {@code chrt}) runs on at
 * nice 4; the first such thread logs why.
 */
public final class BackgroundThreads {
  private static final Logger LOG = LoggerFactory.getLogger(BackgroundThreads.class);

  private final boolean idle;
  private final AtomicInteger idleThreads = new AtomicInteger();
  private final AtomicBoolean reported = new AtomicBoolean();
  private volatile String failure;

  /** With {@code idle}, every thread made here puts itself under {@code SCHED_IDLE} first. */
  public BackgroundThreads(boolean idle) {
    this.idle = idle;
  }

  /** Daemon threads, all named {@code name}. */
  public ThreadFactory named(String name) {
    return factory(() -> name);
  }

  /** Daemon threads named {@code name-1}, {@code name-2}, ... */
  public ThreadFactory numbered(String name) {
    AtomicInteger count = new AtomicInteger();
    return factory(() -> name + "-" + count.incrementAndGet());
  }

  private ThreadFactory factory(Supplier<String> names) {
    return work -> {
      Thread t =
          new Thread(
              () -> {
                enter();
                work.run();
              },
              names.get());
      t.setDaemon(true);
      t.setPriority(Thread.MIN_PRIORITY);
      return t;
    };
  }

  /** Puts the calling thread, just started, under {@code SCHED_IDLE} if asked to. */
  private void enter() {
    if (!idle) {
      return;
    }
    long tid = RealtimePriority.currentThreadId();
    String why = tid < 0 ? "no /proc/thread-self here (Linux only)" : RealtimePriority.idle(tid);
    if (why == null) {
      if (idleThreads.getAndIncrement() == 0) {
        LOG.info(
            "resync threads run under SCHED_IDLE (resync.idleScheduling): {} is the first",
            Thread.currentThread().getName());
      }
      return;
    }
    failure = why;
    if (reported.compareAndSet(false, true)) {
      LOG.warn(
          "resync threads left at background priority (nice 4 under"
              + " -XX:ThreadPriorityPolicy=1): could not put {} under SCHED_IDLE: {}",
          Thread.currentThread().getName(),
          why);
    }
  }

  /** How these threads are scheduled, for the health check. */
  public String scheduling() {
    if (!idle) {
      return "background priority (resync.idleScheduling off)";
    }
    String why = failure;
    if (why != null) {
      return "background priority, could not get SCHED_IDLE: " + why;
    }
    return idleThreads.get() > 0 ? "SCHED_IDLE" : "SCHED_IDLE (none started yet)";
  }
}
