package org.chronos.overload;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;
import static org.chronos.testing.ChronosClient.idOf;

import io.dropwizard.testing.junit5.DropwizardAppExtension;
import io.dropwizard.testing.junit5.DropwizardExtensionsSupport;
import java.net.http.HttpRequest.BodyPublishers;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.chronos.ChronosApplication;
import org.chronos.ChronosConfiguration;
import org.chronos.testing.CallbackServer;
import org.chronos.testing.ChronosClient;
import org.chronos.testing.SingleNodeApp;
import org.chronos.testing.TimerJson;
import org.chronos.timer.Timer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Overload control over real HTTP: a node with a tiny bucket (20 tokens, 10/s, never lower) refuses
 * client requests past it with 503 and Retry-After, stores nothing it refused, pops everything it
 * accepted exactly once, and never throttles node-to-node traffic.
 */
@ExtendWith(DropwizardExtensionsSupport.class)
class OverloadTest {
  private static final CallbackServer CALLBACKS = CallbackServer.start();

  static final DropwizardAppExtension<ChronosConfiguration> APP =
      SingleNodeApp.create(
          "overload:",
          "  bucketSize: 20",
          "  initialRate: 10",
          "  minRate: 10",
          "  targetLatency: 500ms");

  @AfterAll
  static void closeCallbacks() {
    CALLBACKS.close();
  }

  private record Outcome(String path, HttpResponse<String> response, long nanos) {
    int status() {
      return response.statusCode();
    }
  }

  @Test
  void clientRequestsPastTheBucketGet503AndEveryAcceptedTimerPopsOnce() throws Exception {
    ChronosClient client = ChronosClient.of(APP);
    long createdBefore = meterCount(client, "chronos.timers.created");
    long rejectedBefore = meterCount(client, "chronos.overload.rejected");
    int threads = 8;
    int perThread = 30;
    ExecutorService pool = Executors.newFixedThreadPool(threads);
    CountDownLatch go = new CountDownLatch(1);
    List<Future<List<Outcome>>> futures = new ArrayList<>();
    long started = System.nanoTime();
    for (int t = 0; t < threads; t++) {
      futures.add(
          pool.submit(
              () -> {
                go.await();
                List<Outcome> outcomes = new ArrayList<>();
                for (int i = 0; i < perThread; i++) {
                  String path = CALLBACKS.newPath("burst");
                  long begin = System.nanoTime();
                  HttpResponse<String> response =
                      client.post("/timers", TimerJson.oneShot(1, CALLBACKS.url(path), path));
                  outcomes.add(new Outcome(path, response, System.nanoTime() - begin));
                }
                return outcomes;
              }));
    }
    go.countDown();
    List<Outcome> all = new ArrayList<>();
    for (Future<List<Outcome>> f : futures) {
      all.addAll(f.get());
    }
    double elapsedSeconds = (System.nanoTime() - started) / 1e9;
    pool.shutdown();

    List<Outcome> accepted = all.stream().filter(o -> o.status() == 200).toList();
    List<Outcome> refused = all.stream().filter(o -> o.status() == 503).toList();
    assertThat(accepted.size() + refused.size())
        .as("every answer is 200 or 503")
        .isEqualTo(threads * perThread);
    assertThat(refused).as("requests past the bucket are refused").isNotEmpty();
    for (Outcome o : refused) {
      String retryAfter = o.response().headers().firstValue("Retry-After").orElse("");
      assertThat(retryAfter).as("Retry-After of %s", o.path()).matches("[1-9][0-9]*");
      assertThat(o.response().body()).contains("overloaded");
    }
    // At most the bucket, then the rate (which creeps up by 1/s a second while latency is low;
    // other
    // tests may have emptied the bucket or raised the rate before this one).
    double rate = gauge(client, "chronos.overload.rate");
    assertThat(accepted.size())
        .isBetween(1, 20 + (int) Math.ceil((rate + 2) * (elapsedSeconds + 1)));

    List<Long> acceptedNanos = accepted.stream().map(Outcome::nanos).sorted().toList();
    long p99 = acceptedNanos.get((int) Math.ceil(acceptedNanos.size() * 0.99) - 1);
    assertThat(Duration.ofNanos(p99))
        .as("p99 latency of accepted requests")
        .isLessThan(Duration.ofSeconds(1));

    // Exactly the accepted timers were stored, and the refusals were counted.
    assertThat(meterCount(client, "chronos.timers.created") - createdBefore)
        .isEqualTo(accepted.size());
    assertThat(meterCount(client, "chronos.overload.rejected") - rejectedBefore)
        .isEqualTo(refused.size());

    // Every accepted timer pops, then is a tombstone, so it can never pop again.
    List<Long> ids = new ArrayList<>();
    for (Outcome o : accepted) {
      CALLBACKS.awaitRequest(o.path());
      ids.add(idOf(o.response().headers().firstValue("Location").orElseThrow()));
    }
    await("accepted timers finished")
        .atMost(Duration.ofSeconds(10))
        .pollInterval(Duration.ofMillis(20))
        .until(
            () ->
                app()
                    .timerService()
                    .query(store -> ids.stream().map(store::get).allMatch(OverloadTest::finished))
                    .join());
    for (Outcome o : accepted) {
      assertThat(CALLBACKS.requestsTo(o.path())).as("callbacks to %s", o.path()).hasSize(1);
    }
    for (Outcome o : refused) {
      assertThat(CALLBACKS.requestsTo(o.path())).as("callbacks to refused %s", o.path()).isEmpty();
    }
  }

