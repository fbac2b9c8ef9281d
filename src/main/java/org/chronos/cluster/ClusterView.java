package org.chronos.cluster;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;

/**
 * Immutable, thread-safe replica placement for one {@link ClusterConfig}; request, pop and resync
 * threads share one instance, and a reload swaps in a new one.
 *
 * <p>Placement is rendezvous hashing, bit-compatible with the original Chronos so that old and new
 * nodes agree (PROTOCOL.md section 4): each server's hash is its address's murmur3 x86_32; a timer
 * ranks every server by murmur3 x86_32 of the timer id seeded with the server hash; the lowest rank
 * is the primary and the backups follow from the highest rank down. Server hashes depend only on
 * the address lists, so they are computed once here; ranks depend on the timer id and are computed
 * per call, without caching, since ids rarely repeat.
 */
public final class ClusterView {

  private final ClusterConfig config;
  private final List<String> newCluster;
  private final List<String> oldCluster;
  private final int[] newHashes;
  private final int[] oldHashes;
  private final boolean oldIsNew;
  private final Set<String> members;
  private final String viewId;

  public ClusterView(ClusterConfig config) {
    this.config = Objects.requireNonNull(config, "config");
    this.newCluster = config.newCluster();
    this.oldCluster = config.oldCluster();
    this.newHashes = hashes(newCluster);
    this.oldHashes = hashes(oldCluster);
    this.oldIsNew = newCluster.equals(oldCluster);
    Set<String> all = new HashSet<>(newCluster);
    all.addAll(oldCluster);
    this.members = Set.copyOf(all);
    this.viewId = viewIdOf(newCluster);
  }

  public ClusterConfig config() {
    return config;
  }

  /** The decimal cluster view id of the new cluster, as sent in replication messages. */
  public String viewId() {
    return viewId;
  }

  /** This node's address, as the other nodes list it. */
  public String localAddress() {
    return config.localhost();
  }

  public List<String> newCluster() {
    return newCluster;
  }

  public List<String> oldCluster() {
    return oldCluster;
  }

  /** Whether {@code address} is a node, joining or leaving: a peer we accept resyncs from. */
  public boolean isInCluster(String address) {
    return members.contains(address);
  }

  /**
   * The replicas of a timer in the new cluster, primary first; {@code min(rf, size)} long.
   *
   * @throws IllegalArgumentException if {@code replicationFactor < 1}
   */
  public List<String> replicasFor(long timerId, int replicationFactor) {
    return choose(newCluster, newHashes, timerId, replicationFactor);
  }

  /** The replicas the old cluster (nodes + leaving) would have chosen, primary first. */
  public List<String> oldReplicasFor(long timerId, int replicationFactor) {
    return choose(oldCluster, oldHashes, timerId, replicationFactor);
  }

  /**
   * Old replicas that are not new replicas, in old-replica order: they get the update as a
   * tombstone so their stale copies die.
   */
  public List<String> extraReplicasFor(long timerId, int replicationFactor) {
    if (oldIsNew) {
      checkReplicationFactor(replicationFactor);
      return List.of();
    }
    List<String> old = oldReplicasFor(timerId, replicationFactor);
    List<String> current = replicasFor(timerId, replicationFactor);
    List<String> extra = new ArrayList<>(old.size());
    for (String address : old) {
      if (!current.contains(address)) {
        extra.add(address);
      }
    }
    return List.copyOf(extra);
  }

  /**
   * Each address's server hash as an unsigned 32-bit value, collisions resolved by stepping down
   * from the later address (PROTOCOL.md section 4 step 1).
   */
  public static long[] serverHashes(List<String> addresses) {
    int[] hashes = hashes(addresses);
    long[] unsigned = new long[hashes.length];
    for (int i = 0; i < hashes.length; i++) {
      unsigned[i] = Integer.toUnsignedLong(hashes[i]);
    }
    return unsigned;
  }

  /** The 64-bit bloom value of one address: bits from murmur3 x86_128 with seeds 0, 1, 2. */
  public static long bloomOf(String address) {
    byte[] bytes = address.getBytes(StandardCharsets.UTF_8);
    long bloom = 0;
    for (int seed = 0; seed < 3; seed++) {
      for (long half : Murmur3.x86_128(bytes, seed)) {
        bloom |= 1L << (half & 63); // half mod 64, reading half as unsigned
      }
    }
    return bloom;
  }

