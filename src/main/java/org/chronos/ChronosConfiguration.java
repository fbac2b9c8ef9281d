package org.chronos;

import com.fasterxml.jackson.annotation.JsonIgnore;
import com.fasterxml.jackson.annotation.JsonProperty;
import io.dropwizard.core.Configuration;
import io.dropwizard.util.DataSize;
import io.dropwizard.util.Duration;
import io.dropwizard.validation.MaxDuration;
import io.dropwizard.validation.MinDataSize;
import io.dropwizard.validation.MinDuration;
import io.dropwizard.validation.ValidationMethod;
import jakarta.validation.Valid;
import jakarta.validation.constraints.Max;
import jakarta.validation.constraints.Min;
import jakarta.validation.constraints.NotEmpty;
import jakarta.validation.constraints.NotNull;
import java.util.concurrent.TimeUnit;
import org.chronos.node.TimerNode;
import org.chronos.overload.OverloadSettings;
import org.chronos.replication.Replicator;

/**
 * chronos.yml: Dropwizard's own settings plus ours. Every key of ours has a default that works, so
 * the file needs only {@code cluster.configFile} and {@code cluster.sharedConfigFile}.
 */
public class ChronosConfiguration extends Configuration {

  @Valid @NotNull private ClusterSettings cluster = new ClusterSettings();
  @Valid @NotNull private TimerSettings timers = new TimerSettings();
  @Valid @NotNull private CallbackSettings callbacks = new CallbackSettings();
  @Valid @NotNull private ReplicationSettings replication = new ReplicationSettings();
  @Valid @NotNull private ResyncSettings resync = new ResyncSettings();
  @Valid @NotNull private OverloadSettings overload = new OverloadSettings();

  @JsonProperty
  public OverloadSettings getOverload() {
    return overload;
  }

  @JsonProperty
  public void setOverload(OverloadSettings overload) {
    this.overload = overload;
  }

  @JsonProperty
  public ResyncSettings getResync() {
    return resync;
  }

  @JsonProperty
  public void setResync(ResyncSettings resync) {
    this.resync = resync;
  }

  @JsonProperty
  public ReplicationSettings getReplication() {
    return replication;
  }

  @JsonProperty
  public void setReplication(ReplicationSettings replication) {
    this.replication = replication;
  }

  @JsonProperty
  public ClusterSettings getCluster() {
    return cluster;
  }

  @JsonProperty
  public void setCluster(ClusterSettings cluster) {
    this.cluster = cluster;
  }

  @JsonProperty
  public TimerSettings getTimers() {
    return timers;
  }

  @JsonProperty
  public void setTimers(TimerSettings timers) {
    this.timers = timers;
  }

  @JsonProperty
  public CallbackSettings getCallbacks() {
    return callbacks;
  }

  @JsonProperty
  public void setCallbacks(CallbackSettings callbacks) {
    this.callbacks = callbacks;
  }

  /** Where the INI files live. */
  public static class ClusterSettings {
    /** The cluster file ([cluster], [identity]); missing means a single-node cluster. */
    @NotEmpty private String configFile = "chronos_cluster.conf";

    /** The shared file ([sites]); missing means a single site. */
    @NotEmpty private String sharedConfigFile = "chronos_shared.conf";

    @JsonProperty
    public String getConfigFile() {
      return configFile;
    }

    @JsonProperty
    public void setConfigFile(String configFile) {
      this.configFile = configFile;
    }

    @JsonProperty
    public String getSharedConfigFile() {
      return sharedConfigFile;
    }

    @JsonProperty
    public void setSharedConfigFile(String sharedConfigFile) {
      this.sharedConfigFile = sharedConfigFile;
    }
  }

  /** The timer store and its thread. */
  public static class TimerSettings {
    /** The largest {@code timers.maxTimerSeconds} a node starts with: 100 years. */
    public static final long MAX_TIMER_SECONDS_LIMIT = 100L * 365 * 24 * 3600;

    @Min(1)
    @Max(1000)
    private long tickMillis = 1;

    @Min(1)
    private int commandQueueCapacity = 100_000;