  @Test
  void replicationAndResyncRequestsAreNotThrottledWhileClientsAre() throws Exception {
    ChronosClient client = ChronosClient.of(APP);
    AtomicBoolean stop = new AtomicBoolean();
    AtomicInteger clientRefusals = new AtomicInteger();
    Thread hammer =
        new Thread(
            () -> {
              while (!stop.get()) {
                HttpResponse<String> r =
                    client.post("/timers", TimerJson.oneShot(3600, CALLBACKS.url("/hammer"), "h"));
                if (r.statusCode() == 503) {
                  clientRefusals.incrementAndGet();
                }
              }
            },
            "client-hammer");
    hammer.start();
    try {
      await("clients are being throttled")
          .atMost(Duration.ofSeconds(10))
          .until(() -> clientRefusals.get() > 0);
      int refusalsBefore = clientRefusals.get();
      String self = "127.0.0.1:" + APP.getLocalPort();

      // More node-to-node (and site-to-site) requests than the bucket holds, while every client
      // token is taken.
      for (int i = 0; i < 60; i++) {
        String path = String.format("/timers/%016x-2", ThreadLocalRandom.current().nextLong());
        HttpResponse<String> replica = client.put(path, replicationBody(self));
        assertThat(replica.statusCode())
            .as("replication PUT %d: %s", i, replica.body())
            .isEqualTo(200);
        String fromOtherSite =
            String.format("/timers/%016x-2", ThreadLocalRandom.current().nextLong());
        HttpResponse<String> site = client.put(fromOtherSite, siteBody());
        assertThat(site.statusCode())
            .as("another site's PUT %d: %s", i, site.body())
            .isEqualTo(200);
        if (i < 3) {
          // A client's timer of nearly 1 MiB, as its primary sends it on: over the client limit
          // with what the node adds, its replicas after the opaque.
          String large = replicationBody(self, "r".repeat(1024 * 1024 - 100));
          assertThat(large.length()).isGreaterThan(1024 * 1024);
          String largePath =
              String.format("/timers/%016x-2", ThreadLocalRandom.current().nextLong());
          HttpResponse<String> largeReplica = client.put(largePath, large);
          assertThat(largeReplica.statusCode())
              .as("large replication PUT %d: %s", i, largeReplica.body())
              .isEqualTo(200);
        }
        HttpResponse<String> references =
            client.send("DELETE", "/timers/references", BodyPublishers.ofString("{\"IDs\":[]}"));
        assertThat(references.statusCode()).as("DELETE /timers/references").isEqualTo(202);
        HttpResponse<String> page =
            client.get("/timers?node-for-replicas=" + self + "&cluster-view-id=0");
        assertThat(page.statusCode()).as("resync GET /timers: %s", page.body()).isNotEqualTo(503);
      }
      assertThat(clientRefusals.get())
          .as("clients were still refused meanwhile")
          .isGreaterThan(refusalsBefore);
    } finally {
      stop.set(true);
      hammer.join();
    }
  }

