package org.chronos.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;

/**
 * A node's work in miniature, run once inside one JVM so that a JDK 25+ started with {@code
 * -XX:AOTCacheOutput} records it (JEP 515: the methods' profiles go into the AOT cache, and a node
 * started with {@code -XX:AOTCache} then compiles its hot code from them at once instead of while
 * it first runs it). Two nodes on loopback, A and B: clients create, update and delete timers on A,
 * short ones pop and call back, A replicates to B; B joins and resyncs (pages from A, copies back,
 * references), then both are nodes and each resyncs from the other, and clients work on B. Every
 * path a node runs in production is run here: client API, pops and callbacks, replication in both
 * lanes, resync as requester and as server, reload.
 *
 * <p>Not a benchmark and not a test: the figures it returns only show that the work happened.
 */
final class Training {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final int IN_FLIGHT = 16;

  /**
   * @param timers timers created on the first node per round (one in ten pops after 1 s, the rest
   *     are due in an hour and move in the resyncs)
   * @param rounds times the whole work is repeated (more rounds, more complete profiles)
   * @param warmUpTimers each node's {@code resync.warmUpTimers} (its start-up warm-up)
   */
  record Settings(int timers, int rounds, int warmUpTimers) {
    Settings {
      if (timers < 10 || rounds < 1 || warmUpTimers < 0) {
        throw new IllegalArgumentException(
            "timers >= 10, rounds >= 1, warm-up timers >= 0: "
                + timers
                + ", "
                + rounds
                + ", "
                + warmUpTimers);
      }
    }
  }

  /** What was done: requests answered as expected, callbacks received, timers moved by resyncs. */
  record Summary(
      int created,
      int updated,
      int deleted,
      int callbacks,
      int shortTimers,
      List<Long> timersReceivedPerResync) {}

  private final Settings settings;
  private final HttpClient http =
      HttpClient.newBuilder()
          .version(HttpClient.Version.HTTP_1_1)
          .connectTimeout(Duration.ofSeconds(10))
          .build();
  private final AtomicInteger created = new AtomicInteger();
  private final AtomicInteger updated = new AtomicInteger();
  private final AtomicInteger deleted = new AtomicInteger();
  private final AtomicInteger callbacks = new AtomicInteger();
  private int shortTimers;
  private final List<Long> resyncs = new ArrayList<>();

  Training(Settings settings) {
    this.settings = settings;
  }

