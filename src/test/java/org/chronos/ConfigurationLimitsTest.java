package org.chronos;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.dropwizard.configuration.ConfigurationValidationException;
import io.dropwizard.configuration.YamlConfigurationFactory;
import io.dropwizard.jackson.Jackson;
import io.dropwizard.jersey.validation.Validators;
import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** Limits a node refuses to start with, naming the key, rather than failing a client later. */
class ConfigurationLimitsTest {
  private static final YamlConfigurationFactory<ChronosConfiguration> FACTORY =
      new YamlConfigurationFactory<>(
          ChronosConfiguration.class, Validators.newValidator(), Jackson.newObjectMapper(), "dw");

  /**
   * A limit meant as "no limit" (Long.MAX_VALUE) let a client's interval overflow the millisecond
   * arithmetic: a 500 for a client's mistake. Up to 100 years is taken.
   */
  @Test
  void maxTimerSecondsAboveAHundredYearsIsRefusedByName() throws Exception {
    assertThatThrownBy(() -> parse("timers:\n  maxTimerSeconds: 9223372036854775807\n"))
        .isInstanceOf(ConfigurationValidationException.class)
        .hasMessageContaining("timers.maxTimerSeconds");
    assertThat(parse("timers:\n  maxTimerSeconds: 3153600000\n").getTimers().getMaxTimerSeconds())
        .isEqualTo(3_153_600_000L);
  }

  /**
   * The callbacks a silent target may have in flight: an eighth of all unless set, never more than
   * all of them, and at least one.
   */
  @Test
  void aSilentTargetsCallbacksAreAnEighthOfAllUnlessSetAndAtMostAll() throws Exception {
    assertThat(
            parse("callbacks:\n  maxInFlight: 1000\n")
                .getCallbacks()
                .effectiveMaxInFlightPerSilentTarget())
        .isEqualTo(125);
    assertThat(
            parse("callbacks:\n  maxInFlight: 1\n")
                .getCallbacks()
                .effectiveMaxInFlightPerSilentTarget())
        .isEqualTo(1);
    assertThat(
            parse("callbacks:\n  maxInFlight: 10\n  maxInFlightPerSilentTarget: 50\n")
                .getCallbacks()
                .effectiveMaxInFlightPerSilentTarget())
        .isEqualTo(10);
    assertThat(
            parse("callbacks:\n  maxInFlightPerSilentTarget: 900\n")
                .getCallbacks()
                .effectiveMaxInFlightPerSilentTarget())
        .isEqualTo(900);
    assertThatThrownBy(() -> parse("callbacks:\n  maxInFlightPerSilentTarget: 0\n"))
        .isInstanceOf(ConfigurationValidationException.class)
        .hasMessageContaining("callbacks.maxInFlightPerSilentTarget");
  }

  private static ChronosConfiguration parse(String yaml) throws Exception {
    return FACTORY.build(
        path -> new ByteArrayInputStream(yaml.getBytes(StandardCharsets.UTF_8)), "chronos.yml");
  }
}
