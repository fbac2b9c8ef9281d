package org.chronos.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Supplier;
import org.apache.hc.client5.http.async.methods.SimpleHttpRequest;
import org.apache.hc.client5.http.async.methods.SimpleHttpResponse;
import org.apache.hc.client5.http.async.methods.SimpleRequestBuilder;
import org.apache.hc.client5.http.config.ConnectionConfig;
import org.apache.hc.client5.http.config.RequestConfig;
import org.apache.hc.client5.http.impl.async.CloseableHttpAsyncClient;
import org.apache.hc.client5.http.impl.async.HttpAsyncClients;
import org.apache.hc.client5.http.impl.nio.PoolingAsyncClientConnectionManagerBuilder;
import org.apache.hc.core5.concurrent.FutureCallback;
import org.apache.hc.core5.http.ContentType;
import org.apache.hc.core5.http.Header;
import org.apache.hc.core5.io.CloseMode;
import org.apache.hc.core5.reactor.IOReactorConfig;
import org.apache.hc.core5.util.TimeValue;
import org.apache.hc.core5.util.Timeout;

/**
 * Load generator for a running node (a plain main; HttpClient 5 async against 127.0.0.1).
 *
 * <pre>
 * java -cp "$(bench/cp.sh)" org.chronos.bench.LoadGenerator lateness [--port 7253] [--admin-port 7254]
 *     [--rate 1000] [--seconds 30] [--warmup-seconds 5] [--node-pid PID]
 * java -cp "$(bench/cp.sh)" org.chronos.bench.LoadGenerator creation [--port 7253] [--concurrency 32]
 *     [--warmup-seconds 5] [--max-warmup-seconds 180] [--phase-seconds 20] [--rounds 1] [--node-pid PID]
 * </pre>
 *
 * <p><b>lateness</b>: starts a no-op callback server (JDK {@code HttpServer}, 4 threads, answers
 * 200 at once), creates {@code rate} timers a second for {@code seconds} (interval 1 s and 2 s
 * alternately, each pops once), so about {@code rate} pops a second happen. Prints the node's own
 * pop-lateness histogram ({@code chronos.pops.lateness-micros} from the admin {@code /metrics},
 * measured on the timer thread when it hands the pop to the callback client) and lateness seen by
 * the callback server: arrival time minus due time. The node's due time is its start time plus the
 * interval, and the client cannot see the start time, so the due time is bracketed:
 *
 * <ul>
 *   <li>due = (time the create response arrived) + interval: never earlier than the real due time,
 *       so this lateness can understate by up to the create round trip (the figure asked for);
 *   <li>due = (start millisecond in the timer id, PROTOCOL.md section 2) + interval: the id's
 *       millisecond is read just before the start time, so this can overstate by up to ~1 ms;
 *   <li>due = (time the request was sent) + interval, which the opaque carries: a rough estimate
 *       (the node truncates its start time to the millisecond, so it can read up to 1 ms early).
 * </ul>
 *
 * <p><b>creation</b>: closed loop with {@code concurrency} requests in flight; after a warm-up of
 * every endpoint (with {@code --node-pid}, repeated until the node's JIT compilers are quiet: see
 * {@link #warmUp}), measures {@code phase-seconds} of each endpoint in turn, {@code rounds} times
 * (interleaving rounds evens out a machine whose background load drifts): {@code POST /timers} with
 * a small valid body (interval one day, so nothing pops), {@code POST /timers/} with a body that is
 * read and parsed and then refused with 400 (interval 0 with repeat-for 1: the whole request path
 * except id, replicas and storing), and the no-op {@code POST /ping} with the same valid body (read
 * and discarded: the baseline the goal is stated against). Prints rates, latencies and, with {@code
 * --node-pid}, the node's CPU time per request (more robust than rates on a small machine shared
 * with the generator).
 */
public final class LoadGenerator {
  private static final ObjectMapper JSON = new ObjectMapper();

