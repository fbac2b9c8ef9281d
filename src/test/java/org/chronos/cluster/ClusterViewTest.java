package org.chronos.cluster;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;

class ClusterViewTest {

  private static final String A = "10.0.10.1:7253";
  private static final String B = "10.0.10.2:7253";
  private static final String C = "10.0.10.3:7253";
  private static final String D = "10.0.10.4:7253";
  private static final String E = "10.0.10.5:7253";

  private static ClusterView view(List<String> nodes, List<String> joining, List<String> leaving) {
    return new ClusterView(new ClusterConfig(A, nodes, joining, leaving, 0, 0));
  }

  private static ClusterView plain(List<String> nodes) {
    return view(nodes, List.of(), List.of());
  }

  @Test
  void joiningNodesAreInTheNewClusterOnlyAndLeavingNodesInTheOldOnly() {
    ClusterView view = view(List.of(A, B), List.of(C), List.of(D));

    assertThat(view.newCluster()).containsExactly(A, B, C);
    assertThat(view.oldCluster()).containsExactly(A, B, D);
    assertThat(view.isInCluster(C)).isTrue();
    assertThat(view.isInCluster(D)).isTrue();
    assertThat(view.isInCluster(E)).isFalse();
    assertThat(view.localAddress()).isEqualTo(A);
  }

  @Test
  void viewIdCoversTheNewClusterSoItChangesWhenANodeJoinsButNotWhenOneIsLeaving() {
    String before = plain(List.of(A, B, C)).viewId();

    assertThat(view(List.of(A, B, C), List.of(), List.of(D)).viewId()).isEqualTo(before);
    assertThat(view(List.of(A, B, C), List.of(D), List.of()).viewId())
        .isNotEqualTo(before)
        .isEqualTo(ClusterView.viewIdOf(List.of(A, B, C, D)));
    // The vectors' three-node view id.
    assertThat(before).isEqualTo("4612148004983448064");
  }

  @Test
  void newReplicasComeFromNodesPlusJoiningAndOldReplicasFromNodesPlusLeaving() {
    ClusterView scaling = view(List.of(A, B, C), List.of(D), List.of(E));
    ClusterView afterJoin = plain(List.of(A, B, C, D));
    ClusterView beforeLeave = plain(List.of(A, B, C, E));

    for (long id = 0; id < 2000; id++) {
      assertThat(scaling.replicasFor(id, 2)).isEqualTo(afterJoin.replicasFor(id, 2));
      assertThat(scaling.oldReplicasFor(id, 2)).isEqualTo(beforeLeave.replicasFor(id, 2));
    }
  }

  @Test
  void extraReplicasAreTheOldReplicasTheNewClusterNoLongerChoosesInOldOrder() {
    ClusterView scaling = view(List.of(A, B, C), List.of(D), List.of(E));
    ClusterView newOnly = plain(List.of(A, B, C, D));
    ClusterView oldOnly = plain(List.of(A, B, C, E));

    int timersWithExtras = 0;
    boolean leavingNodeWasAnExtra = false;
    for (long id = 0; id < 2000; id++) {
      List<String> expected = new ArrayList<>(oldOnly.replicasFor(id, 2));
      expected.removeAll(newOnly.replicasFor(id, 2));

      List<String> extra = scaling.extraReplicasFor(id, 2);

      assertThat(extra).as("timer %d", id).isEqualTo(expected);
      assertThat(scaling.replicasFor(id, 2)).doesNotContain(E);
      if (!extra.isEmpty()) {
        timersWithExtras++;
      }
      leavingNodeWasAnExtra |= extra.contains(E);
    }
    // Replacing one node of four moves some timers, but far from all.
    assertThat(timersWithExtras).isBetween(1, 1999);
    assertThat(leavingNodeWasAnExtra).isTrue();
  }

  @Test
  void aStableClusterHasNoExtraReplicas() {
    ClusterView view = plain(List.of(A, B, C));

    for (long id = 0; id < 500; id++) {
      assertThat(view.extraReplicasFor(id, 3)).isEmpty();
      assertThat(view.oldReplicasFor(id, 3)).isEqualTo(view.replicasFor(id, 3));
    }
  }

  @Test
  void aClusterOfOnlyJoiningNodesHasNoOldReplicasAndSoNoExtras() {
    ClusterView view = view(List.of(), List.of(A, B), List.of());

    assertThat(view.oldCluster()).isEmpty();
    assertThat(view.oldReplicasFor(42, 2)).isEmpty();
    assertThat(view.extraReplicasFor(42, 2)).isEmpty();
    assertThat(view.replicasFor(42, 2)).containsExactlyInAnyOrder(A, B);
  }

