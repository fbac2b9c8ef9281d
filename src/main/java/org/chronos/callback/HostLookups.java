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
import org.apache.hc.client5.http.DnsResolver;
import org.apache.hc.core5.net.InetAddressUtils;
import org.chronos.http.AsyncHttp;

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
 * is still used while a fresh lookup runs, unless that lookup fails. A failed lookup is remembered
 * for {@link #FAILED_NANOS}, so that callbacks to a name that does not resolve fail at once rather
 * than each waiting for the resolver. At most {@link #THREADS} lookups run at once and {@link
 * #MAX_WAITING} wait; a name that finds no room fails for {@link #BUSY_NANOS}.
 */
final class HostLookups implements DnsResolver {
  static final long FRESH_NANOS = TimeUnit.SECONDS.toNanos(30);
  static final long FAILED_NANOS = TimeUnit.SECONDS.toNanos(10);

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

  /** A lookup's answer: addresses, or the failure; used for {@code forNanos}. */
  private record Answer(
      InetAddress[] addresses, UnknownHostException failure, long atNanos, long forNanos) {
    boolean fresh(long now) {
      return now - atNanos < forNanos;
    }
  }

  private final Lookup lookup;
  private final Map<String, Answer> answers = new ConcurrentHashMap<>();
  private final Map<String, CompletableFuture<Void>> running = new ConcurrentHashMap<>();
  private final ExecutorService threads;

  HostLookups(Lookup lookup) {
    this.lookup = lookup;
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
    long now = System.nanoTime();
    if (answer != null && answer.fresh(now)) {
      return null;
    }
    CompletableFuture<Void> done = lookUp(host);
    // A name that resolved before is used as it was while it is looked up again.
    return answer != null && answer.failure() == null ? null : done;
  }

  private CompletableFuture<Void> lookUp(String host) {
    CompletableFuture<Void> started = new CompletableFuture<>();
    CompletableFuture<Void> already = running.putIfAbsent(host, started);
    if (already != null) {
      return already;
    }
    try {
      threads.execute(
          () -> {
            try {
              remember(host, ask(host));
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
              System.nanoTime(),
              BUSY_NANOS));
      running.remove(host);
      started.complete(null);
    }
    return started;
  }

  private void remember(String host, Answer answer) {
    if (answers.size() >= MAX_HOSTS) {
      long now = System.nanoTime();
      answers.values().removeIf(a -> !a.fresh(now));
      if (answers.size() >= MAX_HOSTS) {
        answers.clear();
      }
    }
    answers.put(host, answer);
  }

  private Answer ask(String host) {
    try {
      return new Answer(lookup.resolve(host), null, System.nanoTime(), FRESH_NANOS);
    } catch (UnknownHostException e) {
      return new Answer(null, e, System.nanoTime(), FAILED_NANOS);
    } catch (RuntimeException e) {
      UnknownHostException failure = new UnknownHostException(host + ": " + e);
      return new Answer(null, failure, System.nanoTime(), FAILED_NANOS);
    }
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
