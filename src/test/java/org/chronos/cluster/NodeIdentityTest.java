package org.chronos.cluster;

import static org.assertj.core.api.Assertions.assertThat;
import static org.chronos.testing.ChronosClient.idOf;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import org.chronos.testing.ClusterHarness;
import org.chronos.testing.ClusterHarness.Node;
import org.chronos.testing.TimerJson;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** Timer ids made by the nodes of a cluster whose files set no [identity]. */
class NodeIdentityTest {
  private static final String NEVER = "http://127.0.0.1:1/never";

  private ClusterHarness cluster;

  @AfterEach
  void tearDown() {
    if (cluster != null) {
      cluster.close();
    }
  }

  /**
   * Two nodes whose cluster files have no [identity] (the original's older layout has none) both
   * made ids with instance_id 0: two timers made on them in the same millisecond got one id, both
   * clients got it, and one timer replaced the other. Each node now takes its own.
   */
  @Test
  void nodesWhoseFilesSetNoIdentityGiveEveryTimerItsOwnId() {
    cluster = ClusterHarness.create(2);
    String lines = cluster.nodeLines("node", cluster.nodes());
    for (Node node : cluster.nodes()) {
      node.writeRawClusterFile("[cluster]\nlocalhost = " + node.address() + "\n" + lines + "\n");
      node.start();
    }
    List<CompletableFuture<List<String>>> makers = new ArrayList<>();
    for (Node node : cluster.nodes()) {
      makers.add(
          CompletableFuture.supplyAsync(
              () -> {
                List<String> made = new ArrayList<>();
                for (int i = 0; i < 300; i++) {
                  made.add(node.client().createTimer(TimerJson.oneShot(600, NEVER, "t" + i)));
                }
                return made;
              }));
    }
    List<String> all = new ArrayList<>();
    Set<Long> instanceBits = new HashSet<>();
    for (CompletableFuture<List<String>> maker : makers) {
      List<String> made = maker.join();
      all.addAll(made);
      instanceBits.add((idOf(made.get(0)) >>> 20) & 0x3ff);
    }
    assertThat(instanceBits).as("the nodes' deployment and instance bits").hasSize(2);
    assertThat(all.stream().map(location -> idOf(location)).distinct().count())
        .as("distinct ids of %d timers made on two nodes at once", all.size())
        .isEqualTo(all.size());
  }
}
