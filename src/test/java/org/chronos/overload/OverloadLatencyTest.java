package org.chronos.overload;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.dropwizard.testing.junit5.DropwizardAppExtension;
import io.dropwizard.testing.junit5.DropwizardExtensionsSupport;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import org.chronos.ChronosConfiguration;
import org.chronos.testing.ChronosClient;
import org.chronos.testing.SingleNodeApp;
import org.chronos.testing.TimerJson;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The latency overload control steers by is the node's, not the client's: a client that sends its
 * body slowly (a slow link, a large opaque) made every one of its requests look slow, and a few
 * such clients drove the limit down for every client of an idle node.
 */
@ExtendWith(DropwizardExtensionsSupport.class)
class OverloadLatencyTest {
  private static final long TARGET_MILLIS = 50;
  private static final long CLIENT_PAUSE_MILLIS = 150;

  static final DropwizardAppExtension<ChronosConfiguration> APP =
      SingleNodeApp.create(
          "overload:",
          "  bucketSize: 100",
          "  initialRate: 100",
          "  minRate: 1",
          "  targetLatency: " + TARGET_MILLIS + "ms");

  @Test
  void timeSpentWaitingForAClientsBodyIsNotTheNodesLatency() throws IOException {
    ChronosClient client = ChronosClient.of(APP);
    String body = TimerJson.oneShot(600, "http://127.0.0.1:1/never", "slow-client");
    // Past the first requests of a fresh node (the JIT, Jersey's set-up), which may be slow
    // themselves: ordinary requests until a second's adjustment has found the latency within the
    // target.
    await("the node's latency within the target")
        .atMost(Duration.ofSeconds(30))
        .pollInterval(Duration.ofMillis(50))
        .until(
            () -> {
              client.createTimer(body);
              double latency = gauge(client, "chronos.overload.smoothed-latency-micros");
              return latency > 0 && latency < TARGET_MILLIS * 1000 / 2.0;
            });
    double rateBefore = gauge(client, "chronos.overload.rate");

    // Over a second of requests whose bodies each take three times the target to arrive, so the
    // limit is adjusted from them.
    long until = System.nanoTime() + 1_500_000_000L;
    int created = 0;
    while (System.nanoTime() < until) {
      assertThat(postSlowly(body)).startsWith("HTTP/1.1 200");
      created++;
    }
    client.createTimer(body); // the first request after the second: the limit is adjusted

    assertThat(created).isGreaterThanOrEqualTo(2);
    assertThat(gauge(client, "chronos.overload.smoothed-latency-micros"))
        .as("the node's latency, in us")
        .isLessThan(TARGET_MILLIS * 1000);
    assertThat(gauge(client, "chronos.overload.rate")).isGreaterThanOrEqualTo(rateBefore);
  }

  /** POST /timers, the body's second half sent after a pause; returns the status line. */
  private static String postSlowly(String body) throws IOException {
    byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
    int half = bytes.length / 2;
    try (Socket socket = new Socket(InetAddress.getLoopbackAddress(), APP.getLocalPort())) {
      OutputStream out = socket.getOutputStream();
      out.write(
          ("POST /timers HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                  + "Content-Length: "
                  + bytes.length
                  + "\r\nConnection: close\r\n\r\n")
              .getBytes(StandardCharsets.US_ASCII));
      out.write(bytes, 0, half);
      out.flush();
      try {
        Thread.sleep(CLIENT_PAUSE_MILLIS); // the client's own pace, which is what is tested
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IOException(e);
      }
      out.write(bytes, half, bytes.length - half);
      out.flush();
      InputStream in = socket.getInputStream();
      StringBuilder status = new StringBuilder();
      int b;
      while ((b = in.read()) >= 0 && b != '\r') {
        status.append((char) b);
      }
      return status.toString();
    }
  }

  private static double gauge(ChronosClient client, String name) {
    return client.metrics().path("gauges").path(name).path("value").asDouble();
  }
}
