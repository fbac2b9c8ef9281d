package org.chronos.health;

import com.codahale.metrics.health.HealthCheck;
import java.util.Map;
import org.chronos.cluster.ClusterService;
import org.chronos.replication.Replicator;
import org.chronos.resync.ResyncService;
import org.chronos.timer.Clock;

/**
 * Reports the cluster view (id, nodes by role) and the peers replication failed to reach in the
 * last minute, and the resync state. Stays healthy when peers fail: a dead peer is the other node's
 * problem, and failing here would take this node out of a load balancer when it is most needed.
 */
public final class ClusterHealthCheck extends HealthCheck {
  static final long RECENT_MILLIS = 60_000;

  private final ClusterService cluster;
  private final Replicator replicator;
  private final Clock clock;
  private final ResyncService resync;

  public ClusterHealthCheck(
      ClusterService cluster, Replicator replicator, ResyncService resync, Clock clock) {
    this.cluster = cluster;
    this.replicator = replicator;
    this.resync = resync;
    this.clock = clock;
  }

  @Override
  protected Result check() {
    Map<String, Long> failed = replicator.recentFailures(clock.millis() - RECENT_MILLIS);
    String message = ClusterService.describe(cluster.view());
    if (!failed.isEmpty()) {
      message += "; replication failed in the last minute to " + failed.keySet();
    }
    if (resync.isRunning()) {
      message +=
          String.format(
              "; resync running for %d ms, %d nodes to go",
              clock.millis() - resync.startedMillis(), resync.nodesRemaining());
    } else if (resync.lastSummary() != null) {
      message += "; last resync: " + resync.lastSummary();
    }
    return Result.healthy(message);
  }
}
