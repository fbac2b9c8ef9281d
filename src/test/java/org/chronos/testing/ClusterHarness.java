package org.chronos.testing;

import io.dropwizard.testing.DropwizardTestSupport;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;
import org.chronos.ChronosApplication;
import org.chronos.ChronosConfiguration;
import org.chronos.cluster.ClusterView;
import org.chronos.timer.Timer;

/**
 * Several real Chronos nodes in this JVM, each a full Dropwizard application on its own loopback
 * port with its own cluster file; not thread-safe (drive it from the test thread). Nodes talk to
 * each other over real HTTP, exactly as separate processes would.
 */
public final class ClusterHarness implements AutoCloseable {
  private final Path dir;
  private final List<Node> nodes = new ArrayList<>();

  /** One node of the harness. */
  public final class Node {
    final int index;
    final String host;
    final int port;
    final String address;
    final Path clusterFile;
    final Path sharedFile;
    final Path yaml;
    DropwizardTestSupport<ChronosConfiguration> support;
    Process process;
    ChronosClient client;

    Node(int index, String host, int port, String address, List<String> extraYamlLines)
        throws IOException {
      this.index = index;
      this.host = host;
      this.port = port;
      this.address = address;
      this.clusterFile = dir.resolve("cluster-" + index + ".conf");
      this.sharedFile = dir.resolve("shared-" + index + ".conf");
      this.yaml = dir.resolve("chronos-" + index + ".yml");
      Files.writeString(
          yaml,
          String.join(
              "\n",
              "server:",
              "  applicationConnectors:",
              "    - type: http",
              "      bindHost: " + host,
              "      port: " + port,
              "  adminConnectors:",
              "    - type: http",
              "      bindHost: 127.0.0.1",
              "      port: 0",
              "  shutdownGracePeriod: 0s",
              "  requestLog:",
              "    appenders: []",
              "cluster:",
              "  configFile: " + clusterFile,
              "  sharedConfigFile: " + sharedFile,
              "callbacks:",
              "  shutdownGracePeriod: 0s",
              // Small pages, so that tests page, and no warm-up of the resync code at start (each
              // node would spend CPU on it beside the test); a test with a resync section of its
              // own says (and so has the warm-up unless it says otherwise).
              extraYamlLines.contains("resync:")
                  ? ""
                  : "resync:\n  pageSize: 100\n  warmUpTimers: 0",
              "logging:",
              "  level: WARN",
              "  loggers:",
              "    org.apache.hc: WARN",
              "    org.chronos.sites: INFO",
              "    org.chronos.node: INFO",
              String.join("\n", extraYamlLines),
              ""));
    }

    public String address() {
      return address;
    }

    public ChronosClient client() {
      return client;
    }

    public boolean isRunning() {
      return support != null;
    }