  public static void main(String[] args) throws Exception {
    if (args.length == 0) {
      System.err.println("usage: LoadGenerator lateness|creation [--option value]...");
      System.exit(2);
    }
    quietLogging();
    Map<String, String> opts = new HashMap<>();
    for (int i = 1; i + 1 < args.length; i += 2) {
      if (!args[i].startsWith("--")) {
        throw new IllegalArgumentException("expected --option value, got " + args[i]);
      }
      opts.put(args[i].substring(2), args[i + 1]);
    }
    Settings s = new Settings(opts);
    switch (args[0]) {
      case "lateness" -> lateness(s);
      case "creation" -> creation(s);
      default -> throw new IllegalArgumentException("unknown mode " + args[0]);
    }
    System.out.println(
        "reproduce: java -cp \"$(bench/cp.sh)\" org.chronos.bench.LoadGenerator "
            + String.join(" ", args));
  }

  static final class Settings {
    final String host;
    final int port;
    final int adminPort;
    final int rate;
    final int seconds;
    final int concurrency;
    final int warmupSeconds;
    final int maxWarmupSeconds;
    final int phaseSeconds;
    final int rounds;
    final long nodePid;

    Settings(Map<String, String> o) {
      host = o.getOrDefault("host", "127.0.0.1");
      port = Integer.parseInt(o.getOrDefault("port", "7253"));
      adminPort = Integer.parseInt(o.getOrDefault("admin-port", "7254"));
      rate = Integer.parseInt(o.getOrDefault("rate", "1000"));
      seconds = Integer.parseInt(o.getOrDefault("seconds", "30"));
      concurrency = Integer.parseInt(o.getOrDefault("concurrency", "32"));
      warmupSeconds = Integer.parseInt(o.getOrDefault("warmup-seconds", "5"));
      maxWarmupSeconds = Integer.parseInt(o.getOrDefault("max-warmup-seconds", "180"));
      phaseSeconds = Integer.parseInt(o.getOrDefault("phase-seconds", "20"));
      rounds = Integer.parseInt(o.getOrDefault("rounds", "1"));
      nodePid = Long.parseLong(o.getOrDefault("node-pid", "-1"));
    }