    @Min(1)
    private int maxWorkPerRound = 10_000;

    @NotNull
    @MinDataSize(1)
    private DataSize maxBodySize = DataSize.mebibytes(1);

    // At most 100 years: far beyond any use, and far from the millisecond arithmetic's overflow,
    // which a larger limit would let a client's timer reach (a 500 for a client's mistake).
    @Min(1)
    @Max(MAX_TIMER_SECONDS_LIMIT)
    private long maxTimerSeconds = 10L * 365 * 24 * 3600;

    @Min(0)
    private int maxTagTypes = 1000;

    @NotNull
    @MinDuration(value = 1, unit = TimeUnit.MILLISECONDS)
    private Duration maxLag = Duration.seconds(5);

    /**
     * Linux SCHED_FIFO priority (1-99) for the timer thread, so that pops leave on time on a busy
     * machine; 0 leaves it at the JVM's normal scheduling (see {@code RealtimePriority}).
     */
    @Min(0)
    @Max(99)
    private int realtimePriority = 0;

    /**
     * Above 0: the timer thread runs under Linux's SCHED_DEADLINE, ahead of every other thread for
     * at most this much CPU per {@link #realtimePeriod} (see {@code RealtimePriority}); takes
     * precedence over {@link #realtimePriority}.
     */
    @NotNull private Duration realtimeBudget = Duration.milliseconds(0);

    @NotNull
    @MinDuration(value = 1, unit = TimeUnit.MILLISECONDS)
    private Duration realtimePeriod = Duration.milliseconds(10);

    /**
     * While the timer thread runs under a real-time policy: how long it lets requests gather after
     * taking some, unless a timer falls due sooner (see {@code TimerService.batchCommands}); 0
     * takes each request on its own.
     */
    @NotNull
    @MaxDuration(value = 10, unit = TimeUnit.MILLISECONDS)
    private Duration realtimeBatchWindow = Duration.microseconds(200);

    @JsonIgnore
    @ValidationMethod(message = "timers.realtimeBudget must be below timers.realtimePeriod")
    public boolean isRealtimeBudgetBelowPeriod() {
      return realtimeBudget.toNanoseconds() < realtimePeriod.toNanoseconds();
    }

    @JsonIgnore
    @ValidationMethod(message = "timers.realtimeBudget must be 0 (off) or at least 100us")
    public boolean isRealtimeBudgetOffOrUsable() {
      long nanos = realtimeBudget.toNanoseconds();
      return nanos == 0 || nanos >= 100_000;
    }

    @JsonProperty
    public long getTickMillis() {
      return tickMillis;
    }

    @JsonProperty
    public void setTickMillis(long tickMillis) {
      this.tickMillis = tickMillis;
    }

    @JsonProperty
    public int getCommandQueueCapacity() {
      return commandQueueCapacity;
    }

    @JsonProperty
    public void setCommandQueueCapacity(int commandQueueCapacity) {
      this.commandQueueCapacity = commandQueueCapacity;
    }

    @JsonProperty
    public int getMaxWorkPerRound() {
      return maxWorkPerRound;
    }

    @JsonProperty
    public void setMaxWorkPerRound(int maxWorkPerRound) {
      this.maxWorkPerRound = maxWorkPerRound;
    }

    @JsonProperty
    public DataSize getMaxBodySize() {
      return maxBodySize;
    }

    @JsonProperty
    public void setMaxBodySize(DataSize maxBodySize) {
      this.maxBodySize = maxBodySize;
    }

    @JsonProperty
    public int getMaxTagTypes() {
      return maxTagTypes;
    }

    public void setMaxTagTypes(int maxTagTypes) {
      this.maxTagTypes = maxTagTypes;
    }

    public long getMaxTimerSeconds() {
      return maxTimerSeconds;
    }

    @JsonProperty
    public void setMaxTimerSeconds(long maxTimerSeconds) {
      this.maxTimerSeconds = maxTimerSeconds;
    }

    @JsonProperty
    public Duration getMaxLag() {
      return maxLag;
    }