  Summary run() throws Exception {
    Path dir = Files.createTempDirectory("chronos-train");
    ExecutorService targetThreads = Executors.newFixedThreadPool(4);
    HttpServer target = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 1024);
    target.setExecutor(targetThreads);
    target.createContext(
        "/cb",
        exchange -> {
          try (InputStream body = exchange.getRequestBody()) {
            body.readAllBytes();
          }
          exchange.sendResponseHeaders(200, -1);
          exchange.close();
          callbacks.incrementAndGet();
        });
    target.start();
    String callbackUri = "http://127.0.0.1:" + target.getAddress().getPort() + "/cb";
    List<EmbeddedNode> started = new ArrayList<>();
    try {
      Node a = new Node(dir, "a", 1);
      Node b = new Node(dir, "b", 2);
      a.writeCluster(List.of(a), List.of(b));
      b.writeCluster(List.of(a), List.of(b));
      started.add(EmbeddedNode.start(a.config(settings.warmUpTimers())));
      started.add(EmbeddedNode.start(b.config(settings.warmUpTimers())));
      for (int round = 0; round < settings.rounds(); round++) {
        Node client = round % 2 == 0 ? a : b;
        clientWork(client, callbackUri);
        if (round == 0) {
          resyncs.add(b.resync()); // B joins: pages from A, copies back to A, references
          a.writeCluster(List.of(a, b), List.of());
          b.writeCluster(List.of(a, b), List.of());
          a.reload();
          b.reload();
        }
        resyncs.add(a.resync());
        resyncs.add(b.resync());
      }
      awaitCallbacks();
    } finally {
      for (EmbeddedNode node : started) {
        node.stop();
      }
      target.stop(0);
      targetThreads.shutdownNow();
      try (Stream<Path> files = Files.walk(dir)) {
        files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
      }
    }
    return new Summary(
        created.get(), updated.get(), deleted.get(), callbacks.get(), shortTimers, resyncs);
  }

  /** Creates timers on a node, then updates and deletes some of them, a few in flight at once. */
  private void clientWork(Node node, String callbackUri) {
    Semaphore inFlight = new Semaphore(IN_FLIGHT);
    List<String> locations = Collections.synchronizedList(new ArrayList<>());
    List<CompletableFuture<?>> requests = new ArrayList<>();
    for (int i = 0; i < settings.timers(); i++) {
      boolean pops = i % 10 == 0;
      if (pops) {
        shortTimers++;
      }
      String body = body(pops ? 1 : 3600, callbackUri, "training-" + i);
      requests.add(
          send(
                  node.request("/timers").POST(HttpRequest.BodyPublishers.ofString(body)),
                  inFlight,
                  created)
              .thenAccept(
                  r -> {
                    if (r.statusCode() == 200 && !pops) { // the short ones are left to pop
                      r.headers().firstValue("Location").ifPresent(locations::add);
                    }
                  }));
    }
    // Every create has completed, and with it every add to the list.
    CompletableFuture.allOf(requests.toArray(CompletableFuture[]::new)).join();
    requests.clear();
    // Of the long-lived timers, update one in twenty and delete the next.
    for (int i = 1; i < locations.size(); i += 20) {
      String body = body(3600, callbackUri, "training-updated-" + i);
      requests.add(
          send(
              node.request(locations.get(i)).PUT(HttpRequest.BodyPublishers.ofString(body)),
              inFlight,
              updated));
      if (i + 1 < locations.size()) {
        requests.add(send(node.request(locations.get(i + 1)).DELETE(), inFlight, deleted));
      }
    }
    CompletableFuture.allOf(requests.toArray(CompletableFuture[]::new)).join();
  }

  /** Sends a request once one of {@code inFlight}'s permits is free; counts a 200 in {@code ok}. */
  private CompletableFuture<HttpResponse<String>> send(
      HttpRequest.Builder request, Semaphore inFlight, AtomicInteger ok) {
    inFlight.acquireUninterruptibly();
    return http.sendAsync(request.build(), HttpResponse.BodyHandlers.ofString())
        .whenComplete(
            (r, e) -> {
              inFlight.release();
              if (r != null && r.statusCode() == 200) {
                ok.incrementAndGet();
              }
            });
  }

  /** Waits (up to 30 s) for the short timers' callbacks, so that pops are in the profile too. */
  private void awaitCallbacks() throws InterruptedException {
    long giveUp = System.nanoTime() + Duration.ofSeconds(30).toNanos();
    while (callbacks.get() < shortTimers && System.nanoTime() < giveUp) {
      Thread.sleep(100);
    }
  }

  private static String body(int intervalSeconds, String uri, String opaque) {
    return "{\"timing\":{\"interval\":"
        + intervalSeconds
        + ",\"repeat-for\":"
        + intervalSeconds
        + "},\"callback\":{\"http\":{\"uri\":\""
        + uri
        + "\",\"opaque\":\""
        + opaque
        + "\"}},\"reliability\":{\"replication-factor\":2}}";
  }

  /** One node's ports and files. */
  private final class Node {
    final String name;
    final int instanceId;
    final int port = freePort();
    final int adminPort = freePort();
    final Path clusterFile;
    final Path sharedFile;
    final Path dir;

    Node(Path parent, String name, int instanceId) throws IOException {
      this.name = name;
      this.instanceId = instanceId;
      this.dir = Files.createDirectories(parent.resolve(name));
      this.clusterFile = dir.resolve("chronos_cluster.conf");
      this.sharedFile = dir.resolve("chronos_shared.conf");
      Files.writeString(sharedFile, "[sites]\nlocal_site = site1\n");
    }

    String address() {
      return "127.0.0.1:" + port;
    }

    void writeCluster(List<Node> nodes, List<Node> joining) throws IOException {
      StringBuilder ini = new StringBuilder("[cluster]\nlocalhost = " + address() + "\n");
      nodes.forEach(n -> ini.append("node = ").append(n.address()).append('\n'));
      joining.forEach(n -> ini.append("joining = ").append(n.address()).append('\n'));
      ini.append("[identity]\ninstance_id = ").append(instanceId).append('\n');
      Files.writeString(clusterFile, ini.toString());
    }

    Path config(int warmUpTimers) throws IOException {
      Path yml = dir.resolve("chronos.yml");
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
              "  shutdownGracePeriod: 1s",
              "  requestLog:",
              "    appenders: []",
              "cluster:",
              "  configFile: " + clusterFile,
              "  sharedConfigFile: " + sharedFile,
              "resync:",
              "  onStart: false",
              "  warmUpTimers: " + warmUpTimers,
              "overload:",
              "  enabled: false",
              "logging:",
              "  level: WARN",
              ""));
      return yml;
    }

    /** A request to this node's application port; {@code path} as in a {@code Location}. */
    HttpRequest.Builder request(String path) {
      return HttpRequest.newBuilder(URI.create("http://" + address() + path))
          .timeout(Duration.ofSeconds(30));
    }

    void reload() throws IOException, InterruptedException {
      admin("reload");
    }

    /** Runs a resync on this node; the timers it received. */
    long resync() throws IOException, InterruptedException {
      JsonNode summary = JSON.readTree(admin("resync"));
      return summary.path("timersReceived").asLong();
    }

    private String admin(String task) throws IOException, InterruptedException {
      HttpResponse<String> r =
          http.send(
              HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + adminPort + "/tasks/" + task))
                  .timeout(Duration.ofMinutes(5))
                  .POST(HttpRequest.BodyPublishers.noBody())
                  .build(),
              HttpResponse.BodyHandlers.ofString());
      if (r.statusCode() != 200) {
        throw new IOException(name + ": /tasks/" + task + " answered " + r.statusCode());
      }
      return r.body();
    }
  }

  private static int freePort() {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
