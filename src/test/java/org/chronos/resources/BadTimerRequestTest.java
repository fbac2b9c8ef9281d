package org.chronos.resources;

import static org.assertj.core.api.Assertions.assertThat;

import io.dropwizard.testing.ConfigOverride;
import io.dropwizard.testing.ResourceHelpers;
import io.dropwizard.testing.junit5.DropwizardAppExtension;
import io.dropwizard.testing.junit5.DropwizardExtensionsSupport;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.http.HttpRequest.BodyPublisher;
import java.net.http.HttpRequest.BodyPublishers;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Random;
import java.util.concurrent.ThreadLocalRandom;
import java.util.stream.Stream;
import org.chronos.ChronosApplication;
import org.chronos.ChronosConfiguration;
import org.chronos.testing.ChronosClient;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Everything a client can send wrongly gets a 4xx with a reason in the body, never a 500 and never
 * a hang (PROTOCOL.md section 1); bodies over the configured limit get 413 whether they announce
 * their length or arrive chunked. A second node with a 1 KiB limit shows the limit is the
 * configured one.
 */
@ExtendWith(DropwizardExtensionsSupport.class)
class BadTimerRequestTest {
  static final DropwizardAppExtension<ChronosConfiguration> APP =
      new DropwizardAppExtension<>(
          ChronosApplication.class, ResourceHelpers.resourceFilePath("test-chronos.yml"));

  static final DropwizardAppExtension<ChronosConfiguration> SMALL_LIMIT_APP =
      new DropwizardAppExtension<>(
          ChronosApplication.class,
          ResourceHelpers.resourceFilePath("test-chronos.yml"),
          // A prefix of its own: overrides are system properties, which APP would read too.
          "small-limit",
          ConfigOverride.config("small-limit", "timers.maxBodySize", "1KiB"));

  private static final int MIB = 1024 * 1024;

  /** Nothing listens on the discard port here; and with interval 3600 nothing ever pops anyway. */
  private static final String URI = "http://127.0.0.1:9/cb";

  private static final String CALLBACK =
      "\"callback\":{\"http\":{\"uri\":\"" + URI + "\",\"opaque\":\"x\"}}";
  private static final String TIMING = "\"timing\":{\"interval\":3600}";
  private static final String VALID = "{" + TIMING + "," + CALLBACK + "}";

  private static ChronosClient chronos;

  @BeforeAll
  static void start() {
    chronos = ChronosClient.of(APP);
  }

  private static final String[] JSON = {"Content-Type", "application/json"};

  private static String randomLocation() {
    return String.format("/timers/%016x-2", ThreadLocalRandom.current().nextLong());
  }

  /** One bad body: what is sent, and what the answer must say. */
  record Case(String name, byte[] body, int status, String reason) {
    @Override
    public String toString() {
      return name;
    }
  }

  private static Case bad(String name, String body, String reason) {
    return new Case(name, body.getBytes(StandardCharsets.UTF_8), 400, reason);
  }

  private static Case badTiming(String name, String timing, String reason) {
    return bad(name, "{\"timing\":" + timing + "," + CALLBACK + "}", reason);
  }

  private static Case badCallback(String name, String callback, String reason) {
    return bad(name, "{" + TIMING + ",\"callback\":" + callback + "}", reason);
  }

  private static Case badHttp(String name, String http, String reason) {
    return badCallback(name, "{\"http\":" + http + "}", reason);
  }

  private static Case badReliability(String name, String reliability, String reason) {
    return bad(
        name, "{" + TIMING + "," + CALLBACK + ",\"reliability\":" + reliability + "}", reason);
  }

  /** A valid body with {@code bytes} in place of the opaque's "x". */
  private static Case badBytesInOpaque(String name, byte... bytes) {
    String[] halves = VALID.split("\"x\"");
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    out.writeBytes((halves[0] + "\"a").getBytes(StandardCharsets.US_ASCII));
    out.writeBytes(bytes);
    out.writeBytes(("b\"" + halves[1]).getBytes(StandardCharsets.US_ASCII));
    return new Case(name, out.toByteArray(), 400, "UTF-8");
  }

