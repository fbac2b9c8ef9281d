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
   * A copy under the receiver's current cluster view beats one under another view; otherwise the
   * sequence numbers and start times decide. One way only, as the original has it: a stored copy
   * under the current view does not beat an incoming one under another, which in a rolling reload
   * is a later update from a node not reloaded yet (or already reloaded, seen from one that is
   * not): a client's deletion there would be answered 200 and the timer pop on, and another node's
   * pop would be popped again here.
   *
   * @param currentViewId the receiving node's current cluster view id
   * @return true if {@code incoming} should replace {@code stored}
   */
  public static boolean incomingWins(Timer stored, Timer incoming, String currentViewId) {
    if (Objects.equals(incoming.clusterViewId(), currentViewId)
        && !Objects.equals(stored.clusterViewId(), currentViewId)) {
      return true;
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

  /**
   * Whether {@code held} is a later pop of the timer {@code snapshot} was taken from: popped more
   * times, placed under the current view, and of the same series of pops or an older one. Only for
   * resync pages, which are snapshots of the peer's store taken a moment before they arrive: by the
   * rule above their lower sequence number would win (a sequence number of 0 always does) and undo
   * the pop. A replication message is not a snapshot and goes by {@link #incomingWins} alone.
   *
   * <p>The snapshot is of another series only if it starts later than {@code held} by more than
   * {@link #SAME_START_MILLIS}, once it is allowed to be up to {@code transitMillis} late: a page's
   * {@code start-time-delta} was written at some moment between the request and the answer, and the
   * receiver, counting it from the answer so as never to pop early, places the start that much
   * later than it was. An earlier start is never a newer series (a client's update starts a series
   * when it is made); it is the same series as held here, whose start may itself be late by the
   * time its replication took to arrive.
   *
   * @param transitMillis how long the page took from request to answer (0 or more)
   */
  public static boolean isLaterPop(
      Timer held, Timer snapshot, String currentViewId, long transitMillis) {
    return Objects.equals(held.clusterViewId(), currentViewId)
        && held.sequence() > snapshot.sequence()
        && snapshot.startMillis() - held.startMillis()
            < SAME_START_MILLIS + Math.max(0, transitMillis);
  }

  /**
   * Whether {@code held} is a deletion of the timer {@code snapshot} was taken from: a tombstone
   * that this node holds as a replica (a client's DELETE, or the final pop), under whichever view
   * (a deletion taken through a node not reloaded yet carries the older one), and that starts later
   * than the snapshot's earliest possible start (its start less {@code transitMillis}, see {@link
   * #isLaterPop}), so after the snapshot's series began. By the rule above, the snapshot's start,
   * late by up to its page's transit, could pass the deletion's and bring the deleted timer back;
   * and a snapshot under the current view would beat any tombstone under the older one. A tombstone
   * kept because this node is no replica of the timer names the replicas, not this node, and is no
   * deletion: the snapshot then gives this node the timer it now holds.
   *
   * @param localAddress this node's address
   * @param transitMillis how long the page took from request to answer (0 or more)
   */
  public static boolean isLaterDelete(
      Timer held, Timer snapshot, String localAddress, long transitMillis) {
    return held.isTombstone()
        && !snapshot.isTombstone()
        && held.replicas().contains(localAddress)
        && snapshot.startMillis() - Math.max(0, transitMillis) < held.startMillis();
  }
}