    String base() {
      return "http://" + host + ":" + port;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // lateness

  static void lateness(Settings s) throws Exception {
    int warm =
        s.rate * s.warmupSeconds; // timers [0, warm) warm up the pop path and are not counted
    int n = warm + s.rate * s.seconds;
    long[] sentMicros = new long[n];
    AtomicLongArray responseMicros = new AtomicLongArray(n);
    AtomicLongArray idStartMillis = new AtomicLongArray(n);
    AtomicLongArray arrivalMicros = new AtomicLongArray(n);
    AtomicIntegerArray arrivals = new AtomicIntegerArray(n);
    AtomicInteger badSequence = new AtomicInteger();
    AtomicInteger createErrors = new AtomicInteger();
    AtomicInteger callbacks = new AtomicInteger();
    java.util.Set<Integer> callbackConnections = java.util.concurrent.ConcurrentHashMap.newKeySet();

    ExecutorService callbackThreads = Executors.newFixedThreadPool(4);
    HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 1024);
    server.setExecutor(callbackThreads);
    server.createContext(
        "/cb",
        exchange -> {
          long arrival = nowMicros();
          callbackConnections.add(exchange.getRemoteAddress().getPort());
          byte[] body;
          try (InputStream in = exchange.getRequestBody()) {
            body = in.readAllBytes();
          }
          String sequence = exchange.getRequestHeaders().getFirst("X-Sequence-Number");
          exchange.sendResponseHeaders(200, -1);
          exchange.close();
          int index = opaqueIndex(new String(body, StandardCharsets.US_ASCII));
          if (index < 0 || index >= n) {
            return;
          }
          if (!"1".equals(sequence)) {
            badSequence.incrementAndGet();
          }
          if (arrivals.getAndIncrement(index) == 0) {
            arrivalMicros.set(index, arrival);
          }
          callbacks.incrementAndGet();
        });
    server.start();
    String callbackUri = "http://127.0.0.1:" + server.getAddress().getPort() + "/cb";
    System.out.printf(
        Locale.ROOT,
        "lateness: %,d/s timers for %d s of warm-up then %d s measured (interval 1 s and 2 s alternately, each pops once); callbacks to %s%n",
        s.rate,
        s.warmupSeconds,
        s.seconds,
        callbackUri);

    long histogramCountBefore = latenessHistogram(s).path("count").asLong(0);
    // The node's late-pop counters count every pop: read 2 s into the measured run (when the
    // warm-up's timers, interval 1 or 2 s, have popped) and at the end, they give its own pops'
    // lateness for the measured timers alone, which the histogram's percentiles cannot.
    CompletableFuture<JsonNode> lateAtStart = new CompletableFuture<>();
    List<Long> node = s.nodePid > 0 ? List.of(s.nodePid) : List.of();
    long[] jitAtStart = new long[2]; // compiler ticks, nanoTime
    Thread startReader =
        new Thread(
            () -> {
              try {
                Thread.sleep((s.warmupSeconds + 2) * 1000L);
                jitAtStart[0] = Jit.compilerTicks(node);
                jitAtStart[1] = System.nanoTime();
                lateAtStart.complete(nodeMetrics(s));
              } catch (Exception e) {
                lateAtStart.completeExceptionally(e);
              }
            },
            "late-pops-at-start");
    startReader.setDaemon(true);
    startReader.start();
    CloseableHttpAsyncClient client = client(256);
    try {
      long periodNanos = 1_000_000_000L / s.rate;
      long t0 = System.nanoTime();
      for (int i = 0; i < n; i++) {
        long target = t0 + i * periodNanos;
        long wait;
        while ((wait = target - System.nanoTime()) > 0) {
          LockSupport.parkNanos(wait);
        }
        int index = i;
        int interval = intervalSeconds(i);
        long sent = nowMicros();
        sentMicros[i] = sent;
        String body =
            timerBody(
                interval,
                interval,
                callbackUri,
                "i=" + i + ";due-if-started-at-send=" + (sent + interval * 1_000_000L));
        client.execute(
            post(s.base() + "/timers", body),
            new FutureCallback<>() {
              @Override
              public void completed(SimpleHttpResponse r) {
                long now = nowMicros();
                Header location = r.getFirstHeader("Location");
                if (r.getCode() != 200 || location == null) {
                  if (createErrors.getAndIncrement() == 0) {
                    System.out.println(
                        "first create failure: HTTP " + r.getCode() + " " + r.getBodyText());
                  }
                  return;
                }
                responseMicros.set(index, now);
                idStartMillis.set(index, startMillisFromId(location.getValue(), now / 1000));
              }

              @Override
              public void failed(Exception e) {
                if (createErrors.getAndIncrement() == 0) {
                  System.out.println("first create failure: " + e);
                }
              }

              @Override
              public void cancelled() {
                createErrors.incrementAndGet();
              }
            });
      }
      double sendSeconds = (System.nanoTime() - t0) / 1e9;
      System.out.printf(
          Locale.ROOT, "created %,d timers in %.1f s; waiting for the last pops%n", n, sendSeconds);
      long giveUp = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
      while (callbacks.get() < n - createErrors.get() && System.nanoTime() < giveUp) {
        Thread.sleep(50);
      }
      Thread.sleep(500); // a late duplicate would show up here
    } finally {
      client.close(CloseMode.GRACEFUL);
      server.stop(0);
      callbackThreads.shutdownNow();
    }

    JsonNode h = latenessHistogram(s);
    JsonNode lateAtEnd = nodeMetrics(s);
    lateAtStart.join(); // and with it the reader's jitAtStart
    double jitCores =
        Jit.cores(
            jitAtStart[0], Jit.compilerTicks(node), (System.nanoTime() - jitAtStart[1]) / 1e9);
    long[] byResponse = new long[n];
    long[] byId = new long[n];
    long[] bySend = new long[n];
    int m = 0;
    int idUsable = 0;
    // Where the late callbacks fell in time: per second of the measured run (by creation time),
    // how many arrived more than 5 ms after the response-based due time.
    int[] lateBySecond = new int[s.seconds + 1];
    int missing = 0;
    int duplicates = 0;
    int measured = 0;
    for (int i = warm; i < n; i++) {
      measured++;
      if (responseMicros.get(i) == 0) {
        continue; // creation failed
      }
      if (arrivals.get(i) == 0) {
        missing++;
        continue;
      }
      duplicates += arrivals.get(i) - 1;
      long intervalMicros = intervalSeconds(i) * 1_000_000L;
      long arrival = arrivalMicros.get(i);
      byResponse[m] = arrival - (responseMicros.get(i) + intervalMicros);
      bySend[m] = arrival - (sentMicros[i] + intervalMicros);
      long idMillis = idStartMillis.get(i);
      byId[m] = idMillis > 0 ? arrival - (idMillis * 1000 + intervalMicros) : Long.MIN_VALUE;
      if (byResponse[m] > 5_000) {
        lateBySecond[Math.min(s.seconds, (i - warm) / s.rate)]++;
      }
      if (idMillis > 0) {
        idUsable++;
      }
      m++;
    }
    System.out.printf(
        Locale.ROOT,
        "callbacks: %,d received in all for %,d timers created (%d create errors in all); measured timers: %,d, %d missing callbacks, %d duplicates, %d bad X-Sequence-Number%n",
        callbacks.get(),
        n - createErrors.get(),
        createErrors.get(),
        measured,
        missing,
        duplicates,
        badSequence.get());
    System.out.printf(
        Locale.ROOT,
        "the node used %d connections for its callbacks%n",
        callbackConnections.size());
    System.out.printf(
        Locale.ROOT,
        "node metric chronos.pops.lateness-micros: count %d (+%d in this run, warm-up included), p50 %.0f us, p75 %.0f us, p99 %.0f us, p999 %.0f us, max %d us (percentiles over the node's last 10,000 pops, so warm-up pops count too)%n",
        h.path("count").asLong(),
        h.path("count").asLong() - histogramCountBefore,
        h.path("p50").asDouble(),
        h.path("p75").asDouble(),
        h.path("p99").asDouble(),
        h.path("p999").asDouble(),
        h.path("max").asLong());
    System.out.println(
        "RESULT lateness, node's own pops from 2 s into the measured run to its end "
            + "(chronos.pops.late-over-<T>us and -<T>ms, exact): "
            + LatePops.read(lateAtEnd).since(LatePops.read(lateAtStart.get())).describe()
            + (node.isEmpty()
                ? ""
                : String.format(
                    Locale.ROOT, "; the node's JIT compiling meanwhile: %.2f cores", jitCores)));
    Stats resp = Stats.of(byResponse, m);
    StringBuilder late = new StringBuilder();
    int lateTotal = 0;
    for (int sec = 0; sec < lateBySecond.length; sec++) {
      lateTotal += lateBySecond[sec];
      if (lateBySecond[sec] > 0) {
        late.append(late.length() == 0 ? "" : ", ")
            .append(sec)
            .append("s:")
            .append(lateBySecond[sec]);
      }
    }
    System.out.printf(
        Locale.ROOT,
        "callbacks more than 5 ms late: %d (by second of creation: %s)%n",
        lateTotal,
        late.length() == 0 ? "none" : late);
    Stats send = Stats.of(bySend, m);
    System.out.println("callback-side lateness (arrival - due), measured timers only:");
    System.out.println("  due = create response + interval (lower bound):      " + resp);
    Stats id = idUsable == m && m > 0 ? Stats.of(byId, m) : null;
    if (id != null) {
      System.out.println("  due = start ms from timer id + interval (upper bound): " + id);
    } else {
      System.out.printf(
          Locale.ROOT, "  due from timer id: not usable (%d of %d ids decoded)%n", idUsable, m);
    }
    System.out.println("  due = request sent + interval, from the opaque:       " + send);
    System.out.printf(
        Locale.ROOT,
        "RESULT lateness: node metric p50 %.0f us, p99 %.0f us, max %d us; callback side (due from response | from id) p50 %d | %s us, p99 %d | %s us, max %d | %s us (goal p50 <= 1000 us, p99 <= 5000 us)%n",
        h.path("p50").asDouble(),
        h.path("p99").asDouble(),
        h.path("max").asLong(),
        resp.p50,
        id == null ? "n/a" : Long.toString(id.p50),
        resp.p99,
        id == null ? "n/a" : Long.toString(id.p99),
        resp.max,
        id == null ? "n/a" : Long.toString(id.max));
  }

