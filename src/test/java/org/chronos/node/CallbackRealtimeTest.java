package org.chronos.node;

import static org.assertj.core.api.Assertions.assertThat;

import io.dropwizard.testing.junit5.DropwizardAppExtension;
import io.dropwizard.testing.junit5.DropwizardExtensionsSupport;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
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
 * {@code callbacks.realtimePriority}: the threads that send callbacks and read their answers (the
 * dispatcher and the I/O threads) run under Linux's SCHED_FIFO at the priority asked for whenever
 * this process may do that, no other thread does (not the timer thread), the health check says so,
 * and the node pops either way. Which case applies is found out independently of the node, by
 * putting a thread of the test's own under SCHED_FIFO with chrt.
 */
@ExtendWith(DropwizardExtensionsSupport.class)
class CallbackRealtimeTest {
  private static final int PRIORITY = 2;
  private static final int IO_THREADS = 2;
  private static final CallbackServer CALLBACKS = CallbackServer.start();
  static final DropwizardAppExtension<ChronosConfiguration> APP =
      SingleNodeApp.create(
          "callbacks:", "  realtimePriority: " + PRIORITY, "  ioThreads: " + IO_THREADS);

  @AfterAll
  static void closeCallbacks() {
    CALLBACKS.close();
  }

  @Test
  void theCallbackThreadsRunUnderSchedFifoWhenThisProcessMayAndPopsEitherWay() throws Exception {
    String path = CALLBACKS.newPath("rt-callback");
    ChronosClient.of(APP)
        .createTimer(
            TimerJson.timer().interval(1).callback(CALLBACKS.url(path), "rt-callback").json());
    CALLBACKS.awaitRequest(path);

    boolean allowed = Scheduling.processMay("-f", "-p", Integer.toString(PRIORITY));
    ChronosApplication app = APP.getApplication();
    Map<String, Long> raised = app.callbackClient().realtimeThreads();
    String health = Scheduling.timerThreadHealth(APP);
    if (!allowed) {
      assertThat(raised).isEmpty();
      assertThat(health).contains("callback threads: normal for ").contains("could not get");
      assertThat(Scheduling.otherThreadsNotOrdinary(Set.of())).isEmpty();
      return;
    }
    assertThat(raised.keySet())
        .contains("chronos-callback-dispatch", "chronos-callback-io-1", "chronos-callback-io-2");
    for (Map.Entry<String, Long> thread : raised.entrySet()) {
      long tid = thread.getValue();
      assertThat(Scheduling.policyOf(tid)).as(thread.getKey()).isEqualTo(Scheduling.SCHED_FIFO);
      assertThat(Scheduling.rtPriorityOf(tid)).as(thread.getKey()).isEqualTo(PRIORITY);
    }
    assertThat(health)
        .endsWith(
            "scheduling: normal; callback threads: SCHED_FIFO at priority "
                + PRIORITY
                + " (callbacks.realtimePriority), "
                + raised.size()
                + " threads");
    // Only these: the timer thread (no timers.realtimePriority here), the deadline thread and
    // every other thread stay ordinary.
    Set<Long> expected = new HashSet<>(raised.values());
    assertThat(Scheduling.otherThreadsNotOrdinary(expected)).isEmpty();
  }
}
