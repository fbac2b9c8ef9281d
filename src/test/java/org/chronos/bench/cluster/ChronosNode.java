package org.chronos.bench.cluster;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.chronos.bench.LatePops;
import org.chronos.testing.FreePorts;

/**
 * One Chronos node in its own JVM ({@code java -Xmx1g -jar target/chronos.jar server <yml>}) for
 * the cluster benchmarks: writes the node's YAML and cluster file into its own directory, starts
 * it, waits for {@code GET /ping}, reads its admin metrics and runs admin tasks. Every PID started
 * is appended to {@code <work>/pids} so that {@code bench/cluster/run.sh} can clean up even if this
 * JVM dies; {@link #stop()} ends the node by its PID only.
 */
final class ChronosNode implements AutoCloseable {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final HttpClient ADMIN =
      HttpClient.newBuilder()
          .version(HttpClient.Version.HTTP_1_1)
          .connectTimeout(Duration.ofSeconds(5))
          .build();
  private static final List<ChronosNode> STARTED = new ArrayList<>();

  static {
    Runtime.getRuntime().addShutdownHook(new Thread(ChronosNode::stopAll, "stop-chronos-nodes"));
  }

  final String name;
  final int port;
  final int adminPort;
  final Path dir;
  private Path profile;
  final Path clusterFile;
  private final Path work;
  private Process process;
  private String extraYaml = "";

  ChronosNode(Path work, String name) throws IOException {
    this.work = work;
    this.name = name;
    this.port = freePort();
    this.adminPort = freePort();
    this.dir = Files.createDirectories(work.resolve(name));
    this.clusterFile = dir.resolve("chronos_cluster.conf");
  }

  String address() {
    return "127.0.0.1:" + port;
  }

  /**
   * Whether the nodes run as the Debian package runs them (not {@code -Dcbench.packagedJvm=false}).
   */
  private static boolean packaged() {
    return Boolean.parseBoolean(System.getProperty("cbench.packagedJvm", "true"));
  }

  /**
   * The options in the {@code JAVA_TOOL_OPTIONS} line of deb/chronos.default (what the Debian
   * package starts the node with), or none with {@code -Dcbench.packagedJvm=false}.
   */
  static List<String> packagedJvmOptions() throws IOException {
    if (!packaged()) {
      return List.of();
    }
    for (String line : Files.readAllLines(Path.of("deb/chronos.default"))) {
      if (line.startsWith("JAVA_TOOL_OPTIONS=")) {
        String value = line.substring(line.indexOf('=') + 1).replace("\"", "").strip();
        return value.isEmpty() ? List.of() : List.of(value.split("\\s+"));
      }
    }
    throw new IOException("deb/chronos.default has no JAVA_TOOL_OPTIONS line");
  }

  /**
   * The keys of deb/chronos.yml's {@code timers:} block that {@link #packagedTimerSettings} copies.
   */
  private static final List<String> PACKAGED_TIMER_KEYS =
      List.of("realtimePriority", "realtimeBudget", "realtimePeriod", "realtimeBatchWindow");

  /**
   * The package's scheduling settings for the timer thread ({@code timers.realtimePriority}, {@code
   * realtimeBudget}, {@code realtimePeriod}, {@code realtimeBatchWindow} in deb/chronos.yml, as
   * YAML lines under {@code timers:}), or none with {@code -Dcbench.packagedJvm=false}: the nodes
   * run as packaged. {@code -Dcbench.nodeOpts=-Ddw.timers.realtimeBudget=0ms} turns the budget off.
   */
  static List<String> packagedTimerSettings() throws IOException {
    List<String> settings = new ArrayList<>();
    if (!packaged()) {
      return settings;
    }
    for (String line : Files.readAllLines(Path.of("deb/chronos.yml"))) {
      String trimmed = line.strip();
      int colon = trimmed.indexOf(':');
      if (colon > 0 && PACKAGED_TIMER_KEYS.contains(trimmed.substring(0, colon))) {
        settings.add("  " + trimmed.split("\\s+#")[0].strip());
      }
    }
    return settings;
  }

  /** Writes the {@code [cluster]} file: this node, the {@code node} and {@code joining} lines. */
  void writeClusterFile(int instanceId, List<ChronosNode> nodes, List<ChronosNode> joining)
      throws IOException {
    StringBuilder ini = new StringBuilder("[cluster]\nlocalhost = ").append(address()).append('\n');
    for (ChronosNode n : nodes) {
      ini.append("node = ").append(n.address()).append('\n');
    }
    for (ChronosNode n : joining) {
      ini.append("joining = ").append(n.address()).append('\n');
    }
    ini.append("[identity]\ninstance_id = ").append(instanceId).append("\n");
    Files.writeString(clusterFile, ini.toString());
  }

