package org.chronos.sites;

import com.codahale.metrics.Gauge;
import com.codahale.metrics.MetricRegistry;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.chronos.timer.Timer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Deletions another site did not get because it did not answer (the tombstones a client's DELETE
 * makes, and any other tombstone sent to a site), kept per site until it answers again. A tombstone
 * lasts only its timer's interval, so after a longer outage the site would otherwise never hear of
 * the deletion: its copy would go on popping, and each pop's news would bring the timer back here.
 * Thread-safe.
 *
 * <p>At most {@code maxPerSite} per site (each a detached tombstone, about 200 bytes): beyond that
 * the oldest is let go, counted in {@code chronos.sites.<site>.deletions-dropped} and logged once
 * per outage. {@code chronos.sites.<site>.deletions-owed} is how many a site is owed now.
 *
 * <p>A client's deletion owed to a site, or sent to it in the last {@link #SENT_KEPT_MILLIS} ms, is
 * also what {@link #deletionOf} answers: the site, not having had it, keeps popping the timer, and
 * its news of those pops, or the copy it re-sends when this site answers again, would otherwise
 * bring the timer back here, once this node's own tombstone has expired. A copy of that site's may
 * still be on its way (queued, or retried) a while after the deletion reached it.
 */
public final class OwedDeletions {
  private static final Logger LOG = LoggerFactory.getLogger(OwedDeletions.class);

  private final int maxPerSite;
  private final MetricRegistry metrics;
  private final Map<String, LinkedHashMap<Long, Timer>> bySite = new HashMap<>();
  private final Set<String> toldOfTheCap = new HashSet<>();

  /** How long a deletion sent to a site that was owed it still counts for {@link #deletionOf}. */
  public static final long SENT_KEPT_MILLIS = 5 * 60_000;

  /** Owed deletions sent, oldest first, with when each stops counting. */
  private final LinkedHashMap<Long, Sent> sent = new LinkedHashMap<>();

  private record Sent(Timer deletion, long untilMillis) {}

  /** Owed and recently sent deletions held: read without the lock, so a merge can skip the look. */
  private volatile int held;

  public OwedDeletions(int maxPerSite, MetricRegistry metrics) {
    this.maxPerSite = maxPerSite;
    this.metrics = metrics;
  }

  /**
   * {@code site} did not get {@code tombstone} (a detached copy, never changed afterwards). Returns
   * whether it is owed now: false only when none are kept ({@code maxPerSite} 0); beyond {@code
   * maxPerSite} the oldest is let go instead.
   */
  public synchronized boolean add(String site, Timer tombstone) {
    if (maxPerSite <= 0) {
      return false;
    }
    LinkedHashMap<Long, Timer> owed = bySite.get(site);
    if (owed == null) {
      owed = new LinkedHashMap<>();
      bySite.put(site, owed);
      metrics.gauge(
          MetricRegistry.name("chronos", "sites", site, "deletions-owed"),
          () -> (Gauge<Integer>) () -> owedTo(site));
    }
    // The latest tombstone of a timer replaces an earlier one, and counts as the newest; an
    // earlier one (a resend of it that failed again) does not replace a later one.
    Timer held = owed.get(tombstone.id());
    if (held != null && held.startMillis() > tombstone.startMillis()) {
      return true; // owed a later one, which ends the timer there too
    }
    owed.remove(tombstone.id());
    owed.put(tombstone.id(), tombstone);
    if (owed.size() > maxPerSite) {
      Iterator<Long> oldest = owed.keySet().iterator();
      oldest.next();
      oldest.remove();
      metrics.counter(MetricRegistry.name("chronos", "sites", site, "deletions-dropped")).inc();
      if (toldOfTheCap.add(site)) {
        LOG.warn(
            "site {} is owed {} deletions (replication.maxOwedSiteDeletions): the oldest are let go"
                + " and will not reach it when it answers again",
            site,
            maxPerSite);
      }
    }
    count();
    return true;
  }

  /**
   * The deletions owed to {@code site}, oldest first; none are owed to it afterwards. The clients'
   * deletions among them still count for {@link #deletionOf} for {@link #SENT_KEPT_MILLIS} from
   * {@code nowMillis}.
   */
  public synchronized List<Timer> take(String site, long nowMillis) {
    toldOfTheCap.remove(site);
    LinkedHashMap<Long, Timer> owed = bySite.get(site);
    if (owed == null) {
      return List.of();
    }
    List<Timer> taken = new ArrayList<>(owed.values());
    owed.clear();
    forgetSent(nowMillis);
    for (Timer t : taken) {
      Sent before = sent.remove(t.id());
      if (before != null && before.deletion().startMillis() > t.startMillis()) {
        t = before.deletion(); // a later deletion of the timer, sent to another site
      }
      if (t.sequence() == 0) {
        sent.put(t.id(), new Sent(t, nowMillis + SENT_KEPT_MILLIS));
      }
    }
    while (sent.size() > Math.max(maxPerSite, 0)) {
      Iterator<Long> oldest = sent.keySet().iterator();
      oldest.next();
      oldest.remove();
    }
    count();
    return taken;
  }

  /**
   * The latest client's deletion of timer {@code id} (a tombstone of sequence number 0) that this
   * node owes a site, or sent one that was owed it less than {@link #SENT_KEPT_MILLIS} ago; null if
   * none. Cheap when there is none.
   */
  public Timer deletionOf(long id, long nowMillis) {
    if (held == 0) {
      return null;
    }
    synchronized (this) {
      forgetSent(nowMillis);
      Sent s = sent.get(id);
      Timer latest = s == null ? null : s.deletion();
      for (LinkedHashMap<Long, Timer> owed : bySite.values()) {
        Timer t = owed.get(id);
        if (t != null
            && t.sequence() == 0
            && (latest == null || t.startMillis() > latest.startMillis())) {
          latest = t;
        }
      }
      return latest;
    }
  }

  private void forgetSent(long nowMillis) {
    Iterator<Sent> oldest = sent.values().iterator();
    boolean forgot = false;
    while (oldest.hasNext() && oldest.next().untilMillis() <= nowMillis) {
      oldest.remove();
      forgot = true;
    }
    if (forgot) {
      count();
    }
  }

  private void count() {
    int n = sent.size();
    for (LinkedHashMap<Long, Timer> owed : bySite.values()) {
      n += owed.size();
    }
    held = n;
  }

  /**
   * Lets go of what is owed to sites no longer configured: a site taken out of the [sites] file is
   * sent nothing more, so its deletions would otherwise be held (and shown as owed) until restart.
   */
  public synchronized void keepOnly(Set<String> configured) {
    Iterator<Map.Entry<String, LinkedHashMap<Long, Timer>>> each = bySite.entrySet().iterator();
    while (each.hasNext()) {
      Map.Entry<String, LinkedHashMap<Long, Timer>> site = each.next();
      if (configured.contains(site.getKey())) {
        continue;
      }
      each.remove();
      count();
      toldOfTheCap.remove(site.getKey());
      metrics.remove(MetricRegistry.name("chronos", "sites", site.getKey(), "deletions-owed"));
      if (!site.getValue().isEmpty()) {
        LOG.info(
            "site {} is no longer in the sites file: the {} deletions it was owed are let go",
            site.getKey(),
            site.getValue().size());
      }
    }
  }

  /** Whether {@code site} is owed {@code tombstone}, or a later tombstone of the same timer. */
  public synchronized boolean isOwed(String site, Timer tombstone) {
    LinkedHashMap<Long, Timer> owed = bySite.get(site);
    Timer held = owed == null ? null : owed.get(tombstone.id());
    return held != null && held.startMillis() >= tombstone.startMillis();
  }

  /** How many deletions {@code site} is owed now. */
  public synchronized int owedTo(String site) {
    LinkedHashMap<Long, Timer> owed = bySite.get(site);
    return owed == null ? 0 : owed.size();
  }
}
