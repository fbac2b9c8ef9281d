package org.chronos.sites;

import com.codahale.metrics.Counter;
import com.codahale.metrics.MetricRegistry;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Consumer;
import java.util.function.LongSupplier;
import java.util.function.Supplier;
import org.apache.hc.client5.http.impl.async.CloseableHttpAsyncClient;
import org.apache.hc.core5.concurrent.FutureCallback;
import org.apache.hc.core5.http.Header;
import org.apache.hc.core5.http.HttpResponse;
import org.apache.hc.core5.http.Message;
import org.apache.hc.core5.http.nio.entity.DiscardingEntityConsumer;
import org.apache.hc.core5.http.nio.support.AsyncRequestBuilder;
import org.apache.hc.core5.http.nio.support.BasicResponseConsumer;
import org.apache.hc.core5.io.CloseMode;
import org.chronos.http.AsyncHttp;
import org.chronos.replication.Replicator;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Sends timers to other sites (PROTOCOL.md section 7) through the {@link Replicator}; thread-safe.
 *
 * <p>A site's address may resolve to several nodes: HttpClient 5 tries each resolved address in
 * turn when connecting, and the replicator retries, before a message counts as failed. Metrics per
 * site: {@code chronos.sites.<name>.sent|failed}, and {@code .answering} (1 once the site has
 * answered and is not taken for down, else 0). When a site answers again after failing, {@code
 * onRecovered} is told, so the node can send that site the timers it missed (something the original
 * never does). Every remote site is probed with {@code GET /ping} every {@link #PROBE_MILLIS} ms,
 * so a failure or a recovery (or a restart, which lost the site's copies) is noticed even when no
 * timer is headed there. Each probe round first tells {@code onConfigured} which remote sites the
 * sites file names now, so what is kept for a site taken out of it can be let go.
 *
 * <p>A message to a site taken for down is not queued when its sender can owe it to the site's
 * re-send ({@link Owe}), which carries it anyway: nothing is then held or retried for a site that
 * is down. Only the probe then tells that the site answers again (or tries it, below).
 *
 * <p>A probe that gets no answer, or a 5xx (a proxy's 502, 503 or 504: its backend is down), fails.
 * Any other status but 200 (a proxy that routes only {@code /timers}, an auth rule's 401 or 403)
 * says that the site's address answers HTTP but does not serve {@code /ping}: no failed probe, but
 * no proof that the site takes timers either. Whether such a site is down is told by the messages
 * sent to it; while it is taken for down, its probes try it again at once, then at most once per
 * back-off ({@link #FIRST_TRY_BACKOFF_MILLIS}, doubling up to {@link #MAX_TRY_BACKOFF_MILLIS}): the
 * site is taken for answering, which starts its re-send, whose failure takes it for down again. The
 * back-off ends once the site has taken what it was sent for {@link #FIRST_TRY_BACKOFF_MILLIS} (see
 * {@link #takeForDown}). A site taken for down because a message to it failed, while its probes
 * still answer 200 ({@code /timers} refused by an auth rule, or failed by its backend), is tried
 * the same way, and a message it takes meanwhile does not end that (it may take some and fail
 * others); a restart its probe names, or probes failing for an outage, do. A site taken for down
 * that has not answered (or taken timers) for {@link #LONG_DOWN_MILLIS} is warned of, and then
 * again each time as long again.
 */
public final class SiteReplicator {
  private static final Logger LOG = LoggerFactory.getLogger(SiteReplicator.class);

  private final Replicator replicator;
  private final MetricRegistry metrics;
  private final Supplier<SitesConfig> sites;
  private final Consumer<String> onRecovered;
  private final Consumer<Set<String>> onConfigured;
  private final Map<String, SiteState> states = new ConcurrentHashMap<>();
  static final long PROBE_MILLIS = 2000;

  /** Set by {@code GET /ping}: when the answering node started, so a restart can be seen. */
  public static final String PING_STARTED_HEADER = "X-Chronos-Started";

  /** A probe that has not connected and been answered within this long fails. */
  static final long PROBE_TIMEOUT_MILLIS = 1000;

  /**
   * Probes in a row that must fail before the site counts as not answering. One slow answer (a
   * pause on the other side, jitter on a long link) is no outage: taken for one, the next answer
   * had every node of this site re-send the site every timer it is primary for. A message the site
   * does not take after retries still counts at once.
   */
  static final int PROBES_FAILED_FOR_AN_OUTAGE = 2;

  /**
   * How long after a failed try a site taken for down whose {@code /ping} is not served is tried
   * again; each try that fails doubles it, up to {@link #MAX_TRY_BACKOFF_MILLIS}. Each try starts a
   * re-send, whose first messages are retried for {@code replication.retryFor} before they fail: a
   * try every probe would keep a site that is really down busy with re-sends.
   */
  static final long FIRST_TRY_BACKOFF_MILLIS = 30_000;

  static final long MAX_TRY_BACKOFF_MILLIS = 10 * 60_000;

  /** How long a site taken for down goes without an answer before it is warned of, and between. */
  static final long LONG_DOWN_MILLIS = 5 * 60_000;

  // Wall-clock ms for the back-off and the logs' rate limits: the node's clock, a test's by hand.
  private final LongSupplier millis;

  private final java.util.concurrent.ScheduledExecutorService prober;
  // The same HttpClient 5 as replication and callbacks, started at the first probe (a node with no
  // other site runs no I/O thread for it); one connection per site address at a time.
  private final CloseableHttpAsyncClient http =
      AsyncHttp.client(PROBE_TIMEOUT_MILLIS, 64, 1, 1, "chronos-site-prober-io", AsyncHttp.NORMAL);
  private boolean httpStarted; // prober thread only
  private volatile boolean stopped;

  private final class SiteState {
    final Counter sent;
    final Counter failed;
    final java.util.concurrent.atomic.AtomicBoolean failing =
        new java.util.concurrent.atomic.AtomicBoolean();

    /** The latest start time (ms) a node of the site has said, or -1 before the first answer. */
    volatile long latestStarted = -1;

    /** The address the site was last probed at (prober thread only). */
    String address;

    /** When a refusal by the site was last logged (racy: at worst a line more). */
    volatile long lastRefusalLoggedMillis;

    /** Probes failed in a row since the last one answered. */
    final java.util.concurrent.atomic.AtomicInteger probesFailed =
        new java.util.concurrent.atomic.AtomicInteger();

    /**
     * When the site last answered: a probe answered 200, or a message delivered (a try that takes
     * it for answering is no answer). Its first probe's time until it does.
     */
    volatile long lastAnsweredMillis = millis.getAsLong();

    /** When the site was last warned of as down for long; 0: never. */
    long longDownWarnedMillis; // prober thread only

    /** The statuses other than 200 or 5xx the site's {@code /ping} was logged to answer. */
    final Set<Integer> pingStatusesLogged = ConcurrentHashMap.newKeySet();

    // The tries of a site taken for down whose /ping is not served (guarded by this state): not
    // before nextTryMillis (0: at once), and the one after that a failed try waits this long.
    private volatile long nextTryMillis;
    private volatile long tryBackoffMillis = FIRST_TRY_BACKOFF_MILLIS;

    /**
     * Taken for answering by a try after failing, and nothing delivered to it since: not answering
     * yet. (A first contact through a {@code /ping} that is not served is an answer: the site's
     * address answers HTTP, and a node with nothing to send it would otherwise report it down, and
     * warn of it, for good.)
     */
    volatile boolean onTrial;

    /** When the site was last taken for answering again after failing. */
    volatile long answeringSinceMillis;

    /** First reached through a {@code /ping} that did not answer 200: its start time unknown. */
    volatile boolean startUnknown;

    /**
     * Taken for down because a message to it failed, and no probe has failed since: its {@code
     * /ping} answering 200 is then no proof that it takes timers (an auth rule or a proxy route for
     * {@code /timers} only, a backend that fails them), so it is tried with the back-off.
     */
    volatile boolean downByMessage;

    /** When the site being taken for down was last logged as a WARN (racy: a line more). */
    volatile long downLoggedMillis = Long.MIN_VALUE / 2;

    SiteState(String name) {
      sent = metrics.counter(MetricRegistry.name("chronos", "sites", name, "sent"));
      failed = metrics.counter(MetricRegistry.name("chronos", "sites", name, "failed"));
      metrics.gauge(
          MetricRegistry.name("chronos", "sites", name, "answering"),
          () -> (com.codahale.metrics.Gauge<Integer>) () -> answering() ? 1 : 0);
    }

    /** A site that takes timers: the next time it is taken for down, it is tried at once. */
    void endBackoff() {
      if (nextTryMillis != 0 || tryBackoffMillis != FIRST_TRY_BACKOFF_MILLIS) {
        synchronized (this) {
          nextTryMillis = 0;
          tryBackoffMillis = FIRST_TRY_BACKOFF_MILLIS;
        }
      }
    }

    /**
     * Whether the site has answered, and neither a probe nor a message has failed since (a try
     * counts once something sent to it is delivered).
     */
    boolean answering() {
      return latestStarted != -1 && !failing.get() && !onTrial;
    }
  }

  /** {@code millis}: the wall-clock time in ms, the node's. */
  public SiteReplicator(
      Replicator replicator,
      MetricRegistry metrics,
      Supplier<SitesConfig> sites,
      Consumer<String> onRecovered,
      Consumer<Set<String>> onConfigured,
      LongSupplier millis) {
    this(replicator, metrics, sites, onRecovered, onConfigured, millis, PROBE_MILLIS);
  }

  /**
   * As the other, but probing every {@code probeMillis} ms instead of every {@link #PROBE_MILLIS}:
   * for tests of the probe's logic, which wait for many rounds and would otherwise wait 2 s for
   * each. A round does not wait for the last one's answers: keep it well above the time an answer
   * takes (on loopback, milliseconds), or the probes overlap, which a node's never do.
   */
  SiteReplicator(
      Replicator replicator,
      MetricRegistry metrics,
      Supplier<SitesConfig> sites,
      Consumer<String> onRecovered,
      Consumer<Set<String>> onConfigured,
      LongSupplier millis,
      long probeMillis) {
    this.millis = millis;
    this.replicator = replicator;
    this.metrics = metrics;
    this.sites = sites;
    this.onRecovered = onRecovered;
    this.onConfigured = onConfigured;
    this.prober =
        java.util.concurrent.Executors.newSingleThreadScheduledExecutor(
            AsyncHttp.daemonThreads("chronos-site-prober"));
    prober.scheduleWithFixedDelay(
        this::probeSites, 0, probeMillis, java.util.concurrent.TimeUnit.MILLISECONDS);
  }

  public void stop() {
    stopped = true;
    prober.shutdownNow();
    try {
      prober.awaitTermination(PROBE_TIMEOUT_MILLIS, java.util.concurrent.TimeUnit.MILLISECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    // Probes still in flight are cancelled: not a sign that a site is down.
    http.close(CloseMode.IMMEDIATE);
  }

  // Probes every remote site: a failed probe marks it failing; an answer from a failing site, from
  // a site never reached before, or from a site whose node restarted since the last probe (it
  // lost what it held) brings it back, which sends it our timers. Exceptions must not escape:
  // they would cancel the schedule.
  private void probeSites() {
    try {
      probeEachSite();
    } catch (RuntimeException e) {
      LOG.error("probing remote sites failed", e);
    }
  }

  private void probeEachSite() {
    SitesConfig config = sites.get();
    onConfigured.accept(config.remoteSites().keySet());
    states.keySet().removeIf(name -> !config.remoteSites().containsKey(name) && forget(name));
    if (config.remoteSites().isEmpty()) {
      return;
    }
    if (!httpStarted) {
      http.start();
      httpStarted = true;
    }
    config
        .remoteSites()
        .forEach(
            (name, address) -> {
              SiteState state = states.computeIfAbsent(name, SiteState::new);
              if (state.address != null && !state.address.equals(address)) {
                // Another site's nodes now (a standby cluster, say), which hold none of the
                // timers: it is sent them when it first answers, whatever start times it names.
                LOG.info(
                    "site {} is now at {} (was {}): it is sent the timers it should hold when it"
                        + " answers",
                    name,
                    address,
                    state.address);
                state.latestStarted = -1;
                state.startUnknown = false;
                state.onTrial = false;
                state.downByMessage = false;
                state.probesFailed.set(0);
                state.pingStatusesLogged.clear();
                state.endBackoff();
                // Its silence so far was the old address's.
                state.lastAnsweredMillis = millis.getAsLong();
                state.longDownWarnedMillis = 0;
              }
              state.address = address;
              warnIfDownForLong(name, address, state, millis.getAsLong());
              http.execute(
                  AsyncRequestBuilder.get("http://" + address + "/ping").build(),
                  new BasicResponseConsumer<>(new DiscardingEntityConsumer<>()),
                  new FutureCallback<Message<HttpResponse, Void>>() {
                    @Override
                    public void completed(Message<HttpResponse, Void> answer) {
                      HttpResponse head = answer.getHead();
                      if (head.getCode() >= 500) {
                        probeFailed(name, address, state);
                        return;
                      }
                      if (head.getCode() != 200) {
                        pingNotServed(name, address, state, head.getCode());
                        return;
                      }
                      state.probesFailed.set(0);
                      Header started = head.getFirstHeader(PING_STARTED_HEADER);
                      boolean firstSeen = state.latestStarted == -1;
                      boolean restarted;
                      if (state.startUnknown) {
                        // Reached before through a /ping that did not answer 200, and sent its
                        // timers then: the start time it names now is news, not a restart.
                        state.startUnknown = false;
                        state.latestStarted = Math.max(startedMillis(started), 0);
                        restarted = false;
                      } else {
                        restarted = startedSinceLastSeen(state, started);
                      }
                      if (state.downByMessage && !restarted) {
                        // Its /ping answers, but the timers sent to it failed: no proof that it
                        // takes them now.
                        tryIfTakenForDown(
                            name,
                            address,
                            state,
                            "answers GET /ping but failed the timers sent to it");
                        return;
                      }
                      // A restart (which may be what mended it) is sent its timers at once.
                      state.downByMessage = false;
                      state.lastAnsweredMillis = millis.getAsLong();
                      state.onTrial = false;
                      if (restarted) {
                        // First contact, or a node of the site restarted since: what it holds is
                        // unknown or lost.
                        if (!state.failing.getAndSet(true)) {
                          LOG.info(
                              firstSeen
                                  ? "site {} at {} answers for the first time"
                                  : "site {} at {} answers from a node started since it last"
                                      + " answered: it may have lost the timers it held",
                              name,
                              address);
                        }
                      }
                      recovered(name, state);
                    }

                    @Override
                    public void failed(Exception ex) {
                      probeFailed(name, address, state);
                    }

                    @Override
                    public void cancelled() {
                      probeFailed(name, address, state);
                    }
                  });
            });
  }

  /**
   * Unregisters the metrics of a site taken out of the sites file, which would otherwise be
   * reported, frozen, for as long as the node runs. Returns true.
   */
  private boolean forget(String name) {
    for (String metric : List.of("sent", "failed", "answering", "deletions-dropped")) {
      metrics.remove(MetricRegistry.name("chronos", "sites", name, metric));
    }
    LOG.info("site {} is no longer in the sites file: no longer probed or sent timers", name);
    return true;
  }

  /**
   * Whether the answer is the site's first, or comes from a node that started later than any the
   * site's answers have named so far, so restarted since. A site's address may reach several nodes
   * (a DNS name, a load balancer), each with its own start time; that the answers come from another
   * of them is no restart. (An original node names none: only its first answer counts.)
   */
  private static boolean startedSinceLastSeen(SiteState state, Header header) {
    long started = startedMillis(header);
    long latest = state.latestStarted;
    if (latest == -1 || started > latest) {
      state.latestStarted = Math.max(started, 0);
      return true;
    }
    return false;
  }

  /** The start time a {@code /ping} answer names, or -1 for none. */
  private static long startedMillis(Header header) {
    if (header != null) {
      try {
        return Long.parseLong(header.getValue().trim());
      } catch (NumberFormatException e) {
        return -1;
      }
    }
    return -1;
  }

  /**
   * A probe answered with a status other than 200 or 5xx: the site's address answers HTTP, but
   * {@code /ping} is not served there (a proxy that routes only {@code /timers}, an auth rule). No
   * failed probe, or such a site would be taken for down for good (and sent nothing); but no proof
   * that the site takes timers either, which only the messages sent to it tell. So a site taken for
   * down is tried again: at once, then at most once per back-off, which grows while tries fail.
   */
  private void pingNotServed(String name, String address, SiteState state, int status) {
    state.probesFailed.set(0);
    if (state.pingStatusesLogged.add(status)) {
      LOG.warn(
          "site {} at {}: GET /ping answered HTTP {}; whether the site is down is then told only by"
              + " the timers sent to it, and while it is taken for down it is tried again every {}"
              + " s, doubling up to every {} min while it still fails",
          name,
          address,
          status,
          FIRST_TRY_BACKOFF_MILLIS / 1000,
          MAX_TRY_BACKOFF_MILLIS / 60_000);
    }
    if (state.latestStarted == -1) {
      // First contact, or the site's address changed: what it holds is unknown, as when it first
      // answers a probe. Taken for answering at once, it is sent the timers it should hold.
      state.latestStarted = 0;
      state.startUnknown = true;
      if (!state.failing.getAndSet(true)) {
        LOG.info(
            "site {} at {} answers for the first time (GET /ping: HTTP {})", name, address, status);
      }
      recovered(name, state);
      return;
    }
    tryIfTakenForDown(name, address, state, "does not serve /ping");
  }

  /**
   * A site whose probe answered, but whose answer is no proof that it takes timers ({@code
   * reason}): if taken for down, it is tried (taken for answering, which starts its re-send) at
   * once, then at most once per back-off, which grows while tries fail ({@link #takeForDown}).
   */
  private void tryIfTakenForDown(String name, String address, SiteState state, String reason) {
    if (!state.failing.get()) {
      if (state.onTrial && replicator.pending(address) == 0) {
        // Tried, and nothing is on its way to it: nothing failed, and its address answers HTTP.
        // (A node with nothing to send it would otherwise report it down, and warn of it, for
        // good.)
        state.onTrial = false;
      }
      return;
    }
    long now = millis.getAsLong();
    long nextTryIn;
    synchronized (state) {
      if (now < state.nextTryMillis) {
        return;
      }
      state.nextTryMillis = now + state.tryBackoffMillis;
      nextTryIn = state.tryBackoffMillis;
      state.tryBackoffMillis = Math.min(2 * state.tryBackoffMillis, MAX_TRY_BACKOFF_MILLIS);
    }
    LOG.info(
        "site {} at {} is taken for down and {}: tried again, by sending it its timers (if it"
            + " still fails, the next try is in {} s)",
        name,
        address,
        reason,
        nextTryIn / 1000);
    state.onTrial = true;
    recovered(name, state);
  }

  /**
   * Warns of a site taken for down that has not answered for {@link #LONG_DOWN_MILLIS}, and again
   * each time as long again: the warning when it was taken for down may be long gone from view. On
   * the prober thread.
   */
  private void warnIfDownForLong(String name, String address, SiteState state, long now) {
    long since = Math.max(state.lastAnsweredMillis, state.longDownWarnedMillis);
    if (!(state.failing.get() || state.onTrial) || now - since < LONG_DOWN_MILLIS) {
      return;
    }
    state.longDownWarnedMillis = now;
    LOG.warn(
        state.downByMessage
            ? "site {} at {} answers GET /ping but has not taken the timers sent to it for {} min;"
                + " its timers are re-sent when it does"
            : "site {} at {} has not answered for {} min; its timers are re-sent when it does",
        name,
        address,
        (now - state.lastAnsweredMillis) / 60_000);
  }

  private void probeFailed(String name, String address, SiteState state) {
    if (state.probesFailed.incrementAndGet() >= PROBES_FAILED_FOR_AN_OUTAGE) {
      failing(name, address, state);
    }
  }

  private void failing(String name, String address, SiteState state) {
    // Its probes fail too: the next one answered shows it back. (Cleared whether or not a message
    // took it for down first.)
    state.downByMessage = false;
    if (takeForDown(state)) {
      logDown(
          state,
          "site {} at {} does not answer; its timers will be re-sent when it does",
          name,
          address);
    }
  }

  /**
   * Takes the site for down; false if it already was, or the node is stopping. A try's back-off
   * goes on growing unless the site took what was sent to it for {@link #FIRST_TRY_BACKOFF_MILLIS}
   * first: one that takes some messages and fails others must not start a re-send at every probe.
   */
  private boolean takeForDown(SiteState state) {
    if (stopped || !state.failing.compareAndSet(false, true)) {
      return false;
    }
    boolean tried = state.onTrial;
    state.onTrial = false;
    if (!tried && millis.getAsLong() - state.answeringSinceMillis >= FIRST_TRY_BACKOFF_MILLIS) {
      state.endBackoff();
    }
    return true;
  }

  /**
   * A site taken for down, as a WARN at most once a minute per site (a site that keeps failing
   * again soon after answering would log one at every probe), else at DEBUG.
   */
  private void logDown(SiteState state, String format, Object... args) {
    long now = millis.getAsLong();
    if (now - state.downLoggedMillis >= 60_000) {
      state.downLoggedMillis = now;
      LOG.warn(format, args);
    } else {
      LOG.debug(format, args);
    }
  }

  private void recovered(String name, SiteState state) {
    if (!stopped && state.failing.compareAndSet(true, false)) {
      state.answeringSinceMillis = millis.getAsLong();
      onRecovered.accept(name);
    }
  }

  /**
   * What a sender does with a message a site did not get (after its retries), or that is not sent
   * because the site does not answer: it owes the site the timer, which the site's re-send then
   * carries when it answers again.
   */
  @FunctionalInterface
  public interface Owe {
    /**
     * Owes {@code site} the message's timer. Returns whether the site's next re-send carries it:
     * false when it could not be kept (over a cap), and then the message to a site taken for down
     * is queued and retried all the same.
     */
    boolean owe(String site);
  }

  /**
   * Sends {@code PUT path} with the body to each named remote site that is still configured, and
   * has {@code owe} (if not null) owe each site that does not get it, retries included. To a site
   * taken for down the message is not queued at all when it can be owed.
   */
  public void send(Collection<String> siteNames, String path, byte[] body, Owe owe) {
    SitesConfig config = sites.get();
    for (String name : siteNames) {
      sendTo(config, name, path, body, Replicator.NOT_A_SNAPSHOT, owe);
    }
  }

  /** Queues the message to one site, unless it is this one or no longer configured. */
  private void sendTo(
      SitesConfig config, String name, String path, byte[] body, long snapshotMicros, Owe owe) {
    String address = config.remoteSites().get(name);
    if (address == null || name.equals(config.localSite())) {
      return;
    }
    SiteState state = states.computeIfAbsent(name, SiteState::new);
    if (owe != null && state.failing.get() && owe.owe(name)) {
      // Looked at again after owing: if the site still fails, the re-send its next answer starts
      // takes what is owed after this. If it answered meanwhile, that re-send may have taken what
      // was owed before this: the message goes too.
      if (state.failing.get()) {
        state.failed.inc();
        return;
      }
    }
    replicator.sendSnapshot(
        java.util.List.of(address), path, body, snapshotMicros, outcome(name, state, owe));
  }

  private Replicator.Outcome outcome(String name, SiteState state, Owe owe) {
    return new Replicator.Outcome() {
      @Override
      public void delivered(String peer, boolean ok) {
        if (!ok && owe != null && !stopped) {
          owe.owe(name);
        }
        record(name, state, ok);
      }

      @Override
      public void superseded(String peer) {
        // Neither an answer nor a failure: the later message's outcome tells.
      }

      @Override
      public void refused(String peer, int status) {
        if (status != 400 && status != 413 && status != 422) {
          // Not a refusal of this timer (a proxy's 404, a 408 or 429, a redirect): as before.
          delivered(peer, false);
          return;
        }
        // The site answers: it is not down, and what it refused it would refuse again (a body
        // over its limit, a timer over its longest), so nothing is re-sent or owed for it. Taken
        // for down, every node of this site would re-send it every timer each time a probe
        // answers, and the refused one would start it over.
        state.failed.inc();
        long now = millis.getAsLong();
        if (now - state.lastRefusalLoggedMillis > 10_000) {
          state.lastRefusalLoggedMillis = now;
          LOG.warn(
              "site {} refused a timer with HTTP {} (not sent again; its limits may be lower than"
                  + " this site's)",
              name,
              status);
        }
      }
    };
  }

  /**
   * Sends {@code PUT path} with the body to the named remote site, if still configured, as a
   * snapshot of the timer (not news of a change): a copy re-sent to a site that answers again,
   * which may have popped the timer since, and whose nodes of ours keep that pop (an original node
   * takes it as news). {@code owe}, if not null, owes the site the timer if the copy is not
   * delivered, retries included, or not sent because the site does not answer (as for {@link
   * #send}).
   */
  public void sendSnapshot(String siteName, String path, byte[] body, Owe owe) {
    sendTo(sites.get(), siteName, path, body, SNAPSHOT_LATE_BY_MICROS, owe);
  }

  /**
   * How late a re-sent copy's start may be at the other site, for it to tell a pop of the same
   * series made there from a newer series ({@code VersionRule#isLaterPop}): both sites count a
   * timer's start from when its news arrived, less the time the sender says it held it, so the copy
   * there, sent back, is late by the network's transit both ways. No more than that: a copy taken
   * for the same series keeps the start held there, so a newer series within the allowance would
   * pop that much early.
   */
  static final long SNAPSHOT_LATE_BY_MICROS = 500_000;

  /**
   * Whether the site has answered and is not taken for down (it may be on trial, its re-send under
   * way). False for a site not reached yet, whose first answer starts a re-send.
   */
  public boolean isReachedAndNotDown(String site) {
    SiteState state = states.get(site);
    return state != null && state.latestStarted != -1 && !state.failing.get();
  }

  /** Whether the last message to the site failed. */
  public boolean isFailing(String site) {
    SiteState state = states.get(site);
    return state != null && state.failing.get();
  }

  private void record(String name, SiteState state, boolean ok) {
    if (ok) {
      state.sent.inc();
      long now = millis.getAsLong();
      state.lastAnsweredMillis = now;
      state.onTrial = false;
      if (state.failing.get() && (now < state.nextTryMillis || state.downByMessage)) {
        // Taken for down after a try, or by a failed message, and a message sent before (a
        // re-send's, a retried one) got through: the site may take some messages and fail others
        // (a proxy that rate-limits, one dead backend of several). Its next try comes with the
        // probe, once the back-off allows, not now, or each such message would start a re-send.
        return;
      }
      state.downByMessage = false;
      recovered(name, state);
    } else {
      state.failed.inc();
      if (!state.failing.get()) {
        // Set before the site is taken for down, so that no probe answered in between recovers
        // it at once.
        state.downByMessage = true;
      }
      // At a stop the replicator reports what it abandons as failed: no sign the site is down.
      if (takeForDown(state)) {
        logDown(
            state,
            "replication to site {} failed; its timers will be re-sent when it answers again",
            name);
      }
    }
  }
}
