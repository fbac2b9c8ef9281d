package org.chronos.resync;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import org.chronos.testing.ClusterHarness;
import org.chronos.testing.ClusterHarness.Node;
import org.chronos.testing.OriginalNode;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Our node resyncing from an original node (a rolling upgrade: the node replaced is ours, its peer
 * is still the original). An {@link OriginalNode} stands in for the original's resync API as its
 * source says it behaves.
 */
class ResyncFromAnOriginalNodeTest {
  private static final int TIMERS = OriginalNode.TIMERS;

  private final OriginalNode original = new OriginalNode();
  private ClusterHarness cluster;

  @AfterEach
  void tearDown() {
    if (cluster != null) {
      cluster.close();
    }
    original.stop();
  }

  @Test
  void ourNodeGetsEveryTimerFromAnOriginalNodesPages() {
    Node node = startBesideTheOriginal(100);
    original.fill(node.address(), node.view().viewId());

    JsonNode summary = node.resync();

    assertThat(summary.get("failures")).as(summary.toString()).isEmpty();
    assertThat(original.badRequests).isEmpty();
    // The address as the original writes it, ':' and all: not every release of its HTTP library
    // decodes a parameter before comparing it with its cluster's addresses.
    assertThat(original.rawQueries)
        .allMatch(q -> q.contains("node-for-replicas=" + node.address()));
    assertThat(original.timers.keySet()).allMatch(node::holdsLive);
    // Each timer came once, or twice where a page's start overlapped the last (never skipped).
    assertThat(original.served.values()).allMatch(n -> n <= 2);
    assertThat(summary.get("timersReceived").asLong()).isBetween((long) TIMERS, 2L * TIMERS - 1);
  }

  /**
   * A peer that orders its timers later than this node reckons: each next page starts that much
   * before the last one ended, here 60 s back, more than a page of timers (100), so a page brought
   * nothing new. Asked again from the same place for a longer page, it gets past them.
   */
  @Test
  void aPeerThatOrdersItsTimersLaterThanThisNodeReckonsStillGivesEveryTimer() {
    Node node = startBesideTheOriginal(100);
    original.fill(node.address(), node.view().viewId());
    original.keyDelay = 60_000;

    JsonNode summary = node.resync();

    assertThat(summary.get("failures")).as(summary.toString()).isEmpty();
    assertThat(original.timers.keySet()).allMatch(node::holdsLive);
  }

  /**
   * An original reads its clock for a request's {@code time-from} when the request reaches it: a
   * request that took longer to get there than the last (a new connection, a pause on either side)
   * started that much further on, and the timers due in between after the last page were never
   * copied (here 2 ms apart), with no failure reported. 30 ms is within the overlap each request
   * reaches back; 200 ms is not, and the page, holding none of the last page's latest timers, is
   * asked for again from further back, the last page too (the third of three: the second request on
   * time).
   */
  @ParameterizedTest
  @CsvSource({"30, 0", "200, 0", "200, 1"})
  void aRequestSlowerToReachAnOriginalThanTheLastMissesNoTimer(long lateBy, int onTimeFirst) {
    Node node = startBesideTheOriginal(100);
    original.fill(node.address(), node.view().viewId(), true);
    original.lateBy = lateBy;
    original.onTimeFirst = onTimeFirst;

    JsonNode summary = node.resync();

    assertThat(summary.get("failures")).as(summary.toString()).isEmpty();
    assertThat(original.timers.keySet()).allMatch(node::holdsLive);
  }

  /**
   * A peer whose 206 pages never get further (it reads {@code time-from} otherwise than we write
   * it, say, or names the same cursor each time): the run asked for the same page for ever, and
   * neither it nor a {@code POST /tasks/resync} waiting for it ended. It now reports that peer
   * failed, and ends.
   */
  @ParameterizedTest
  @ValueSource(booleans = {false, true})
  void aPeerWhosePagesDoNotAdvanceIsReportedFailedInsteadOfPagedForEver(boolean asOurs) {
    original.nextTimeFrom = asOurs ? "1700000000000" : null;
    Node node = startBesideTheOriginal(10);
    original.fill(node.address(), node.view().viewId());
    original.stuck = true;

    JsonNode summary = node.resync();

    assertThat(summary.get("nodesFailed").asInt()).as(summary.toString()).isEqualTo(1);
    assertThat(summary.get("failures").toString()).contains("do not advance");
    // Asked again as the pages grew from 10 to 16,000 timers (the last 7 times all 250): no more.
    assertThat(original.served.values()).as("copies of each timer served").allMatch(n -> n <= 20);
  }

  /**
   * Starts our node in a cluster with the original, resyncing with pages of {@code pageSize}
   * timers: one run, the one a test asks for (none at start, no warm-up).
   */
  private Node startBesideTheOriginal(int pageSize) {
    cluster =
        ClusterHarness.create(
            1, "resync:", "  onStart: false", "  warmUpTimers: 0", "  pageSize: " + pageSize);
    Node node = cluster.node(0);
    node.writeClusterFile("node = " + node.address() + "\nnode = " + original.address());
    node.start();
    return node;
  }
}