  static Stream<Case> badBodies() {
    return Stream.of(
        // Not a JSON object at all.
        bad("empty body", "", "empty"),
        bad("only whitespace", "  \n ", "object"),
        bad("truncated JSON", "{\"timing\":", "JSON"),
        bad("not JSON", "hello", "JSON"),
        bad("JSON with a comment", "{/* hi */" + TIMING + "," + CALLBACK + "}", "JSON"),
        bad("array", "[" + VALID + "]", "object"),
        bad("string", "\"timer\"", "object"),
        bad("number", "42", "object"),
        bad("null", "null", "object"),
        bad("boolean", "true", "object"),
        bad(
            "duplicate top-level key",
            "{" + TIMING + "," + TIMING + "," + CALLBACK + "}",
            "uplicate"),
        bad(
            "duplicate nested key",
            "{\"timing\":{\"interval\":1,\"interval\":3600}," + CALLBACK + "}",
            "uplicate"),
        bad("trailing garbage", VALID + " xyz", "JSON"),
        bad("trailing second object", VALID + VALID, "JSON"),
        bad("trailing comma", VALID.substring(0, VALID.length() - 1) + ",}", "JSON"),
        badHttp(
            "unquoted control character",
            "{\"uri\":\"" + URI + "\",\"opaque\":\"a\u0001b\"}",
            "JSON"),
        badBytesInOpaque("invalid UTF-8 continuation", (byte) 0xC3, (byte) 0x28),
        badBytesInOpaque("0xFF byte", (byte) 0xFF),
        badBytesInOpaque("truncated 3-byte sequence", (byte) 0xE2, (byte) 0x82),
        badBytesInOpaque("overlong encoding of '/'", (byte) 0xC0, (byte) 0xAF),
        badBytesInOpaque("UTF-8-encoded surrogate", (byte) 0xED, (byte) 0xA0, (byte) 0x80),
        badBytesInOpaque(
            "code point above U+10FFFF", (byte) 0xF4, (byte) 0x90, (byte) 0x80, (byte) 0x80),
        // timing
        bad("missing timing", "{" + CALLBACK + "}", "timing"),
        badTiming("timing is a number", "5", "timing"),
        badTiming("timing is an array", "[3600]", "timing"),
        badTiming("timing is null", "null", "timing"),
        badTiming("missing interval", "{}", "interval"),
        badTiming("interval is null", "{\"interval\":null}", "interval"),
        badTiming("interval is a string", "{\"interval\":\"1\"}", "interval"),
        badTiming("interval is a float", "{\"interval\":1.5}", "interval"),
        badTiming("interval is 1.0", "{\"interval\":1.0}", "interval"),
        badTiming("interval is NaN", "{\"interval\":NaN}", "JSON"),
        badTiming("interval is negative", "{\"interval\":-1}", "interval"),
        badTiming("interval is 1e30", "{\"interval\":1e30}", "interval"),
        badTiming("interval beyond a long", "{\"interval\":99999999999999999999}", "interval"),
        badTiming("interval beyond ten years", "{\"interval\":315360001}", "interval"),
        badTiming("interval is a boolean", "{\"interval\":true}", "interval"),
        badTiming(
            "interval 0 with repeat-for 5", "{\"interval\":0,\"repeat-for\":5}", "repeat-for"),
        badTiming("negative repeat-for", "{\"interval\":1,\"repeat-for\":-1}", "repeat-for"),
        badTiming("repeat-for is a string", "{\"interval\":1,\"repeat-for\":\"3\"}", "repeat-for"),
        badTiming("repeat-for is a float", "{\"interval\":1,\"repeat-for\":2.5}", "repeat-for"),
        badTiming(
            "repeat-for beyond a long",
            "{\"interval\":1,\"repeat-for\":99999999999999999999}",
            "repeat-for"),
        badTiming(
            "start-time-delta is a string",
            "{\"interval\":1,\"start-time-delta\":\"-5\"}",
            "start-time-delta"),
        badTiming(
            "start-time-delta before 1900",
            "{\"interval\":1,\"start-time-delta\":-9000000000000000000}",
            "start-time-delta"),
        badTiming(
            "start-time-delta beyond 100 years",
            "{\"interval\":1,\"start-time-delta\":3155760000001}",
            "start-time-delta"),
        badTiming("negative start-time", "{\"interval\":1,\"start-time\":-1}", "start-time"),
        badTiming(
            "start-time after 2170", "{\"interval\":1,\"start-time\":6311520000001}", "start-time"),
        // callback
        bad("missing callback", "{" + TIMING + "}", "callback"),
        badCallback("callback is a string", "\"" + URI + "\"", "callback"),
        badCallback("callback is empty", "{}", "http"),
        badCallback(
            "unknown callback type", "{\"sip\":{\"uri\":\"sip:a@b\",\"opaque\":\"x\"}}", "sip"),
        badCallback("http is a string", "{\"http\":\"" + URI + "\"}", "http"),
        badHttp("missing uri", "{\"opaque\":\"x\"}", "uri"),
        badHttp("missing opaque", "{\"uri\":\"" + URI + "\"}", "opaque"),
        badHttp("uri is a number", "{\"uri\":80,\"opaque\":\"x\"}", "uri"),
        badHttp("uri is null", "{\"uri\":null,\"opaque\":\"x\"}", "uri"),
        badHttp("opaque is a number", "{\"uri\":\"" + URI + "\",\"opaque\":1}", "opaque"),
        badHttp("opaque is an object", "{\"uri\":\"" + URI + "\",\"opaque\":{\"a\":1}}", "opaque"),
        badHttp("empty uri", "{\"uri\":\"\",\"opaque\":\"x\"}", "uri"),
        badHttp("relative uri", "{\"uri\":\"/cb\",\"opaque\":\"x\"}", "uri"),
        badHttp("ftp uri", "{\"uri\":\"ftp://127.0.0.1/cb\",\"opaque\":\"x\"}", "uri"),
        badHttp("mailto uri", "{\"uri\":\"mailto:a@example.com\",\"opaque\":\"x\"}", "uri"),
        badHttp("uri without host", "{\"uri\":\"http:///cb\",\"opaque\":\"x\"}", "uri"),
        badHttp("uri that is only a scheme", "{\"uri\":\"http://\",\"opaque\":\"x\"}", "uri"),
        badHttp("uri with a space", "{\"uri\":\"http://exa mple.com/cb\",\"opaque\":\"x\"}", "uri"),
        badHttp("uri with port 0", "{\"uri\":\"http://127.0.0.1:0/cb\",\"opaque\":\"x\"}", "port"),
        badHttp(
            "uri with a port above 65535",
            "{\"uri\":\"http://127.0.0.1:70000/cb\",\"opaque\":\"x\"}",
            "port"),
        // Escaped, so valid JSON and valid UTF-8, but no character: it would reach the callback
        // as '?'.
        badHttp(
            "escaped lone high surrogate in the opaque",
            "{\"uri\":\"" + URI + "\",\"opaque\":\"a\\ud800b\"}",
            "surrogate"),
        badHttp(
            "escaped lone low surrogate at the opaque's end",
            "{\"uri\":\"" + URI + "\",\"opaque\":\"a\\udc00\"}",
            "surrogate"),
        badHttp(
            "escaped lone surrogate in the uri",
            "{\"uri\":\"http://127.0.0.1:9/\\ud800\",\"opaque\":\"x\"}",
            "surrogate"),
        // reliability
        badReliability("reliability is a number", "5", "reliability"),
        badReliability("reliability is a string", "\"2\"", "reliability"),
        badReliability("reliability is an array", "[2]", "reliability"),
        badReliability("replication-factor 0", "{\"replication-factor\":0}", "replication-factor"),
        badReliability(
            "negative replication-factor", "{\"replication-factor\":-2}", "replication-factor"),
        badReliability(
            "replication-factor is a string",
            "{\"replication-factor\":\"2\"}",
            "replication-factor"),
        badReliability(
            "replication-factor is a float", "{\"replication-factor\":2.5}", "replication-factor"),
        badReliability(
            "huge replication-factor",
            "{\"replication-factor\":99999999999}",
            "replication-factor"),
        badReliability("empty replicas", "{\"replicas\":[]}", "replicas"),
        badReliability("replicas is a string", "{\"replicas\":\"10.0.0.1:7253\"}", "replicas"));
  }

