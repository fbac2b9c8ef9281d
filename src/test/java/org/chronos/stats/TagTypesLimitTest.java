package org.chronos.stats;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.dropwizard.testing.junit5.DropwizardAppExtension;
import io.dropwizard.testing.junit5.DropwizardExtensionsSupport;
import java.time.Duration;
import org.chronos.ChronosApplication;
import org.chronos.ChronosConfiguration;
import org.chronos.testing.ChronosClient;
import org.chronos.testing.SingleNodeApp;
import org.chronos.testing.TimerJson;
import org.chronos.timer.Tag;
import org.chronos.timer.Timer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * A node counts at most {@code timers.maxTagTypes} tag types: each keeps nine gauges for as long as
 * the node runs, and a client naming a new type with every timer would grow them without bound.
 * Timers with further types are taken, and keep their tags (their replicas get them); their new
 * types are not counted here.
 */
@ExtendWith(DropwizardExtensionsSupport.class)
class TagTypesLimitTest {
  static final DropwizardAppExtension<ChronosConfiguration> APP =
      SingleNodeApp.create("timers:", "  maxTagTypes: 3");

  private static String timerTagged(String... types) {
    TimerJson timer = TimerJson.timer().interval(3600).callback("http://127.0.0.1:1/unused", "x");
    for (String type : types) {
      timer.tag(type, 1);
    }
    return timer.json();
  }

  @Test
  void typesBeyondTheLimitAreNotCountedAndTheirTimersAreTaken() {
    ChronosClient chronos = ChronosClient.of(APP);
    chronos.createTimer(timerTagged("LIMA", "LIMB"));
    chronos.createTimer(timerTagged("LIMC"));
    chronos.createTimer(timerTagged("LIMD", "LIMA"));
    long lime = ChronosClient.idOf(chronos.createTimer(timerTagged("LIME")));

    await("counts of the first three types")
        .atMost(Duration.ofSeconds(10))
        .untilAsserted(
            () -> {
              assertThat(chronos.gauge("chronos.tags.LIMA.count")).isEqualTo(2);
              assertThat(chronos.gauge("chronos.tags.LIMB.count")).isEqualTo(1);
              assertThat(chronos.gauge("chronos.tags.LIMC.count")).isEqualTo(1);
            });
    assertThat(chronos.gauge("chronos.tags.LIMD.count")).isNull();
    assertThat(chronos.gauge("chronos.tags.LIME.count")).isNull();
    assertThat(chronos.counter("chronos.tags.types-refused")).isEqualTo(2);
    assertThat(chronos.metrics().path("gauges").fieldNames())
        .toIterable()
        .filteredOn(name -> name.startsWith("chronos.tags.LIM"))
        .hasSize(3 * 9);
    Timer stored =
        APP.<ChronosApplication>getApplication().timerService().query(s -> s.get(lime)).join();
    assertThat(stored.tags()).extracting(Tag::type).containsExactly("LIME");
  }
}
