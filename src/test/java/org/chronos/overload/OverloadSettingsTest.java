package org.chronos.overload;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.dropwizard.configuration.ConfigurationValidationException;
import io.dropwizard.configuration.YamlConfigurationFactory;
import io.dropwizard.jackson.Jackson;
import io.dropwizard.jersey.validation.Validators;
import java.io.ByteArrayInputStream;
import java.io.FileInputStream;
import java.nio.charset.StandardCharsets;
import org.chronos.ChronosConfiguration;
import org.junit.jupiter.api.Test;

/**
 * The {@code overload} section: every key defaults to the original's value, and bad ones fail at
 * start.
 */
class OverloadSettingsTest {
  private static final YamlConfigurationFactory<ChronosConfiguration> FACTORY =
      new YamlConfigurationFactory<>(
          ChronosConfiguration.class, Validators.newValidator(), Jackson.newObjectMapper(), "dw");

  private static ChronosConfiguration parse(String yaml) throws Exception {
    return FACTORY.build(
        path -> new ByteArrayInputStream(yaml.getBytes(StandardCharsets.UTF_8)), "chronos.yml");
  }

  @Test
  void withoutTheSectionEveryKeyHasItsDefault() throws Exception {
    OverloadSettings o = parse("logging:\n  level: INFO\n").getOverload();

    assertThat(o.isEnabled()).isTrue();
    assertThat(o.getTargetLatency().toMilliseconds()).isEqualTo(500);
    assertThat(o.getBucketSize()).isEqualTo(1000);
    assertThat(o.getInitialRate()).isEqualTo(500.0);
    assertThat(o.getMinRate()).isEqualTo(10.0);
  }

  @Test
  void aPartialSectionKeepsTheOtherDefaults() throws Exception {
    OverloadSettings o = parse("overload:\n  bucketSize: 20\n  enabled: false\n").getOverload();

    assertThat(o.getBucketSize()).isEqualTo(20);
    assertThat(o.isEnabled()).isFalse();
    assertThat(o.getInitialRate()).isEqualTo(500.0);
  }

  @Test
  void theShippedFileStatesTheDefaults() throws Exception {
    // Tests run in the project directory, where the shipped file lives.
    OverloadSettings o =
        FACTORY.build(path -> new FileInputStream(path), "chronos.yml").getOverload();

    assertThat(o.isEnabled()).isTrue();
    assertThat(o.getTargetLatency().toMilliseconds()).isEqualTo(500);
    assertThat(o.getBucketSize()).isEqualTo(1000);
    assertThat(o.getInitialRate()).isEqualTo(500.0);
    assertThat(o.getMinRate()).isEqualTo(10.0);
  }

  @Test
  void badValuesAreRefusedByName() {
    assertThatThrownBy(() -> parse("overload:\n  initialRate: 5\n  minRate: 10\n"))
        .isInstanceOf(ConfigurationValidationException.class)
        .hasMessageContaining("overload.minRate must not be above overload.initialRate");
    assertThatThrownBy(() -> parse("overload:\n  bucketSize: 0\n"))
        .isInstanceOf(ConfigurationValidationException.class)
        .hasMessageContaining("overload.bucketSize");
    assertThatThrownBy(() -> parse("overload:\n  minRate: 0\n"))
        .isInstanceOf(ConfigurationValidationException.class)
        .hasMessageContaining("overload.minRate");
    assertThatThrownBy(() -> parse("overload:\n  targetLatency: 0ms\n"))
        .isInstanceOf(ConfigurationValidationException.class)
        .hasMessageContaining("overload.targetLatency");
  }

  @Test
  void theMonitorStartsAtTheConfiguredRate() throws Exception {
    OverloadSettings o = parse("overload:\n  initialRate: 42\n  minRate: 1\n").getOverload();

    assertThat(o.buildMonitor(() -> 0L).rate()).isEqualTo(42.0);
  }
}
