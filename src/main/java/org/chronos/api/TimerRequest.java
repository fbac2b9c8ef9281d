package org.chronos.api;

import java.util.List;
import org.chronos.timer.Tag;

/**
 * A timer body as a client or peer sent it, validated (PROTOCOL.md sections 1 and 5). Immutable.
 *
 * @param replicationFactor null when the body does not state one
 * @param replicas null unless this is a replication message from another node
 * @param tombstone true for a replicated tombstone (empty URI and opaque from a peer)
 * @param startTimeDeltaMillis internal: ms from now to the timer's start, or null
 * @param startTimeMillis internal (older form): wall ms of the timer's start, or null
 * @param sequenceNumber internal: pops so far, or null
 * @param clusterViewId internal, or null
 * @param sites internal, or null
 */
public record TimerRequest(
    long intervalMillis,
    long repeatForMillis,
    String callbackUri,
    String opaque,
    Integer replicationFactor,
    List<String> replicas,
    boolean tombstone,
    List<Tag> tags,
    Long startTimeDeltaMillis,
    Long startTimeMillis,
    Integer sequenceNumber,
    String clusterViewId,
    List<String> sites) {

  /** From a node of this site: store it, do not send it on. */
  public boolean isReplication() {
    return replicas != null;
  }

  /**
   * From another site (sites, no replicas): place it in this site, do not send it to other sites.
   */
  public boolean isFromOtherSite() {
    return replicas == null && sites != null;
  }
}
