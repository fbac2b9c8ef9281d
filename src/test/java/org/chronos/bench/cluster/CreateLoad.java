package org.chronos.bench.cluster;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Arrays;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;
import org.chronos.bench.Jit;

/**
 * Closed-loop {@code POST /timers} load: a fixed number of requests in flight, each completion
 * starting the next, over HTTP/1.1 keep-alive connections (one per request in flight), with Apache
 * HttpClient 5 async ({@link AsyncPoster}) or, with {@code -Dcbench.client=jdk}, the JDK's async
 * {@link HttpClient}. Runs for a time (warm-up, then a measured window) or for a number of
 * requests. Every completion is recorded per chain (end time, latency, success), so the measured
 * window is cut afterwards: throughput counts completions inside it, latency percentiles are those
 * completions' latencies.
 */
final class CreateLoad implements AutoCloseable {
  static final long SLICE_MILLIS = 5000;
  private final ExecutorService executor;
  private final HttpClient client;
  private final AsyncPoster poster;

  CreateLoad(int threads) {
    this.poster = "jdk".equals(System.getProperty("cbench.client")) ? null : new AsyncPoster(256);
    this.executor =
        Executors.newFixedThreadPool(
            threads,
            r -> {
              Thread t = new Thread(r, "load");
              t.setDaemon(true);
              return t;
            });
    this.client =
        HttpClient.newBuilder()
            .version(HttpClient.Version.HTTP_1_1)
            .executor(executor)
            .connectTimeout(Duration.ofSeconds(5))
            .build();
  }

  String clientName() {
    return poster == null ? "java.net.http.HttpClient" : "Apache HttpClient 5 async";
  }

  static byte[] timerBody(int interval, int rf, String callbackUri, String opaque) {
    return ("{\"timing\":{\"interval\":"
            + interval
            + ",\"repeat-for\":"
            + interval
            + "},"
            + "\"callback\":{\"http\":{\"uri\":\""
            + callbackUri
            + "\",\"opaque\":\""
            + opaque
            + "\"}},"
            + "\"reliability\":{\"replication-factor\":"
            + rf
            + "}}")
        .getBytes(java.nio.charset.StandardCharsets.UTF_8);
  }

  /** What one run measured. */
  record Result(
      long requests,
      long errors,
      double seconds,
      double perSecond,
      double p50Millis,
      double p99Millis,
      double maxMillis,
      Map<String, Long> errorKinds,
      long[] sortedLatencies,
      long[] perSlice,
      double warmupSeconds,
      String warmupSlices) {
    Result withWarmup(double seconds, String slices) {
      return new Result(
          requests,
          errors,
          this.seconds,
          perSecond,
          p50Millis,
          p99Millis,
          maxMillis,
          errorKinds,
          sortedLatencies,
          perSlice,
          seconds,
          slices);
    }

    static Result of(
        long[] sortedLatencies,
        long errors,
        double seconds,
        Map<String, Long> errorKinds,
        long[] perSlice) {
      int n = sortedLatencies.length;
      return new Result(
          n + errors,
          errors,
          seconds,
          (n + errors) / seconds,
          Stats.percentile(sortedLatencies, 0.50) / 1e6,
          Stats.percentile(sortedLatencies, 0.99) / 1e6,
          n == 0 ? 0 : sortedLatencies[n - 1] / 1e6,
          errorKinds,
          sortedLatencies,
          perSlice,
          0,
          "");
    }

    /** Several runs as one: all their requests over all their time. */
    static Result combine(java.util.List<Result> runs) {
      long[] all =
          runs.stream().flatMapToLong(r -> Arrays.stream(r.sortedLatencies())).sorted().toArray();
      Map<String, Long> kinds = new TreeMap<>();
      runs.forEach(r -> r.errorKinds().forEach((k, v) -> kinds.merge(k, v, Long::sum)));
      return of(
          all,
          runs.stream().mapToLong(Result::errors).sum(),
          runs.stream().mapToDouble(Result::seconds).sum(),
          kinds,
          new long[0]);
    }

    String describe() {
      StringBuilder slices = new StringBuilder();
      for (long c : perSlice) {
        slices.append(slices.length() == 0 ? "" : " ").append(c * 1000 / SLICE_MILLIS);
      }
      return String.format(
          "%d requests in %.1f s = %.0f req/s (per %d s slice: %s), latency p50 %.2f ms p99 %.2f ms "
              + "max %.1f ms, errors %d%s%s",
          requests,
          seconds,
          perSecond,
          SLICE_MILLIS / 1000,
          slices,
          p50Millis,
          p99Millis,
          maxMillis,
          errors,
          errorKinds.isEmpty() ? "" : " " + errorKinds,
          warmupSeconds > 0
              ? String.format(
                  ", after %.0f s warm-up (req/s / JIT cores per 5 s slice: %s)",
                  warmupSeconds, warmupSlices)
              : "");
    }
  }