  @Test
  void aReplicationFactorAboveTheClusterSizeMeansEveryNodeOnce() {
    ClusterView view = plain(List.of(A, B, C));

    for (long id = 0; id < 500; id++) {
      List<String> replicas = view.replicasFor(id, 10);
      assertThat(replicas).hasSize(3).containsExactlyInAnyOrder(A, B, C);
      assertThat(replicas).isEqualTo(view.replicasFor(id, 3));
    }
  }

  @Test
  void replicationFactorOneIsThePrimaryAndHigherFactorsExtendTheSameList() {
    ClusterView view = plain(List.of(A, B, C, D, E));

    for (long id = 0; id < 500; id++) {
      List<String> all = view.replicasFor(id, 5);
      for (int rf = 1; rf <= 5; rf++) {
        assertThat(view.replicasFor(id, rf)).isEqualTo(all.subList(0, rf));
      }
    }
  }

  @Test
  void replicasFollowTheProtocolsRankOrderForRandomTimers() {
    List<String> nodes = List.of(A, B, C, D, E, "[::1]:7253", "chronos-7.example.com:7254");
    ClusterView view = plain(nodes);
    Random random = new Random(7);

    for (int i = 0; i < 2000; i++) {
      long id = random.nextLong();
      assertThat(view.replicasFor(id, 4)).as("timer %x", id).isEqualTo(model(nodes, id, 4));
    }
  }

  @Test
  void aReplicationFactorBelowOneIsRefusedByName() {
    ClusterView view = plain(List.of(A, B));

    assertThatThrownBy(() -> view.replicasFor(1, 0)).hasMessageContaining("replication factor 0");
    assertThatThrownBy(() -> view.oldReplicasFor(1, -1)).hasMessageContaining("-1");
    assertThatThrownBy(() -> view.extraReplicasFor(1, 0)).hasMessageContaining("0");
  }

  @Test
  void aServerHashCollisionStepsTheLaterServerDownByOne() {
    // Found offline: these two addresses share murmur3_x86_32 = 1592075101.
    String first = "10.0.55.194:7253";
    String second = "10.0.166.180:7253";
    assertThat(Murmur3.x86_32(first.getBytes(StandardCharsets.UTF_8), 0))
        .isEqualTo(Murmur3.x86_32(second.getBytes(StandardCharsets.UTF_8), 0));

    assertThat(ClusterView.serverHashes(List.of(first, second)))
        .containsExactly(1592075101L, 1592075100L);
    assertThat(ClusterView.serverHashes(List.of(second, first)))
        .containsExactly(1592075101L, 1592075100L);
  }

  @Test
  void aTakenRankMovesTheLaterServerUpPastEveryTakenRank() {
    // Found offline: for this id, the rank under seed 1 is exactly the rank under seed 0 + 1.
    long id = 45256079372L;
    int r = Murmur3.x86_32(id, 0);
    assertThat(Murmur3.x86_32(id, 1)).isEqualTo(r + 1);
    // d ranks r+1, a ranks r, b would rank r but r and r+1 are taken, so it ranks r+2:
    // ascending a, d, b; primary a, then the highest (b), then d.
    List<String> servers = List.of("d", "a", "b");
    int[] seeds = {1, 0, 0};

    assertThat(ClusterView.choose(servers, seeds, id, 3)).containsExactly("a", "b", "d");
  }

  @Test
  void bloomSetsAtMostSixBitsAndTheViewIdIsTheirUnion() {
    long a = ClusterView.bloomOf(A);
    long b = ClusterView.bloomOf(B);

    assertThat(Long.bitCount(a)).isBetween(1, 6);
    assertThat(ClusterView.viewIdOf(List.of(A, B))).isEqualTo(Long.toUnsignedString(a | b));
    assertThat(ClusterView.viewIdOf(List.of(B, A))).isEqualTo(Long.toUnsignedString(a | b));
  }

  /** The protocol written as plainly as possible: unsigned ranks in a sorted map. */
  private static List<String> model(List<String> nodes, long id, int rf) {
    long[] hashes = ClusterView.serverHashes(nodes);
    TreeMap<Long, String> byRank = new TreeMap<>();
    for (int i = 0; i < nodes.size(); i++) {
      long rank = Integer.toUnsignedLong(Murmur3.x86_32(id, (int) hashes[i]));
      while (byRank.containsKey(rank)) {
        rank = (rank + 1) & 0xffffffffL;
      }
      byRank.put(rank, nodes.get(i));
    }
    List<String> ascending = new ArrayList<>(byRank.values());
    List<String> replicas = new ArrayList<>();
    replicas.add(ascending.get(0));
    for (int i = ascending.size() - 1; replicas.size() < Math.min(rf, nodes.size()); i--) {
      replicas.add(ascending.get(i));
    }
    return replicas;
  }
}
