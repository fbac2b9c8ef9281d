package org.chronos.timer;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.dropwizard.testing.junit5.DropwizardAppExtension;
import io.dropwizard.testing.junit5.DropwizardExtensionsSupport;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.atomic.AtomicLong;
import org.chronos.ChronosConfiguration;
import org.chronos.testing.CallbackServer;
import org.chronos.testing.CallbackServer.Received;
import org.chronos.testing.ChronosClient;
import org.chronos.testing.SingleNodeApp;
import org.chronos.testing.TimerJson;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * A real node whose system clock is stepped an hour back while it runs (the node's clock is built
 * as in production, on a wall clock the test can step and the real monotonic clock): a timer
 * created before the step and one created after it both pop when their interval has passed, never
 * early and not an hour late, and the health check says the system clock was stepped.
 */
@ExtendWith(DropwizardExtensionsSupport.class)
class ClockStepTest {
  private static final long INTERVAL_MILLIS = 2000;
  private static final AtomicLong STEP_MICROS = new AtomicLong();
  private static final SteadyClock CLOCK =
      new SteadyClock(
          () -> {
            Instant now = Instant.now();
            return now.getEpochSecond() * 1_000_000L + now.getNano() / 1000 + STEP_MICROS.get();
          },
          System::nanoTime);
  private static final CallbackServer CALLBACKS = CallbackServer.start();
  static final DropwizardAppExtension<ChronosConfiguration> APP = SingleNodeApp.create(CLOCK);

  @AfterAll
  static void closeCallbacks() {
    CALLBACKS.close();
  }

  private static long create(String path) {
    long sent = System.nanoTime();
    ChronosClient.of(APP)
        .createTimer(
            TimerJson.timer()
                .interval(INTERVAL_MILLIS / 1000)
                .repeatFor(INTERVAL_MILLIS / 1000)
                .callback(CALLBACKS.url(path), path)
                .json());
    return sent;
  }

  private static long millisAfter(long sentNanos, Received callback) {
    return (callback.arrivalNanos() - sentNanos) / 1_000_000;
  }

  @Test
  void timersOnEitherSideOfAStepBackPopAfterTheirIntervalAndTheStepIsReported() throws Exception {
    String beforePath = CALLBACKS.newPath("before-the-step");
    String afterPath = CALLBACKS.newPath("after-the-step");
    long beforeSent = create(beforePath);
    STEP_MICROS.set(-3_600_000_000L);
    long afterSent = create(afterPath);

    Received before = CALLBACKS.awaitRequests(beforePath, 1, Duration.ofSeconds(30)).get(0);
    Received after = CALLBACKS.awaitRequests(afterPath, 1, Duration.ofSeconds(30)).get(0);
    // Never early: not before the interval from the moment the create was sent.
    assertThat(millisAfter(beforeSent, before)).isGreaterThanOrEqualTo(INTERVAL_MILLIS);
    assertThat(millisAfter(afterSent, after)).isGreaterThanOrEqualTo(INTERVAL_MILLIS);

    String body = ChronosClient.of(APP).admin("/healthcheck").body();
    String health = new ObjectMapper().readTree(body).path("timer-thread").path("message").asText();
    assertThat(health)
        .containsPattern("the system clock is 3[56]\\d{5} ms behind the timers' clock");
  }
}
