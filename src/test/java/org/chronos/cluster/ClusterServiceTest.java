package org.chronos.cluster;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The view before the last reload, which updates also go to (see {@code TimerNode}). */
class ClusterServiceTest {
  private static final String A = "10.0.0.1:7253";
  private static final String B = "10.0.0.2:7253";
  private static final String C = "10.0.0.3:7253";

  @TempDir Path dir;

  /** chronos.conf's [cluster] of A and B, as the first clustering document keeps it. */
  private static final String CLUSTER_OF_A_AND_B =
      "[cluster]\nlocalhost = " + A + "\nnode = " + A + "\nnode = " + B + "\n";

  private Path write(String lines) throws Exception {
    Path file = dir.resolve("chronos_cluster.conf");
    Files.writeString(file, "[cluster]\nlocalhost = " + A + "\n" + lines + "\n");
    return file;
  }

  /**
   * A node of a cluster whose files set no instance_id is warned of at start and at each reload (it
   * makes ids with one taken from its address); a node that sets one, or a command that only reads
   * the file (the {@code replicas} command's output is for scripts), is not.
   */
  @Test
  void aNodeWithoutInstanceIdIsWarnedOfAtStartAndReloadButNotWhenTheFileIsOnlyRead()
      throws Exception {
    String unset = "instance_id is not set";
    Path file = write("node = " + A + "\nnode = " + B);
    try (org.chronos.testing.LogCapture service =
            org.chronos.testing.LogCapture.of(ClusterService.class);
        org.chronos.testing.LogCapture config =
            org.chronos.testing.LogCapture.of(ClusterConfig.class)) {
      ClusterConfig.load(file, 7253);
      assertThat(config.events()).isEmpty();

      ClusterService node = new ClusterService(file, dir.resolve("none.conf"), 7253);
      node.reload();
      assertThat(service.events())
          .filteredOn(e -> e.getFormattedMessage().contains(unset))
          .hasSize(2)
          .allMatch(e -> e.getLevel() == ch.qos.logback.classic.Level.WARN);

      write("node = " + A + "\nnode = " + B + "\n[identity]\ninstance_id = 4");
      node.reload();
      assertThat(node.view().config().instanceId()).isEqualTo(4);
      assertThat(service.events())
          .filteredOn(e -> e.getFormattedMessage().contains(unset))
          .hasSize(2);
    }
  }

  /**
   * A localhost written otherwise than the node lines list it (a host name against an address) made
   * the node a replica of its share of timers under its listed name, which it stored as tombstones
   * and never popped, without a word. It is warned of at start and at each reload.
   */
  @Test
  void aLocalhostNoneOfTheListedAddressesIsWarnedOf() throws Exception {
    Path file = dir.resolve("chronos_cluster.conf");
    String lines = "node = chronos-1.example:7253\nnode = " + B + "\n[identity]\ninstance_id = 1\n";
    Files.writeString(file, "[cluster]\nlocalhost = " + A + "\n" + lines);
    String warning = "[cluster] localhost " + A + " is none of the node, joining or leaving";
    try (org.chronos.testing.LogCapture log =
        org.chronos.testing.LogCapture.of(ClusterService.class)) {
      ClusterService node = new ClusterService(file, dir.resolve("none.conf"), 7253);
      node.reload();
      assertThat(log.events())
          .filteredOn(e -> e.getFormattedMessage().contains(warning))
          .hasSize(2)
          .allMatch(e -> e.getLevel() == ch.qos.logback.classic.Level.WARN);

      Files.writeString(file, "[cluster]\nlocalhost = chronos-1.example:7253\n" + lines);
      node.reload();
      assertThat(log.events())
          .filteredOn(e -> e.getFormattedMessage().contains("is none of the node"))
          .hasSize(2);
    }
  }

  @Test
  void afterAScaleDownEndsThePreviousViewNoLongerNamesTheNodesThatLeft() throws Exception {
    Path file = write("node = " + A + "\nnode = " + B + "\nnode = " + C);
    ClusterService service = new ClusterService(file, dir.resolve("none.conf"), 7253);
    ClusterView three = service.view();

    write("node = " + A + "\nnode = " + B + "\nleaving = " + C);
    service.reload();
    ClusterView leaving = service.view();
    assertThat(service.previousView()).isSameAs(three);
    // The same file again changes nothing: the view from before the scale-down stays.
    service.reload();
    assertThat(service.previousView()).isSameAs(three);

    // The leaving line goes, C is stopped. The view id is the same (the new cluster is), but
    // updates must stop going to C, which a previous view naming it as a node would send them to.
    write("node = " + A + "\nnode = " + B);
    service.reload();
    assertThat(service.view().viewId()).isEqualTo(leaving.viewId());
    assertThat(service.previousView().config().leaving()).containsExactly(C);
    assertThat(service.previousView().newCluster()).containsExactly(A, B);
  }

