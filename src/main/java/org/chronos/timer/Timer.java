package org.chronos.timer;

import java.util.List;

/**
 * One timer as this node holds it. Mutable and owned by the timer thread once handed to the {@link
 * TimerService}; a request thread may build one and hand it over (the command queue publishes it
 * safely) but must not touch it afterwards.
 *
 * <p>A timer pops at {@code start + (sequence + 1) * interval + popDelay} while {@code sequence <
 * maxPops()}. A tombstone (no callback) remembers a deleted or finished timer until its last
 * would-be pop, so that late replication cannot resurrect it (PROTOCOL.md section 5). Fields are
 * kept primitive and shared where possible (interned URI, replica and site lists): a node holds
 * millions of these.
 */
public final class Timer extends TimerWheel.Entry {
  /** How long a tombstone for an unknown or zero-interval timer lives. */
  public static final long DEFAULT_TOMBSTONE_MILLIS = 10_000L;

  private final long id;
  private int replicationFactor;
  private long startMillis;
  private long intervalMillis;
  private long repeatForMillis;
  private int sequence;
  private int popDelayMillis;
  private String callbackUri;
  private byte[] opaque;
  private List<String> replicas;
  private List<String> sites;
  private String clusterViewId;
  private List<Tag> tags;

  public Timer(
      long id,
      int replicationFactor,
      long startMillis,
      long intervalMillis,
      long repeatForMillis,
      int sequence,
      String callbackUri,
      byte[] opaque,
      List<Tag> tags) {
    if (replicationFactor < 1) {
      throw new IllegalArgumentException("replication factor must be >= 1: " + replicationFactor);
    }
    if (intervalMillis < 0 || repeatForMillis < 0) {
      throw new IllegalArgumentException(
          "interval and repeat-for must be >= 0: " + intervalMillis + ", " + repeatForMillis);
    }
    if ((callbackUri == null) != (opaque == null)) {
      throw new IllegalArgumentException(
          "a timer has both a callback URI and opaque data, or neither");
    }
    this.id = id;
    this.replicationFactor = replicationFactor;
    this.startMillis = startMillis;
    this.intervalMillis = intervalMillis;
    this.repeatForMillis = repeatForMillis;
    this.sequence = sequence;
    this.callbackUri = callbackUri;
    this.opaque = opaque;
    this.tags = tags == null ? List.of() : tags;
    this.replicas = List.of();
    this.sites = List.of();
  }

  /** A tombstone for a timer this node never knew: lives {@link #DEFAULT_TOMBSTONE_MILLIS}. */
  public static Timer tombstone(long id, int replicationFactor, long nowMillis) {
    return new Timer(
        id,
        replicationFactor,
        nowMillis,
        DEFAULT_TOMBSTONE_MILLIS,
        DEFAULT_TOMBSTONE_MILLIS,
        0,
        null,
        null,
        List.of());
  }

  /** A tombstone replacing this timer, keeping its interval and repeat-for (section 5). */
  public Timer toTombstone(long nowMillis) {
    return toTombstone(nowMillis, 0);
  }

  /**
   * As {@link #toTombstone(long)}, with this start and sequence number: a tombstone that came from
   * another node, as it came.
   */
  public Timer toTombstone(long startMillis, int sequence) {
    Timer t =
        new Timer(
            id,
            replicationFactor,
            startMillis,
            intervalMillis,
            repeatForMillis,
            sequence,
            null,
            null,
            List.of());
    t.replicas = replicas;
    t.sites = sites;
    t.clusterViewId = clusterViewId;
    return t;
  }

  /**
   * A detached copy, not in any store, that another thread may read once the copy has been handed
   * over (e.g. through a completed future): the fields are copied, the lists and arrays they refer
   * to are never modified in place.
   */
  public Timer snapshot() {
    return snapshot(startMillis, sequence, callbackUri, opaque);
  }

  /**
   * As {@link #snapshot()}, but with this start, sequence number and callback: the timer as another
   * node, or another moment, has it.
   */
  public Timer snapshot(long startMillis, int sequence, String callbackUri, byte[] opaque) {
    Timer t =
        new Timer(
            id,
            replicationFactor,
            startMillis,
            intervalMillis,
            repeatForMillis,
            sequence,
            callbackUri,
            opaque,
            tags);
    t.popDelayMillis = popDelayMillis;
    t.replicas = replicas;
    t.sites = sites;
    t.clusterViewId = clusterViewId;
    return t;
  }

  public long id() {
    return id;
  }

  public int replicationFactor() {
    return replicationFactor;
  }

  public long startMillis() {
    return startMillis;
  }

  public long intervalMillis() {
    return intervalMillis;
  }

  public long repeatForMillis() {
    return repeatForMillis;
  }

  public int sequence() {
    return sequence;
  }

  public int popDelayMillis() {
    return popDelayMillis;
  }

  public String callbackUri() {
    return callbackUri;
  }

  public byte[] opaque() {
    return opaque;
  }

  public List<String> replicas() {
    return replicas;
  }

  public List<String> sites() {
    return sites;
  }

  public String clusterViewId() {
    return clusterViewId;
  }

  public List<Tag> tags() {
    return tags;
  }

  public boolean isTombstone() {
    return callbackUri == null;
  }

  /** How many times the timer pops in all: once for a zero interval, else repeat-for / interval. */
  public long maxPops() {
    return intervalMillis == 0 ? 1 : repeatForMillis / intervalMillis;
  }

  public boolean hasMorePops() {
    return !isTombstone() && sequence < maxPops();
  }

  /** When this node should next pop the timer (or, for a tombstone, forget it). */
  public long nextDueMillis() {
    if (isTombstone() && intervalMillis == 0) {
      return startMillis + DEFAULT_TOMBSTONE_MILLIS;
    }
    return saturatedAdd(
        startMillis, saturatedMultiply(sequence + 1L, intervalMillis) + popDelayMillis);
  }

  /** Records a pop: the sequence number goes up; a timer with no pops left becomes a tombstone. */
  void recordPop() {
    sequence++;
    if (sequence >= maxPops()) {
      callbackUri = null;
      opaque = null;
    }
  }

  public void setReplicas(List<String> replicas) {
    this.replicas = replicas;
  }

  public void setSites(List<String> sites) {
    this.sites = sites;
  }

  public void setClusterViewId(String clusterViewId) {
    this.clusterViewId = clusterViewId;
  }

  public void setPopDelayMillis(int popDelayMillis) {
    if (popDelayMillis < 0) {
      throw new IllegalArgumentException("pop delay must be >= 0: " + popDelayMillis);
    }
    this.popDelayMillis = popDelayMillis;
  }

  @Override
  public String toString() {
    return String.format(
        "Timer[%016x-%d seq=%d start=%d interval=%dms repeat-for=%dms%s]",
        id,
        replicationFactor,
        sequence,
        startMillis,
        intervalMillis,
        repeatForMillis,
        isTombstone() ? " tombstone" : "");
  }

  private static long saturatedMultiply(long a, long b) {
    long hi = Math.multiplyHigh(a, b);
    long lo = a * b;
    return (hi == 0 && lo >= 0) ? lo : Long.MAX_VALUE / 2;
  }

  static long saturatedAdd(long a, long b) {
    long r = a + b;
    return ((a ^ r) & (b ^ r)) < 0 ? Long.MAX_VALUE / 2 : r;
  }
}