  static int intervalSeconds(int i) {
    return 1 + (i & 1);
  }

  static int opaqueIndex(String opaque) {
    if (!opaque.startsWith("i=")) {
      return -1;
    }
    int end = opaque.indexOf(';');
    try {
      return Integer.parseInt(opaque.substring(2, end < 0 ? opaque.length() : end));
    } catch (NumberFormatException e) {
      return -1;
    }
  }

  /**
   * The wall-clock millisecond a node put in a timer id ({@code millis << 30 | ...}, 34 bits of
   * it), or -1 if the id does not look like one made within the last minute.
   */
  static long startMillisFromId(String location, long nowMillis) {
    try {
      String hex = location.substring(location.lastIndexOf('/') + 1, location.lastIndexOf('-'));
      long id = Long.parseUnsignedLong(hex, 16);
      long low = id >>> 30; // 34 bits of milliseconds
      long mask = (1L << 34) - 1;
      long millis = (nowMillis & ~mask) | low;
      if (millis > nowMillis) {
        millis -= 1L << 34;
      }
      return nowMillis - millis <= 60_000 ? millis : -1;
    } catch (RuntimeException e) {
      return -1;
    }
  }

  static JsonNode latenessHistogram(Settings s) throws IOException, InterruptedException {
    return nodeMetrics(s).path("histograms").path("chronos.pops.lateness-micros");
  }