  /** The view id of a cluster: the unsigned decimal OR of its addresses' blooms. */
  public static String viewIdOf(List<String> addresses) {
    long bloom = 0;
    for (String address : addresses) {
      bloom |= bloomOf(address);
    }
    return Long.toUnsignedString(bloom);
  }

  private static int[] hashes(List<String> addresses) {
    int[] hashes = new int[addresses.size()];
    for (int i = 0; i < hashes.length; i++) {
      int h = Murmur3.x86_32(addresses.get(i).getBytes(StandardCharsets.UTF_8), 0);
      while (contains(hashes, i, h)) {
        h--;
      }
      hashes[i] = h;
    }
    return hashes;
  }

  private static boolean contains(int[] values, int count, int value) {
    for (int i = 0; i < count; i++) {
      if (values[i] == value) {
        return true;
      }
    }
    return false;
  }

  /**
   * PROTOCOL.md section 4 steps 2-3 for one timer; package-private so tests can give servers equal
   * hashes, which is the only way ranks can collide (see {@link #rankServers}).
   */
  static List<String> choose(
      List<String> servers, int[] serverHashes, long timerId, int replicationFactor) {
    checkReplicationFactor(replicationFactor);
    int n = serverHashes.length;
    long[] ranked = rankServers(serverHashes, timerId);
    int count = Math.min(replicationFactor, n);
    // Primary: lowest rank; then backups from the highest rank downwards. The usual factors
    // (1 and 2) build their list directly, skipping the array List.of(array) would copy.
    if (count == 1) {
      return List.of(servers.get((int) ranked[0]));
    }
    if (count == 2) {
      return List.of(servers.get((int) ranked[0]), servers.get((int) ranked[n - 1]));
    }
    String[] replicas = new String[count];
    for (int r = 0; r < count; r++) {
      long slot = r == 0 ? ranked[0] : ranked[n - r];
      replicas[r] = servers.get((int) slot);
    }
    return List.of(replicas);
  }

  /**
   * Servers sorted by ascending unsigned rank, each slot packing (rank, server index) so one
   * primitive sort does the work; the rank's sign bit is flipped so that signed long order is
   * unsigned rank order, and the index is the low 32 bits.
   *
   * <p>For a fixed timer id, murmur3 x86_32 is a bijection of its seed (every step of it is
   * invertible), so distinct server hashes always give distinct ranks and the protocol's "rank
   * taken: add 1, in list order" rule never fires. We still honour it exactly, but only after the
   * sort has shown a tie, to keep the common path O(n log n) instead of O(n^2).
   */
  private static long[] rankServers(int[] serverHashes, long timerId) {
    int n = serverHashes.length;
    long[] ranked = new long[n];
    for (int i = 0; i < n; i++) {
      ranked[i] = pack(Murmur3.x86_32(timerId, serverHashes[i]), i);
    }
    Arrays.sort(ranked);
    if (!hasAdjacentEqualRanks(ranked)) {
      return ranked;
    }
    for (int i = 0; i < n; i++) {
      int rank = Murmur3.x86_32(timerId, serverHashes[i]);
      while (rankTaken(ranked, i, rank)) {
        rank++;
      }
      ranked[i] = pack(rank, i);
    }
    Arrays.sort(ranked);
    return ranked;
  }

  private static long pack(int rank, int index) {
    return ((long) (rank ^ Integer.MIN_VALUE) << 32) | index;
  }

  private static boolean hasAdjacentEqualRanks(long[] sorted) {
    for (int i = 1; i < sorted.length; i++) {
      if ((sorted[i] >> 32) == (sorted[i - 1] >> 32)) {
        return true;
      }
    }
    return false;
  }

  private static void checkReplicationFactor(int replicationFactor) {
    if (replicationFactor < 1) {
      throw new IllegalArgumentException("replication factor " + replicationFactor + " is below 1");
    }
  }

  private static boolean rankTaken(long[] ranked, int count, int rank) {
    long key = pack(rank, 0) >> 32;
    for (int i = 0; i < count; i++) {
      if ((ranked[i] >> 32) == key) {
        return true;
      }
    }
    return false;
  }

  @Override
  public String toString() {
    return "ClusterView{viewId=" + viewId + ", new=" + newCluster + ", old=" + oldCluster + "}";
  }
}