  /**
   * The original's first clustering document keeps [cluster] in /etc/chronos/chronos.conf, beside
   * [http]. A node whose cluster file does not exist reads that file's [cluster], if it has one,
   * rather than running alone; and the cluster file once it is written.
   */
  @Test
  void withoutAClusterFileTheClusterSectionOfChronosConfBesideItIsRead() throws Exception {
    Path chronosConf = dir.resolve("chronos.conf");
    Files.writeString(
        chronosConf, "[http]\nbind-address = 0.0.0.0\nbind-port = 7253\n\n" + CLUSTER_OF_A_AND_B);
    Path clusterFile = dir.resolve("chronos_cluster.conf");
    ClusterService service = new ClusterService(clusterFile, dir.resolve("none.conf"), 7253);
    assertThat(service.view().config().nodes()).containsExactly(A, B);
    assertThat(service.view().localAddress()).isEqualTo(A);

    // Scaling up as that document says: a node line more, then a reload.
    Files.writeString(chronosConf, "\nnode = " + C + "\n", java.nio.file.StandardOpenOption.APPEND);
    service.reload();
    assertThat(service.view().config().nodes()).containsExactly(A, B, C);

    // The cluster file, once it exists, is the one read.
    write("node = " + A + "\nnode = " + B);
    service.reload();
    assertThat(service.view().config().nodes()).containsExactly(A, B);
  }

  /**
   * A cluster file with [identity] alone, beside a chronos.conf that keeps [cluster] as the first
   * clustering document does: the original reads the keys the cluster file lacks from chronos.conf,
   * and the node joins that cluster; it ran alone, without a word, and popped every timer alone.
   * The cluster file's [identity] still wins over chronos.conf's.
   */
  @Test
  void aClusterFileWithoutMembersTakesThemFromChronosConfBesideIt() throws Exception {
    Files.writeString(
        dir.resolve("chronos.conf"), CLUSTER_OF_A_AND_B + "[identity]\ninstance_id = 5\n");
    Path clusterFile = dir.resolve("chronos_cluster.conf");
    Files.writeString(clusterFile, "[identity]\ninstance_id = 4\ndeployment_id = 1\n");

    ClusterService service = new ClusterService(clusterFile, dir.resolve("none.conf"), 7253);

    assertThat(service.view().config().nodes()).containsExactly(A, B);
    assertThat(service.view().localAddress()).isEqualTo(A);
    assertThat(service.view().config().instanceId()).isEqualTo(4);
    assertThat(service.view().config().deploymentId()).isEqualTo(1);

    // Scaling up in chronos.conf, reloaded.
    Files.writeString(
        dir.resolve("chronos.conf"),
        CLUSTER_OF_A_AND_B + "node = " + C + "\n[identity]\ninstance_id = 5\n");
    service.reload();
    assertThat(service.view().config().nodes()).containsExactly(A, B, C);
    assertThat(service.view().config().instanceId()).isEqualTo(4);

    // The cluster file caught being rewritten: the reload is refused, its [identity] kept.
    Files.writeString(clusterFile, "");
    assertThatThrownBy(service::reload)
        .isInstanceOf(ConfigException.class)
        .hasMessageContaining("has no [identity] key");
    Files.delete(clusterFile);
    assertThatThrownBy(service::reload)
        .isInstanceOf(ConfigException.class)
        .hasMessageContaining("does not exist");
    assertThat(service.view().config().instanceId()).isEqualTo(4);

    // Its own localhost wins over chronos.conf's, and chronos.conf may have none.
    Files.writeString(
        clusterFile, "[cluster]\nlocalhost = " + B + "\n[identity]\ninstance_id = 4\n");
    Files.writeString(
        dir.resolve("chronos.conf"), "[cluster]\nnode = " + A + "\nnode = " + B + "\n");
    service.reload();
    assertThat(service.view().localAddress()).isEqualTo(B);
    assertThat(service.view().config().nodes()).containsExactly(A, B);

    // A cluster file with localhost alone: its localhost, and chronos.conf's [identity].
    Files.writeString(clusterFile, "[cluster]\nlocalhost = " + B + "\n");
    Files.writeString(
        dir.resolve("chronos.conf"), CLUSTER_OF_A_AND_B + "[identity]\ninstance_id = 5\n");
    ClusterService other = new ClusterService(clusterFile, dir.resolve("none.conf"), 7253);
    assertThat(other.view().localAddress()).isEqualTo(B);
    assertThat(other.view().config().instanceId()).isEqualTo(5);
  }