  /** The node's admin {@code /metrics}. */
  static JsonNode nodeMetrics(Settings s) throws IOException, InterruptedException {
    java.net.http.HttpClient http =
        java.net.http.HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    java.net.http.HttpResponse<byte[]> r =
        http.send(
            java.net.http.HttpRequest.newBuilder(
                    java.net.URI.create("http://" + s.host + ":" + s.adminPort + "/metrics"))
                .timeout(Duration.ofSeconds(10))
                .build(),
            java.net.http.HttpResponse.BodyHandlers.ofByteArray());
    if (r.statusCode() != 200) {
      throw new IOException("GET /metrics answered " + r.statusCode());
    }
    return JSON.readTree(r.body());
  }

  // ---------------------------------------------------------------------------------------------
  // creation

  static void creation(Settings s) throws Exception {
    String callback = "http://127.0.0.1:9/never-called";
    byte[] valid =
        timerBody(86_400, 86_400, callback, "creation-benchmark-opaque")
            .getBytes(StandardCharsets.UTF_8);
    byte[] invalid =
        timerBody(0, 1, callback, "creation-benchmark-opaque").getBytes(StandardCharsets.UTF_8);
    List<Endpoint> endpoints =
        List.of(
            new Endpoint("POST /timers (valid)", 200, () -> post(s.base() + "/timers", valid)),
            new Endpoint("POST /timers/ (400)", 400, () -> post(s.base() + "/timers/", invalid)),
            new Endpoint("POST /ping (no-op)", 200, () -> post(s.base() + "/ping", valid)));
    System.out.printf(
        Locale.ROOT,
        "creation: %d requests in flight; warm-up %d s per endpoint, repeated until the node's JIT is quiet; then %d round(s) of %d s per endpoint, interleaved; body %d bytes%n",
        s.concurrency,
        s.warmupSeconds,
        s.rounds,
        s.phaseSeconds,
        valid.length);
    CloseableHttpAsyncClient client = client(s.concurrency);
    double[][] totals =
        new double[endpoints.size()][4]; // completed, seconds, node CPU, timer thread CPU (us)
    try {
      warmUp(client, endpoints, s);
      for (int round = 1; round <= s.rounds; round++) {
        for (int i = 0; i < endpoints.size(); i++) {
          PhaseResult r =
              runPhase(client, endpoints.get(i), s.concurrency, s.phaseSeconds, s.nodePid);
          System.out.println("  round " + round + ": " + r);
          totals[i][0] += r.completed();
          totals[i][1] += r.seconds();
          totals[i][2] += r.nodeCpuMicrosPerRequest() * r.completed();
          totals[i][3] += r.timerThreadCpuMicrosPerRequest() * r.completed();
        }
      }
    } finally {
      client.close(CloseMode.GRACEFUL);
    }
    double[] rate = new double[endpoints.size()];
    double[] cpu = new double[endpoints.size()];
    double[] timerCpu = new double[endpoints.size()];
    for (int i = 0; i < endpoints.size(); i++) {
      rate[i] = totals[i][0] / totals[i][1];
      cpu[i] = totals[i][2] / totals[i][0];
      timerCpu[i] = totals[i][3] / totals[i][0];
    }
    System.out.printf(
        Locale.ROOT,
        "RESULT creation: POST /timers %.0f/s, POST 400 %.0f/s, POST /ping %.0f/s; timers/400 = %.2fx, timers/no-op = %.2fx (goal >= 0.7x the no-op)%n",
        rate[0],
        rate[1],
        rate[2],
        rate[0] / rate[1],
        rate[0] / rate[2]);
    if (s.nodePid > 0) {
      System.out.printf(
          Locale.ROOT,
          "RESULT creation node CPU per request: POST /timers %.0f us (timer thread %.1f us), POST 400 %.0f us, POST /ping %.0f us%n",
          cpu[0],
          timerCpu[0],
          cpu[1],
          cpu[2]);
    }
  }

