package org.chronos.resources;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.dropwizard.testing.junit5.DropwizardAppExtension;
import io.dropwizard.testing.junit5.DropwizardExtensionsSupport;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpRequest.BodyPublisher;
import java.net.http.HttpRequest.BodyPublishers;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.stream.Stream;
import org.chronos.ChronosConfiguration;
import org.chronos.replication.Replicator;
import org.chronos.testing.CallbackServer;
import org.chronos.testing.ChronosClient;
import org.chronos.testing.SingleNodeApp;
import org.chronos.testing.TimerJson;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The shape of the public API over real HTTP (PROTOCOL.md section 1): which URL and method gets
 * which status, what Location says, and the liveness and health endpoints. One node serves every
 * test; timers that pop use interval 0 so nothing here waits on the clock.
 */
@ExtendWith(DropwizardExtensionsSupport.class)
class TimerApiTest {
  static final DropwizardAppExtension<ChronosConfiguration> APP = SingleNodeApp.create();

  private static final String LOCATION_RF2 = "/timers/[0-9a-f]{16}-2";
  private static final String VALID_ID = "0123456789abcdef";

  private static CallbackServer callbacks;
  private static ChronosClient chronos;

  @BeforeAll
  static void start() {
    callbacks = CallbackServer.start();
    chronos = ChronosClient.of(APP);
  }

  @AfterAll
  static void stop() {
    callbacks.close();
  }

  private static String randomId() {
    return String.format("%016x", ThreadLocalRandom.current().nextLong());
  }

  /**
   * A timer body for methods that carry one, none for the others: a body on GET, HEAD, OPTIONS or
   * DELETE is something no client sends, and Jetty then sometimes closes the connection after
   * answering without saying so, which breaks the test client's next request on it.
   */
  private static BodyPublisher bodyFor(String method) {
    return switch (method) {
      case "GET", "HEAD", "OPTIONS", "DELETE", "TRACE" -> BodyPublishers.noBody();
      default -> BodyPublishers.ofString(farFuture("/unused"));
    };
  }

  private static String farFuture(String path) {
    // Never pops while the test runs: these tests are about the answer, not the callback.
    return TimerJson.oneShot(3600, callbacks.url(path), "x");
  }

  @Test
  void postAnswers200WithALocationHoldingTheIdAndTheDefaultReplicationFactor() {
    HttpResponse<String> response = chronos.post("/timers", farFuture("/unused"));

    assertThat(response.statusCode()).isEqualTo(200);
    assertThat(response.headers().firstValue("Location"))
        .hasValueSatisfying(l -> assertThat(l).matches(LOCATION_RF2));
  }

  @Test
  void postWithATrailingSlashIsTheSameAsWithout() {
    HttpResponse<String> response = chronos.post("/timers/", farFuture("/unused"));

    assertThat(response.statusCode()).isEqualTo(200);
    assertThat(response.headers().firstValue("Location"))
        .hasValueSatisfying(l -> assertThat(l).matches(LOCATION_RF2));
  }

  @ParameterizedTest(name = "replication-factor {0}")
  @ValueSource(ints = {1, 3, 7})
  void locationCarriesTheReplicationFactorFromTheBody(int rf) {
    String body =
        TimerJson.timer()
            .interval(3600)
            .callback(callbacks.url("/unused"), "x")
            .replicationFactor(rf)
            .json();

    String location = chronos.createTimer(body);

    assertThat(location).matches("/timers/[0-9a-f]{16}-" + rf);
  }

  @Test
  void everyPostGetsADifferentId() {
    String first = chronos.createTimer(farFuture("/unused"));
    String second = chronos.createTimer(farFuture("/unused"));

    assertThat(first).isNotEqualTo(second);
  }

  @Test
  void aTimerBodyNeedsNoContentType() {
    HttpResponse<String> response =
        chronos.send("POST", "/timers", BodyPublishers.ofString(farFuture("/unused")));

    assertThat(response.statusCode()).isEqualTo(200);
  }

