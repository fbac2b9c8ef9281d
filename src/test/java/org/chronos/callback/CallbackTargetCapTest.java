package org.chronos.callback;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.spi.ILoggingEvent;
import io.dropwizard.testing.ConfigOverride;
import io.dropwizard.testing.DropwizardTestSupport;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import org.chronos.ChronosConfiguration;
import org.chronos.testing.CallbackServer;
import org.chronos.testing.ChronosClient;
import org.chronos.testing.LogCapture;
import org.chronos.testing.SingleNodeApp;
import org.chronos.testing.TimerJson;
import org.junit.jupiter.api.Test;

/**
 * Callback targets that do not answer (their hosts gone, their packets dropped) hold each of their
 * callbacks for the whole timeout. Each may hold at most {@code
 * callbacks.maxInFlightPerSilentTarget} of them (by default an eighth of {@code
 * callbacks.maxInFlight}), so the pops of other targets go out on time instead of waiting for their
 * callbacks to time out; their own pops wait, and none is lost.
 */
class CallbackTargetCapTest {
  private static final int TIMERS_PER_SILENT_TARGET = 10;

  @Test
  void targetsThatDoNotAnswerHoldUpOnlyTheirOwnPops() throws Exception {
    // Sixteen callbacks at once, so two per silent target by default; a timeout far beyond the
    // waits below, so that nothing here is freed by a callback timing out. The two silent targets
    // have more due pops than there are callbacks.
    DropwizardTestSupport<ChronosConfiguration> node =
        SingleNodeApp.support(
            ConfigOverride.config("callbacks.maxInFlight", "16"),
            ConfigOverride.config("callbacks.timeout", "60s"));
    CountDownLatch answer = new CountDownLatch(1);
    List<CallbackServer> silent = new ArrayList<>();
    try (CallbackServer live = CallbackServer.start()) {
      for (int i = 0; i < 2; i++) {
        CallbackServer target = CallbackServer.start();
        silent.add(target);
        target.respondByDefault(CallbackServer.heldUntil(answer));
      }
      node.before();
      // After the start: Dropwizard sets logging up as it starts.
      try (LogCapture log = LogCapture.of(CallbackClient.class, Level.WARN)) {
        ChronosClient chronos = new ChronosClient(node.getLocalPort(), node.getAdminPort());
        for (CallbackServer target : silent) {
          for (int i = 0; i < TIMERS_PER_SILENT_TARGET; i++) {
            chronos.createTimer(TimerJson.oneShot(1, target.url("/silent"), "s" + i));
          }
        }
        String livePath = live.newPath("live");
        chronos.createTimer(TimerJson.oneShot(1, live.url(livePath), "live"));

        // Without the limit the silent targets' pops would take all sixteen callbacks for 60 s.
        live.awaitRequests(livePath, 1, Duration.ofSeconds(10));
        await("the silent targets' other pops held back")
            .atMost(Duration.ofSeconds(10))
            .until(
                () ->
                    Long.valueOf(16).equals(chronos.gauge("chronos.callbacks.waiting-for-target")));
        for (CallbackServer target : silent) {
          assertThat(target.awaitRequests("/silent", 2)).hasSize(2);
          assertThat(log.events())
              .extracting(ILoggingEvent::getFormattedMessage)
              .as("a warning names each silent target")
              .anySatisfy(
                  line ->
                      assertThat(line)
                          .startsWith(target.baseUrl() + " is not answering")
                          .contains("callbacks.maxInFlightPerSilentTarget"));
        }
        assertThat(chronos.gauge("chronos.callbacks.waiting-for-target-oldest-millis"))
            .as("the oldest held pop is late")
            .isPositive();

        answer.countDown();
        for (CallbackServer target : silent) {
          target.awaitRequests("/silent", TIMERS_PER_SILENT_TARGET, Duration.ofSeconds(10));
        }
        await("every callback answered")
            .atMost(Duration.ofSeconds(10))
            .until(
                () ->
                    chronos.counter("chronos.callbacks.succeeded")
                        == 2 * TIMERS_PER_SILENT_TARGET + 1);
        assertThat(chronos.gauge("chronos.callbacks.waiting-for-target")).isZero();
        assertThat(chronos.gauge("chronos.callbacks.waiting-for-target-oldest-millis")).isZero();
        for (CallbackServer target : silent) {
          assertThat(target.requestsTo("/silent"))
              .as("each pop made once")
              .extracting(CallbackServer.Received::bodyText)
              .containsExactlyInAnyOrder(
                  "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9");
        }
        assertThat(chronos.counter("chronos.callbacks.failed")).isZero();
      } finally {
        answer.countDown();
        node.after();
      }
    } finally {
      silent.forEach(CallbackServer::close);
    }
  }
}