  /**
   * Runs every endpoint for {@code warmup-seconds} in turn, and with {@code --node-pid} goes on
   * doing so until the node's JIT compilers used less than 0.05 cores over a whole pass (or {@code
   * max-warmup-seconds} have passed): the goal compares the node's steady rates, and on a machine
   * whose compiler is slow the request paths are still being compiled after the first pass (the
   * first round then measures code being compiled next to a compiler taking a core).
   */
  static void warmUp(CloseableHttpAsyncClient client, List<Endpoint> endpoints, Settings s)
      throws InterruptedException {
    List<Long> node = s.nodePid > 0 ? List.of(s.nodePid) : List.of();
    long start = System.nanoTime();
    StringBuilder passes = new StringBuilder();
    while (true) {
      long jit = Jit.compilerTicks(node);
      long passStart = System.nanoTime();
      for (Endpoint e : endpoints) {
        runPhase(client, e, s.concurrency, s.warmupSeconds, s.nodePid);
      }
      double cores = Jit.cores(jit, Jit.compilerTicks(node), (System.nanoTime() - passStart) / 1e9);
      passes.append(String.format(Locale.ROOT, " %.2f", cores));
      double elapsed = (System.nanoTime() - start) / 1e9;
      if (node.isEmpty() || cores < Jit.QUIET_CORES || elapsed >= s.maxWarmupSeconds) {
        System.out.printf(
            Locale.ROOT,
            "warm-up: %.0f s%s%n",
            elapsed,
            node.isEmpty()
                ? " (no --node-pid: one pass, the node's JIT not watched)"
                : ", node's JIT compiling, cores per pass:"
                    + passes
                    + (cores < Jit.QUIET_CORES
                        ? ""
                        : " (stopped at --max-warmup-seconds: not quiet)"));
        return;
      }
    }
  }

  record Endpoint(String name, int expectedStatus, Supplier<SimpleHttpRequest> request) {}

  record PhaseResult(
      String name,
      long completed,
      long unexpected,
      double seconds,
      double rate,
      Stats latency,
      double nodeCpuMicrosPerRequest,
      double timerThreadCpuMicrosPerRequest,
      double timerThreadSwitchesPerRequest,
      double generatorCpuMicrosPerRequest,
      Map<Integer, Long> statuses) {
    @Override
    public String toString() {
      return String.format(
          Locale.ROOT,
          "%-22s %9.0f req/s  (%,d in %.1f s; unexpected %d %s) latency %s; CPU/request: node %s (timer thread %s, %s context switches), generator %.0f us",
          name,
          rate,
          completed,
          seconds,
          unexpected,
          statuses,
          latency,
          Double.isNaN(nodeCpuMicrosPerRequest)
              ? "n/a"
              : String.format(Locale.ROOT, "%.0f us", nodeCpuMicrosPerRequest),
          Double.isNaN(timerThreadCpuMicrosPerRequest)
              ? "n/a"
              : String.format(Locale.ROOT, "%.1f us", timerThreadCpuMicrosPerRequest),
          Double.isNaN(timerThreadSwitchesPerRequest)
              ? "n/a"
              : String.format(Locale.ROOT, "%.2f", timerThreadSwitchesPerRequest),
          generatorCpuMicrosPerRequest);
    }
  }

