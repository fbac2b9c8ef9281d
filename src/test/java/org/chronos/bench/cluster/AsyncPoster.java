package org.chronos.bench.cluster;

import java.net.URI;
import java.util.concurrent.TimeUnit;
import org.apache.hc.client5.http.config.ConnectionConfig;
import org.apache.hc.client5.http.config.RequestConfig;
import org.apache.hc.client5.http.impl.async.CloseableHttpAsyncClient;
import org.apache.hc.client5.http.impl.async.HttpAsyncClients;
import org.apache.hc.client5.http.impl.nio.PoolingAsyncClientConnectionManagerBuilder;
import org.apache.hc.core5.concurrent.FutureCallback;
import org.apache.hc.core5.http.ContentType;
import org.apache.hc.core5.http.HttpResponse;
import org.apache.hc.core5.http.Message;
import org.apache.hc.core5.http.nio.entity.AsyncEntityProducers;
import org.apache.hc.core5.http.nio.entity.DiscardingEntityConsumer;
import org.apache.hc.core5.http.nio.support.AsyncRequestBuilder;
import org.apache.hc.core5.http.nio.support.BasicResponseConsumer;
import org.apache.hc.core5.io.CloseMode;
import org.apache.hc.core5.reactor.IOReactorConfig;
import org.apache.hc.core5.util.Timeout;

/**
 * The load generators' HTTP client: Apache HttpClient 5 async (HTTP/1.1, pooled keep-alive
 * connections, one I/O thread, completion callbacks on that thread). Chosen over the JDK's {@code
 * java.net.http.HttpClient}, which on this two-core machine spent about 1 core to drive 3,300
 * creates/s, as much as the node it measured; this one needs a fraction of that.
 */
final class AsyncPoster implements AutoCloseable {
  /** Told the outcome of one request, on the I/O thread: the status, or -1 with the failure. */
  @FunctionalInterface
  interface Done {
    void done(int status, HttpResponse head, Exception failure);
  }

  private final CloseableHttpAsyncClient client;

  AsyncPoster(int maxConnections) {
    Timeout timeout = Timeout.ofSeconds(10);
    client =
        HttpAsyncClients.custom()
            .setConnectionManager(
                PoolingAsyncClientConnectionManagerBuilder.create()
                    .setMaxConnTotal(maxConnections)
                    .setMaxConnPerRoute(maxConnections)
                    .setDefaultConnectionConfig(
                        ConnectionConfig.custom()
                            .setConnectTimeout(timeout)
                            .setSocketTimeout(timeout)
                            .build())
                    .build())
            .setDefaultRequestConfig(
                RequestConfig.custom()
                    .setConnectionRequestTimeout(timeout)
                    .setResponseTimeout(timeout)
                    .setRedirectsEnabled(false)
                    .build())
            .setIOReactorConfig(IOReactorConfig.custom().setIoThreadCount(1).build())
            .disableAutomaticRetries()
            .disableCookieManagement()
            .build();
    client.start();
  }

  void post(URI uri, byte[] body, Done done) {
    try {
      client.execute(
          AsyncRequestBuilder.post(uri)
              .setEntity(AsyncEntityProducers.create(body, ContentType.APPLICATION_JSON))
              .build(),
          new BasicResponseConsumer<>(new DiscardingEntityConsumer<>()),
          new FutureCallback<Message<HttpResponse, Void>>() {
            @Override
            public void completed(Message<HttpResponse, Void> result) {
              done.done(result.getHead().getCode(), result.getHead(), null);
            }

            @Override
            public void failed(Exception ex) {
              done.done(-1, null, ex);
            }

            @Override
            public void cancelled() {
              done.done(-1, null, new java.util.concurrent.CancellationException("cancelled"));
            }
          });
    } catch (RuntimeException e) {
      done.done(-1, null, e);
    }
  }

  @Override
  public void close() {
    client.close(CloseMode.GRACEFUL);
    try {
      client.awaitShutdown(org.apache.hc.core5.util.TimeValue.of(5, TimeUnit.SECONDS));
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