  @Test
  void aClientThatWaitsFor100ContinueGetsItsTimer() {
    URI timers = URI.create("http://127.0.0.1:" + APP.getLocalPort() + "/timers");

    HttpRequest request =
        HttpRequest.newBuilder(timers)
            .expectContinue(true)
            .POST(BodyPublishers.ofString(farFuture("/unused")))
            .build();

    HttpResponse<String> response = chronos.send(request);

    assertThat(response.statusCode()).isEqualTo(200);
  }

  @ParameterizedTest(name = "replication-factor {0}")
  @ValueSource(ints = {999_999_999, 1_000_000_000, Integer.MAX_VALUE})
  void theLocationOfAnAcceptedTimerCanBeUsedToReplaceIt(int rf) {
    String body =
        TimerJson.timer()
            .interval(3600)
            .callback(callbacks.url("/unused"), "x")
            .replicationFactor(rf)
            .json();
    String location = chronos.createTimer(body);

    HttpResponse<String> response = chronos.put(location, body);

    assertThat(response.statusCode()).as("PUT %s: %s", location, response.body()).isEqualTo(200);
    assertThat(response.headers().firstValue("Location")).hasValue(location);
  }

  @Test
  void theLocationFromPostIsWhereTheTimerCanBeDeleted() {
    String path = callbacks.newPath("deleted-by-location");
    String location = chronos.createTimer(TimerJson.oneShot(3600, callbacks.url(path), "x"));

    assertThat(chronos.delete(location).statusCode()).isEqualTo(200);
    assertThat(chronos.delete(location).statusCode()).as("a second DELETE").isEqualTo(200);
  }

  @Test
  void deletingATimerThatNeverExistedIs200() {
    assertThat(chronos.delete("/timers/" + randomId() + "-2").statusCode()).isEqualTo(200);
  }

  @Test
  void putToAnUnknownIdCreatesTheTimerWithThatId() {
    String id = randomId();
    String path = callbacks.newPath("put-created");

    HttpResponse<String> response =
        chronos.put(
            "/timers/" + id + "-2", TimerJson.oneShot(0, callbacks.url(path), "made by PUT"));

    assertThat(response.statusCode()).isEqualTo(200);
    assertThat(response.headers().firstValue("Location")).hasValue("/timers/" + id + "-2");
    assertThat(callbacks.awaitRequest(path).bodyText()).isEqualTo("made by PUT");
  }

  @Test
  void putAcceptsAnythingAfterTheReplicationFactorAndAnswersWithTheCanonicalLocation() {
    String id = randomId();
    String path = callbacks.newPath("put-suffix");

    HttpResponse<String> response =
        chronos.put(
            "/timers/" + id + "-3/some/thing?x=1",
            TimerJson.oneShot(0, callbacks.url(path), "suffix"));

    assertThat(response.statusCode()).isEqualTo(200);
    assertThat(response.headers().firstValue("Location")).hasValue("/timers/" + id + "-3");
    assertThat(callbacks.awaitRequest(path).bodyText()).isEqualTo("suffix");
  }

  @Test
  void putWithTheSameReplicationFactorInBodyAndUrlIsAccepted() {
    String body =
        TimerJson.timer()
            .interval(3600)
            .callback(callbacks.url("/unused"), "x")
            .replicationFactor(3)
            .json();

    assertThat(chronos.put("/timers/" + randomId() + "-3", body).statusCode()).isEqualTo(200);
  }

  @Test
  void putWithADifferentReplicationFactorInTheBodyThanInTheUrlIs400() {
    String body =
        TimerJson.timer()
            .interval(3600)
            .callback(callbacks.url("/unused"), "x")
            .replicationFactor(3)
            .json();

    HttpResponse<String> response = chronos.put("/timers/" + randomId() + "-2", body);

    assertThat(response.statusCode()).isEqualTo(400);
    assertThat(response.body()).contains("replication factor");
  }