  /**
   * YAML appended to the generated configuration (top-level keys, e.g. a {@code resync:} block).
   */
  ChronosNode withYaml(String yaml) {
    this.extraYaml = yaml;
    return this;
  }

  /** Starts the JVM (the cluster file must be written) and waits for {@code GET /ping} = 200. */
  void start(Path jar) throws IOException, InterruptedException {
    Path yml = dir.resolve("chronos.yml");
    Path shared = dir.resolve("chronos_shared.conf");
    List<String> timerSettings = packagedTimerSettings();
    Files.writeString(shared, "[sites]\nlocal_site = site1\n");
    Files.writeString(
        yml,
        String.join(
            "\n",
            "server:",
            "  applicationConnectors:",
            "    - type: http",
            "      port: " + port,
            "      bindHost: 127.0.0.1",
            "  adminConnectors:",
            "    - type: http",
            "      port: " + adminPort,
            "      bindHost: 127.0.0.1",
            "  shutdownGracePeriod: 2s",
            "  requestLog:",
            "    appenders: []",
            "cluster:",
            "  configFile: " + clusterFile,
            "  sharedConfigFile: " + shared,
            // The benchmark runs each resync itself, through POST /tasks/resync, and times it.
            "resync:",
            "  onStart: false",
            extraYaml.isEmpty() ? "" : extraYaml,
            timerSettings.isEmpty() ? "" : "timers:\n" + String.join("\n", timerSettings),
            // Throttling must not cap the measurement.
            "overload:",
            "  enabled: false",
            "logging:",
            "  level: WARN",
            "  loggers:",
            "    org.apache.hc: WARN",
            ""));
    Path java = Path.of(System.getProperty("java.home"), "bin", "java");
    Path log = dir.resolve("node.log");
    // The JVM options the Debian package runs the node with, unless -Dcbench.packagedJvm=false;
    // -Dcbench.nodeOpts="..." adds JVM options to every node, e.g. -Xlog:gc:file=gc.log or
    // -Ddw.replication.maxBulkInFlightPerPeer=4 (Dropwizard's override of a YAML key).
    List<String> command = new java.util.ArrayList<>(List.of(java.toString(), "-Xmx1g"));
    command.addAll(packagedJvmOptions());
    // "{node}" in them becomes this node's name, for options that need a file per node (e.g.
    // -XX:AOTCache=/tmp/aot/{node}.aot on JDK 25).
    String nodeOpts = System.getProperty("cbench.nodeOpts", "").strip().replace("{node}", name);
    if (!nodeOpts.isEmpty()) {
      command.addAll(List.of(nodeOpts.split("\\s+")));
    }
    command.addAll(List.of("-jar", jar.toString(), "server", yml.toString()));
    process =
        new ProcessBuilder(command)
            .directory(dir.toFile())
            .redirectErrorStream(true)
            .redirectOutput(log.toFile())
            .start();
    synchronized (STARTED) {
      STARTED.add(this);
    }
    Files.writeString(
        work.resolve("pids"),
        process.pid() + "\n",
        StandardOpenOption.CREATE,
        StandardOpenOption.APPEND);
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    while (System.nanoTime() < deadline) {
      if (!process.isAlive()) {
        throw new IllegalStateException(
            name + " exited with " + process.exitValue() + "; log:\n" + tail(log));
      }
      try {
        if (get("http://127.0.0.1:" + port + "/ping").statusCode() == 200) {
          return;
        }
      } catch (IOException notYet) {
        // not listening yet
      }
      Thread.sleep(100);
    }
    throw new IllegalStateException(name + " did not answer /ping within 60 s; log:\n" + tail(log));
  }

  long pid() {
    return process.pid();
  }

  /** Starts a JFR recording (profile settings) of this node; see {@link #stopProfile()}. */
  void startProfile(String name) throws IOException, InterruptedException {
    profile = dir.resolve(name + ".jfr");
    jcmd("JFR.start", "name=cbench", "settings=profile", "filename=" + profile);
  }

  /** Stops the recording, writes it into this node's directory and says where. */
  void stopProfile() throws IOException, InterruptedException {
    jcmd("JFR.stop", "name=cbench");
    System.out.println("JFR recording of " + name + ": " + profile);
  }

