package org.chronos.replication;

import java.util.Objects;
import org.chronos.timer.Timer;

/**
 * Decides between two copies of a timer (PROTOCOL.md section 5). A pure function: the same rule on
 * every node is what lets replicas converge whatever order messages arrive in.
 */
public final class VersionRule {
  /** Start times closer than this are treated as the same series of pops. */
  public static final long SAME_START_MILLIS = 200;

  private VersionRule() {}

  /**
   * @param currentViewId the receiving node's current cluster view id
   * @return true if {@code incoming} should replace {@code stored}
   */
  public static boolean incomingWins(Timer stored, Timer incoming, String currentViewId) {
    boolean storedCurrent = Objects.equals(stored.clusterViewId(), currentViewId);
    boolean incomingCurrent = Objects.equals(incoming.clusterViewId(), currentViewId);
    if (storedCurrent != incomingCurrent) {
      return incomingCurrent;
    }
    if (incoming.sequence() == stored.sequence()) {
      return incoming.startMillis() >= stored.startMillis();
    }
    if (incoming.sequence() < stored.sequence()
        && incoming.sequence() != 0
        && Math.abs(incoming.startMillis() - stored.startMillis()) < SAME_START_MILLIS) {
      return false;
    }
    return true;
  }
}
