package org.chronos.callback;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.dropwizard.testing.junit5.DropwizardAppExtension;
import io.dropwizard.testing.junit5.DropwizardExtensionsSupport;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import org.chronos.ChronosApplication;
import org.chronos.ChronosConfiguration;
import org.chronos.testing.CallbackServer;
import org.chronos.testing.CallbackServer.Received;
import org.chronos.testing.CallbackServer.Reply;
import org.chronos.testing.ChronosClient;
import org.chronos.testing.SingleNodeApp;
import org.chronos.testing.TimerJson;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.parallel.Execution;
import org.junit.jupiter.api.parallel.ExecutionMode;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * What a callback looks like on the wire and what a single node does with its answer (PROTOCOL.md
 * section 1): any 2xx is a success and the timer carries on; anything else, or no answer within 2
 * s, is a failure after which this node drops its copy (in a cluster the next replica would pop
 * it), with no retry from this node; only a callback whose connection the target closed without
 * answering is sent again, on a new connection.
 *
 * <p>Each failing timer carries a tag of its own, so the node dropping it shows up as that tag's
 * live count falling to 0 while the timer still had pops left. The absence of further callbacks is
 * shown with a marker timer due a full second after the next pop would have been.
 *
 * <p>The tests run at the same time as each other (they mostly wait), each on its own callback
 * paths or tags; the class as a whole runs alone (see junit-platform.properties).
 */
@ExtendWith(DropwizardExtensionsSupport.class)
class CallbackDeliveryTest {
  static final DropwizardAppExtension<ChronosConfiguration> APP = SingleNodeApp.create();

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

  private static String marker(int seconds) {
    String path = callbacks.newPath("marker");
    chronos.createTimer(TimerJson.oneShot(seconds, callbacks.url(path), "marker"));
    return path;
  }

  private static String repeating(String path, String tag) {
    return TimerJson.timer()
        .interval(1)
        .repeatFor(60)
        .callback(callbacks.url(path), "r")
        .tag(tag, 1)
        .json();
  }

  /** 503 -> "FAD": tags are letters only. */
  private static String lettersOf(int number) {
    StringBuilder letters = new StringBuilder();
    for (char digit : Integer.toString(number).toCharArray()) {
      letters.append((char) ('A' + digit - '0'));
    }
    return letters.toString();
  }

  private static void awaitTagCount(String tag, long expected) {
    await("live count of tag " + tag + " is " + expected)
        .atMost(Duration.ofSeconds(5))
        .pollInterval(Duration.ofMillis(10))
        .until(() -> APP.<ChronosApplication>getApplication().tagCounts().count(tag) == expected);
  }

  @Execution(ExecutionMode.CONCURRENT)
  @Test
  void aCallbackIsAPostOfTheOpaqueAsOctetsWithSequenceNumberOne() {
    String path = callbacks.newPath("format");
    String opaque =
        "{\"call-id\": \"a\\\"b\", \"who\": \"sip:alice@example.com\"}\n\u00fcmlaut \u2603";

    chronos.createTimer(TimerJson.oneShot(0, callbacks.url(path), opaque));

    Received pop = callbacks.awaitRequest(path);
    assertThat(pop.method()).isEqualTo("POST");
    assertThat(pop.body()).isEqualTo(opaque.getBytes(StandardCharsets.UTF_8));
    assertThat(pop.header("Content-Type")).isEqualTo("application/octet-stream");
    assertThat(pop.header("X-Sequence-Number")).isEqualTo("1");
    // As the original sends it: no compressed answer asked for (the answer is never read).
    assertThat(pop.header("Accept-Encoding")).isNull();
  }

  @Execution(ExecutionMode.CONCURRENT)
  @Test
  void theCallbackGoesToTheUriAsGivenIncludingItsQuery() {
    String path = callbacks.newPath("with-query");

    chronos.createTimer(TimerJson.oneShot(0, callbacks.url(path) + "?timer=abc&x=%20y", "q"));

    Received pop = callbacks.awaitRequest(path);
    assertThat(pop.query()).isEqualTo("timer=abc&x=%20y");
  }

  /**
   * Clients of the original write characters a URI may not hold (curl sends them as they are): they
   * arrive percent-encoded, as UTF-8, which the callback's server reads as the same path and query.
   * Escapes the client wrote stay as they are.
   */
  @Execution(ExecutionMode.CONCURRENT)
  @Test
  void charactersAUriMayNotHoldArrivePercentEncodedAsUtf8() {
    String path = callbacks.newPath("lenient");

    chronos.createTimer(
        TimerJson.oneShot(0, callbacks.url(path) + "/café d?f=a|b&q={x}&p=100%&e=%41^", "lenient"));

    Received pop = callbacks.awaitRequest(path + "/caf%C3%A9%20d");
    assertThat(pop.query()).isEqualTo("f=a%7Cb&q=%7Bx%7D&p=100%25&e=%41%5E");
    assertThat(pop.bodyText()).isEqualTo("lenient");
  }