  /** Per chain: completions in order (single writer at a time, ordered by the chain itself). */
  private static final class Chain {
    long[] ends = new long[1 << 14];
    long[] latencies = new long[1 << 14];
    boolean[] ok = new boolean[1 << 14];
    int n;

    void add(long end, long latency, boolean success) {
      if (n == ends.length) {
        ends = Arrays.copyOf(ends, n * 2);
        latencies = Arrays.copyOf(latencies, n * 2);
        ok = Arrays.copyOf(ok, n * 2);
      }
      ends[n] = end;
      latencies[n] = latency;
      ok[n] = success;
      n++;
    }
  }

  /**
   * Runs {@code concurrency} requests in flight: a warm-up of at least {@code minWarmupMillis},
   * extended 5 s slice by 5 s slice until the nodes are warm, at most {@code maxWarmupMillis}; then
   * a measured window of {@code measureMillis}. Warm means that in the last slice the nodes' JIT
   * compiler threads used under 5% of a core ({@code jitTicks}: their cumulative CPU ticks) and
   * throughput moved less than 10% from the slice before: fresh node JVMs on a saturated two-core
   * machine take one to two minutes to compile their hot paths, and throughput climbs several-fold
   * meanwhile. Reports the measured window only; {@code atMeasureStart} runs when it begins.
   */
  Result runTimed(
      URI uri,
      byte[] body,
      int concurrency,
      long minWarmupMillis,
      long maxWarmupMillis,
      long measureMillis,
      LongSupplier jitTicks,
      Runnable atMeasureStart)
      throws InterruptedException {
    long start = System.nanoTime();
    AtomicLong stopAt = new AtomicLong(Long.MAX_VALUE);
    Run run = launch(uri, body, concurrency, stopAt, Long.MAX_VALUE);
    long slice = TimeUnit.MILLISECONDS.toNanos(SLICE_MILLIS);
    long minEnd = start + TimeUnit.MILLISECONDS.toNanos(minWarmupMillis);
    long maxEnd = start + TimeUnit.MILLISECONDS.toNanos(maxWarmupMillis);
    long before = run.completed.get();
    long jitBefore = jitTicks.getAsLong();
    long previousRate = -1;
    long sliceEnd = start;
    StringBuilder warmupSlices = new StringBuilder();
    while (true) {
      sliceEnd += slice;
      sleepUntil(sliceEnd);
      long now = run.completed.get();
      long jitNow = jitTicks.getAsLong();
      long rate = (now - before) * 1000 / SLICE_MILLIS;
      double jitCores = Jit.cores(jitBefore, jitNow, SLICE_MILLIS / 1000.0);
      before = now;
      jitBefore = jitNow;
      warmupSlices
          .append(warmupSlices.length() == 0 ? "" : " ")
          .append(rate)
          .append(String.format("/%.2f", jitCores));
      boolean steady =
          previousRate > 0
              && Math.abs(rate - previousRate) <= 0.10 * previousRate
              && jitCores < Jit.QUIET_CORES;
      previousRate = rate;
      if ((sliceEnd >= minEnd && steady) || sliceEnd >= maxEnd) {
        break;
      }
    }
    long measureFrom = System.nanoTime();
    long measureTo = measureFrom + TimeUnit.MILLISECONDS.toNanos(measureMillis);
    atMeasureStart.run();
    stopAt.set(measureTo);
    run.done.await();
    Result r = summarize(run.chains, measureFrom, measureTo);
    return r.withWarmup((measureFrom - start) / 1e9, warmupSlices.toString());
  }

  /** Sends {@code total} requests, {@code concurrency} in flight, and reports them all. */
  Result runCount(URI uri, byte[] body, int concurrency, long total) throws InterruptedException {
    long start = System.nanoTime();
    Run run = launch(uri, body, concurrency, new AtomicLong(Long.MAX_VALUE), total);
    run.done.await();
    return summarize(run.chains, start, System.nanoTime());
  }

