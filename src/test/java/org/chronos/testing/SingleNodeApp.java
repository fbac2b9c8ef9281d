package org.chronos.testing;

import io.dropwizard.core.Application;
import io.dropwizard.testing.DropwizardTestSupport;
import io.dropwizard.testing.junit5.DropwizardAppExtension;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.chronos.ChronosApplication;
import org.chronos.ChronosConfiguration;
import org.chronos.timer.Clock;

/**
 * Builds a {@link DropwizardAppExtension} for one Chronos node on loopback (a single-node cluster:
 * its cluster files do not exist), optionally on a clock the test controls; call from a test
 * class's static initialiser. Extra YAML lines are appended to the node's configuration.
 *
 * <p>The admin port is 0. The application port cannot be: the node's cluster address defaults to
 * it, and port 0 is refused there. So a free port is picked, as {@link ClusterHarness} does.
 */
public final class SingleNodeApp {
  private SingleNodeApp() {}

  /** A node on the system clock. */
  public static DropwizardAppExtension<ChronosConfiguration> create(String... extraYamlLines) {
    return create(null, extraYamlLines);
  }

  /** A node whose every time reading comes from {@code clock} (null: the system clock). */
  public static DropwizardAppExtension<ChronosConfiguration> create(
      Clock clock, String... extraYamlLines) {
    Path yaml = writeYaml(extraYamlLines);
    DropwizardTestSupport<ChronosConfiguration> support =
        new DropwizardTestSupport<>(ChronosApplication.class, yaml.toString()) {
          @Override
          public Application<ChronosConfiguration> newApplication() {
            return clock == null ? new ChronosApplication() : new ChronosApplication(clock);
          }
        };
    return new DropwizardAppExtension<>(support);
  }

  /** The node as a bare support object, for tests that start and stop it themselves. */
  public static DropwizardTestSupport<ChronosConfiguration> support(
      io.dropwizard.testing.ConfigOverride... overrides) {
    return new DropwizardTestSupport<>(ChronosApplication.class, writeYaml().toString(), overrides);
  }

  /**
   * A node whose cluster file lists one other node only, where nothing listens: it takes timers it
   * holds no copy of (it is no replica), as a node of a larger cluster often does.
   */
  public static DropwizardAppExtension<ChronosConfiguration> notAReplica(Clock clock) {
    int port = FreePorts.next();
    Path yaml =
        writeYaml(port, "[cluster]\nlocalhost = 127.0.0.1:" + port + "\nnode = 127.0.0.1:1\n");
    DropwizardTestSupport<ChronosConfiguration> support =
        new DropwizardTestSupport<>(ChronosApplication.class, yaml.toString()) {
          @Override
          public Application<ChronosConfiguration> newApplication() {
            return new ChronosApplication(clock);
          }
        };
    return new DropwizardAppExtension<>(support);
  }

  private static Path writeYaml(String... extraYamlLines) {
    return writeYaml(FreePorts.next(), null, extraYamlLines);
  }

  private static Path writeYaml(int port, String clusterFile, String... extraYamlLines) {
    try {
      Path dir = Files.createTempDirectory(TestDirs.root(), "chronos-node");
      if (clusterFile != null) {
        Files.writeString(dir.resolve("absent-cluster.conf"), clusterFile);
      }
      List<String> lines =
          new ArrayList<>(
              List.of(
                  "server:",
                  "  applicationConnectors:",
                  "    - type: http",
                  "      bindHost: 127.0.0.1",
                  "      port: " + port,
                  "  adminConnectors:",
                  "    - type: http",
                  "      bindHost: 127.0.0.1",
                  "      port: 0",
                  "  shutdownGracePeriod: 0s",
                  "  requestLog:",
                  "    appenders: []",
                  "cluster:",
                  "  configFile: " + dir.resolve("absent-cluster.conf"),
                  "  sharedConfigFile: " + dir.resolve("absent-shared.conf"),
                  "callbacks:",
                  "  shutdownGracePeriod: 0s",
                  "logging:",
                  "  level: WARN",
                  "  loggers:",
                  "    org.apache.hc: WARN"));
      if (!List.of(extraYamlLines).contains("resync:")) {
        // No warm-up of the resync code at start: CPU beside the test, and a single node has no
        // resync to prepare for. A test with a resync section of its own says.
        lines.addAll(List.of("resync:", "  warmUpTimers: 0"));
      }
      lines.addAll(List.of(extraYamlLines));
      Path yaml = dir.resolve("chronos.yml");
      Files.writeString(yaml, String.join("\n", lines) + "\n");
      return yaml;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