  private static void assertRejected(HttpResponse<String> response, Case c) {
    assertThat(response.statusCode())
        .as("%s: answered %s", c.name(), response.body())
        .isEqualTo(c.status());
    assertThat(response.body()).as("%s: the reason", c.name()).containsIgnoringCase(c.reason());
  }

  @ParameterizedTest(name = "POST: {0}")
  @MethodSource("badBodies")
  void postRejectsABadBodyWithAReason(Case c) {
    assertRejected(chronos.send("POST", "/timers", BodyPublishers.ofByteArray(c.body()), JSON), c);
  }

  @ParameterizedTest(name = "PUT: {0}")
  @MethodSource("badBodies")
  void putRejectsABadBodyWithAReason(Case c) {
    String path = randomLocation();
    assertRejected(chronos.send("PUT", path, BodyPublishers.ofByteArray(c.body()), JSON), c);
  }

  @Test
  void anEscapedSurrogatePairIsACharacterAndAccepted() {
    String withEmoji =
        "{"
            + TIMING
            + ",\"callback\":{\"http\":{\"uri\":\""
            + URI
            + "\",\"opaque\":\"\\ud83d\\ude00\"}}}";
    assertThat(chronos.post("/timers", withEmoji).statusCode()).isEqualTo(200);
  }