    @JsonProperty
    public void setMaxLag(Duration maxLag) {
      this.maxLag = maxLag;
    }

    @JsonProperty
    public int getRealtimePriority() {
      return realtimePriority;
    }

    @JsonProperty
    public void setRealtimePriority(int realtimePriority) {
      this.realtimePriority = realtimePriority;
    }

    @JsonProperty
    public Duration getRealtimeBudget() {
      return realtimeBudget;
    }

    @JsonProperty
    public void setRealtimeBudget(Duration realtimeBudget) {
      this.realtimeBudget = realtimeBudget;
    }

    @JsonProperty
    public Duration getRealtimePeriod() {
      return realtimePeriod;
    }

    @JsonProperty
    public void setRealtimePeriod(Duration realtimePeriod) {
      this.realtimePeriod = realtimePeriod;
    }

    @JsonProperty
    public Duration getRealtimeBatchWindow() {
      return realtimeBatchWindow;
    }

    @JsonProperty
    public void setRealtimeBatchWindow(Duration realtimeBatchWindow) {
      this.realtimeBatchWindow = realtimeBatchWindow;
    }
  }

  /** Callback delivery. */
  public static class CallbackSettings {
    @NotNull
    @MinDuration(value = 1, unit = TimeUnit.MILLISECONDS)
    private Duration timeout = Duration.seconds(2);

    @Min(1)
    private int maxInFlight = 1000;

    /**
     * Most callbacks in flight to a silent target (the callback URI's scheme and authority), one
     * whose last callback got no answer, or none for a while; null for an eighth of {@link
     * #maxInFlight}, so that a few targets that do not answer cannot hold up the pops of every
     * other.
     */
    @Min(1)
    private Integer maxInFlightPerSilentTarget;

    @Min(1)
    private int maxConnections = 1000;

    @Min(1)
    @Max(64)
    private int ioThreads = 2;

    @NotNull private Duration shutdownGracePeriod = Duration.seconds(5);

    @JsonProperty
    public Duration getTimeout() {
      return timeout;
    }

    @JsonProperty
    public void setTimeout(Duration timeout) {
      this.timeout = timeout;
    }

    @JsonProperty
    public int getMaxInFlight() {
      return maxInFlight;
    }

    @JsonProperty
    public void setMaxInFlight(int maxInFlight) {
      this.maxInFlight = maxInFlight;
    }

    @JsonProperty
    public Integer getMaxInFlightPerSilentTarget() {
      return maxInFlightPerSilentTarget;
    }

    @JsonProperty
    public void setMaxInFlightPerSilentTarget(Integer maxInFlightPerSilentTarget) {
      this.maxInFlightPerSilentTarget = maxInFlightPerSilentTarget;
    }

    /**
     * {@link #getMaxInFlightPerSilentTarget()}, or its default, at most {@link #getMaxInFlight()}.
     */
    public int effectiveMaxInFlightPerSilentTarget() {
      return maxInFlightPerSilentTarget == null
          ? Math.max(1, maxInFlight / 8)
          : Math.min(maxInFlightPerSilentTarget, maxInFlight);
    }

    @JsonProperty
    public int getMaxConnections() {
      return maxConnections;
    }

    @JsonProperty
    public void setMaxConnections(int maxConnections) {
      this.maxConnections = maxConnections;
    }

    @JsonProperty
    public int getIoThreads() {
      return ioThreads;
    }

    @JsonProperty
    public void setIoThreads(int ioThreads) {
      this.ioThreads = ioThreads;
    }

    @JsonProperty
    public Duration getShutdownGracePeriod() {
      return shutdownGracePeriod;
    }

    @JsonProperty
    public void setShutdownGracePeriod(Duration shutdownGracePeriod) {
      this.shutdownGracePeriod = shutdownGracePeriod;
    }
  }

  /** Node-to-node replication. */
  public static class ReplicationSettings {
    @NotNull
    @MinDuration(value = 1, unit = TimeUnit.MILLISECONDS)
    private Duration timeout = Duration.seconds(2);

    @Min(1)
    private int maxQueuedPerPeer = 100_000;

