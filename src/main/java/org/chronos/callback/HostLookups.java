package org.chronos.callback;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;
import org.apache.hc.client5.http.DnsResolver;
import org.apache.hc.core5.net.InetAddressUtils;
import org.chronos.http.AsyncHttp;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The callback client's host name lookups, done on threads of their own; thread-safe.
 *
 * <p>HttpClient 5 looks a host name up on the thread that starts the request, which for callbacks
 * is the one dispatcher thread: a client whose DNS server takes seconds to answer would hold up
 * every other client's callbacks that long. So the dispatcher asks {@link #whenReady} first, and a
 * host that needs looking up is looked up here, on a small pool, while the dispatcher goes on with
 * other callbacks; HttpClient then gets the answer from {@link #resolve} at once.
 *
 * <p>An answer is used for {@link #FRESH_NANOS} (the JDK's own default cache time); after that it
 * is still used while a fresh lookup runs. If that lookup fails, the last addresses the name had
 * are still used, looked up again every {@link #FAILED_NANOS}, for up to {@link #STALE_NANOS} from
 * the first lookup that failed (logged, at most once a minute): a resolver's blip at a name's
 * refresh failed every callback to it for 10 s, and each failure dropped a timer's copy, on every
 * replica. A failed lookup of a name with no such answer is remembered for {@link #FAILED_NANOS},
 * so that callbacks to a name that does not resolve fail at once rather than each waiting for the
 * resolver. At most {@link #THREADS} lookups run at once and {@link #MAX_WAITING} wait; a name that
 * finds no room fails for {@link #BUSY_NANOS}.
 */
final class HostLookups implements DnsResolver {
  static final long FRESH_NANOS = TimeUnit.SECONDS.toNanos(30);
  static final long FAILED_NANOS = TimeUnit.SECONDS.toNanos(10);

  /** How long a name's last addresses are used while its lookups fail. */
  static final long STALE_NANOS = TimeUnit.MINUTES.toNanos(10);

  private static final Logger LOG = LoggerFactory.getLogger(HostLookups.class);

  /** Lookups at once: one client's slow names hold up others' only when this many are out. */
  static final int THREADS = 16;

  /** Lookups waiting for a thread at most; beyond, a name fails for {@link #BUSY_NANOS}. */
  static final int MAX_WAITING = 1_000;

  static final long BUSY_NANOS = TimeUnit.SECONDS.toNanos(1);

  /** Answers kept at most: beyond, the stale ones go, and if that is not enough, all. */
  static final int MAX_HOSTS = 10_000;

  /** The lookup itself: {@link InetAddress#getAllByName} outside tests. */
  @FunctionalInterface
  interface Lookup {
    InetAddress[] resolve(String host) throws UnknownHostException;
  }

  /**
   * A lookup's answer: addresses, or the failure; used for {@code forNanos}. Addresses kept over
   * failed lookups have {@code kept}, and {@code failingSinceNanos}: when the first of them failed.
   */
  private record Answer(
      InetAddress[] addresses,
      UnknownHostException failure,
      long atNanos,
      long forNanos,
      boolean kept,
      long failingSinceNanos) {
    boolean fresh(long now) {
      return now - atNanos < forNanos;
    }
  }

  /** When a WARN of addresses kept was last logged; one a minute at most, for all names. */
  private final AtomicLong keptWarnedNanos = new AtomicLong(Long.MIN_VALUE);

  private final Lookup lookup;
  private final LongSupplier nanoTime;
  private final Map<String, Answer> answers = new ConcurrentHashMap<>();
  private final Map<String, CompletableFuture<Void>> running = new ConcurrentHashMap<>();
  private final ExecutorService threads;

  HostLookups(Lookup lookup) {
    this(lookup, System::nanoTime);
  }

  /** With the clock {@code nanoTime} ({@link System#nanoTime} but in tests). */
  HostLookups(Lookup lookup, LongSupplier nanoTime) {
    this.lookup = lookup;
    this.nanoTime = nanoTime;
    ThreadPoolExecutor pool =
        new ThreadPoolExecutor(
            THREADS,
            THREADS,
            30,
            TimeUnit.SECONDS,
            new LinkedBlockingQueue<>(MAX_WAITING),
            AsyncHttp.daemonThreads("chronos-callback-dns"));
    pool.allowCoreThreadTimeOut(true);
    this.threads = pool;
  }

  /**
   * Null when {@code host} can be resolved without waiting (an address, or a name looked up
   * lately); otherwise a future that completes once it has been looked up, successfully or not.
   */
  CompletableFuture<Void> whenReady(String host) {
    if (host == null || isAddress(host)) {
      return null;
    }
    Answer answer = answers.get(host);
    long now = nanoTime.getAsLong();
    if (answer != null && answer.fresh(now)) {
      return null;
    }
    CompletableFuture<Void> done = lookUp(host);
    // A name that resolved before is used as it was while it is looked up again.
    return answer != null && answer.failure() == null ? null : done;
  }

  /** Looks {@code host} up (once at a time); done once it has been. Package-private for tests. */
  CompletableFuture<Void> lookUp(String host) {
    CompletableFuture<Void> started = new CompletableFuture<>();
    CompletableFuture<Void> already = running.putIfAbsent(host, started);
    if (already != null) {
      return already;
    }
    try {
      threads.execute(
          () -> {
            try {
              remember(host, keepingAddresses(host, ask(host)));
            } finally {
              running.remove(host);
              started.complete(null);
            }
          });
    } catch (RejectedExecutionException e) {
      // Stopping, or too many lookups waiting: the name fails for a moment instead, unless an
      // earlier answer can still be used.
      Answer earlier = answers.get(host);
      if (earlier != null && earlier.failure() == null) {
        running.remove(host);
        started.complete(null);
        return started;
      }
      remember(
          host,
          new Answer(
              null,
              new UnknownHostException(host + ": too many host name lookups waiting"),
              nanoTime.getAsLong(),
              BUSY_NANOS,
              false,
              0));
      running.remove(host);
      started.complete(null);
    }
    return started;
  }

  private void remember(String host, Answer answer) {
    if (answers.size() >= MAX_HOSTS) {
      long now = nanoTime.getAsLong();
      // Not addresses kept over failed lookups: callbacks to those names would fail at once.
      answers.values().removeIf(a -> !a.fresh(now) && !a.kept());
      if (answers.size() >= MAX_HOSTS) {
        answers.clear();
      }
    }
    answers.put(host, answer);
  }

  private Answer ask(String host) {
    try {
      InetAddress[] addresses = lookup.resolve(host);
      return new Answer(addresses, null, nanoTime.getAsLong(), FRESH_NANOS, false, 0);
    } catch (UnknownHostException e) {
      return new Answer(null, e, nanoTime.getAsLong(), FAILED_NANOS, false, 0);
    } catch (RuntimeException e) {
      UnknownHostException failure = new UnknownHostException(host + ": " + e);
      return new Answer(null, failure, nanoTime.getAsLong(), FAILED_NANOS, false, 0);
    }
  }

  /**
   * {@code next}, or, if it failed and the name has addresses (looked up with success, however long
   * ago: a name called back rarely is looked up again only when next called), those addresses
   * again, until the next lookup in {@link #FAILED_NANOS}; for up to {@link #STALE_NANOS} from the
   * first lookup that failed.
   */
  private Answer keepingAddresses(String host, Answer next) {
    Answer earlier = answers.get(host);
    if (next.failure() == null || earlier == null || earlier.addresses() == null) {
      return next;
    }
    long failingSince = earlier.kept() ? earlier.failingSinceNanos() : next.atNanos();
    if (next.atNanos() - failingSince >= STALE_NANOS) {
      LOG.warn(
          "looking host name {} up has failed for {} min: callbacks to it fail until a lookup"
              + " answers ({})",
          host,
          TimeUnit.NANOSECONDS.toMinutes(STALE_NANOS),
          next.failure().getMessage());
      return next;
    }
    if (!earlier.kept()) {
      long last = keptWarnedNanos.get();
      boolean warn =
          (last == Long.MIN_VALUE || next.atNanos() - last >= TimeUnit.MINUTES.toNanos(1))
              && keptWarnedNanos.compareAndSet(last, next.atNanos());
      if (warn) {
        LOG.warn(
            "looking host name {} up failed ({}): callbacks to it go to the addresses it had for"
                + " up to {} min, while it is looked up again every {} s (this is said once a"
                + " minute at most, for all names)",
            host,
            next.failure().getMessage(),
            TimeUnit.NANOSECONDS.toMinutes(STALE_NANOS),
            TimeUnit.NANOSECONDS.toSeconds(FAILED_NANOS));
      } else {
        LOG.debug("looking host name {} up failed ({}): its addresses kept", host, next.failure());
      }
    }
    return new Answer(earlier.addresses(), null, next.atNanos(), FAILED_NANOS, true, failingSince);
  }

  @Override
  public InetAddress[] resolve(String host) throws UnknownHostException {
    if (isAddress(host)) {
      return InetAddress.getAllByName(host); // parsed, not looked up
    }
    Answer answer = answers.get(host);
    if (answer == null) {
      answer = ask(host); // not through whenReady (not expected): look it up here
      remember(host, answer);
    }
    if (answer.failure() != null) {
      throw answer.failure();
    }
    return answer.addresses().clone();
  }

  @Override
  public String resolveCanonicalHostname(String host) throws UnknownHostException {
    InetAddress[] addresses = resolve(host);
    return addresses.length == 0 ? host : addresses[0].getCanonicalHostName();
  }

  private static boolean isAddress(String host) {
    return InetAddressUtils.isIPv4(host)
        || InetAddressUtils.isIPv6(host)
        || InetAddressUtils.isIPv6URLBracketed(host);
  }

  /** Stops looking up; callbacks still waiting for a lookup are let go (they then fail). */
  void stop() {
    threads.shutdownNow();
    running.values().forEach(waiting -> waiting.complete(null));
  }
}
