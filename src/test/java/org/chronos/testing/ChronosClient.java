package org.chronos.testing;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.dropwizard.testing.junit5.DropwizardAppExtension;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpRequest.BodyPublisher;
import java.net.http.HttpRequest.BodyPublishers;
import java.net.http.HttpResponse;
import java.net.http.HttpResponse.BodyHandlers;
import java.time.Duration;
import org.chronos.resources.TimerPath;

/**
 * A raw HTTP client for one Chronos node, built on {@link java.net.http.HttpClient} so tests
 * control methods, headers and body bytes; thread-safe. Every request has a 10 s timeout: a request
 * Chronos leaves hanging fails the test instead of blocking it.
 */
public final class ChronosClient {
  private static final ObjectMapper MAPPER = new ObjectMapper();
  private static final Duration REQUEST_TIMEOUT = Duration.ofSeconds(10);

  private final HttpClient http;
  private final URI base;
  private final URI admin;

  public ChronosClient(int port, int adminPort) {
    this("127.0.0.1", port, adminPort);
  }

  /** A client for a node whose application port listens on {@code host} (admin on 127.0.0.1). */
  public ChronosClient(String host, int port, int adminPort) {
    this.http =
        HttpClient.newBuilder()
            .version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(5))
            .followRedirects(HttpClient.Redirect.NEVER)
            .build();
    this.base = URI.create("http://" + host + ":" + port);
    this.admin = URI.create("http://127.0.0.1:" + adminPort);
  }

  /** A client for a node started by a {@link DropwizardAppExtension}. */
  public static ChronosClient of(DropwizardAppExtension<?> app) {
    return new ChronosClient(app.getLocalPort(), app.getAdminPort());
  }

  /** Sends {@code method path} with {@code body} and header name/value pairs. */
  public HttpResponse<String> send(
      String method, String path, BodyPublisher body, String... headers) {
    HttpRequest.Builder request =
        HttpRequest.newBuilder(base.resolve(path)).timeout(REQUEST_TIMEOUT).method(method, body);
    if (headers.length > 0) {
      request.headers(headers);
    }
    return send(request.build());
  }

  public HttpResponse<String> send(HttpRequest request) {
    try {
      return http.send(request, BodyHandlers.ofString());
    } catch (IOException e) {
      throw new UncheckedIOException(request.method() + " " + request.uri() + " failed", e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted", e);
    }
  }

  /** POST with a JSON body, as clients send timers. */
  public HttpResponse<String> post(String path, String json) {
    return send("POST", path, BodyPublishers.ofString(json), "Content-Type", "application/json");
  }

  public HttpResponse<String> put(String path, String json) {
    return send("PUT", path, BodyPublishers.ofString(json), "Content-Type", "application/json");
  }

  public HttpResponse<String> delete(String path) {
    return send("DELETE", path, BodyPublishers.noBody());
  }

  public HttpResponse<String> get(String path) {
    return send("GET", path, BodyPublishers.noBody());
  }

  /**
   * POSTs a timer, checks it was accepted, and returns its Location ({@code /timers/<id>-<rf>}).
   */
  public String createTimer(String json) {
    HttpResponse<String> response = post("/timers", json);
    assertThat(response.statusCode())
        .as("POST /timers %s answered %s", json, response.body())
        .isEqualTo(200);
    return response
        .headers()
        .firstValue("Location")
        .orElseThrow(() -> new AssertionError("no Location header"));
  }

  /** The timer id in a {@code Location} ({@code /timers/<16 hex digits>-<rf>}). */
  public static long idOf(String location) {
    TimerPath path =
        location.startsWith("/timers/") ? TimerPath.parse(location.substring(8)) : null;
    if (path == null) {
      throw new AssertionError("not a timer's Location: " + location);
    }
    return path.id();
  }

  /** POST with an empty body on the admin port (tasks). */
  public HttpResponse<String> adminPost(String path) {
    return send(
        HttpRequest.newBuilder(admin.resolve(path))
            .timeout(Duration.ofSeconds(60))
            .POST(BodyPublishers.noBody())
            .build());
  }

  /** GET on the admin port. */
  public HttpResponse<String> admin(String path) {
    return send(HttpRequest.newBuilder(admin.resolve(path)).timeout(REQUEST_TIMEOUT).GET().build());
  }

  /** The admin port's {@code /metrics} as JSON. */
  public JsonNode metrics() {
    HttpResponse<String> response = admin("/metrics");
    assertThat(response.statusCode()).as("GET admin /metrics").isEqualTo(200);
    try {
      return MAPPER.readTree(response.body());
    } catch (IOException e) {
      throw new AssertionError("admin /metrics is not JSON: " + response.body(), e);
    }
  }

  /** A gauge's value from admin {@code /metrics}, or null when no such gauge is registered. */
  public Long gauge(String name) {
    JsonNode value = metrics().path("gauges").path(name).path("value");
    return value.isMissingNode() || value.isNull() ? null : value.asLong();
  }

  /** A counter's count from admin {@code /metrics}; 0 when it was never registered. */
  public long counter(String name) {
    return metrics().path("counters").path(name).path("count").asLong(0);
  }
}