  static PhaseResult runPhase(
      CloseableHttpAsyncClient client, Endpoint e, int concurrency, int seconds, long nodePid)
      throws InterruptedException {
    int capacity = 4_000_000;
    long[] latencies = new long[capacity];
    AtomicInteger recorded = new AtomicInteger();
    AtomicLong completed = new AtomicLong();
    AtomicLong unexpected = new AtomicLong();
    Map<Integer, AtomicLong> statuses = new java.util.concurrent.ConcurrentHashMap<>();
    CountDownLatch done = new CountDownLatch(concurrency);
    long start = System.nanoTime();
    long end = start + TimeUnit.SECONDS.toNanos(seconds);
    double nodeCpuBefore = cpuMicros(nodePid);
    double timerThreadCpuBefore = threadCpuMicros(nodePid, "chronos-timer");
    double switchesBefore = threadContextSwitches(nodePid, "chronos-timer");
    double ownCpuBefore = cpuMicros(ProcessHandle.current().pid());
    AtomicLong lastCompletion = new AtomicLong(start);

    class Loop implements FutureCallback<SimpleHttpResponse> {
      long sentAt;

      void fire() {
        sentAt = System.nanoTime();
        client.execute(e.request().get(), this);
      }

      private void next(int status) {
        long now = System.nanoTime();
        int slot = recorded.getAndIncrement();
        if (slot < capacity) {
          latencies[slot] = (now - sentAt) / 1000;
        }
        completed.incrementAndGet();
        statuses.computeIfAbsent(status, k -> new AtomicLong()).incrementAndGet();
        if (status != e.expectedStatus()) {
          unexpected.incrementAndGet();
        }
        lastCompletion.accumulateAndGet(now, Math::max);
        if (now < end) {
          fire();
        } else {
          done.countDown();
        }
      }

      @Override
      public void completed(SimpleHttpResponse r) {
        next(r.getCode());
      }

      @Override
      public void failed(Exception ex) {
        next(-1);
      }

      @Override
      public void cancelled() {
        next(-2);
      }
    }
    for (int i = 0; i < concurrency; i++) {
      new Loop().fire();
    }
    done.await();
    double elapsed = (lastCompletion.get() - start) / 1e9;
    long n = completed.get();
    double nodeCpu = nodePid > 0 ? (cpuMicros(nodePid) - nodeCpuBefore) / n : Double.NaN;
    double timerThreadCpu = (threadCpuMicros(nodePid, "chronos-timer") - timerThreadCpuBefore) / n;
    double switches = (threadContextSwitches(nodePid, "chronos-timer") - switchesBefore) / n;
    double ownCpu = (cpuMicros(ProcessHandle.current().pid()) - ownCpuBefore) / n;
    Map<Integer, Long> statusCounts = new java.util.TreeMap<>();
    statuses.forEach((k, v) -> statusCounts.put(k, v.get()));
    return new PhaseResult(
        e.name(),
        n,
        unexpected.get(),
        elapsed,
        n / elapsed,
        Stats.of(latencies, Math.min(recorded.get(), capacity)),
        nodeCpu,
        timerThreadCpu,
        switches,
        ownCpu,
        statusCounts);
  }

  /**
   * CPU time in microseconds of a process's threads with the given name (Linux {@code /proc}, 10 ms
   * resolution), or NaN.
   */
  static double threadCpuMicros(long pid, String name) {
    return sumOverThreads(
        pid,
        name,
        (stat, status) -> {
          String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
          // stat fields 14 and 15 (utime, stime, in USER_HZ = 100 ticks a second) are 11 and 12
          // here
          return (Long.parseLong(f[11]) + Long.parseLong(f[12]))
              * 1_000_000.0
              / Jit.TICKS_PER_SECOND;
        });
  }

  /**
   * Voluntary plus involuntary context switches of a process's threads with the given name, or NaN.
   */
  static double threadContextSwitches(long pid, String name) {
    return sumOverThreads(
        pid,
        name,
        (stat, status) -> {
          double n = 0;
          for (String line : status.split("\n")) {
            if (line.startsWith("voluntary_ctxt_switches:")
                || line.startsWith("nonvoluntary_ctxt_switches:")) {
              n += Long.parseLong(line.substring(line.indexOf(':') + 1).trim());
            }
          }
          return n;
        });
  }

  interface ThreadReading {
    double read(String stat, String status);
  }

  static double sumOverThreads(long pid, String name, ThreadReading reading) {
    if (pid <= 0) {
      return Double.NaN;
    }
    java.nio.file.Path tasks = java.nio.file.Path.of("/proc", Long.toString(pid), "task");
    double total = 0;
    boolean found = false;
    try (java.util.stream.Stream<java.nio.file.Path> list = java.nio.file.Files.list(tasks)) {
      for (java.nio.file.Path task : (Iterable<java.nio.file.Path>) list::iterator) {
        try {
          if (!java.nio.file.Files.readString(task.resolve("comm")).trim().equals(name)) {
            continue;
          }
          total +=
              reading.read(
                  java.nio.file.Files.readString(task.resolve("stat")),
                  java.nio.file.Files.readString(task.resolve("status")));
          found = true;
        } catch (IOException | RuntimeException e) {
          // the thread ended meanwhile
        }
      }
    } catch (IOException e) {
      return Double.NaN;
    }
    return found ? total : Double.NaN;
  }

