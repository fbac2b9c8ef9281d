package org.chronos.node;

import static org.assertj.core.api.Assertions.assertThat;

import io.dropwizard.testing.junit5.DropwizardAppExtension;
import io.dropwizard.testing.junit5.DropwizardExtensionsSupport;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.chronos.ChronosApplication;
import org.chronos.ChronosConfiguration;
import org.chronos.testing.CallbackServer;
import org.chronos.testing.SingleNodeApp;
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
    assertThat(Scheduling.comm(tid)).isEqualTo("chronos-timer");

    boolean allowed = Scheduling.processMay("-f", "-p", Integer.toString(PRIORITY));
    assertThat(Scheduling.policyOf(tid))
        .as("scheduling policy (SCHED_FIFO allowed here: %s)", allowed)
        .isEqualTo(allowed ? Scheduling.SCHED_FIFO : Scheduling.SCHED_OTHER);
    assertThat(Scheduling.rtPriorityOf(tid)).isEqualTo(allowed ? PRIORITY : 0);
    assertThat(Scheduling.timerThreadHealth(APP))
        .contains(
            allowed
                ? "scheduling: SCHED_FIFO at priority " + PRIORITY
                : "scheduling: normal, could not get SCHED_FIFO");

    Scheduling.assertPopsAndNoOtherThreadIsRealtime(APP, CALLBACKS, tid);
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
}