  @Test
  void aNewTimerWithNeitherUriNorOpaqueIsRefusedEvenShapedLikeAPeersDeletion() {
    // Empty uri and opaque with sites (or replicas) is how nodes send a deletion, by PUT; a POST
    // is always a client's, and stored it would never pop.
    String deletionShaped =
        "{"
            + TIMING
            + ",\"callback\":{\"http\":{\"uri\":\"\",\"opaque\":\"\"}},"
            + "\"reliability\":{\"sites\":[\"site1\"]}}";
    HttpResponse<String> response = chronos.post("/timers", deletionShaped);
    assertThat(response.statusCode()).isEqualTo(400);
    assertThat(response.body()).contains("callback");
  }

  @Test
  void theValidBodyTheTableStartsFromIsAccepted() {
    // Guards the table: each case must fail for its own reason, not because the base is wrong.
    assertThat(chronos.post("/timers", VALID).statusCode()).isEqualTo(200);
    String withReliability =
        "{" + TIMING + "," + CALLBACK + ",\"reliability\":{\"replication-factor\":2}}";
    assertThat(chronos.post("/timers", withReliability).statusCode()).isEqualTo(200);
  }

  @Test
  void randomlyDamagedBodiesGetA200OrA4xxNeverA5xx() {
    long seed = ThreadLocalRandom.current().nextLong();
    Random random = new Random(seed);
    String base =
        "{\"timing\":{\"interval\":3600,\"repeat-for\":7200},"
            + CALLBACK
            + ",\"reliability\":{\"replication-factor\":2},"
            + "\"statistics\":{\"tag-info\":[{\"type\":\"FUZZ\",\"count\":1}]}}";
    byte[] original = base.getBytes(StandardCharsets.UTF_8);
    for (int i = 0; i < 300; i++) {
      byte[] body = damage(original, random);

      HttpResponse<String> response =
          chronos.send(
              "POST",
              "/timers",
              BodyPublishers.ofByteArray(body),
              "Content-Type",
              "application/json");

      assertThat(response.statusCode())
          .as(
              "seed %d, body %s: answered %s",
              seed, new String(body, StandardCharsets.ISO_8859_1), response.body())
          .isIn(200, 400);
    }
  }

  private static final byte[] JSON_PUNCTUATION = "{}[]\",:0-".getBytes(StandardCharsets.US_ASCII);

  /** Flips, deletes, inserts or truncates a few bytes. */
  private static byte[] damage(byte[] original, Random random) {
    byte[] body = original.clone();
    int edits = 1 + random.nextInt(3);
    for (int e = 0; e < edits && body.length > 0; e++) {
      int at = random.nextInt(body.length);
      switch (random.nextInt(4)) {
        case 0 -> body[at] = (byte) random.nextInt(256);
        case 1 ->
            body =
                concat(
                    Arrays.copyOfRange(body, 0, at), Arrays.copyOfRange(body, at + 1, body.length));
        case 2 -> {
          byte inserted = JSON_PUNCTUATION[random.nextInt(JSON_PUNCTUATION.length)];
          byte[] before = Arrays.copyOfRange(body, 0, at);
          body = concat(before, new byte[] {inserted}, Arrays.copyOfRange(body, at, body.length));
        }
        default -> body = Arrays.copyOf(body, at);
      }
    }
    return body;
  }