  @Execution(ExecutionMode.CONCURRENT)
  @Test
  void credentialsInTheUriArriveAsBasicAuthentication() {
    String path = callbacks.newPath("credentials");
    // user "alice", password "p@ss:word" (the '@' escaped), as curl sends them.
    String uri = callbacks.url(path).replace("http://", "http://alice:p%40ss:word@");

    chronos.createTimer(TimerJson.oneShot(0, uri, "secret"));

    Received pop = callbacks.awaitRequest(path);
    assertThat(pop.header("Authorization"))
        .isEqualTo(
            "Basic "
                + java.util.Base64.getEncoder()
                    .encodeToString("alice:p@ss:word".getBytes(StandardCharsets.UTF_8)));
    assertThat(pop.bodyText()).isEqualTo("secret");
  }

  @Execution(ExecutionMode.CONCURRENT)
  @Test
  void anEmptyOpaqueArrivesAsAnEmptyBody() {
    String path = callbacks.newPath("empty-opaque");

    chronos.createTimer(TimerJson.oneShot(0, callbacks.url(path), ""));

    assertThat(callbacks.awaitRequest(path).body()).isEmpty();
  }

  @Execution(ExecutionMode.CONCURRENT)
  @Test
  void aLargeOpaqueArrivesIntact() {
    String path = callbacks.newPath("large-opaque");
    String opaque = "0123456789abcdef".repeat(16 * 1024); // 256 KiB

    chronos.createTimer(TimerJson.oneShot(0, callbacks.url(path), opaque));

    assertThat(callbacks.awaitRequest(path).bodyText()).isEqualTo(opaque);
  }

  @Execution(ExecutionMode.CONCURRENT)
  @ParameterizedTest(name = "HTTP {0}")
  @ValueSource(ints = {200, 202, 204})
  void anySuccessStatusKeepsARepeatingTimerGoing(int status) {
    String path = callbacks.newPath("success-" + status);
    callbacks.respond(path, request -> Reply.status(status));

    chronos.createTimer(
        TimerJson.timer().interval(1).repeatFor(2).callback(callbacks.url(path), "ok").json());

    List<Received> pops = callbacks.awaitRequests(path, 2);
    assertThat(pops).extracting(Received::sequenceNumber).containsExactly(1, 2);
  }

  @Execution(ExecutionMode.CONCURRENT)
  @ParameterizedTest(name = "HTTP {0}")
  @ValueSource(ints = {503, 500, 404, 302})
  void aFailedCallbackIsNotRetriedAndTheRepeatingTimerIsDropped(int status) {
    String path = callbacks.newPath("fail-" + status);
    String tag = "FAIL" + lettersOf(status);
    callbacks.respond(path, request -> Reply.status(status).withBody("no thanks"));

    chronos.createTimer(repeating(path, tag));

    callbacks.awaitRequest(path);
    awaitTagCount(tag, 0); // dropped with 59 pops left
    String after = marker(2); // due a full second after pop 2 would have been
    callbacks.awaitRequest(after);
    assertThat(callbacks.requestsTo(path)).extracting(Received::sequenceNumber).containsExactly(1);
  }

  @Execution(ExecutionMode.CONCURRENT)
  @Test
  void aCallbackThatHangsPastTwoSecondsCountsAsAFailure() {
    String path = callbacks.newPath("hang");
    // The first callback hangs 2.5 s, past the 2 s deadline; later ones answer at once.
    callbacks.respondByNumber(
        path, n -> n == 1 ? Reply.stall(Duration.ofMillis(2500)) : Reply.ok());

    chronos.createTimer(repeating(path, "HANG"));

    // Pop 1 is at 1 s; its deadline runs out at about 3 s, when the node drops the timer. Pops 2
    // (at 2 s) and perhaps 3 (at 3 s, racing the deadline) still go out before that.
    callbacks.awaitRequest(path);
    awaitTagCount("HANG", 0);
    String after = marker(2); // due a full second after the first pop that must not happen
    callbacks.awaitRequest(after);
    assertThat(callbacks.requestsTo(path))
        .extracting(Received::sequenceNumber)
        .startsWith(1, 2)
        .isSubsetOf(1, 2, 3);
  }

