package org.chronos.callback;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.spi.ILoggingEvent;
import io.dropwizard.testing.ConfigOverride;
import io.dropwizard.testing.DropwizardTestSupport;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import org.chronos.ChronosConfiguration;
import org.chronos.testing.CallbackServer;
import org.chronos.testing.CallbackServer.Reply;
import org.chronos.testing.ChronosClient;
import org.chronos.testing.LogCapture;
import org.chronos.testing.SingleNodeApp;
import org.chronos.testing.TimerJson;
import org.junit.jupiter.api.Test;

/**
 * A callback target that does not answer (its host gone, its packets dropped) holds each of its
 * callbacks for the whole timeout. It may hold at most {@code callbacks.maxInFlightPerTarget} of
 * them (by default half of {@code callbacks.maxInFlight}), so the pops of other targets go out on
 * time instead of waiting for its callbacks to time out; its own pops wait, and none is lost.
 */
class CallbackTargetCapTest {

  @Test
  void aTargetThatDoesNotAnswerHoldsUpOnlyItsOwnPops() throws Exception {
    // Four callbacks at once, so two per target by default; a timeout far beyond the waits below,
    // so that nothing here is freed by a callback timing out.
    DropwizardTestSupport<ChronosConfiguration> node =
        SingleNodeApp.support(
            ConfigOverride.config("callbacks.maxInFlight", "4"),
            ConfigOverride.config("callbacks.timeout", "60s"));
    CountDownLatch answer = new CountDownLatch(1);
    try (CallbackServer silent = CallbackServer.start();
        CallbackServer live = CallbackServer.start()) {
      String silentPath = silent.newPath("silent");
      silent.respond(
          silentPath,
          request -> {
            try {
              answer.await();
            } catch (InterruptedException e) {
              Thread.currentThread().interrupt();
            }
            return Reply.ok();
          });
      String livePath = live.newPath("live");
      node.before();
      // After the start: Dropwizard sets logging up as it starts.
      try (LogCapture log = LogCapture.of(CallbackClient.class, Level.WARN)) {
        ChronosClient chronos = new ChronosClient(node.getLocalPort(), node.getAdminPort());
        for (int i = 0; i < 6; i++) {
          chronos.createTimer(TimerJson.oneShot(1, silent.url(silentPath), "s" + i));
        }
        chronos.createTimer(TimerJson.oneShot(1, live.url(livePath), "live"));

        // Without the cap the silent target's pops would take all four callbacks for 60 s.
        live.awaitRequests(livePath, 1, Duration.ofSeconds(10));
        await("the silent target's other pops held back")
            .atMost(Duration.ofSeconds(10))
            .until(
                () ->
                    Long.valueOf(4).equals(chronos.gauge("chronos.callbacks.waiting-for-target")));
        assertThat(silent.requestsTo(silentPath)).hasSize(2);
        assertThat(log.events())
            .extracting(ILoggingEvent::getFormattedMessage)
            .anySatisfy(
                line ->
                    assertThat(line)
                        .startsWith(silent.baseUrl() + " has 2 callbacks in flight")
                        .contains("callbacks.maxInFlightPerTarget"));

        answer.countDown();
        silent.awaitRequests(silentPath, 6, Duration.ofSeconds(10));
        await("no pop held back")
            .atMost(Duration.ofSeconds(10))
            .until(
                () ->
                    Long.valueOf(0).equals(chronos.gauge("chronos.callbacks.waiting-for-target")));
        await("every callback answered")
            .atMost(Duration.ofSeconds(10))
            .until(() -> chronos.counter("chronos.callbacks.succeeded") == 7);
        assertThat(silent.callsPerPath()).containsEntry(silentPath, 6L);
        assertThat(silent.requestsTo(silentPath))
            .extracting(CallbackServer.Received::bodyText)
            .containsExactlyInAnyOrder("s0", "s1", "s2", "s3", "s4", "s5");
        assertThat(chronos.counter("chronos.callbacks.failed")).isZero();
      } finally {
        answer.countDown();
        node.after();
      }
    }
  }
}