  @ParameterizedTest(name = "{0} /timers/{1}")
  @CsvSource({
    "PUT,    " + VALID_ID + "-0",
    "DELETE, " + VALID_ID + "-0",
    "DELETE, " + VALID_ID + "-00",
  })
  void aZeroReplicationFactorInTheUrlIs400(String method, String rest) {
    HttpResponse<String> response = chronos.send(method, "/timers/" + rest, bodyFor(method));

    assertThat(response.statusCode()).isEqualTo(400);
    assertThat(response.body()).contains("replication factor");
  }

  @ParameterizedTest(name = "{0} /timers/{1} is 404")
  @CsvSource({
    "GET,    garbage",
    "PUT,    garbage",
    "DELETE, garbage",
    "POST,   garbage",
    "DELETE, 0123456789abcde-2", // 15 hex digits
    "DELETE, 0123456789abcdefa-2", // 17 hex digits
    "DELETE, 0123456789abcdeg-2", // not hex
    "DELETE, " + VALID_ID, // no replication factor
    "DELETE, " + VALID_ID + "-", // empty replication factor
    "PUT,    " + VALID_ID + "_2",
    "DELETE, x" + VALID_ID + "-2",
    "DELETE, " + VALID_ID + "-12345678901", // more than an int: not its first ten digits
  })
  void aUrlThatIsNotATimerIs404(String method, String rest) {
    HttpResponse<String> response = chronos.send(method, "/timers/" + rest, bodyFor(method));

    assertThat(response.statusCode()).isEqualTo(404);
  }

  /**
   * Every method but the timer API's, and the internal API's on its own paths, on a URL under
   * {@code /timers/} that is not a timer's: methods Jersey has no resource method for ({@code
   * TRACE}, {@code PROPFIND}) included, which Dropwizard's allowed-methods filter would refuse with
   * 405, and {@code OPTIONS} on the internal API's paths, which Jersey would answer itself.
   */
  static Stream<Arguments> everyMethodOnAUrlThatIsNotATimer() {
    List<Arguments> cases = new ArrayList<>();
    for (String rest : List.of("garbage", "references", "batch", VALID_ID + "_2")) {
      for (String method :
          List.of("GET", "PUT", "DELETE", "POST", "PATCH", "OPTIONS", "TRACE", "PROPFIND")) {
        boolean internal =
            (rest.equals("references") && method.equals("DELETE"))
                || (rest.equals("batch") && method.equals("POST"));
        if (!internal) {
          cases.add(Arguments.of(method, rest));
        }
      }
    }
    return cases.stream();
  }

  @ParameterizedTest(name = "{0} /timers/{1} is 404 with a reason")
  @MethodSource("everyMethodOnAUrlThatIsNotATimer")
  void aUrlThatIsNotATimerIs404WithAReasonWhateverTheMethod(String method, String rest) {
    HttpResponse<String> response = chronos.send(method, "/timers/" + rest, bodyFor(method));

    assertThat(response.statusCode()).isEqualTo(404);
    assertTextPlain(response);
    assertThat(response.body()).isEqualTo("no such timer URL: /timers/" + rest + "\n");
  }

  @ParameterizedTest(name = "{0} on a timer is 405")
  @ValueSource(strings = {"GET", "POST", "PATCH", "HEAD", "OPTIONS", "TRACE", "PROPFIND"})
  void methodsOtherThanPutAndDeleteOnATimerAre405(String method) {
    for (String path : List.of(VALID_ID + "-2", VALID_ID + "-2anything")) {
      HttpResponse<String> response = chronos.send(method, "/timers/" + path, bodyFor(method));

      assertThat(response.statusCode()).as(path).isEqualTo(405);
      // The Allow header of a 405 must name what is allowed (RFC 9110, 15.5.6).
      assertThat(response.headers().firstValue("Allow"))
          .hasValueSatisfying(
              allow -> assertThat(allow).contains("PUT").contains("DELETE").doesNotContain("GET"));
      assertTextPlain(response);
      if (!method.equals("HEAD")) {
        assertThat(response.body()).isEqualTo("method not allowed on a timer\n");
      }
    }
  }