  /**
   * A node installed from the package starts with neither file. An operator following the first
   * clustering document writes [cluster] into chronos.conf and reloads: the node joins that
   * cluster.
   */
  @Test
  void aNodeStartedWithNeitherFileReadsTheClusterChronosConfGetsOnAReload() throws Exception {
    Path clusterFile = dir.resolve("chronos_cluster.conf");
    ClusterService service = new ClusterService(clusterFile, dir.resolve("none.conf"), 7253);
    assertThat(service.view().config().nodes()).hasSize(1);

    Files.writeString(dir.resolve("chronos.conf"), CLUSTER_OF_A_AND_B);
    service.reload();

    assertThat(service.view().config().nodes()).containsExactly(A, B);
    assertThat(service.view().localAddress()).isEqualTo(A);
  }

  /**
   * A node that reads its cluster file, found gone on a reload (being rewritten), refuses the
   * reload as ever: it does not switch to an old member list left in chronos.conf.
   */
  @Test
  void aClusterFileFoundGoneIsNotReplacedByChronosConf() throws Exception {
    Files.writeString(
        dir.resolve("chronos.conf"), "[cluster]\nlocalhost = " + A + "\nnode = " + A + "\n");
    Path clusterFile = write("node = " + A + "\nnode = " + B);
    ClusterService service = new ClusterService(clusterFile, dir.resolve("none.conf"), 7253);
    Files.delete(clusterFile);

    assertThatThrownBy(service::reload)
        .isInstanceOf(ConfigException.class)
        .hasMessageContaining("chronos_cluster.conf does not exist");
    assertThat(service.view().config().nodes()).containsExactly(A, B);
  }

  /**
   * A node moved from the older layout to a cluster file written without [identity] keeps the
   * identity chronos.conf gives it: back at 0/0, it would make the ids another node makes.
   */
  @Test
  void aClusterFileWithoutIdentityTakesItFromChronosConfBesideIt() throws Exception {
    Path chronosConf = dir.resolve("chronos.conf");
    Files.writeString(
        chronosConf, CLUSTER_OF_A_AND_B + "[identity]\ninstance_id = 5\ndeployment_id = 2\n");
    Path clusterFile = dir.resolve("chronos_cluster.conf");
    ClusterService service = new ClusterService(clusterFile, dir.resolve("none.conf"), 7253);
    assertThat(service.view().config().instanceId()).isEqualTo(5);

    write("node = " + A + "\nnode = " + B);
    service.reload();
    assertThat(service.view().config().instanceId()).isEqualTo(5);
    assertThat(service.view().config().deploymentId()).isEqualTo(2);

    // Once the cluster file has [identity], it is the one that counts.
    write("node = " + A + "\nnode = " + B + "\n[identity]\ninstance_id = 9");
    service.reload();
    assertThat(service.view().config().instanceId()).isEqualTo(9);
    assertThat(service.view().config().deploymentId()).isZero();
  }

  @Test
  void withoutAClusterFileANodeAloneTakesItsIdentityFromChronosConf() throws Exception {
    Files.writeString(
        dir.resolve("chronos.conf"),
        "[http]\nbind-port = 7253\n[identity]\ninstance_id = 3\ndeployment_id = 1\n");
    ClusterService service =
        new ClusterService(dir.resolve("chronos_cluster.conf"), dir.resolve("none.conf"), 7253);
    assertThat(service.view().config().nodes()).hasSize(1);
    assertThat(service.view().config().instanceId()).isEqualTo(3);
    assertThat(service.view().config().deploymentId()).isEqualTo(1);
  }

  @Test
  void aBadIdentityInChronosConfIsRefusedNamingThatFile() throws Exception {
    Files.writeString(dir.resolve("chronos.conf"), "[identity]\ninstance_id = 500\n");
    Path clusterFile = write("node = " + A);

    assertThatThrownBy(() -> new ClusterService(clusterFile, dir.resolve("none.conf"), 7253))
        .isInstanceOf(ConfigException.class)
        .hasMessageContaining("chronos.conf:2: [identity] instance_id '500'");
  }

  @Test
  void aChronosConfWithoutAClusterSectionLeavesANodeWithoutAClusterFileAlone() throws Exception {
    Files.writeString(dir.resolve("chronos.conf"), "[http]\nbind-port = 7253\n");
    ClusterService service =
        new ClusterService(dir.resolve("chronos_cluster.conf"), dir.resolve("none.conf"), 7253);
    assertThat(service.view().config().nodes()).hasSize(1);
  }
}
