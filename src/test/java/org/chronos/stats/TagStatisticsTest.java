package org.chronos.stats;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.dropwizard.testing.junit5.DropwizardAppExtension;
import io.dropwizard.testing.junit5.DropwizardExtensionsSupport;
import java.net.http.HttpResponse;
import java.time.Duration;
import org.chronos.ChronosApplication;
import org.chronos.ChronosConfiguration;
import org.chronos.testing.CallbackServer;
import org.chronos.testing.ChronosClient;
import org.chronos.testing.SingleNodeApp;
import org.chronos.testing.TimerJson;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.parallel.Execution;
import org.junit.jupiter.api.parallel.ExecutionMode;

/**
 * Per-tag live counts as an operator reads them, the gauge {@code chronos.tags.<TAG>.count} on the
 * admin port's {@code /metrics} (PROTOCOL.md section 8), and the leniency of the {@code statistics}
 * member: a malformed tag entry is dropped, never a reason to refuse a timer. Every test uses tags
 * of its own, so the tests share one node. Timers are stored by the timer thread after the request
 * is answered, so counts are polled, not read once.
 *
 * <p>The tests run at the same time as each other (they mostly wait), each on its own callback
 * paths or tags; the class as a whole runs alone (see junit-platform.properties).
 */
@ExtendWith(DropwizardExtensionsSupport.class)
class TagStatisticsTest {
  static final DropwizardAppExtension<ChronosConfiguration> APP = SingleNodeApp.create();

  private static CallbackServer callbacks;
  private static ChronosClient chronos;

  @BeforeAll
  static void start() {
    callbacks = CallbackServer.start();
    chronos = ChronosClient.of(APP);
  }

  @AfterAll
  static void stop() {
    callbacks.close();
  }

  /** A timer that never pops while the tests run. */
  private static TimerJson longLived() {
    return TimerJson.timer().interval(3600).callback(callbacks.url("/unused"), "x");
  }

  private static TagCounts tagCounts() {
    return APP.<ChronosApplication>getApplication().tagCounts();
  }

  /** Waits until the admin port's gauge for {@code tag} reads {@code expected}. */
  private static void awaitGauge(String tag, long expected) {
    String name = "chronos.tags." + tag + ".count";
    await(name + " == " + expected)
        .atMost(Duration.ofSeconds(10))
        .pollInterval(Duration.ofMillis(20))
        .untilAsserted(() -> assertThat(chronos.gauge(name)).as(name).isEqualTo(expected));
  }

  private static void awaitCount(String tag, long expected) {
    await("tag " + tag + " count == " + expected)
        .atMost(Duration.ofSeconds(10))
        .pollInterval(Duration.ofMillis(10))
        .until(() -> tagCounts().count(tag) == expected);
  }

  @Execution(ExecutionMode.CONCURRENT)
  @Test
  void theGaugeIsTheSumOfCountsOverLiveTimersAndFallsWhenOneIsDeleted() {
    String first = chronos.createTimer(longLived().tag("CALL", 2).json());
    chronos.createTimer(longLived().tag("CALL", 2).json());
    chronos.createTimer(longLived().tag("CALL", 3).json());
    awaitGauge("CALL", 7);

    assertThat(chronos.delete(first).statusCode()).isEqualTo(200);

    awaitGauge("CALL", 5);
  }

  @Execution(ExecutionMode.CONCURRENT)
  @Test
  void theGaugeFallsAtATimersLastPop() {
    String path = callbacks.newPath("last-pop");
    chronos.createTimer(
        TimerJson.timer().interval(1).callback(callbacks.url(path), "c").tag("LASTPOP", 2).json());
    awaitCount("LASTPOP", 2); // stored; it pops a second after it was created

    callbacks.awaitRequest(path);

    awaitGauge("LASTPOP", 0);
  }

  @Execution(ExecutionMode.CONCURRENT)
  @Test
  void aTimerCountsForEachOfItsTags() {
    chronos.createTimer(longLived().tag("BOTHA", 1).tag("BOTHB", 5).json());

    awaitGauge("BOTHA", 1);
    awaitGauge("BOTHB", 5);
  }

  @Execution(ExecutionMode.CONCURRENT)
  @Test
  void countsUpToTheOriginalsUnsigned32BitLimitAreKept() {
    chronos.createTimer(longLived().tag("HUGE", 4_294_967_295L).json());
    chronos.createTimer(longLived().tag("HUGE", 2_147_483_648L).json());

    awaitGauge("HUGE", 4_294_967_295L + 2_147_483_648L);
  }

