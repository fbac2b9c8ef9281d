package org.chronos.bench.cluster;

import java.net.URI;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/**
 * Not a benchmark: reproduces a resync that ends early and reports success (see {@code
 * bench/cluster/README.md}, "What limits these figures", item 6).
 *
 * <p>Node A holds {@code timers} long timers; B joins. Just before the resync, a burst of {@code
 * burst} timers with a 2 s interval is created on A, so that when A builds B's listing its first
 * page holds only short timers due within a few hundred milliseconds. They pop before A writes the
 * page, A answers 206 with an empty page, and B stops there: the summary shows few or no {@code
 * timersReceived}, no failure, and B ends with almost none of A's timers.
 *
 * <p>{@code java -cp target/test-classes:target/chronos.jar
 * org.chronos.bench.cluster.ResyncEmptyPageRepro <work dir> [jar] [timers=100000] [burst=6000]
 * [resync at ms after the burst began=3200]}
 */
public final class ResyncEmptyPageRepro {
  private ResyncEmptyPageRepro() {}

  public static void main(String[] args) throws Exception {
    ChronosNode.quietLogging();
    Path work = Files.createDirectories(Path.of(args.length > 0 ? args[0] : "target/cbench-repro"));
    Path jar = Path.of(args.length > 1 ? args[1] : "target/chronos.jar").toAbsolutePath();
    int timers = args.length > 2 ? Integer.parseInt(args[2]) : 100_000;
    int burst = args.length > 3 ? Integer.parseInt(args[3]) : 6000;
    long resyncAtMillis = args.length > 4 ? Long.parseLong(args[4]) : 3200;
    try (CreateLoad load = new CreateLoad(2);
        ChronosNode a = new ChronosNode(work, "A");
        ChronosNode b = new ChronosNode(work, "B")) {
      a.writeClusterFile(1, List.of(a), List.of());
      a.start(jar);
      URI create = URI.create("http://127.0.0.1:" + a.port + "/timers");
      System.out.println(
          "A: "
              + load.runCount(
                      create,
                      CreateLoad.timerBody(3600, 2, "http://127.0.0.1:9/never", "x"),
                      32,
                      timers)
                  .describe());
      b.writeClusterFile(2, List.of(a), List.of(b));
      b.start(jar);
      a.writeClusterFile(1, List.of(a), List.of(b));
      System.out.println("reload A: " + a.task("reload", Duration.ofSeconds(30)).body().strip());
      long t0 = System.nanoTime();
      System.out.println(
          "burst: "
              + load.runCount(
                      create,
                      CreateLoad.timerBody(2, 2, "http://127.0.0.1:9/never", "y"),
                      32,
                      burst)
                  .describe());
      long wait = resyncAtMillis - (System.nanoTime() - t0) / 1_000_000;
      if (wait > 0) {
        Thread.sleep(wait);
      }
      long at = (System.nanoTime() - t0) / 1_000_000;
      HttpResponse<String> resync = b.task("resync", Duration.ofMinutes(5));
      System.out.println(
          "resync on B, started "
              + at
              + " ms after the burst began: "
              + resync.statusCode()
              + " "
              + resync.body().strip());
      Thread.sleep(4000); // the burst has popped everywhere
      long aLive = a.gauge("chronos.timers.live");
      long bLive = b.gauge("chronos.timers.live");
      System.out.printf(
          "live timers: A %d, B %d -> %s%n",
          aLive,
          bLive,
          bLive < aLive
              ? "REPRODUCED: B is missing "
                  + (aLive - bLive)
                  + " timers after a resync that reported success"
              : "not reproduced this time (try another burst size or start time)");
    }
  }
}