  private static byte[] concat(byte[]... parts) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    for (byte[] part : parts) {
      out.writeBytes(part);
    }
    return out.toByteArray();
  }

  // Body size limits.

  /** A valid timer body padded with spaces to exactly {@code size} bytes. */
  private static byte[] validBodyOfSize(int size) {
    byte[] body = new byte[size];
    Arrays.fill(body, (byte) ' ');
    byte[] json = VALID.getBytes(StandardCharsets.UTF_8);
    System.arraycopy(json, 0, body, 0, json.length);
    return body;
  }

  private static BodyPublisher publish(byte[] body, boolean chunked) {
    // ofInputStream has no length, so HttpClient sends Transfer-Encoding: chunked.
    return chunked
        ? BodyPublishers.ofInputStream(() -> new ByteArrayInputStream(body))
        : BodyPublishers.ofByteArray(body);
  }

  // Each test below uses a client of its own: a connection the node closed after a 413 must not
  // be handed to another test.

  @ParameterizedTest(name = "chunked={0}")
  @ValueSource(booleans = {false, true})
  void aBodyOfExactlyTheDefaultLimitIsAccepted(boolean chunked) {
    HttpResponse<String> response =
        ChronosClient.of(APP).send("POST", "/timers", publish(validBodyOfSize(MIB), chunked));

    assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
  }

  @ParameterizedTest(name = "chunked={0}")
  @ValueSource(booleans = {false, true})
  void aBodyOneByteOverTheDefaultLimitIs413(boolean chunked) {
    HttpResponse<String> response =
        ChronosClient.of(APP).send("POST", "/timers", publish(validBodyOfSize(MIB + 1), chunked));

    assertThat(response.statusCode()).isEqualTo(413);
    assertThat(response.body()).contains("limit");
  }

  /**
   * A 413 is answered before the body has been read to its end. Unless the node reads the rest (or
   * closes the connection and says so with {@code Connection: close}), a client that reuses the
   * connection, as keep-alive clients do, has its next, valid request fail. A body twice the limit
   * is small enough that a node can afford to read and discard it.
   */
  @ParameterizedTest(name = "chunked={0}")
  @ValueSource(booleans = {false, true})
  void afterA413TheClientsNextRequestOnTheSameConnectionSucceeds(boolean chunked) {
    ChronosClient client = ChronosClient.of(APP);
    for (int i = 0; i < 20; i++) {
      HttpResponse<String> tooLarge =
          client.send("POST", "/timers", publish(validBodyOfSize(2 * MIB), chunked));
      assertThat(tooLarge.statusCode()).isEqualTo(413);

      assertThat(client.post("/timers", VALID).statusCode())
          .as("the request after 413 number %d", i + 1)
          .isEqualTo(200);
    }
  }

  /**
   * Far over the limit, a node should not read the whole upload: it answers 413 and closes the
   * connection, and a client still sending may see that close before the 413 (HTTP/1.1 gives a
   * server no other way to refuse an upload). Either is fine; a 5xx, a 2xx or a hang is not, and
   * the node must go on serving.
   */
  @ParameterizedTest(name = "chunked={0}")
  @ValueSource(booleans = {false, true})
  void aBodyFarOverTheLimitIsRefusedAndTheNodeKeepsServing(boolean chunked) {
    ChronosClient client = ChronosClient.of(APP);
    try {
      HttpResponse<String> response =
          client.send("POST", "/timers", publish(validBodyOfSize(16 * MIB), chunked));
      assertThat(response.statusCode()).isEqualTo(413);
    } catch (UncheckedIOException closedDuringUpload) {
      assertThat(closedDuringUpload).hasRootCauseInstanceOf(IOException.class);
    }

    assertThat(ChronosClient.of(APP).post("/timers", VALID).statusCode()).isEqualTo(200);
  }

  @ParameterizedTest(name = "{0}, chunked={1}")
  @MethodSource("methodsAndChunking")
  void theConfiguredLimitApplies(String method, boolean chunked) {
    String path = method.equals("POST") ? "/timers" : randomLocation();

    HttpResponse<String> atLimit =
        ChronosClient.of(SMALL_LIMIT_APP)
            .send(method, path, publish(validBodyOfSize(1024), chunked));
    HttpResponse<String> overLimit =
        ChronosClient.of(SMALL_LIMIT_APP)
            .send(method, path, publish(validBodyOfSize(1025), chunked));

    assertThat(atLimit.statusCode()).as(atLimit.body()).isEqualTo(200);
    assertThat(overLimit.statusCode()).isEqualTo(413);
    assertThat(overLimit.body()).contains("1024");
  }

  /**
   * A PUT may be up to 64 KiB over the limit when a peer sends it (its replicas and sites come on
   * top of the client's body), so the node reads that far before it can tell. A client's body over
   * the limit is still a 413, whether or not it would have parsed.
   */
  @ParameterizedTest(name = "chunked={0}")
  @ValueSource(booleans = {false, true})
  void aClientPutOverTheLimitIs413EvenWhenItIsNotATimer(boolean chunked) {
    byte[] notJson = new byte[1025];
    Arrays.fill(notJson, (byte) '{');

    HttpResponse<String> response =
        ChronosClient.of(SMALL_LIMIT_APP).send("PUT", randomLocation(), publish(notJson, chunked));

    assertThat(response.statusCode()).as(response.body()).isEqualTo(413);
    assertThat(response.body()).contains("1024");
  }

  static Stream<Arguments> methodsAndChunking() {
    return Stream.of(
        Arguments.of("POST", false),
        Arguments.of("POST", true),
        Arguments.of("PUT", false),
        Arguments.of("PUT", true));
  }
}
