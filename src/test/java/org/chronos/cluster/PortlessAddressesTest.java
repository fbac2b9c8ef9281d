package org.chronos.cluster;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;
import static org.chronos.testing.ChronosClient.idOf;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.chronos.testing.CallbackServer;
import org.chronos.testing.ClusterHarness;
import org.chronos.testing.ClusterHarness.Node;
import org.chronos.testing.TimerJson;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A cluster file written as the original's are, {@code node = 1.2.3.4} without a port (PROTOCOL.md
 * section 3): the original hashes and lists each address exactly as written, and adds its own HTTP
 * port only to connect. Two real nodes on 127.0.0.11 and .12, one port.
 */
class PortlessAddressesTest {
  private ClusterHarness cluster;
  private CallbackServer callbacks;

  @BeforeEach
  void setUp() {
    callbacks = CallbackServer.start();
  }

  @AfterEach
  void tearDown() {
    if (cluster != null) {
      cluster.close();
    }
    callbacks.close();
  }

  @Test
  void nodesListedWithoutAPortPlaceTimersByTheAddressAsWrittenAndReachEachOtherOnTheirPort() {
    cluster = ClusterHarness.createOnOnePort(2);
    String lines = cluster.nodeLines("node", cluster.nodes());
    for (Node node : cluster.nodes()) {
      node.writeClusterFile(lines);
      node.start();
    }
    Node a = cluster.node(0);
    Node b = cluster.node(1);
    List<String> written = List.of("127.0.0.11", "127.0.0.12");
    assertThat(a.view().viewId()).isEqualTo(ClusterView.viewIdOf(written));
    assertThat(b.view().viewId()).isEqualTo(ClusterView.viewIdOf(written));

    // Replication PUTs reach the other node, and the replica lists name the nodes as written.
    List<Long> longTimers = new ArrayList<>();
    for (int i = 0; i < 20; i++) {
      longTimers.add(
          idOf(a.client().createTimer(TimerJson.oneShot(600, callbacks.url("/never"), "l" + i))));
    }
    await("every long timer on the second node")
        .atMost(Duration.ofSeconds(10))
        .until(() -> longTimers.stream().allMatch(b::holdsLive));
    for (long id : longTimers) {
      assertThat(b.timer(id).replicas()).containsExactlyInAnyOrderElementsOf(written);
    }

    // Each node pops what it is primary for, and its news reaches the backup: one pop each.
    List<String> paths = new ArrayList<>();
    for (int i = 0; i < 20; i++) {
      String path = callbacks.newPath("portless");
      paths.add(path);
      a.client().createTimer(TimerJson.oneShot(1, callbacks.url(path), "s" + i));
    }
    callbacks.assertEachCalledExactlyOnce(
        paths, Duration.ofSeconds(20), ClusterReplicationTest.AFTER_ALL_REPLICAS);

    // Restarted, the second node gets its timers back from the first by a resync.
    b.stop();
    b.start();
    await("the long timers back on the restarted node")
        .atMost(Duration.ofSeconds(20))
        .until(() -> longTimers.stream().allMatch(b::holdsLive));
  }
}