  /**
   * Servers close keep-alive connections (after an idle time, or a number of requests), and the
   * close can cross the next request on that connection. This target answers the first request on
   * each connection and closes the connection, unanswered, on the second: every reused connection
   * fails under the callback. Each pop must still be delivered, on a new connection, with its own
   * sequence number, instead of the node dropping the timer.
   */
  @Execution(ExecutionMode.CONCURRENT)
  @Test
  void aCallbackWhoseConnectionTheTargetClosedUnansweredIsSentAgainOnANewConnection()
      throws Exception {
    try (ClosingTarget target = ClosingTarget.start()) {
      long resentBefore = resentCount();

      awaitPopsAnswered(target, 1, 3, "keep-alive", "CLOSING");
      assertThat(target.answered()).containsExactly(1, 2, 3);
      // Pops 2 and 3 each went first to the connection the pop before had used.
      assertThat(target.closedUnanswered()).containsExactly(2, 3);
      assertThat(resentCount() - resentBefore).isGreaterThanOrEqualTo(2);
    }
  }

  /**
   * A target that answers 2xx and closes before its whole body is sent has answered: the callback
   * succeeded and is not sent again (the target has acted on it), and the timer carries on.
   */
  @Execution(ExecutionMode.CONCURRENT)
  @Test
  void aSuccessWhoseBodyTheTargetCutShortIsNotSentAgain() throws Exception {
    try (ClosingTarget target = ClosingTarget.cuttingAnswersShort()) {
      awaitPopsAnswered(target, 1, 2, "cut-short", "CUTSHORT");
      await("no pop sent again")
          .during(Duration.ofMillis(500))
          .atMost(Duration.ofSeconds(2))
          .until(() -> target.answered().size() == 2);
      assertThat(target.answered()).containsExactly(1, 2);
    }
  }

  /**
   * A target that answers 2xx within the timeout but is still sending the body when it passes has
   * answered: the callback succeeded. Taken for timed out, this node dropped the timer (a backup
   * would pop it again), so the second pop never came.
   */
  @Execution(ExecutionMode.CONCURRENT)
  @Test
  void aSuccessWhoseBodyIsStillArrivingAtTheTimeoutIsNoTimeout() throws Exception {
    long timeoutMillis = APP.getConfiguration().getCallbacks().getTimeout().toMilliseconds();
    try (ClosingTarget target = ClosingTarget.holdingBodiesBack(timeoutMillis + 500)) {
      // An interval longer than the timeout: the first pop's outcome comes before the second pop.
      int interval = (int) (timeoutMillis / 1000) + 1;
      awaitPopsAnswered(target, interval, 2, "slow-body", "SLOWBODY");
      assertThat(target.answered()).containsExactly(1, 2);
    }
  }

  /**
   * Sets a timer of {@code pops} pops, {@code interval} s apart, calling back {@code target}, and
   * waits until the target has answered that many.
   */
  private void awaitPopsAnswered(
      ClosingTarget target, int interval, int pops, String opaque, String tag) {
    chronos.createTimer(
        TimerJson.timer()
            .interval(interval)
            .repeatFor(interval * pops)
            .callback(target.url(), opaque)
            .tag(tag, 1)
            .json());
    await(pops + " pops answered")
        .atMost(Duration.ofSeconds(2L * interval * pops + 5))
        .pollInterval(Duration.ofMillis(20))
        .until(() -> target.answered().size() >= pops);
  }

  private static long resentCount() {
    return APP.getEnvironment().metrics().counter("chronos.callbacks.resent").getCount();
  }

  /**
   * A raw HTTP/1.1 target on loopback: per connection, answers the first request 200 and closes the
   * connection on reading the second. Records the sequence numbers of both kinds.
   */
  private static final class ClosingTarget implements AutoCloseable {
    private final ServerSocket server;
    private volatile boolean cutAnswersShort;
    private volatile long bodyHeldMillis;

    /** A 200 answer's head and the first 3 of its 10 body bytes; the rest is {@code defghij}. */
    private static final byte[] PARTIAL_ANSWER =
        "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc".getBytes(StandardCharsets.US_ASCII);

    private final List<Integer> answered = new java.util.concurrent.CopyOnWriteArrayList<>();
    private final List<Integer> closedUnanswered =
        new java.util.concurrent.CopyOnWriteArrayList<>();
    private final List<java.net.Socket> sockets = new java.util.concurrent.CopyOnWriteArrayList<>();

    private ClosingTarget(ServerSocket server) {
      this.server = server;
    }

    static ClosingTarget start() throws IOException {
      ClosingTarget target =
          new ClosingTarget(new ServerSocket(0, 50, InetAddress.getLoopbackAddress()));
      Thread acceptor = new Thread(target::acceptAll, "closing-target");
      acceptor.setDaemon(true);
      acceptor.start();
      return target;
    }

    /**
     * Another target: answers each request {@code 200} with a body it closes the connection before
     * sending in full.
     */
    static ClosingTarget cuttingAnswersShort() throws IOException {
      ClosingTarget target = start();
      target.cutAnswersShort = true;
      return target;
    }

    /**
     * Another target: answers each request {@code 200} at once, with part of its body, and the rest
     * of the body {@code millis} later, keeping the connection.
     */
    static ClosingTarget holdingBodiesBack(long millis) throws IOException {
      ClosingTarget target = start();
      target.bodyHeldMillis = millis;
      return target;
    }