  @Execution(ExecutionMode.CONCURRENT)
  @Test
  void entriesOfOneTypeAddUpHoweverManyThereAre() {
    TimerJson timer = longLived();
    for (int i = 0; i < 40; i++) {
      timer.rawTagEntry("{\"type\":\"MANY\"}");
    }
    timer.tag("SATURATED", 4_294_967_295L).tag("SATURATED", 4_294_967_295L);
    chronos.createTimer(timer.json());

    awaitGauge("MANY", 40);
    awaitGauge("SATURATED", 4_294_967_295L);
  }

  @Execution(ExecutionMode.CONCURRENT)
  @Test
  void aTagWithoutACountCountsOne() {
    chronos.createTimer(longLived().rawTagEntry("{\"type\":\"NOCOUNT\"}").json());

    awaitGauge("NOCOUNT", 1);
  }

  @Execution(ExecutionMode.CONCURRENT)
  @Test
  void malformedTagEntriesAreDroppedAndTheRestOfTheTimerIsKept() {
    String body =
        TimerJson.timer()
            .interval(3600)
            .callback(callbacks.url("/unused"), "kept")
            .rawTagEntry("{\"type\":\"lower\"}")
            .rawTagEntry("{\"type\":\"DIGIT1\"}")
            .rawTagEntry("{\"type\":\"SEVENTEENLETTERSX\"}")
            .rawTagEntry("{\"type\":\"\"}")
            .rawTagEntry("{\"type\":7}")
            .rawTagEntry("{\"count\":3}")
            .rawTagEntry("{\"type\":\"BADCOUNT\",\"count\":0}")
            .rawTagEntry("{\"type\":\"BADCOUNT\",\"count\":-1}")
            .rawTagEntry("{\"type\":\"BADCOUNT\",\"count\":\"2\"}")
            .rawTagEntry("{\"type\":\"BADCOUNT\",\"count\":1.5}")
            .rawTagEntry("{\"type\":\"BADCOUNT\",\"count\":4294967296}")
            .rawTagEntry("{\"type\":\"BADCOUNT\",\"count\":99999999999}")
            .rawTagEntry("\"STRING\"")
            .rawTagEntry("42")
            .rawTagEntry("null")
            .rawTagEntry("[\"NESTED\"]")
            .tag("WELLFORMED", 3)
            .json();

    HttpResponse<String> response = chronos.post("/timers", body);

    assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
    awaitGauge("WELLFORMED", 3); // the timer is stored, with its one good tag
    assertThat(chronos.gauge("chronos.tags.BADCOUNT.count")).isNull();
    assertThat(chronos.gauge("chronos.tags.lower.count")).isNull();
    assertThat(chronos.gauge("chronos.tags.SEVENTEENLETTERSX.count")).isNull();
    assertThat(tagCounts().count("DIGIT1")).isZero();
    assertThat(tagCounts().count("STRING")).isZero();

    assertThat(chronos.delete(response.headers().firstValue("Location").orElseThrow()).statusCode())
        .isEqualTo(200);
    awaitGauge("WELLFORMED", 0);
  }

  @Execution(ExecutionMode.CONCURRENT)
  @Test
  void statisticsThatAreNotAnObjectOrTagInfoThatIsNotAnArrayAreIgnored() {
    String[] notStatistics = {
      "\"CALL\"", "[]", "7", "null", "{\"tag-info\":\"CALL\"}", "{\"tag-info\":{}}"
    };
    for (String statistics : notStatistics) {
      String body = longLived().raw("statistics", statistics).json();

      HttpResponse<String> response = chronos.post("/timers", body);

      assertThat(response.statusCode())
          .as("statistics %s: %s", statistics, response.body())
          .isEqualTo(200);
    }
  }

  @Execution(ExecutionMode.CONCURRENT)
  @Test
  void replacingATimerReplacesItsTags() {
    String location = chronos.createTimer(longLived().tag("BEFORE", 4).json());
    awaitGauge("BEFORE", 4);

    chronos.put(location, longLived().tag("AFTER", 2).json());

    awaitGauge("AFTER", 2);
    awaitGauge("BEFORE", 0);
  }

  @Execution(ExecutionMode.CONCURRENT)
  @Test
  void aRepeatingTimerKeepsCountingUntilItsLastPop() {
    String path = callbacks.newPath("repeating-tag");
    chronos.createTimer(
        TimerJson.timer()
            .interval(1)
            .repeatFor(2)
            .callback(callbacks.url(path), "r")
            .tag("REPEAT", 1)
            .json());
    awaitCount("REPEAT", 1);

    callbacks.awaitRequest(path);
    assertThat(tagCounts().count("REPEAT")).as("after the first of two pops").isEqualTo(1);

    callbacks.awaitRequests(path, 2);
    awaitGauge("REPEAT", 0);
  }
}
