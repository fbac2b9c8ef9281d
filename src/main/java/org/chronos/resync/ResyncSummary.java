package org.chronos.resync;

import com.fasterxml.jackson.annotation.JsonProperty;
import java.util.List;

/**
 * What one resync run did; immutable, serialized as the admin task's answer.
 *
 * @param superseded timers received that this node already held popped or deleted later (not
 *     stored, not sent on)
 * @param copiesFailed copies (replicated or tombstoned) not delivered after the replicator's
 *     retries
 * @param failures one line per node that could not be resynced, with the reason
 */
public record ResyncSummary(
    @JsonProperty("nodesContacted") int nodesContacted,
    @JsonProperty("nodesFailed") int nodesFailed,
    @JsonProperty("timersReceived") long timersReceived,
    @JsonProperty("stored") long stored,
    @JsonProperty("superseded") long superseded,
    @JsonProperty("replicated") long replicated,
    @JsonProperty("tombstoned") long tombstoned,
    @JsonProperty("copiesFailed") long copiesFailed,
    @JsonProperty("malformed") long malformed,
    @JsonProperty("durationMillis") long durationMillis,
    @JsonProperty("failures") List<String> failures) {}
