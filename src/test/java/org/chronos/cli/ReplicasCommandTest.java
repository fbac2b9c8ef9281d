package org.chronos.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.dropwizard.core.Application;
import io.dropwizard.core.Configuration;
import io.dropwizard.core.cli.Cli;
import io.dropwizard.core.setup.Bootstrap;
import io.dropwizard.core.setup.Environment;
import io.dropwizard.util.JarLocation;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import org.chronos.cluster.ClusterView;
import org.chronos.cluster.ConfigException;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ReplicasCommandTest {

  @TempDir Path dir;
  private Path clusterFile;
  private final ByteArrayOutputStream stdout = new ByteArrayOutputStream();

  @BeforeEach
  void writeThreeNodeClusterFile() throws IOException {
    clusterFile = dir.resolve("chronos_cluster.conf");
    Files.writeString(
        clusterFile,
        """
                [cluster]
                localhost = 10.0.10.1:7253
                node = 10.0.10.1:7253
                node = 10.0.10.2:7253
                node = 10.0.10.3:7253
                """);
  }

  @Test
  void printsTheViewIdThenEachTimerAsGivenWithItsReplicasPrimaryFirst() throws ConfigException {
    ReplicasCommand.printReplicas(
        clusterFile,
        7253,
        List.of("ffffffffffffffff-3", "/timers/647c72c63386bcb5-3", "ca4ae8e06a9888a7-2"),
        new PrintStream(stdout, true, StandardCharsets.UTF_8));

    // Expected values are the compatibility vectors for this cluster.
    assertThat(output())
        .isEqualTo(
            """
                cluster-view-id 4612148004983448064
                ffffffffffffffff-3 10.0.10.1:7253 10.0.10.3:7253 10.0.10.2:7253
                /timers/647c72c63386bcb5-3 10.0.10.3:7253 10.0.10.1:7253 10.0.10.2:7253
                ca4ae8e06a9888a7-2 10.0.10.3:7253 10.0.10.1:7253
                """);
  }

  @Test
  void addressesWrittenWithoutAPortArePrintedAndHashedAsWritten() throws Exception {
    Files.writeString(clusterFile, "[cluster]\nlocalhost = 10.0.10.1\nnode = 10.0.10.1\n");
    ReplicasCommand.printReplicas(
        clusterFile, 8000, List.of("0000000000000000-1"), new PrintStream(stdout, true));

    assertThat(output().lines())
        .containsExactly(
            "cluster-view-id " + ClusterView.viewIdOf(List.of("10.0.10.1")),
            "0000000000000000-1 10.0.10.1");
  }

  @Test
  void aMalformedTimerIsRefusedByNameBeforeAnythingIsPrinted() {
    for (String bad :
        List.of(
            "123-2",
            "ffffffffffffffff",
            "ffffffffffffffff-0",
            "gggggggggggggggg-2",
            "/timer/ffffffffffffffff-2",
            "ffffffffffffffff-2x")) {
      assertThatThrownBy(
              () ->
                  ReplicasCommand.printReplicas(
                      clusterFile,
                      7253,
                      List.of("0000000000000000-1", bad),
                      new PrintStream(stdout, true)))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("'" + bad + "'");
    }
    assertThat(output()).isEmpty();
  }

  @Test
  void aMissingOrBadClusterFileIsAnError() throws IOException {
    Path missing = dir.resolve("nope.conf");
    assertThatThrownBy(
            () ->
                ReplicasCommand.printReplicas(
                    missing, 7253, List.of("0000000000000000-1"), new PrintStream(stdout)))
        .isInstanceOf(ConfigException.class)
        .hasMessageContaining("nope.conf");

    Files.writeString(clusterFile, "[cluster]\nnode = 1.2.3.4:99999\n");
    assertThatThrownBy(
            () ->
                ReplicasCommand.printReplicas(
                    clusterFile, 7253, List.of("0000000000000000-1"), new PrintStream(stdout)))
        .isInstanceOf(ConfigException.class)
        .hasMessageContaining("1.2.3.4:99999");
  }

  @Test
  void throughTheDropwizardCliAMalformedTimerFailsWithAOneLineError() {
    ByteArrayOutputStream stderr = new ByteArrayOutputStream();
    Cli cli = cli(stderr);

    Optional<Throwable> failure = cli.run("replicas", clusterFile.toString(), "not-a-timer");

    // A present failure is what makes Application.run exit with status 1.
    assertThat(failure).isPresent();
    assertThat(stderr.toString(StandardCharsets.UTF_8))
        .contains("replicas: malformed timer 'not-a-timer'")
        .doesNotContain("\tat ");
  }

  @Test
  void throughTheDropwizardCliAMissingTimerArgumentIsAUsageError() {
    ByteArrayOutputStream stderr = new ByteArrayOutputStream();

    Optional<Throwable> failure = cli(stderr).run("replicas", clusterFile.toString());

    assertThat(failure).isPresent();
    assertThat(stderr.toString(StandardCharsets.UTF_8)).contains("timer");
  }

  private Cli cli(ByteArrayOutputStream stderr) {
    Application<Configuration> application =
        new Application<>() {
          @Override
          public void run(Configuration configuration, Environment environment) {}
        };
    Bootstrap<Configuration> bootstrap = new Bootstrap<>(application);
    bootstrap.addCommand(new ReplicasCommand());
    return new Cli(new JarLocation(getClass()), bootstrap, stdout, stderr);
  }

  private String output() {
    return stdout.toString(StandardCharsets.UTF_8);
  }
}
