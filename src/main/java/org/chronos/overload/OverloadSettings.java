package org.chronos.overload;

import com.fasterxml.jackson.annotation.JsonIgnore;
import com.fasterxml.jackson.annotation.JsonProperty;
import io.dropwizard.util.Duration;
import io.dropwizard.validation.MinDuration;
import io.dropwizard.validation.ValidationMethod;
import jakarta.validation.constraints.DecimalMin;
import jakarta.validation.constraints.Min;
import jakarta.validation.constraints.NotNull;
import java.util.concurrent.TimeUnit;
import org.chronos.timer.Clock;

/**
 * The {@code overload} section of chronos.yml; a configuration bean, read once at start. Every key
 * has a default, the original's: target latency 500 ms, bucket 1000, initial rate 500/s, minimum
 * rate 10/s, enabled.
 */
public class OverloadSettings {
  private boolean enabled = true;

  @NotNull
  @MinDuration(value = 1, unit = TimeUnit.MILLISECONDS)
  private Duration targetLatency = Duration.milliseconds(500);

  @Min(1)
  private int bucketSize = 1000;

  @DecimalMin(value = "0", inclusive = false)
  private double initialRate = 500;

  @DecimalMin(value = "0", inclusive = false)
  private double minRate = 10;

  /** A monitor with these settings, on the given clock. */
  public LoadMonitor buildMonitor(Clock clock) {
    return new LoadMonitor(clock, targetLatency.toMicroseconds(), bucketSize, initialRate, minRate);
  }

  @JsonIgnore
  @ValidationMethod(message = "overload.minRate must not be above overload.initialRate")
  public boolean isMinRateAtMostInitialRate() {
    return minRate <= initialRate;
  }

  @JsonProperty
  public boolean isEnabled() {
    return enabled;
  }

  @JsonProperty
  public void setEnabled(boolean enabled) {
    this.enabled = enabled;
  }

  @JsonProperty
  public Duration getTargetLatency() {
    return targetLatency;
  }

  @JsonProperty
  public void setTargetLatency(Duration targetLatency) {
    this.targetLatency = targetLatency;
  }

  @JsonProperty
  public int getBucketSize() {
    return bucketSize;
  }

  @JsonProperty
  public void setBucketSize(int bucketSize) {
    this.bucketSize = bucketSize;
  }

  @JsonProperty
  public double getInitialRate() {
    return initialRate;
  }

  @JsonProperty
  public void setInitialRate(double initialRate) {
    this.initialRate = initialRate;
  }

  @JsonProperty
  public double getMinRate() {
    return minRate;
  }

  @JsonProperty
  public void setMinRate(double minRate) {
    this.minRate = minRate;
  }
}
