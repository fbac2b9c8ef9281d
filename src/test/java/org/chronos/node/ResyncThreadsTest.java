package org.chronos.node;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.chronos.node.Scheduling.LinuxThread;
import org.chronos.testing.ChronosClient;
import org.chronos.testing.ClusterHarness;
import org.chronos.testing.ClusterHarness.Node;
import org.chronos.testing.TimerJson;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * {@code resync.idleScheduling} (on by default) on two real nodes: a joining node's resync, and the
 * first node's serving of it, run on threads under Linux's SCHED_IDLE wherever this process may put
 * a thread there (found out with chrt on a thread of the test's own), the timers still move, and no
 * other thread of the nodes is left under SCHED_IDLE (a thread starts with the policy of the one
 * that started it, so one started by a resync thread would inherit it).
 */
class ResyncThreadsTest {
  private static final int TIMERS = 300;
  private static final Duration WAIT = Duration.ofSeconds(60);

  private ClusterHarness cluster;

  @AfterEach
  void tearDown() {
    if (cluster != null) {
      cluster.close();
    }
  }

  @Test
  void aResyncAndItsServingRunUnderSchedIdleAndNoOtherThreadDoes() throws Exception {
    boolean allowed = Scheduling.processMay("--idle", "--pid", "0");
    cluster = ClusterHarness.create(2, "resync:", "  pageSize: 50", "  warmUpTimers: 0");
    Node first = cluster.node(0);
    Node joining = cluster.node(1);
    first.writeClusterFile(cluster.nodeLines("node", List.of(first)));
    first.start();
    List<Long> ids = new ArrayList<>();
    for (int i = 0; i < TIMERS; i++) {
      // Due in an hour, at a port where nothing listens: none pops during the test.
      ids.add(
          ChronosClient.idOf(
              first
                  .client()
                  .createTimer(
                      TimerJson.timer()
                          .interval(3600)
                          .callback("http://127.0.0.1:9/t" + i, "o" + i)
                          .json())));
    }
    String lines =
        cluster.nodeLines("node", List.of(first))
            + "\n"
            + cluster.nodeLines("joining", List.of(joining));
    first.writeClusterFile(lines);
    assertThat(first.reload()).isEqualTo(200);
    joining.writeClusterFile(lines);
    joining.start();
    await("the joining node's start-up resync")
        .atMost(WAIT)
        .until(() -> joining.liveCount() == TIMERS);

    JsonNode summary = joining.resync();
    assertThat(summary.get("timersReceived").asLong()).isEqualTo(TIMERS);
    assertThat(summary.get("failures")).isEmpty();
    assertThat(ids).allMatch(joining::holdsLive);

    List<LinuxThread> threads = Scheduling.linuxThreads();
    // Linux keeps 15 characters of a name: "chronos-resync" (the run), "chronos-resync-" (its
    // fetching and I/O threads, and the first node's serving threads).
    List<LinuxThread> resyncThreads =
        threads.stream().filter(t -> t.comm().startsWith("chronos-resync")).toList();
    assertThat(resyncThreads)
        .extracting(LinuxThread::comm)
        .contains("chronos-resync", "chronos-resync-");
    assertThat(resyncThreads)
        .as("the resync's threads (SCHED_IDLE allowed here: %s)", allowed)
        .allMatch(t -> t.policy() == (allowed ? Scheduling.SCHED_IDLE : Scheduling.SCHED_OTHER));
    assertThat(threads)
        .as("threads under SCHED_IDLE")
        .filteredOn(t -> t.policy() == Scheduling.SCHED_IDLE)
        .allMatch(t -> t.comm().startsWith("chronos-resync"));
    for (Node node : List.of(first, joining)) {
      assertThat(clusterHealth(node))
          .contains(
              allowed
                  ? "resync threads: SCHED_IDLE"
                  : "resync threads: background priority, could not get SCHED_IDLE");
    }
  }

  private static String clusterHealth(Node node) throws Exception {
    String body = node.client().admin("/healthcheck").body();
    return new ObjectMapper().readTree(body).path("cluster").path("message").asText();
  }
}