  private static void sleepUntil(long nanoTime) throws InterruptedException {
    long wait = nanoTime - System.nanoTime();
    if (wait > 0) {
      TimeUnit.NANOSECONDS.sleep(wait);
    }
  }

  private final Map<String, Long> errorKinds = new ConcurrentHashMap<>();

  /** Chains in progress. */
  private record Run(Chain[] chains, CountDownLatch done, AtomicLong completed, byte[] body) {}

  private Run launch(URI uri, byte[] body, int concurrency, AtomicLong stopAt, long total) {
    errorKinds.clear();
    HttpRequest request =
        HttpRequest.newBuilder(uri)
            .timeout(Duration.ofSeconds(10))
            .header("Content-Type", "application/json")
            .POST(HttpRequest.BodyPublishers.ofByteArray(body))
            .build();
    Run run =
        new Run(new Chain[concurrency], new CountDownLatch(concurrency), new AtomicLong(), body);
    AtomicLong issued = new AtomicLong();
    for (int i = 0; i < concurrency; i++) {
      run.chains[i] = new Chain();
      if (issued.incrementAndGet() > total) {
        run.done.countDown();
        continue;
      }
      send(request, run, run.chains[i], stopAt, total, issued);
    }
    return run;
  }

  private void send(
      HttpRequest request, Run run, Chain chain, AtomicLong stopAt, long total, AtomicLong issued) {
    long sent = System.nanoTime();
    if (poster != null) {
      byte[] body = run.body();
      poster.post(
          request.uri(),
          body,
          (status, head, error) ->
              completed(request, run, chain, stopAt, total, issued, sent, status, error));
    } else {
      client
          .sendAsync(request, HttpResponse.BodyHandlers.discarding())
          .whenComplete(
              (response, error) ->
                  completed(
                      request,
                      run,
                      chain,
                      stopAt,
                      total,
                      issued,
                      sent,
                      error == null ? response.statusCode() : -1,
                      error));
    }
  }

  private void completed(
      HttpRequest request,
      Run run,
      Chain chain,
      AtomicLong stopAt,
      long total,
      AtomicLong issued,
      long sent,
      int status,
      Throwable error) {
    long end = System.nanoTime();
    boolean ok = status == 200;
    if (!ok) {
      errorKinds.merge(
          error != null ? error.getClass().getSimpleName() : "HTTP " + status, 1L, Long::sum);
    }
    chain.add(end, end - sent, ok);
    run.completed.incrementAndGet();
    if (end < stopAt.get() && issued.incrementAndGet() <= total) {
      if (error != null) {
        executor.execute(
            () ->
                send(
                    request, run, chain, stopAt, total,
                    issued)); // no deep recursion on fast failures
      } else {
        send(request, run, chain, stopAt, total, issued);
      }
    } else {
      run.done.countDown();
    }
  }

  private Result summarize(Chain[] chains, long from, long to) {
    int size = 0;
    for (Chain c : chains) {
      size += c.n;
    }
    long[] latencies = new long[size];
    int n = 0;
    long errors = 0;
    for (Chain c : chains) {
      for (int i = 0; i < c.n; i++) {
        if (c.ends[i] >= from && c.ends[i] < to) {
          if (c.ok[i]) {
            latencies[n++] = c.latencies[i];
          } else {
            errors++;
          }
        }
      }
    }
    latencies = Arrays.copyOf(latencies, n);
    Arrays.sort(latencies);
    long sliceNanos = TimeUnit.MILLISECONDS.toNanos(SLICE_MILLIS);
    long[] perSlice = new long[(int) Math.max(0, (to - from) / sliceNanos)];
    for (Chain c : chains) {
      for (int i = 0; i < c.n; i++) {
        long slice = (c.ends[i] - from) / sliceNanos;
        if (c.ends[i] >= from && slice < perSlice.length) {
          perSlice[(int) slice]++;
        }
      }
    }
    return Result.of(latencies, errors, (to - from) / 1e9, new TreeMap<>(errorKinds), perSlice);
  }

  @Override
  public void close() {
    if (poster != null) {
      poster.close();
    }
    executor.shutdownNow();
  }
}