  @ParameterizedTest(name = "{0} {1} is 405")
  @CsvSource({
    "PUT,      /timers",
    "DELETE,   /timers",
    "PATCH,    /timers",
    "OPTIONS,  /timers",
    "TRACE,    /timers",
    "PROPFIND, /timers",
    "PUT,      /timers/",
    "DELETE,   /timers/",
    "PATCH,    /timers/",
    "OPTIONS,  /timers/",
    "TRACE,    /timers/",
    "PROPFIND, /timers/",
  })
  void methodsOtherThanPostOnTheCollectionAre405(String method, String path) {
    HttpResponse<String> response = chronos.send(method, path, bodyFor(method));

    assertThat(response.statusCode()).isEqualTo(405);
    // One answer whichever method: the same reason, and an Allow that names what works (HEAD
    // as GET, the internal API's), not OPTIONS, which is one of these 405s.
    assertThat(response.headers().firstValue("Allow")).hasValue("POST, GET, HEAD");
    assertTextPlain(response);
    assertThat(response.body()).isEqualTo("method not allowed on /timers\n");
  }

  /**
   * Jersey's own errors (a path no resource has, a method {@code /ping} lacks) come in the API's
   * one error form, text with a reason, not Dropwizard's JSON; with Jersey's status and Allow.
   */
  @Test
  void jerseysOwnErrorsAreTextWithAReason() {
    HttpResponse<String> notFound = chronos.get("/no-such-thing");
    assertThat(notFound.statusCode()).isEqualTo(404);
    assertTextPlain(notFound);
    assertThat(notFound.body()).isEqualTo("not found: GET /no-such-thing\n");

    HttpResponse<String> notAllowed = chronos.send("PUT", "/ping", BodyPublishers.ofString("x"));
    assertThat(notAllowed.statusCode()).isEqualTo(405);
    assertTextPlain(notAllowed);
    assertThat(notAllowed.body()).isEqualTo("method not allowed: PUT /ping\n");
    assertThat(notAllowed.headers().firstValue("Allow"))
        .hasValueSatisfying(allow -> assertThat(allow).contains("GET").contains("POST"));
  }

  private static void assertTextPlain(HttpResponse<String> response) {
    assertThat(response.headers().firstValue("Content-Type"))
        .hasValueSatisfying(type -> assertThat(type).startsWith("text/plain"));
  }

  @Test
  void getOnTheCollectionIsTheResyncApiAndNamesTheMissingParameter() {
    // GET /timers?node-for-replicas=...&cluster-view-id=... is the internal resync API (section 6).
    HttpResponse<String> response = chronos.get("/timers");

    assertThat(response.statusCode()).isEqualTo(400);
    assertThat(response.body()).contains("node-for-replicas");
  }

  /**
   * The original never reads {@code Accept}; many HTTP client libraries send {@code
   * application/json} by default. Each answer keeps its one form.
   */
  @ParameterizedTest(name = "Accept: {0}")
  @ValueSource(strings = {"application/json", "application/xml", "text/html;q=0.9"})
  void whateverAClientAcceptsItsTimerIsSetAndDeleted(String accept) {
    String json = TimerJson.oneShot(60, callbacks.url(callbacks.newPath("accept")), "a");

    HttpResponse<String> created =
        chronos.send("POST", "/timers", BodyPublishers.ofString(json), "Accept", accept);
    assertThat(created.statusCode()).as(created.body()).isEqualTo(200);
    String location = created.headers().firstValue("Location").orElseThrow();
    assertThat(location).matches(LOCATION_RF2);
    HttpResponse<String> deleted =
        chronos.send("DELETE", location, BodyPublishers.noBody(), "Accept", accept);
    assertThat(deleted.statusCode()).isEqualTo(200);
    HttpResponse<String> ping =
        chronos.send("GET", "/ping", BodyPublishers.noBody(), "Accept", accept);
    assertThat(ping.statusCode()).isEqualTo(200);
    assertThat(ping.body()).isEqualTo("OK");
    assertThat(ping.headers().firstValue("Content-Type"))
        .hasValueSatisfying(type -> assertThat(type).startsWith("text/plain"));
  }