    String url() {
      return "http://127.0.0.1:" + server.getLocalPort() + "/closing";
    }

    List<Integer> answered() {
      return List.copyOf(answered);
    }

    List<Integer> closedUnanswered() {
      return List.copyOf(closedUnanswered);
    }

    private void acceptAll() {
      while (!server.isClosed()) {
        try {
          java.net.Socket socket = server.accept();
          sockets.add(socket);
          Thread connection = new Thread(() -> serve(socket), "closing-target-connection");
          connection.setDaemon(true);
          connection.start();
        } catch (IOException e) {
          return; // closed
        }
      }
    }

    private void serve(java.net.Socket socket) {
      try (socket) {
        java.io.InputStream in = socket.getInputStream();
        for (int request = 1; ; request++) {
          Integer sequence = readRequest(in);
          if (sequence == null) {
            return; // the client closed the connection
          }
          if (cutAnswersShort) {
            answered.add(sequence);
            socket.getOutputStream().write(PARTIAL_ANSWER);
            return; // closes with 7 bytes of the body unsent
          }
          if (bodyHeldMillis > 0) {
            answered.add(sequence);
            java.io.OutputStream out = socket.getOutputStream();
            out.write(PARTIAL_ANSWER);
            out.flush();
            try {
              Thread.sleep(bodyHeldMillis); // the target's own pace, not the test waiting
            } catch (InterruptedException e) {
              return;
            }
            out.write("defghij".getBytes(StandardCharsets.US_ASCII));
            continue;
          }
          if (request > 1) {
            closedUnanswered.add(sequence);
            return; // closes without answering
          }
          answered.add(sequence);
          socket
              .getOutputStream()
              .write(
                  "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
                      .getBytes(StandardCharsets.US_ASCII));
        }
      } catch (IOException e) {
        // the node went away
      }
    }

    /** Reads one request (head and body); its X-Sequence-Number, or null at end of stream. */
    private static Integer readRequest(java.io.InputStream in) throws IOException {
      StringBuilder head = new StringBuilder();
      int b;
      while (!head.toString().endsWith("\r\n\r\n")) {
        if ((b = in.read()) < 0) {
          return null;
        }
        head.append((char) b);
      }
      int length = 0;
      Integer sequence = null;
      for (String line : head.toString().split("\r\n")) {
        int colon = line.indexOf(':');
        if (colon < 0) {
          continue;
        }
        String name = line.substring(0, colon).trim();
        String value = line.substring(colon + 1).trim();
        if (name.equalsIgnoreCase("Content-Length")) {
          length = Integer.parseInt(value);
        } else if (name.equalsIgnoreCase("X-Sequence-Number")) {
          sequence = Integer.parseInt(value);
        }
      }
      in.readNBytes(length);
      return sequence;
    }

    @Override
    public void close() throws IOException {
      server.close();
      for (java.net.Socket socket : sockets) {
        socket.close();
      }
    }
  }

  @Execution(ExecutionMode.CONCURRENT)
  @Test
  void aCallbackToAPortWhereNothingListensFailsCleanly() throws Exception {
    int closedPort;
    try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      closedPort = socket.getLocalPort();
    }

    chronos.createTimer(
        TimerJson.timer()
            .interval(1)
            .repeatFor(60)
            .callback("http://127.0.0.1:" + closedPort + "/nobody", "lost")
            .tag("NOBODY", 1)
            .json());

    awaitTagCount("NOBODY", 1); // stored
    awaitTagCount("NOBODY", 0); // popped at 1 s, refused, dropped with 59 pops left

    assertThat(chronos.admin("/healthcheck").statusCode()).isEqualTo(200);
    String path = callbacks.newPath("after-refused");
    chronos.createTimer(TimerJson.oneShot(0, callbacks.url(path), "still working"));
    assertThat(callbacks.awaitRequest(path).bodyText()).isEqualTo("still working");
  }

  @Execution(ExecutionMode.CONCURRENT)
  @Test
  void aCallbackToAnUnresolvableHostFailsCleanly() throws IOException {
    // .invalid never resolves (RFC 6761).
    chronos.createTimer(
        TimerJson.timer()
            .interval(1)
            .repeatFor(60)
            .callback("http://no-such-host.invalid/cb", "lost")
            .tag("UNRESOLVED", 1)
            .json());

    awaitTagCount("UNRESOLVED", 1); // stored
    awaitTagCount("UNRESOLVED", 0); // popped at 1 s, failed, dropped with 59 pops left

    String health = chronos.admin("/healthcheck").body();
    assertThat(
            new ObjectMapper()
                .readTree(health)
                .path("timer-thread")
                .path("healthy")
                .asBoolean(false))
        .as(health)
        .isTrue();
  }
}