  @Test
  void clientUpdatesAndDeletesTakeTokensToo() {
    ChronosClient client = ChronosClient.of(APP);
    String location = null;
    boolean updateRefused = false;
    boolean deleteRefused = false;
    // Drain the bucket with updates and deletes of one timer (created once a token frees up).
    for (int i = 0; i < 500 && (!updateRefused || !deleteRefused); i++) {
      if (location == null) {
        HttpResponse<String> created =
            client.post("/timers", TimerJson.oneShot(3600, CALLBACKS.url("/upd"), "u"));
        if (created.statusCode() == 200) {
          location = created.headers().firstValue("Location").orElseThrow();
        }
        continue;
      }
      HttpResponse<String> update =
          client.put(location, TimerJson.oneShot(3600, CALLBACKS.url("/upd"), "v"));
      assertThat(update.statusCode()).isIn(200, 503);
      updateRefused |= update.statusCode() == 503;
      HttpResponse<String> delete = client.delete(location);
      assertThat(delete.statusCode()).isIn(200, 503);
      deleteRefused |= delete.statusCode() == 503;
    }
    assertThat(updateRefused).as("a client PUT was refused").isTrue();
    assertThat(deleteRefused).as("a client DELETE was refused").isTrue();
  }

  /**
   * PUT and DELETE on the collection are no timer of a client's: while the bucket is empty they
   * still get their 405, not a 503 that would have the client retry them.
   */
  @Test
  void wrongMethodsOnTheCollectionTakeNoToken() {
    assertThat(
            statusesWithTheBucketEmpty(
                client -> client.put("/timers", "{}"), client -> client.delete("/timers")))
        .containsOnly(405);
  }

  /**
   * Nor does a URL under {@code /timers} that is no timer's: its 404 costs nothing, and a 503 with
   * {@code Retry-After} would tell the client to retry its buggy request when retries cost most.
   */
  @Test
  void aUrlThatIsNoTimersTakesNoToken() {
    assertThat(
            statusesWithTheBucketEmpty(
                client -> client.put("/timers/not-a-timer", "{}"),
                client -> client.delete("/timers/not-a-timer"),
                client -> client.post("/timers/not-a-timer", "{}")))
        .containsOnly(404);
  }

  /**
   * A create whose URL carries a {@code ;} parameter (which the resource ignores) takes a token as
   * any other: it was let through untaxed, a way around overload control.
   */
  @Test
  void aCreateWithAPathParameterTakesAToken() {
    assertThat(statusesWithTheBucketEmpty(client -> client.post("/timers/;x=y", "{}")))
        .contains(503);
  }

  /** The statuses of {@code requests}, each sent right after the bucket is emptied, five times. */
  @SafeVarargs
  private static List<Integer> statusesWithTheBucketEmpty(
      java.util.function.Function<ChronosClient, HttpResponse<String>>... requests) {
    ChronosClient client = ChronosClient.of(APP);
    List<Integer> statuses = new ArrayList<>();
    for (int round = 0; round < 5; round++) {
      for (var request : requests) {
        emptyTheBucket(client);
        statuses.add(request.apply(client).statusCode());
      }
    }
    return statuses;
  }

  /** Empties the bucket with bodies that are refused (400) once they have taken their token. */
  private static void emptyTheBucket(ChronosClient client) {
    for (int i = 0; i < 500; i++) {
      if (client.post("/timers", "{}").statusCode() == 503) {
        return;
      }
    }
  }

  private static String replicationBody(String self) {
    return replicationBody(self, "r");
  }

  private static String replicationBody(String self, String opaque) {
    return "{\"timing\":{\"interval\":3600,\"repeat-for\":3600,\"start-time-delta\":0,\"sequence-number\":0},"
        + "\"callback\":{\"http\":{\"uri\":\""
        + CALLBACKS.url("/replica")
        + "\",\"opaque\":\""
        + opaque
        + "\"}},"
        + "\"reliability\":{\"cluster-view-id\":\"0\",\"replicas\":[\""
        + self
        + "\"]}}";
  }

  /**
   * What another site sends: the timer with its site list, and no replicas (this site places it).
   */
  private static String siteBody() {
    return "{\"timing\":{\"interval\":3600,\"repeat-for\":3600,\"start-time-delta\":0,\"sequence-number\":0},"
        + "\"callback\":{\"http\":{\"uri\":\""
        + CALLBACKS.url("/site")
        + "\",\"opaque\":\"s\"}},"
        + "\"reliability\":{\"cluster-view-id\":\"0\",\"replication-factor\":2,"
        + "\"sites\":[\"site2\",\"site1\"]}}";
  }

  private static boolean finished(Timer timer) {
    return timer == null || timer.isTombstone();
  }

  private static ChronosApplication app() {
    return APP.getApplication();
  }

  private static long meterCount(ChronosClient client, String name) {
    return client.metrics().path("meters").path(name).path("count").asLong(0);
  }

  private static double gauge(ChronosClient client, String name) {
    return client.metrics().path("gauges").path(name).path("value").asDouble();
  }
}