    /** Writes this node's cluster file: itself as localhost, then the given lines. */
    public void writeClusterFile(String clusterLines) {
      try {
        Files.writeString(
            clusterFile,
            "[cluster]\nlocalhost = "
                + address
                + "\n"
                + clusterLines
                + "\n[identity]\ninstance_id = "
                + index
                + "\ndeployment_id = 0\n");
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }

    /** Writes this node's shared file ([sites]). */
    public void writeSharedFile(String text) {
      try {
        Files.writeString(sharedFile, text);
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }

    public void deleteSharedFile() {
      try {
        Files.delete(sharedFile);
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }

    public void deleteClusterFile() {
      try {
        Files.delete(clusterFile);
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }

    public void writeRawClusterFile(String text) {
      try {
        Files.writeString(clusterFile, text);
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }

    public void start() {
      support = new DropwizardTestSupport<>(ChronosApplication.class, yaml.toString());
      try {
        support.before();
      } catch (Exception e) {
        support = null;
        throw new IllegalStateException("node " + address + " did not start", e);
      }
      client = new ChronosClient(host, support.getLocalPort(), support.getAdminPort());
    }

    /**
     * Starts the node as a child JVM (same classpath as the tests), for tests that kill it. Its
     * admin port is fixed, so the client reaches both ports; {@link #app()} is not available.
     */
    public void startProcess() {
      try {
        int adminPort = FreePorts.next();
        Path processYaml = dir.resolve("chronos-" + index + "-process.yml");
        Files.writeString(
            processYaml,
            Files.readString(yaml).replace("      port: 0", "      port: " + adminPort));
        Path log = dir.resolve("node-" + index + ".log");
        process =
            new ProcessBuilder(
                    Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                    "-cp",
                    System.getProperty("java.class.path"),
                    ChronosApplication.class.getName(),
                    "server",
                    processYaml.toString())
                .redirectErrorStream(true)
                .redirectOutput(log.toFile())
                .start();
        client = new ChronosClient(host, port, adminPort);
        org.awaitility.Awaitility.await("node " + address + " answers /ping (log: " + log + ")")
            .atMost(java.time.Duration.ofSeconds(60))
            .ignoreExceptions()
            .until(() -> process.isAlive() && client.get("/ping").statusCode() == 200);
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }

    /** Kills a node started by {@link #startProcess} at once (SIGKILL): no shutdown at all. */
    public void kill() throws InterruptedException {
      process.destroyForcibly();
      process.waitFor();
      process = null;
    }

    /** Stops the node; its timers are gone with it, as when the process dies. */
    public void stop() {
      if (support != null) {
        support.after();
        support = null;
      }
      if (process != null) {
        process.destroyForcibly();
        process = null;
      }
    }

    public ChronosApplication app() {
      return (ChronosApplication) support.getApplication();
    }

    public com.codahale.metrics.MetricRegistry metrics() {
      return support.getEnvironment().metrics();
    }

    public io.dropwizard.core.setup.Environment environment() {
      return support.getEnvironment();
    }

    /** POST /tasks/reload; returns the HTTP status. */
    public int reload() {
      return client.adminPost("/tasks/reload").statusCode();
    }

    /** POST /tasks/resync, which answers when the resync has finished; returns its summary. */
    public com.fasterxml.jackson.databind.JsonNode resync() {
      var response = client.adminPost("/tasks/resync");
      if (response.statusCode() != 200) {
        throw new AssertionError(
            "resync on " + this + " answered " + response.statusCode() + ": " + response.body());
      }
      try {
        return new com.fasterxml.jackson.databind.ObjectMapper().readTree(response.body());
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }

    public ClusterView view() {
      return app().clusterService().view();
    }

    /** The node's copy of a timer, or null: read on its timer thread. */
    public Timer timer(long id) {
      return app().timerService().query(store -> store.get(id)).join();
    }

    /** Whether the node holds a live (non-tombstone) copy of the timer. */
    public boolean holdsLive(long id) {
      Timer t = timer(id);
      return t != null && !t.isTombstone();
    }

    public int liveCount() {
      return app().timerService().query(store -> store.liveCount()).join();
    }

    @Override
    public String toString() {
      return "node" + index + "@" + address;
    }
  }

  private ClusterHarness(Path dir) {
    this.dir = dir;
  }

  /** Creates {@code n} nodes, all listed as {@code node} lines on every node, and starts them. */
  public static ClusterHarness start(int n, String... extraYamlLines) {
    ClusterHarness harness = create(n, extraYamlLines);
    String lines = harness.nodeLines("node", harness.nodes);
    for (Node node : harness.nodes) {
      node.writeClusterFile(lines);
      node.start();
    }
    return harness;
  }

  /**
   * Creates {@code n} nodes with ports and files but starts none; {@code extraYamlLines} are
   * appended to every node's configuration (top-level sections the base file does not have).
   */
  public static ClusterHarness create(int n, String... extraYamlLines) {
    ClusterHarness harness = empty();
    for (int i = 0; i < n; i++) {
      int port = FreePorts.next();
      harness.add(i, "127.0.0.1", port, "127.0.0.1:" + port, extraYamlLines);
    }
    return harness;
  }

  /**
   * Creates {@code n} nodes, none started, on loopback addresses of their own (127.0.0.11, .12,
   * ...) and one HTTP port: each node's address is its host alone, written without the port, as the
   * original's cluster files write them (PROTOCOL.md section 3).
   */
  public static ClusterHarness createOnOnePort(int n, String... extraYamlLines) {
    ClusterHarness harness = empty();
    int port = FreePorts.next();
    for (int i = 0; i < n; i++) {
      String host = "127.0.0." + (11 + i);
      harness.add(i, host, port, host, extraYamlLines);
    }
    return harness;
  }

  /** A harness with no node yet, in a directory of its own. */
  private static ClusterHarness empty() {
    try {
      return new ClusterHarness(Files.createTempDirectory(TestDirs.root(), "chronos-cluster"));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private void add(int index, String host, int port, String address, String[] extraYamlLines) {
    try {
      nodes.add(new Node(index, host, port, address, List.of(extraYamlLines)));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  public Node node(int i) {
    return nodes.get(i);
  }

  public List<Node> nodes() {
    return List.copyOf(nodes);
  }

  /** The harness node with the given address. */
  public Node byAddress(String address) {
    return nodes.stream()
        .filter(n -> n.address.equals(address))
        .findFirst()
        .orElseThrow(() -> new IllegalArgumentException("no node " + address));
  }

  /** {@code role = address} lines for the nodes given. */
  public String nodeLines(String role, List<Node> of) {
    return of.stream().map(n -> role + " = " + n.address).collect(Collectors.joining("\n"));
  }

  @Override
  public void close() {
    for (Node node : nodes) {
      try {
        node.stop();
      } catch (RuntimeException e) {
        // Keep stopping the others.
      }
    }
  }
}
