package org.chronos.cluster;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ClusterConfigTest {

  private static ClusterConfig parse(String text) throws ConfigException {
    return ClusterConfig.parse(text, "chronos_cluster.conf", 7253);
  }

  /**
   * The original hashes, lists and compares an address exactly as written, and adds the port only
   * to connect: a node that added it before hashing would place timers differently from the
   * original nodes of a mixed cluster, and from one of ours with another HTTP port.
   */
  @Test
  void addressesAreKeptAsWrittenWithOrWithoutAPort() throws ConfigException {
    ClusterConfig config =
        ClusterConfig.parse(
            "[cluster]\nlocalhost = 1.2.3.4\nnode = 1.2.3.4\nnode = 5.6.7.8:7000\n", "f", 9999);

    assertThat(config.localhost()).isEqualTo("1.2.3.4");
    assertThat(config.nodes()).containsExactly("1.2.3.4", "5.6.7.8:7000");
    assertThat(new ClusterView(config).viewId())
        .isEqualTo(ClusterView.viewIdOf(List.of("1.2.3.4", "5.6.7.8:7000")))
        .isNotEqualTo(ClusterView.viewIdOf(List.of("1.2.3.4:9999", "5.6.7.8:7000")));
  }

  @Test
  void localhostWrittenOtherwiseThanItsNodeLineTakesTheListedForm() throws ConfigException {
    ClusterConfig config =
        ClusterConfig.parse(
            "[cluster]\nlocalhost = 1.2.3.4\nnode = 1.2.3.4:9999\nnode = 5.6.7.8:9999\n",
            "f",
            9999);

    assertThat(config.localhost()).isEqualTo("1.2.3.4:9999");
    assertThat(new ClusterView(config).isInCluster(config.localhost())).isTrue();
  }

  @Test
  void theSameNodeWrittenWithAndWithoutItsPortIsListedTwice() {
    assertBad("[cluster]\nlocalhost = a\nnode = b\nnode = b:7253\n", ":4", "'b:7253'", "line 3");
  }

  @Test
  void theOldAllInOneChronosConfFormatParses() throws ConfigException {
    // From seeds/clustering-v1.txt, scale-up example.
    String v1 =
        """
                [http]
                bind-address = 0.0.0.0
                bind-port = 7253

                [cluster]
                localhost = 1.2.3.4
                node = 1.2.3.4:7253
                node = 5.6.7.8:7253
                """;

    ClusterConfig config = parse(v1);

    assertThat(config.localhost()).isEqualTo("1.2.3.4:7253");
    assertThat(config.nodes()).containsExactly("1.2.3.4:7253", "5.6.7.8:7253");
    assertThat(config.newCluster()).isEqualTo(config.oldCluster()).isEqualTo(config.nodes());
    assertThat(new ClusterView(config).isInCluster("1.2.3.4:7253")).isTrue();
  }

  @Test
  void theDocumentedExampleWithCommentsJoiningLeavingAndIdentityParses() throws ConfigException {
    String text =
        """
                [cluster]
                localhost = 1.2.3.4          # this node's address, exactly as the others list it
                node = 1.2.3.4               # staying nodes, in the same order on every node
                joining = 2.3.4.5            # scale-up in progress
                leaving = 3.4.5.6            # scale-down in progress
                [identity]
                instance_id = 1              # 0-127, unique per node
                deployment_id = 7            # 0-7, same within a site
                """;

    ClusterConfig config = parse(text);

    assertThat(config.nodes()).containsExactly("1.2.3.4");
    assertThat(config.joining()).containsExactly("2.3.4.5");
    assertThat(config.leaving()).containsExactly("3.4.5.6");
    assertThat(config.newCluster()).containsExactly("1.2.3.4", "2.3.4.5");
    assertThat(config.oldCluster()).containsExactly("1.2.3.4", "3.4.5.6");
    assertThat(config.instanceId()).isEqualTo(1);
    assertThat(config.deploymentId()).isEqualTo(7);
  }

  /**
   * Nodes whose files set no instance_id: the original makes ids with 0 on each, so two nodes that
   * made a timer in the same millisecond gave both timers one id, and one replaced the other. Each
   * node of the file now takes its own, however many there are (up to 128) and however alike their
   * addresses; one set in the file, or a cluster of one, is as before.
   */
  @Test
  void nodesThatSetNoInstanceIdEachTakeTheirOwnFromTheirAddress() throws ConfigException {
    for (int size : new int[] {2, 3, 10, 60, 128}) {
      StringBuilder lines = new StringBuilder();
      for (int i = 1; i <= size; i++) {
        lines.append("node = 10.0.").append(i / 100).append('.').append(i % 100).append('\n');
      }
      java.util.Set<Integer> ids = new java.util.HashSet<>();
      for (int i = 1; i <= size; i++) {
        String local = "10.0." + (i / 100) + "." + (i % 100);
        ids.add(parse("[cluster]\nlocalhost = " + local + "\n" + lines).instanceId());
      }
      assertThat(ids).as("the instance ids of %d nodes", size).hasSize(size);
    }

    String two = "[cluster]\nlocalhost = 10.0.0.1\nnode = 10.0.0.1\nnode = 10.0.0.2\n";
    assertThat(parse(two + "[identity]\ninstance_id = 5\n").instanceId()).isEqualTo(5);
    assertThat(parse("[cluster]\nlocalhost = 10.0.0.1\nnode = 10.0.0.1\n").instanceId()).isZero();
  }

  @Test
  void withoutNodeLinesTheClusterIsJustLocalhost() throws ConfigException {
    ClusterConfig config = parse("[cluster]\nlocalhost = 10.9.8.7\n");

    assertThat(config.nodes()).containsExactly("10.9.8.7");
    assertThat(config.newCluster()).containsExactly("10.9.8.7");
    assertThat(config.instanceId()).isZero();
    assertThat(config.deploymentId()).isZero();
  }

  @Test
  void anEmptyFileIsTheLoopbackSingleNode() throws ConfigException {
    ClusterConfig config = parse("# nothing configured yet\n");

    assertThat(config).isEqualTo(ClusterConfig.singleNode(7253));
    assertThat(config.localhost()).isEqualTo("127.0.0.1:7253");
    assertThat(config.nodes()).containsExactly("127.0.0.1:7253");
  }

  @Test
  void joiningOnlyIsAllowedButLeavingOnlyWouldLeaveNoNode() throws ConfigException {
    assertThat(parse("[cluster]\nlocalhost = a\njoining = a\n").newCluster()).containsExactly("a");

    assertThatThrownBy(() -> parse("[cluster]\nlocalhost = a\nleaving = a\n"))
        .isInstanceOf(ConfigException.class)
        .hasMessageContaining("leaving")
        .hasMessageContaining("[a]");
  }

  @Test
  void ipv6AddressesAreAcceptedBracketedOrBare() throws ConfigException {
    ClusterConfig config =
        parse(
            """
                [cluster]
                localhost = [::1]:7253
                node = [::1]:7253
                node = 2001:db8::2
                node = [2001:db8::3]
                node = [fe80::1%eth0]:8000
                """);

    assertThat(config.localhost()).isEqualTo("[::1]:7253");
    assertThat(config.nodes())
        .containsExactly("[::1]:7253", "2001:db8::2", "[2001:db8::3]", "[fe80::1%eth0]:8000");
  }

  @Test
  void hostnamesAreAccepted() throws ConfigException {
    ClusterConfig config =
        parse(
            "[cluster]\nlocalhost = chronos-1.example.com\n"
                + "node = chronos-1.example.com\nnode = chronos_2:7254\n");

    assertThat(config.nodes()).containsExactly("chronos-1.example.com", "chronos_2:7254");
  }

  @Test
  void invalidAddressesAreRefusedNamingLineKeyAndValue() {
    assertBad(
        "[cluster]\nlocalhost = a\nnode = 1.2.3.4:0\n",
        "chronos_cluster.conf:3",
        "node",
        "'1.2.3.4:0'");
    assertBad("[cluster]\nlocalhost = a\nnode = 1.2.3.4:65536\n", ":3", "'1.2.3.4:65536'");
    assertBad("[cluster]\nlocalhost = a\nnode = 1.2.3.4:http\n", ":3", "'1.2.3.4:http'");
    assertBad("[cluster]\nlocalhost = a\njoining = :7253\n", ":3", "joining", "empty");
    assertBad("[cluster]\nlocalhost = a\nnode =\n", ":3", "node", "empty");
    assertBad("[cluster]\nlocalhost = 1.2.3.4 5\n", ":2", "localhost", "'1.2.3.4 5'");
    assertBad("[cluster]\nlocalhost = [::1\n", ":2", "'[::1'");
    assertBad("[cluster]\nlocalhost = [::1]7253\n", ":2", "'[::1]7253'");
    assertBad("[cluster]\nlocalhost = [zz::1]:7253\n", ":2", "zz::1");
    assertBad("[cluster]\nlocalhost = [1.2.3.4]:7253\n", ":2", "1.2.3.4");
  }

  @Test
  void theSameAddressTwiceAcrossNodeJoiningAndLeavingIsRefused() {
    assertBad(
        "[cluster]\nlocalhost = a\nnode = 1.2.3.4\nleaving = 1.2.3.4:7253\n",
        ":4",
        "leaving",
        "1.2.3.4:7253",
        "line 3");
    assertBad("[cluster]\nlocalhost = a\nnode = b\nnode = b\n", ":4", "'b'", "line 3");
    assertBad("[cluster]\nlocalhost = a\nnode = b\njoining = b\n", ":4", "joining");
  }

  @Test
  void localhostIsRequiredOnceNodesAreListed() {
    assertBad("[cluster]\nnode = 1.2.3.4\n", "chronos_cluster.conf", "localhost");
    assertBad("[cluster]\nlocalhost = a\nlocalhost = b\n", ":3", "localhost", "'b'");
  }

  @Test
  void identityOutOfRangeOrNotANumberIsRefused() {
    assertBad("[identity]\ninstance_id = 128\n", ":2", "instance_id", "'128'", "0-127");
    assertBad("[identity]\ninstance_id = -1\n", ":2", "'-1'");
    assertBad("[identity]\ninstance_id = one\n", ":2", "'one'");
    assertBad("[identity]\ndeployment_id = 8\n", ":2", "deployment_id", "'8'", "0-7");
    assertBad("[identity]\ndeployment_id = 99999999999\n", ":2", "'99999999999'");
  }

  @Test
  void identityAtItsLimitsIsAccepted() throws ConfigException {
    ClusterConfig config = parse("[identity]\ninstance_id = 127\ndeployment_id = 0\n");

    assertThat(config.instanceId()).isEqualTo(127);
  }

  @Test
  void otherSectionsAreIgnored() throws ConfigException {
    ClusterConfig config = parse("[logging]\nlevel = 5\n[cluster]\nlocalhost = a\n");

    assertThat(config.nodes()).containsExactly("a");
  }

  /**
   * The original ignores options it does not know, so a file it takes loads here too; a misspelt
   * key is named in a warning, with its line, rather than left unnoticed.
   */
  @Test
  void unknownKeysOfClusterOrIdentityAndTheirSectionsInOtherCaseAreIgnoredAndNamed()
      throws ConfigException {
    String text = "[cluster]\nlocalhost = a\nnode = a\njoinng = b\n[Identity]\ninstance_id = 3\n";

    ClusterConfig config = parse(text);

    assertThat(config.newCluster()).containsExactly("a");
    assertThat(config.instanceId()).isZero();
    IniFile ini = IniFile.parse(text, "chronos_cluster.conf");
    assertThat(ini.unknownKeys("cluster", java.util.Set.of("localhost", "node", "joining")))
        .singleElement()
        .asString()
        .contains("chronos_cluster.conf:4", "'joinng'", "joining");
    assertThat(ini.unknownKeys("identity", java.util.Set.of("instance_id")))
        .singleElement()
        .asString()
        .contains("[Identity]", "[identity]");
  }

  @Test
  void aMissingFileIsTheSingleNodeDefault(@TempDir Path dir) throws ConfigException {
    ClusterConfig config = ClusterConfig.load(dir.resolve("chronos_cluster.conf"), 7000);

    assertThat(config.localhost()).isEqualTo("127.0.0.1:7000");
    assertThat(config.nodes()).containsExactly("127.0.0.1:7000");
    assertThat(config.instanceId()).isZero();
    assertThat(config.deploymentId()).isZero();
  }

  @Test
  void aFileIsReadAndItsPathNamedInErrors(@TempDir Path dir) throws IOException {
    Path file = dir.resolve("chronos_cluster.conf");
    Files.writeString(file, "[cluster]\nlocalhost = 1.2.3.4\nnode = 1.2.3.4\nnode = 1.2.3.5\n");

    assertThat(loadQuietly(file).nodes()).containsExactly("1.2.3.4", "1.2.3.5");

    Files.writeString(file, "[identity]\ninstance_id = 300\n");
    assertThatThrownBy(() -> ClusterConfig.load(file, 7253))
        .isInstanceOf(ConfigException.class)
        .hasMessageContaining(file + ":2")
        .hasMessageContaining("'300'");
  }

  @Test
  void anUnreadableFileIsAnErrorNotTheDefault(@TempDir Path dir) throws IOException {
    Path directory = Files.createDirectory(dir.resolve("chronos_cluster.conf"));
    Path notUtf8 = dir.resolve("latin1.conf");
    Files.write(notUtf8, new byte[] {'[', 'c', ']', '\n', 'k', '=', (byte) 0xe9, '\n'});

    assertThatThrownBy(() -> ClusterConfig.load(directory, 7253))
        .isInstanceOf(ConfigException.class)
        .hasMessageContaining(directory.toString());
    assertThatThrownBy(() -> ClusterConfig.load(notUtf8, 7253))
        .isInstanceOf(ConfigException.class)
        .hasMessageContaining("latin1.conf")
        .hasMessageContaining("UTF-8");
  }

  @Test
  void programmaticConstructionValidatesToo() {
    assertThatThrownBy(() -> new ClusterConfig("a:1", List.of(), List.of(), List.of("b:1"), 0, 0))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("b:1");
    assertThatThrownBy(() -> new ClusterConfig("a:1", List.of("a:1"), List.of(), List.of(), 128, 0))
        .hasMessageContaining("128");
    assertThatThrownBy(
            () -> new ClusterConfig("a:1", List.of("a:1"), List.of("a:1"), List.of(), 0, 0))
        .hasMessageContaining("a:1");
  }

  private static ClusterConfig loadQuietly(Path file) {
    try {
      return ClusterConfig.load(file, 7253);
    } catch (ConfigException e) {
      throw new AssertionError(e);
    }
  }

  private static void assertBad(String text, String... fragments) {
    var thrown = assertThatThrownBy(() -> parse(text)).isInstanceOf(ConfigException.class);
    for (String fragment : fragments) {
      thrown.hasMessageContaining(fragment);
    }
  }
}