  @Test
  void pingAnswersOk() {
    HttpResponse<String> response = chronos.get("/ping");

    assertThat(response.statusCode()).isEqualTo(200);
    assertThat(response.body()).isEqualTo("OK");
  }

  /**
   * POST /timers/batch; if {@code bulk}, as a resync's copies (taken in at a resync's priority).
   */
  private HttpResponse<String> postBatch(String batch, boolean bulk) {
    return bulk
        ? chronos.send(
            "POST",
            "/timers/batch",
            BodyPublishers.ofString(batch),
            Replicator.LANE_HEADER,
            Replicator.BULK_LANE)
        : chronos.post("/timers/batch", batch);
  }

  @ParameterizedTest(name = "from the bulk lane: {0}")
  @ValueSource(booleans = {false, true})
  void aReplicationBatchAnswersEachEntryAsItsPutWould(boolean bulk) {
    String replica =
        "{\"timing\":{\"interval\":3600,\"repeat-for\":3600},"
            + "\"callback\":{\"http\":{\"uri\":\""
            + callbacks.url("/unused")
            + "\",\"opaque\":\"x\"}},"
            + "\"reliability\":{\"replication-factor\":2,\"replicas\":[\"10.0.0.1:7253\"]}}";
    String batch =
        "{\"Requests\":["
            + "{\"Path\":\"/timers/0000000000000001-2\",\"Body\":"
            + replica
            + "},"
            // A client's timer (no replicas) may not travel in a batch.
            + "{\"Path\":\"/timers/0000000000000002-2\",\"Body\":"
            + farFuture("/unused")
            + "},"
            + "{\"Path\":\"/timers/not-a-timer\",\"Body\":"
            + replica
            + "},"
            + "{\"Path\":\"/timers/0000000000000003-2\",\"Body\":{\"timing\":7}}]}";

    HttpResponse<String> response = postBatch(batch, bulk);

    assertThat(response.statusCode()).isEqualTo(200);
    assertThat(response.body()).isEqualTo("{\"Statuses\":[200,400,404,400]}");
  }

  @ParameterizedTest(name = "from the bulk lane: {0}")
  @ValueSource(booleans = {false, true})
  void somethingThatIsNotABatchIs400WithAReason(boolean bulk) {
    HttpResponse<String> notABatch = postBatch("[1,2]", bulk);
    assertThat(notABatch.statusCode()).isEqualTo(400);
    assertThat(notABatch.body()).contains("malformed batch");
    assertThat(postBatch(farFuture("/unused"), bulk).statusCode()).isEqualTo(400);
  }

  @Test
  void postPingReadsTheBodyAndAnswersOkWithoutCreatingATimer() {
    Long liveBefore = chronos.gauge("chronos.timers.live");

    HttpResponse<String> response = chronos.post("/ping", farFuture("/unused"));

    assertThat(response.statusCode()).isEqualTo(200);
    assertThat(response.body()).isEqualTo("OK");
    assertThat(chronos.gauge("chronos.timers.live")).isLessThanOrEqualTo(liveBefore);
  }

  @Test
  void postPingWithABodyOverTheLimitIs413() {
    // SingleNodeApp keeps the default 1 MiB limit.
    HttpResponse<String> response = chronos.post("/ping", "x".repeat(1024 * 1024 + 1));

    assertThat(response.statusCode()).isEqualTo(413);
  }

  @Test
  void theHealthCheckReportsTheTimerThreadHealthy() throws Exception {
    HttpResponse<String> response = chronos.admin("/healthcheck");

    assertThat(response.statusCode()).isEqualTo(200);
    JsonNode health = new ObjectMapper().readTree(response.body());
    assertThat(health.path("timer-thread").path("healthy").asBoolean(false))
        .as(response.body())
        .isTrue();
    // No real-time policy asked for by default: the check says so.
    assertThat(health.path("timer-thread").path("message").asText())
        .endsWith("; scheduling: normal");
    // Dropwizard's check, replaced by one that looks once a minute (DeadlockWatch).
    assertThat(health.path("deadlocks").path("healthy").asBoolean(false))
        .as(response.body())
        .isTrue();
  }
}
