package org.chronos.sites;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.spi.ILoggingEvent;
import com.codahale.metrics.MetricRegistry;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpHandler;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.chronos.replication.Replicator;
import org.chronos.testing.ClusterHarness;
import org.chronos.testing.ClusterHarness.Node;
import org.chronos.testing.LogCapture;
import org.chronos.testing.LoopbackServer;
import org.chronos.testing.TimerJson;
import org.chronos.timer.Clock;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * A remote site whose address answers HTTP but does not serve {@code GET /ping} (a proxy or load
 * balancer that routes only {@code /timers} and answers the rest 404, an auth rule's 401 or 403),
 * while it takes timers. Its probes' answers counted as failed probes: once a message to it failed,
 * it was taken for down for good, and got neither news nor the re-send of what it missed. Here a
 * JDK {@code HttpServer} stands in for such a site.
 */
class SiteWithoutPingTest {
  private static final String NEVER = "http://127.0.0.1:1/never";

  private final AtomicInteger pings = new AtomicInteger();

  /** Requests to {@code /timers} that reached the site, whatever it answered. */
  private final AtomicInteger timerRequests = new AtomicInteger();

  /** The paths of the single timers the site took. */
  private final Set<String> received = ConcurrentHashMap.newKeySet();

  /** What {@code /ping} answers while the site takes timers: 404, as a proxy with no route. */
  private volatile int pingStatus = 404;

  /**
   * Whether the site is down behind its proxy, which answers everything with 503 then, as a load
   * balancer with no backend left does.
   */
  private volatile boolean down;

  /** The start time the site's pings name; null: none. */
  private volatile String started;

  /** Whether {@code /timers} answers 503 while {@code /ping} still answers {@link #pingStatus}. */
  private volatile boolean timersFail;

  /** What {@code /timers} answers instead of taking the timer (an auth rule's 401); 0: takes it. */
  private volatile int timersRefusedWith;

  /** Whether {@code /timers} answers every other request 503 (one dead backend of two). */
  private volatile boolean everyOtherFails;

  private final HttpServer site =
      LoopbackServer.start("/ping", this::ping, "/timers", (HttpHandler) this::put);

  private ClusterHarness cluster;
  private SiteReplicator siteReplicator;
  private Replicator replicator;

  private void ping(HttpExchange exchange) throws IOException {
    try (exchange) {
      pings.incrementAndGet();
      String named = started;
      if (named != null) {
        exchange.getResponseHeaders().add(SiteReplicator.PING_STARTED_HEADER, named);
      }
      exchange.sendResponseHeaders(down ? 503 : pingStatus, -1);
    }
  }

  private void put(HttpExchange exchange) throws IOException {
    try (exchange) {
      timerRequests.incrementAndGet();
      String body = new String(exchange.getRequestBody().readAllBytes(), StandardCharsets.UTF_8);
      if (down || timersFail) {
        exchange.sendResponseHeaders(503, -1);
        return;
      }
      if (timersRefusedWith != 0) {
        exchange.sendResponseHeaders(timersRefusedWith, -1);
        return;
      }
      if (everyOtherFails && timerRequests.get() % 2 == 0) {
        exchange.sendResponseHeaders(503, -1);
        return;
      }
      if (body.contains("\"Requests\"")) {
        exchange.sendResponseHeaders(404, -1); // as an original node: single PUTs then
        return;
      }
      received.add(exchange.getRequestURI().getPath());
      exchange.sendResponseHeaders(200, -1);
    }
  }

  @AfterEach
  void tearDown() throws InterruptedException {
    if (cluster != null) {
      cluster.close();
    }
    if (siteReplicator != null) {
      siteReplicator.stop();
    }
    if (replicator != null) {
      replicator.stop(0);
    }
    site.stop(0);
  }

  private String sitesFile() {
    return "[sites]\nlocal_site = site0\nreplicate_timers_across_sites = true\nremote_site = site1="
        + LoopbackServer.address(site)
        + "\n";
  }

  private Node startWithTheSite(String... extraYamlLines) {
    cluster = ClusterHarness.create(1, extraYamlLines);
    Node node = cluster.node(0);
    node.writeClusterFile(cluster.nodeLines("node", List.of(node)));
    node.writeSharedFile(sitesFile());
    node.start();
    return node;
  }

  /** The node's {@code answering} gauge of the site: 1, 0, or null if it has none. */
  private static Object answering(Node node) {
    var gauge = node.metrics().getGauges().get("chronos.sites.site1.answering");
    return gauge == null ? null : gauge.getValue();
  }

  private static long count(LogCapture log, String part) {
    return log.events().stream()
        .map(ILoggingEvent::getFormattedMessage)
        .filter(line -> line.contains(part))
        .count();
  }

  /**
   * The site goes down behind its proxy (everything answered 503), so a message to it fails and it
   * is taken for down; back, its {@code /ping} answers 404 again. It is tried again at once, and
   * gets both the timers made while it was down (owed to its re-send) and the news after.
   */
  @Test
  void aSiteThatDoesNotServePingGetsItsTimersAgainOnceItTakesThemAfterAnOutage() {
    Node node = startWithTheSite("replication:", "  retryFor: 500ms");
    await("the site's first probe").until(() -> pings.get() >= 1);
    String before = node.client().createTimer(TimerJson.oneShot(600, NEVER, "before"));
    await("a timer sent to the site").until(() -> received.contains(before));

    down = true;
    String failed = node.client().createTimer(TimerJson.oneShot(600, NEVER, "failed"));
    await("the site taken for down once a message to it failed")
        .atMost(Duration.ofSeconds(10))
        .until(
            () ->
                node.metrics().counter("chronos.sites.site1.failed").getCount() >= 1
                    && Integer.valueOf(0).equals(answering(node)));
    List<String> made = new ArrayList<>();
    for (int i = 0; i < 5; i++) {
      made.add(node.client().createTimer(TimerJson.oneShot(600, NEVER, "while-down-" + i)));
    }

    down = false;
    await("the timer whose news failed, and those made meanwhile, sent to the site")
        .atMost(Duration.ofSeconds(10))
        .until(() -> received.contains(failed) && received.containsAll(made));
    String after = node.client().createTimer(TimerJson.oneShot(600, NEVER, "after"));
    await("news sent to the site again").until(() -> received.contains(after));
    assertThat(answering(node)).isEqualTo(1);
  }

  /**
   * A site that takes every timer, whose {@code /ping} answers 404: taken for down after two such
   * probes, it was sent no news, though it took every timer sent to it. It stays answering, its
   * news goes at once and only once, and its {@code /ping} is not warned of at every probe.
   */
  @Test
  void probesAnswered404DoNotTakeASiteThatTakesTimersForDown() {
    Node node = startWithTheSite();
    // Past the first probe's re-send (of nothing), which would send a timer made meanwhile again.
    await("two probes").until(() -> pings.get() >= 2);
    // After the node's start, which sets up its logging anew.
    try (LogCapture log = LogCapture.of(SiteReplicator.class, Level.INFO)) {
      List<Object> seen = new ArrayList<>();
      List<String> made = new ArrayList<>();
      for (int round = 0; round < 4; round++) {
        int probes = pings.get();
        await("another probe").atMost(Duration.ofSeconds(5)).until(() -> pings.get() > probes);
        String location = node.client().createTimer(TimerJson.oneShot(600, NEVER, "t" + round));
        made.add(location);
        await("the new timer sent to the site at once")
            .atMost(Duration.ofSeconds(3))
            .until(() -> received.contains(location));
        seen.add(answering(node));
      }

      assertThat(seen).as("the site's answering gauge over four probes").containsOnly(1);
      assertThat(received).containsAll(made);
      assertThat(timerRequests.get())
          .as("timers sent to the site, none again")
          .isEqualTo(made.size());
      assertThat(count(log, "GET /ping answered HTTP 404"))
          .as("warnings that the site's /ping is not served, after the first probe's")
          .isZero();
    }
  }

  /** A site replicator of the site with a time given by hand, whose re-send sends one timer. */
  private SiteReplicator siteReplicatorAt(AtomicLong now) {
    return siteReplicatorAt(now, true);
  }

  /** How many timers a re-send of {@link #siteReplicatorAt}'s site replicator sends. */
  private int timersPerResend = 1;

  /**
   * How often {@link #siteReplicatorAt}'s site replicator probes the site: a node's every 2 s, but
   * these tests wait for many rounds, whose logic does not depend on their pace (their back-off and
   * warnings go by the time given by hand). Still well above a loopback answer's time, so probes do
   * not overlap.
   */
  private static final long PROBE_MILLIS = 500;

  /** The metrics of {@link #siteReplicatorAt}'s site replicator. */
  private final MetricRegistry metrics = new MetricRegistry();

  /**
   * A site replicator of the site with a time given by hand, whose re-send sends one timer, or
   * none: a node with nothing to send the site.
   */
  private SiteReplicator siteReplicatorAt(AtomicLong now, boolean resendsATimer) {
    replicator = new Replicator(Clock.SYSTEM, new MetricRegistry(), 2000, 100, 2, 1, 16);
    replicator.retryFor(0); // a message the site does not take fails at once
    replicator.start();
    SitesConfig config;
    try {
      config = SitesConfig.parse(sitesFile(), "test", 8080);
    } catch (Exception e) {
      throw new AssertionError(e);
    }
    AtomicReference<SiteReplicator> self = new AtomicReference<>();
    SiteReplicator made =
        new SiteReplicator(
            replicator,
            metrics,
            () -> config,
            name -> {
              for (int i = 1; resendsATimer && i <= timersPerResend; i++) {
                self.get().send(List.of(name), "/timers/" + i, new byte[] {'{', '}'}, null);
              }
            },
            configured -> {},
            now::get,
            PROBE_MILLIS);
    self.set(made);
    siteReplicator = made;
    return made;
  }

  /** Waits for two more probe rounds: the second began after anything done before this. */
  private void twoProbes() {
    int probes = pings.get();
    await("two more probes").atMost(Duration.ofSeconds(10)).until(() -> pings.get() >= probes + 2);
  }

  /**
   * A site whose {@code /ping} answers 403 and which still fails: tried again (its re-send sent) at
   * once, then not before 30 s, then not before 60 s more. A message that gets through while it
   * backs off does not end the back-off; a site that took what it was sent for 30 s after a try is
   * tried at once when it fails again. Tried every probe, a site that is really down, or takes some
   * messages and fails others, would be kept busy with re-sends.
   */
  @Test
  void aSiteThatDoesNotServePingAndStillFailsIsTriedAgainWithABackOff() throws Exception {
    pingStatus = 403;
    timersFail = true;
    AtomicLong now = new AtomicLong(1_000_000_000L);
    try (LogCapture log = LogCapture.of(SiteReplicator.class, Level.INFO)) {
      SiteReplicator sites = siteReplicatorAt(now);
      // First contact sends it the timers it should hold, which fail; the next probe tries again.
      await("the site tried again at once after its first contact failed")
          .atMost(Duration.ofSeconds(10))
          .until(() -> timerRequests.get() >= 2 && sites.isFailing("site1"));
      assertThat(count(log, "does not serve /ping: tried again")).isEqualTo(1);

      now.addAndGet(SiteReplicator.FIRST_TRY_BACKOFF_MILLIS - 1000);
      twoProbes();
      assertThat(timerRequests.get()).as("tries within 30 s of the last").isEqualTo(2);
      now.addAndGet(1000);
      await("a try 30 s after the last").until(() -> timerRequests.get() >= 3);

      now.addAndGet(SiteReplicator.FIRST_TRY_BACKOFF_MILLIS);
      twoProbes();
      assertThat(timerRequests.get()).as("tries within 60 s of the last").isEqualTo(3);
      now.addAndGet(SiteReplicator.FIRST_TRY_BACKOFF_MILLIS);
      await("a try 60 s after the last").until(() -> timerRequests.get() >= 4);
      await().until(() -> sites.isFailing("site1"));

      // A message sent before (a retried one, a re-send's) gets through while it backs off: it
      // takes some messages and fails others, and is tried with the back-off, not at once.
      String tried = "does not serve /ping: tried again";
      long tries = count(log, tried);
      timersFail = false;
      sites.send(List.of("site1"), "/timers/2", new byte[] {'{', '}'}, null);
      await("the timer delivered").until(() -> received.contains("/timers/2"));
      twoProbes();
      assertThat(sites.isFailing("site1")).as("taken for down still").isTrue();
      assertThat(count(log, tried)).as("tries within the back-off").isEqualTo(tries);

      // Past the back-off it is tried, takes what it is sent for 30 s, then fails: tried again
      // at once.
      now.addAndGet(5 * SiteReplicator.FIRST_TRY_BACKOFF_MILLIS);
      await("tried, and taking what it is sent")
          .atMost(Duration.ofSeconds(6))
          .until(() -> count(log, tried) > tries && Integer.valueOf(1).equals(answeringGauge()));
      long triesBefore = count(log, tried);
      now.addAndGet(SiteReplicator.FIRST_TRY_BACKOFF_MILLIS);
      timersFail = true;
      sites.send(List.of("site1"), "/timers/5", new byte[] {'{', '}'}, null);
      await("the site taken for down again").until(() -> sites.isFailing("site1"));
      await("the site tried again at once")
          .atMost(Duration.ofSeconds(6))
          .until(() -> count(log, tried) > triesBefore);
      assertThat(
              count(
                  log,
                  "GET /ping answered HTTP 403; whether the site is down is then told"
                      + " only by the timers sent to it, and while it is taken for down it is tried again"
                      + " every 30 s"))
          .as("warnings that the site's /ping is not served, over every probe")
          .isEqualTo(1);
    }
  }

  /**
   * A node with nothing to send a site it tried has no message to tell whether it answers: once
   * nothing is on its way to the site and its address answers HTTP, it is no longer reported down.
   * Before, it was reported down for good and warned of every 5 min, though every probe answered.
   */
  @Test
  void aSiteTriedByANodeWithNothingToSendItIsNotReportedDownForGood() {
    pingStatus = 403;
    timersFail = true;
    AtomicLong now = new AtomicLong(1_000_000_000L);
    try (LogCapture log = LogCapture.of(SiteReplicator.class, Level.INFO)) {
      SiteReplicator sites = siteReplicatorAt(now, false);
      // Its address answered HTTP: that is an answer, though nothing was sent to it.
      await("the first contact")
          .atMost(Duration.ofSeconds(10))
          .until(() -> Integer.valueOf(1).equals(answeringGauge()));
      sites.send(List.of("site1"), "/timers/9", new byte[] {'{', '}'}, null);
      await("the site taken for down").until(() -> sites.isFailing("site1"));

      now.addAndGet(SiteReplicator.FIRST_TRY_BACKOFF_MILLIS);
      await("a try, and the site answering again")
          .atMost(Duration.ofSeconds(6))
          .until(
              () ->
                  count(log, "does not serve /ping: tried again") == 1
                      && Integer.valueOf(1).equals(answeringGauge()));
      now.addAndGet(SiteReplicator.LONG_DOWN_MILLIS);
      twoProbes();
      assertThat(count(log, "has not answered for")).as("long-down warnings").isZero();
      assertThat(answeringGauge()).isEqualTo(1);
    }
  }

  /**
   * A site first reached through a {@code /ping} that did not answer 200, whose {@code /ping} then
   * answers 200 naming a start time (a proxy given a route for it), has not restarted: taken for
   * one, every node of this site re-sent it every timer.
   */
  @Test
  void aSiteWhosePingStartsAnsweringIsNotTakenForRestarted() {
    AtomicLong now = new AtomicLong(1_000_000_000L);
    siteReplicatorAt(now);
    await("the first contact's re-send")
        .atMost(Duration.ofSeconds(10))
        .until(() -> received.contains("/timers/1"));
    pingStatus = 200;
    started = "1700000000000";
    int pingsBefore = pings.get();
    await("probes answered 200").until(() -> pings.get() >= pingsBefore + 2);
    twoProbes();
    assertThat(timerRequests.get()).as("re-sends of the site's timers").isEqualTo(1);
    assertThat(answeringGauge()).isEqualTo(1);
  }

  /**
   * A site whose {@code /ping} answers 200 but whose {@code /timers} refuses this site's timers (an
   * auth rule's 401 on {@code /timers} only): each probe took it for answering again and started a
   * re-send, which failed at once. It is tried with the back-off instead, reported down meanwhile,
   * and warned of as not taking timers; once it takes them, its next try sends them. A site whose
   * probes fail too is really down, and is sent its timers as soon as it answers again.
   */
  @Test
  void aSiteWhosePingAnswersButWhichRefusesTimersIsTriedWithABackOff() {
    AtomicLong now = new AtomicLong(1_000_000_000L);
    try (LogCapture log = LogCapture.of(SiteReplicator.class, Level.INFO)) {
      SiteReplicator sites = refusingSiteTriedOnce(now);
      twoProbes();
      twoProbes();
      assertThat(timerRequests.get()).as("re-sends within 30 s of the last try").isEqualTo(2);
      assertThat(answeringGauge()).isEqualTo(0);
      now.addAndGet(SiteReplicator.FIRST_TRY_BACKOFF_MILLIS);
      await("a try 30 s after the last").until(() -> timerRequests.get() >= 3);
      await().until(() -> sites.isFailing("site1"));

      now.addAndGet(SiteReplicator.LONG_DOWN_MILLIS);
      await("the warning that it has not taken timers for 5 min")
          .until(
              () ->
                  count(log, "answers GET /ping but has not taken the timers sent to it for 5 min")
                      == 1);

      timersRefusedWith = 0;
      now.addAndGet(SiteReplicator.MAX_TRY_BACKOFF_MILLIS);
      await("its timer sent at its next try, and the site answering")
          .atMost(Duration.ofSeconds(6))
          .until(
              () -> received.contains("/timers/1") && Integer.valueOf(1).equals(answeringGauge()));

      // Down (its probes fail too), then back within 30 s of the try: sent its timers at once.
      down = true;
      sites.send(List.of("site1"), "/timers/2", new byte[] {'{', '}'}, null);
      await("the site taken for down").until(() -> sites.isFailing("site1"));
      twoProbes();
      int before = timerRequests.get();
      down = false;
      await("the re-send as soon as it answers again")
          .atMost(Duration.ofSeconds(6))
          .until(() -> timerRequests.get() > before && Integer.valueOf(1).equals(answeringGauge()));
    }
  }

  /**
   * A site whose {@code /ping} answers 200 and whose {@code /timers} fails every other timer (one
   * dead backend behind a load balancer): each timer it took recovered it, and each it failed took
   * it for down again, so re-sends followed one another without pause, then one at each probe. It
   * is tried at once, then not before the back-off, its clock here standing still.
   */
  @Test
  void aSiteWhosePingAnswersAndWhichFailsEveryOtherTimerIsNotReSentAgainAndAgain() {
    pingStatus = 200;
    started = "1700000000000";
    everyOtherFails = true;
    timersPerResend = 4;
    AtomicLong now = new AtomicLong(1_000_000_000L);
    SiteReplicator sites = siteReplicatorAt(now);
    await("the first contact's re-send and one try, each with a failed timer")
        .atMost(Duration.ofSeconds(10))
        .until(() -> timerRequests.get() >= 8 && sites.isFailing("site1"));
    twoProbes();
    twoProbes();
    assertThat(timerRequests.get()).as("timers sent within the back-off").isEqualTo(8);
    assertThat(answeringGauge()).isEqualTo(0);
  }

  /**
   * A site whose {@code /ping} answers 200 but which refused its timers, backing off, then restarts
   * (an operator's mend, say): the restart shows it lost what it held, and it is sent its timers at
   * once, not after the back-off. Its clock here stands still.
   */
  @Test
  void aSiteThatRefusedTimersAndRestartsIsSentThemAtOnce() {
    refusingSiteTriedOnce(new AtomicLong(1_000_000_000L));
    timersRefusedWith = 0;
    started = "1700000009000";
    await("its timer sent at once after the restart")
        .atMost(Duration.ofSeconds(6))
        .until(() -> received.contains("/timers/1") && Integer.valueOf(1).equals(answeringGauge()));
  }

  /**
   * A site replicator of a site whose {@code /ping} answers 200 and whose {@code /timers} answers
   * 401, once its first contact's re-send was refused and it was tried again at once.
   */
  private SiteReplicator refusingSiteTriedOnce(AtomicLong now) {
    pingStatus = 200;
    started = "1700000000000";
    timersRefusedWith = 401;
    SiteReplicator sites = siteReplicatorAt(now);
    await("the first contact's re-send refused, and the site tried again at once")
        .atMost(Duration.ofSeconds(10))
        .until(() -> timerRequests.get() >= 2 && sites.isFailing("site1"));
    return sites;
  }

  private Object answeringGauge() {
    var gauge = metrics.getGauges().get("chronos.sites.site1.answering");
    return gauge == null ? null : gauge.getValue();
  }

  /**
   * A site taken for down for long is warned of after 5 min without an answer, then every 5 min:
   * the warning when it was taken for down may be long gone from view. Its time given by hand.
   */
  @Test
  void aSiteDownForLongIsWarnedOfEveryFiveMinutes() {
    down = true;
    AtomicLong now = new AtomicLong(1_000_000_000L);
    try (LogCapture log = LogCapture.of(SiteReplicator.class, Level.WARN)) {
      SiteReplicator sites = siteReplicatorAt(now);
      await("the site taken for down")
          .atMost(Duration.ofSeconds(10))
          .until(() -> sites.isFailing("site1"));
      String warning = "site site1 at " + LoopbackServer.address(site) + " has not answered for ";

      now.addAndGet(SiteReplicator.LONG_DOWN_MILLIS - 60_000);
      twoProbes();
      assertThat(count(log, warning)).as("warnings within 5 min").isZero();
      now.addAndGet(60_000);
      await("the warning after 5 min").until(() -> count(log, warning) == 1);
      assertThat(count(log, warning + "5 min; its timers are re-sent when it does")).isEqualTo(1);

      twoProbes();
      assertThat(count(log, warning)).as("warnings within 5 min of the last").isEqualTo(1);
      now.addAndGet(SiteReplicator.LONG_DOWN_MILLIS);
      await("the warning 5 min later").until(() -> count(log, warning) == 2);
      assertThat(count(log, warning + "10 min")).isEqualTo(1);
    }
  }
}