    /**
     * How long a client request's or a pop's replication to a peer that does not answer (or times
     * out, or answers 5xx) is retried: the waits between attempts add up to at most this.
     */
    @NotNull
    @MinDuration(value = 0, unit = TimeUnit.MILLISECONDS)
    private Duration retryFor = Duration.milliseconds(Replicator.DEFAULT_RETRY_FOR_MILLIS);

    @JsonProperty
    public Duration getRetryFor() {
      return retryFor;
    }

    @JsonProperty
    public void setRetryFor(Duration retryFor) {
      this.retryFor = retryFor;
    }

    @Min(1)
    private int maxInFlightPerPeer = 32;

    /**
     * Messages per {@code POST /timers/batch} to a peer that takes batches (our nodes); 1 sends
     * single PUTs only, as the original does.
     */
    @Min(1)
    @Max(10_000)
    private int maxBatch = 100;

    /** Body bytes per batch; keep it well under the peers' {@code timers.maxBodySize}. */
    @NotNull
    @MinDataSize(1)
    private DataSize maxBatchSize = DataSize.kibibytes(256);

    @JsonProperty
    public int getMaxBatch() {
      return maxBatch;
    }

    @JsonProperty
    public void setMaxBatch(int maxBatch) {
      this.maxBatch = maxBatch;
    }

    @JsonProperty
    public DataSize getMaxBatchSize() {
      return maxBatchSize;
    }

    @JsonProperty
    public void setMaxBatchSize(DataSize maxBatchSize) {
      this.maxBatchSize = maxBatchSize;
    }

    /**
     * A resync's copies to a peer in flight at once. They go in their own lane, behind the
     * replication of requests and pops; this bounds how much of the peer they can take.
     */
    @Min(1)
    private int maxBulkInFlightPerPeer = Replicator.DEFAULT_MAX_BULK_IN_FLIGHT;

    /** A resync's copies to a peer waiting or in flight before the resync waits for room. */
    @Min(1)
    private int maxBulkQueuedPerPeer = Replicator.DEFAULT_MAX_BULK_QUEUED;

    /**
     * Deletions (tombstones) a node keeps per remote site that did not get them, to send when the
     * site answers again even if the tombstone has expired by then; beyond this the oldest are let
     * go. 0 keeps none.
     */
    @Min(0)
    private int maxOwedSiteDeletions = 100_000;

    @JsonProperty
    public int getMaxOwedSiteDeletions() {
      return maxOwedSiteDeletions;
    }

    @JsonProperty
    public void setMaxOwedSiteDeletions(int maxOwedSiteDeletions) {
      this.maxOwedSiteDeletions = maxOwedSiteDeletions;
    }

    @JsonProperty
    public Duration getTimeout() {
      return timeout;
    }

    @JsonProperty
    public void setTimeout(Duration timeout) {
      this.timeout = timeout;
    }

    @JsonProperty
    public int getMaxQueuedPerPeer() {
      return maxQueuedPerPeer;
    }

    @JsonProperty
    public void setMaxQueuedPerPeer(int maxQueuedPerPeer) {
      this.maxQueuedPerPeer = maxQueuedPerPeer;
    }

    @JsonProperty
    public int getMaxInFlightPerPeer() {
      return maxInFlightPerPeer;
    }

    @JsonProperty
    public void setMaxInFlightPerPeer(int maxInFlightPerPeer) {
      this.maxInFlightPerPeer = maxInFlightPerPeer;
    }

    @JsonProperty
    public int getMaxBulkInFlightPerPeer() {
      return maxBulkInFlightPerPeer;
    }

    @JsonProperty
    public void setMaxBulkInFlightPerPeer(int maxBulkInFlightPerPeer) {
      this.maxBulkInFlightPerPeer = maxBulkInFlightPerPeer;
    }

    @JsonProperty
    public int getMaxBulkQueuedPerPeer() {
      return maxBulkQueuedPerPeer;
    }

    @JsonProperty
    public void setMaxBulkQueuedPerPeer(int maxBulkQueuedPerPeer) {
      this.maxBulkQueuedPerPeer = maxBulkQueuedPerPeer;
    }
  }

