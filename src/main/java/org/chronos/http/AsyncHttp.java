package org.chronos.http;

import java.nio.channels.ClosedSelectorException;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.hc.client5.http.DnsResolver;
import org.apache.hc.client5.http.SystemDefaultDnsResolver;
import org.apache.hc.client5.http.config.ConnectionConfig;
import org.apache.hc.client5.http.config.RequestConfig;
import org.apache.hc.client5.http.impl.async.CloseableHttpAsyncClient;
import org.apache.hc.client5.http.impl.async.HttpAsyncClients;
import org.apache.hc.client5.http.impl.nio.PoolingAsyncClientConnectionManagerBuilder;
import org.apache.hc.core5.reactor.IOReactorConfig;
import org.apache.hc.core5.util.TimeValue;
import org.apache.hc.core5.util.Timeout;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * How Chronos builds its HttpClient 5 async clients (callbacks and replication); stateless.
 *
 * <p>HttpClient has no single request deadline, so every phase gets the same timeout: pool wait
 * (connection request), connect, socket inactivity and response. No retries, redirects, cookies or
 * auth caching: a timer service must not call a URL twice on its own or follow it elsewhere. No
 * {@code Accept-Encoding} either (HttpClient 5.6 offers gzip and deflate by default): the body of a
 * callback's answer is discarded, a batch's is a few bytes a timer, and compressing a resync page
 * doubles what serving it costs the peer (4-5 us more of CPU a timer) to save a transfer within a
 * site that costs less than that (bench/cluster/README.md, 2t).
 */
public final class AsyncHttp {
  private static final Logger LOG = LoggerFactory.getLogger(AsyncHttp.class);

  private AsyncHttp() {}

  /**
   * An I/O reactor failed outside any request. HttpCore 5 (5.4 and later, at least) fails when a
   * stopping client's reactor looks at the selector it has just closed ({@code
   * ClosedSelectorException} from {@code SingleCoreIOReactor.closeOpenChannels}); HttpClient logs
   * that at ERROR as "null", once per client, every time a node stops. It is harmless: DEBUG here.
   * Anything else stays an error.
   */
  static void reactorFailed(Exception e) {
    if (e instanceof ClosedSelectorException) {
      LOG.debug("HTTP client I/O reactor found its selector closed while stopping", e);
    } else {
      LOG.error("HTTP client I/O reactor failed", e);
    }
  }

  /** A pooled async client, not yet started, whose I/O threads have this name and priority. */
  public static CloseableHttpAsyncClient client(
      long timeoutMillis,
      int maxTotal,
      int maxPerRoute,
      int ioThreads,
      String ioThreadName,
      int ioThreadPriority) {
    return client(
        timeoutMillis,
        maxTotal,
        maxPerRoute,
        ioThreads,
        ioThreadName,
        ioThreadPriority,
        SystemDefaultDnsResolver.INSTANCE);
  }

  /** As the other, resolving host names with {@code dns}. */
  public static CloseableHttpAsyncClient client(
      long timeoutMillis,
      int maxTotal,
      int maxPerRoute,
      int ioThreads,
      String ioThreadName,
      int ioThreadPriority,
      DnsResolver dns) {
    AtomicInteger ioThreadCount = new AtomicInteger();
    ThreadFactory ioThreadFactory =
        r -> {
          Thread t = new Thread(r, ioThreadName + "-" + ioThreadCount.incrementAndGet());
          t.setDaemon(true);
          t.setPriority(ioThreadPriority);
          return t;
        };
    Timeout timeout = Timeout.ofMilliseconds(timeoutMillis);
    return HttpAsyncClients.custom()
        .setConnectionManager(
            PoolingAsyncClientConnectionManagerBuilder.create()
                .setDnsResolver(dns)
                .setMaxConnTotal(maxTotal)
                .setMaxConnPerRoute(maxPerRoute)
                .setDefaultConnectionConfig(
                    ConnectionConfig.custom()
                        .setConnectTimeout(timeout)
                        .setSocketTimeout(timeout)
                        .setTimeToLive(TimeValue.ofMinutes(5))
                        .build())
                .build())
        .setDefaultRequestConfig(
            RequestConfig.custom()
                .setConnectionRequestTimeout(timeout)
                .setResponseTimeout(timeout)
                .setRedirectsEnabled(false)
                .build())
        .setIOReactorConfig(IOReactorConfig.custom().setIoThreadCount(ioThreads).build())
        .setThreadFactory(ioThreadFactory)
        .setIoReactorExceptionCallback(AsyncHttp::reactorFailed)
        .disableAutomaticRetries()
        .disableCookieManagement()
        .disableAuthCaching()
        .disableContentCompression()
        .evictIdleConnections(TimeValue.ofSeconds(30))
        .setUserAgent("chronos")
        .build();
  }

  /**
   * Java priority of the threads that deliver pops on time: the timer thread and the callback
   * threads. Java priorities reach the OS only on Linux with {@code -XX:ThreadPriorityPolicy=1}
   * (which the Debian package sets): {@code Thread.MAX_PRIORITY} is nice -5 there, granted to the
   * packaged service by {@code LimitNICE=-5} and silently not granted elsewhere (the thread then
   * stays at nice 0). The JVM's own collector threads ask for nice -4 under the same policy.
   */
  public static final int POPS = Thread.MAX_PRIORITY;

  /** Java priority of ordinary threads. */
  public static final int NORMAL = Thread.NORM_PRIORITY;

  /**
   * Java priority of background work (a resync): nice 4 under {@code -XX:ThreadPriorityPolicy=1},
   * which any user may set, so that on a busy machine pops and requests get a core first.
   */
  public static final int BACKGROUND = Thread.MIN_PRIORITY;

  /** Daemon threads with one name: Chronos's helper threads must never keep the JVM alive. */
  public static ThreadFactory daemonThreads(String name) {
    return daemonThreads(name, NORMAL);
  }

  /** Daemon threads with one name and a Java priority ({@link #POPS}, {@link #BACKGROUND}). */
  public static ThreadFactory daemonThreads(String name, int priority) {
    return r -> {
      Thread t = new Thread(r, name);
      t.setDaemon(true);
      t.setPriority(priority);
      return t;
    };
  }
}
