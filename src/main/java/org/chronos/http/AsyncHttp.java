package org.chronos.http;

import java.util.concurrent.ThreadFactory;
import org.apache.hc.client5.http.config.ConnectionConfig;
import org.apache.hc.client5.http.config.RequestConfig;
import org.apache.hc.client5.http.impl.async.CloseableHttpAsyncClient;
import org.apache.hc.client5.http.impl.async.HttpAsyncClients;
import org.apache.hc.client5.http.impl.nio.PoolingAsyncClientConnectionManagerBuilder;
import org.apache.hc.core5.reactor.IOReactorConfig;
import org.apache.hc.core5.util.TimeValue;
import org.apache.hc.core5.util.Timeout;

/**
 * How Chronos builds its HttpClient 5 async clients (callbacks and replication); stateless.
 *
 * <p>HttpClient has no single request deadline, so every phase gets the same timeout: pool wait
 * (connection request), connect, socket inactivity and response. No retries, redirects, cookies or
 * auth caching: a timer service must not call a URL twice on its own or follow it elsewhere.
 */
public final class AsyncHttp {
  private AsyncHttp() {}

  /** A pooled async client, not yet started. */
  public static CloseableHttpAsyncClient client(
      long timeoutMillis, int maxTotal, int maxPerRoute, int ioThreads) {
    Timeout timeout = Timeout.ofMilliseconds(timeoutMillis);
    return HttpAsyncClients.custom()
        .setConnectionManager(
            PoolingAsyncClientConnectionManagerBuilder.create()
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
        .disableAutomaticRetries()
        .disableCookieManagement()
        .disableAuthCaching()
        .evictIdleConnections(TimeValue.ofSeconds(30))
        .setUserAgent("chronos")
        .build();
  }

  /** Daemon threads with one name: Chronos's helper threads must never keep the JVM alive. */
  public static ThreadFactory daemonThreads(String name) {
    return r -> {
      Thread t = new Thread(r, name);
      t.setDaemon(true);
      return t;
    };
  }
}