  /** Resync (scaling and restarts). */
  public static class ResyncSettings {
    /** Timers asked for per page from our own nodes (the original asks for 100). */
    @Min(1)
    @Max(10_000)
    private int pageSize = 1000;

    @NotNull
    @MinDuration(value = 1, unit = TimeUnit.MILLISECONDS)
    private Duration requestTimeout = Duration.seconds(10);

    /**
     * How long a resync waits for this node's timer thread to take a command (start, merge a page)
     * before it gives up and reports the run failed, instead of hanging.
     */
    @NotNull
    @MinDuration(value = 1, unit = TimeUnit.MILLISECONDS)
    private Duration timerThreadTimeout = Duration.seconds(60);

    @JsonProperty
    public Duration getTimerThreadTimeout() {
      return timerThreadTimeout;
    }

    @JsonProperty
    public void setTimerThreadTimeout(Duration timerThreadTimeout) {
      this.timerThreadTimeout = timerThreadTimeout;
    }

    /** Resync when the node starts, so a restarted node gets its timers back. */
    private boolean onStart = true;

    /**
     * Made-up timers the node runs its resync code on once after it starts (after the start-up
     * resync), so that the JIT has compiled that code before a real resync needs it; 0 for none.
     * Nothing is stored or sent; on an idle 2-core machine it took 3.4 s and 4.7 s of CPU, the
     * JIT's compiling included.
     */
    @Min(0)
    private int warmUpTimers = 100_000;

    @JsonProperty
    public int getWarmUpTimers() {
      return warmUpTimers;
    }

    @JsonProperty
    public void setWarmUpTimers(int warmUpTimers) {
      this.warmUpTimers = warmUpTimers;
    }

    /**
     * Timers a resync takes in per second at most, 0 for no limit: a lower pace leaves more of the
     * node's CPU to its own pops while a resync runs.
     */
    @Min(0)
    private int maxTimersPerSecond = 0;

    /**
     * Timers forgotten by the store (expired tombstones, timers dropped after a failed callback)
     * that a node remembers at most while a resync runs here or reads this node's timers, so that a
     * snapshot from before cannot bring them back; beyond this the oldest are let go. About 180
     * bytes each.
     */
    @Min(0)
    private int maxRememberedTimers = TimerNode.DEFAULT_MAX_REMEMBERED;

    @JsonProperty
    public int getMaxRememberedTimers() {
      return maxRememberedTimers;
    }

    @JsonProperty
    public void setMaxRememberedTimers(int maxRememberedTimers) {
      this.maxRememberedTimers = maxRememberedTimers;
    }

    @JsonProperty
    public int getMaxTimersPerSecond() {
      return maxTimersPerSecond;
    }

    @JsonProperty
    public void setMaxTimersPerSecond(int maxTimersPerSecond) {
      this.maxTimersPerSecond = maxTimersPerSecond;
    }

    @JsonProperty
    public int getPageSize() {
      return pageSize;
    }

    @JsonProperty
    public void setPageSize(int pageSize) {
      this.pageSize = pageSize;
    }

    @JsonProperty
    public Duration getRequestTimeout() {
      return requestTimeout;
    }

    @JsonProperty
    public void setRequestTimeout(Duration requestTimeout) {
      this.requestTimeout = requestTimeout;
    }

    @JsonProperty
    public boolean isOnStart() {
      return onStart;
    }

    @JsonProperty
    public void setOnStart(boolean onStart) {
      this.onStart = onStart;
    }

    /**
     * How long after a start-up resync that did not reach every peer the node resyncs from the
     * peers it missed, by itself; doubled after each that still misses one, up to 10 min. 0: never
     * (an operator's resync then makes up for it).
     */
    @NotNull private Duration startUpRetry = Duration.seconds(30);

    @JsonProperty
    public Duration getStartUpRetry() {
      return startUpRetry;
    }

    @JsonProperty
    public void setStartUpRetry(Duration startUpRetry) {
      this.startUpRetry = startUpRetry;
    }
  }
}