  /** Total CPU time of a process in microseconds (Linux: from /proc), or NaN. */
  static double cpuMicros(long pid) {
    if (pid <= 0) {
      return Double.NaN;
    }
    Optional<Duration> cpu = ProcessHandle.of(pid).flatMap(p -> p.info().totalCpuDuration());
    return cpu.map(d -> d.toNanos() / 1000.0).orElse(Double.NaN);
  }

  // ---------------------------------------------------------------------------------------------
  // shared

  static String timerBody(long interval, long repeatFor, String uri, String opaque) {
    return "{\"timing\":{\"interval\":"
        + interval
        + ",\"repeat-for\":"
        + repeatFor
        + "},"
        + "\"callback\":{\"http\":{\"uri\":\""
        + uri
        + "\",\"opaque\":\""
        + opaque
        + "\"}}}";
  }

  static SimpleHttpRequest post(String uri, String body) {
    return post(uri, body.getBytes(StandardCharsets.UTF_8));
  }

  static SimpleHttpRequest post(String uri, byte[] body) {
    return SimpleRequestBuilder.post(uri).setBody(body, ContentType.APPLICATION_JSON).build();
  }

  static CloseableHttpAsyncClient client(int maxConnections) {
    Timeout timeout = Timeout.ofSeconds(10);
    CloseableHttpAsyncClient client =
        HttpAsyncClients.custom()
            .setConnectionManager(
                PoolingAsyncClientConnectionManagerBuilder.create()
                    .setMaxConnTotal(maxConnections)
                    .setMaxConnPerRoute(maxConnections)
                    .setDefaultConnectionConfig(
                        ConnectionConfig.custom()
                            .setConnectTimeout(timeout)
                            .setSocketTimeout(timeout)
                            .build())
                    .build())
            .setDefaultRequestConfig(
                RequestConfig.custom()
                    .setConnectionRequestTimeout(timeout)
                    .setResponseTimeout(timeout)
                    .build())
            .setIOReactorConfig(
                IOReactorConfig.custom().setIoThreadCount(1).setTcpNoDelay(true).build())
            // The node's connector closes a connection idle for 30 s (Dropwizard's default); one
            // the pool kept from a burst and handed out after that fails unsent ("Connection is
            // closed"), a create error of the generator's own making.
            .evictIdleConnections(TimeValue.ofSeconds(10))
            .disableAutomaticRetries()
            .disableCookieManagement()
            .disableRedirectHandling()
            .build();
    client.start();
    return client;
  }

  static long nowMicros() {
    Instant now = Instant.now();
    return now.getEpochSecond() * 1_000_000L + now.getNano() / 1000;
  }

  /** Sets logback's root level to WARN: without a config file it logs everything at DEBUG. */
  static void quietLogging() {
    org.slf4j.Logger root = org.slf4j.LoggerFactory.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME);
    if (root instanceof ch.qos.logback.classic.Logger logback) {
      logback.setLevel(ch.qos.logback.classic.Level.WARN);
    }
  }

  /** p50/p99/max of the first n values, in microseconds. */
  record Stats(int n, long p50, long p99, long max) {
    static Stats of(long[] values, int n) {
      if (n == 0) {
        return new Stats(0, 0, 0, 0);
      }
      long[] sorted = Arrays.copyOf(values, n);
      Arrays.sort(sorted);
      return new Stats(n, percentile(sorted, 0.50), percentile(sorted, 0.99), sorted[n - 1]);
    }

    static long percentile(long[] sorted, double q) {
      int rank = (int) Math.ceil(q * sorted.length) - 1;
      return sorted[Math.max(0, Math.min(sorted.length - 1, rank))];
    }

    @Override
    public String toString() {
      return String.format(
          Locale.ROOT, "p50 %d us, p99 %d us, max %d us (n=%,d)", p50, p99, max, n);
    }
  }
}
