package org.chronos.node;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.dropwizard.configuration.ConfigurationValidationException;
import io.dropwizard.configuration.YamlConfigurationFactory;
import io.dropwizard.jackson.Jackson;
import io.dropwizard.jersey.validation.Validators;
import io.dropwizard.testing.junit5.DropwizardAppExtension;
import io.dropwizard.testing.junit5.DropwizardExtensionsSupport;
import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import org.chronos.ChronosApplication;
import org.chronos.ChronosConfiguration;
import org.chronos.testing.CallbackServer;
import org.chronos.testing.SingleNodeApp;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * {@code timers.realtimeBudget}: the timer thread runs under Linux's SCHED_DEADLINE (a share of a
 * core ahead of everything else, then set aside until the next period) whenever this process may do
 * that (root, or CAP_SYS_NICE), takes precedence over {@code realtimePriority}, hands the policy to
 * no thread it starts, and a node that may not still pops. Bad budgets fail at start.
 */
@ExtendWith(DropwizardExtensionsSupport.class)
class RealtimeBudgetTest {
  private static final CallbackServer CALLBACKS = CallbackServer.start();
  static final DropwizardAppExtension<ChronosConfiguration> APP =
      SingleNodeApp.create(
          "timers:", "  realtimePriority: 3", "  realtimeBudget: 2ms", "  realtimePeriod: 10ms");

  private static final YamlConfigurationFactory<ChronosConfiguration> FACTORY =
      new YamlConfigurationFactory<>(
          ChronosConfiguration.class, Validators.newValidator(), Jackson.newObjectMapper(), "dw");

  @AfterAll
  static void closeCallbacks() {
    CALLBACKS.close();
  }

  @Test
  void theTimerThreadRunsUnderSchedDeadlineWhenThisProcessMayAndPopsEitherWay() throws Exception {
    ChronosApplication app = APP.getApplication();
    long tid = app.timerService().query(store -> RealtimePriority.currentThreadId()).join();
    assertThat(tid).isPositive();

    boolean allowed =
        Scheduling.processMay(
            "-d", "-R", "-T", "2000000", "-D", "10000000", "-P", "10000000", "-p", "0");
    assertThat(Scheduling.policyOf(tid))
        .as("scheduling policy (SCHED_DEADLINE allowed here: %s)", allowed)
        .isEqualTo(allowed ? Scheduling.SCHED_DEADLINE : Scheduling.SCHED_OTHER);
    // Serving another node's resync may then use half of the 2 ms budget per 10 ms period.
    assertThat(app.timerService().backgroundShare()).isEqualTo(allowed ? 0.1 : 1.0);
    // Under it, requests are taken in batches (timers.realtimeBatchWindow, 200 us by default).
    assertThat(app.timerService().commandWindowNanos()).isEqualTo(allowed ? 200_000 : 0);

    // The health check says which policy the timer thread got, or that it did not.
    assertThat(Scheduling.timerThreadHealth(APP))
        .contains(
            allowed
                ? "scheduling: SCHED_DEADLINE, up to 2000 us of CPU per 10000 us"
                : "scheduling: normal, could not get SCHED_DEADLINE");

    Scheduling.assertPopsAndNoOtherThreadIsRealtime(APP, CALLBACKS, tid);
  }

  @Test
  void aBudgetChrtRefusesIsReportedNotThrown() {
    // A runtime above the period is refused by the kernel (and by chrt).
    String failure =
        RealtimePriority.budget(RealtimePriority.currentThreadId(), 20_000_000, 10_000_000);
    assertThat(failure).isNotNull().contains("chrt");
  }

  @Test
  void theBudgetIsOffByDefaultAndBadOnesAreRefusedByName() throws Exception {
    ChronosConfiguration.TimerSettings timers = parse("logging:\n  level: INFO\n").getTimers();
    assertThat(timers.getRealtimeBudget().toNanoseconds()).isZero();
    assertThat(timers.getRealtimePeriod().toMilliseconds()).isEqualTo(10);
    assertThat(timers.getRealtimeBatchWindow().toMicroseconds()).isEqualTo(200);

    assertThatThrownBy(() -> parse("timers:\n  realtimeBudget: 10ms\n"))
        .isInstanceOf(ConfigurationValidationException.class)
        .hasMessageContaining("timers.realtimeBudget must be below timers.realtimePeriod");
    assertThatThrownBy(() -> parse("timers:\n  realtimeBudget: 50us\n"))
        .isInstanceOf(ConfigurationValidationException.class)
        .hasMessageContaining("timers.realtimeBudget must be 0 (off) or at least 100us");
    assertThatThrownBy(() -> parse("timers:\n  realtimeBatchWindow: 11ms\n"))
        .isInstanceOf(ConfigurationValidationException.class)
        .hasMessageContaining("timers.realtimeBatchWindow");
    assertThatThrownBy(() -> parse("timers:\n  realtimePeriod: 0ms\n"))
        .isInstanceOf(ConfigurationValidationException.class)
        .hasMessageContaining("timers.realtimePeriod");
    assertThat(
            parse("timers:\n  realtimeBudget: 3ms\n")
                .getTimers()
                .getRealtimeBudget()
                .toMicroseconds())
        .isEqualTo(3000);
  }

  private static ChronosConfiguration parse(String yaml) throws Exception {
    return FACTORY.build(
        path -> new ByteArrayInputStream(yaml.getBytes(StandardCharsets.UTF_8)), "chronos.yml");
  }
}