  private void jcmd(String... command) throws IOException, InterruptedException {
    List<String> line =
        new ArrayList<>(
            List.of(
                Path.of(System.getProperty("java.home"), "bin", "jcmd").toString(),
                Long.toString(process.pid())));
    line.addAll(List.of(command));
    Process p =
        new ProcessBuilder(line)
            .redirectErrorStream(true)
            .redirectOutput(dir.resolve("jcmd.log").toFile())
            .start();
    p.waitFor(30, TimeUnit.SECONDS);
  }

  /** Admin {@code /metrics} as JSON. */
  JsonNode metrics() throws IOException, InterruptedException {
    HttpResponse<byte[]> r =
        ADMIN.send(
            HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + adminPort + "/metrics"))
                .timeout(Duration.ofSeconds(10))
                .build(),
            HttpResponse.BodyHandlers.ofByteArray());
    return JSON.readTree(r.body());
  }

  long gauge(String name) throws IOException, InterruptedException {
    return gauge(metrics(), name);
  }

  static long gauge(JsonNode metrics, String name) {
    JsonNode g = metrics.path("gauges").path(name).path("value");
    return g.isMissingNode() || g.isNull() ? -1 : g.asLong();
  }

  static long counter(JsonNode metrics, String name) {
    JsonNode c = metrics.path("counters").path(name).path("count");
    return c.isMissingNode() ? -1 : c.asLong();
  }

  /**
   * The pop-lateness histogram (microseconds) as the node reports it now, with its pop count and
   * late-pop counters.
   */
  HistogramSnapshot lateness() throws IOException, InterruptedException {
    JsonNode m = metrics();
    JsonNode h = m.path("histograms").path("chronos.pops.lateness-micros");
    return new HistogramSnapshot(
        h.path("count").asLong(),
        h.path("p50").asDouble(),
        h.path("p99").asDouble(),
        h.path("max").asDouble(),
        LatePops.read(m));
  }

  /**
   * A node's cumulative (exponentially decaying) histogram as read at one moment, and its late-pop
   * counters, which count every pop: two readings give a phase's exact figures.
   */
  record HistogramSnapshot(long count, double p50, double p99, double max, LatePops late) {
    String describe() {
      return String.format("count=%d p50=%.0fus p99=%.0fus max=%.0fus", count, p50, p99, max);
    }
  }

  /** {@code POST /tasks/<task>} on the admin port; returns status and body. */
  HttpResponse<String> task(String task, Duration timeout)
      throws IOException, InterruptedException {
    return ADMIN.send(
        HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + adminPort + "/tasks/" + task))
            .timeout(timeout)
            .POST(HttpRequest.BodyPublishers.noBody())
            .build(),
        HttpResponse.BodyHandlers.ofString());
  }

  private static HttpResponse<Void> get(String url) throws IOException, InterruptedException {
    return ADMIN.send(
        HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(2)).build(),
        HttpResponse.BodyHandlers.discarding());
  }

  /** Ends the node by its PID (SIGTERM, then SIGKILL after 15 s). */
  void stop() throws InterruptedException {
    if (process != null && process.isAlive()) {
      process.destroy();
      // Up to a minute: a JVM started with -XX:AOTCacheOutput writes its cache as it exits.
      if (!process.waitFor(60, TimeUnit.SECONDS)) {
        process.destroyForcibly();
        process.waitFor(5, TimeUnit.SECONDS);
      }
    }
  }

  @Override
  public void close() {
    try {
      stop();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  static void stopAll() {
    List<ChronosNode> nodes;
    synchronized (STARTED) {
      nodes = new ArrayList<>(STARTED);
    }
    for (ChronosNode n : nodes) {
      try {
        n.stop();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
  }

  /**
   * The generator JVM shares the node's logback; without this HttpClient 5 logs every request at
   * DEBUG.
   */
  static void quietLogging() {
    ((ch.qos.logback.classic.Logger)
            org.slf4j.LoggerFactory.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME))
        .setLevel(ch.qos.logback.classic.Level.WARN);
  }

  static String tail(Path log) {
    try {
      List<String> lines = Files.readAllLines(log, StandardCharsets.UTF_8);
      return String.join("\n", lines.subList(Math.max(0, lines.size() - 40), lines.size()));
    } catch (IOException e) {
      return "(no log: " + e.getMessage() + ")";
    }
  }

  /** A free port below the kernel's range for outgoing connections' local ports (2y). */
  static int freePort() {
    return FreePorts.next();
  }
}
