package org.chronos.callback;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;
import static org.chronos.testing.CallbackServer.heldUntil;

import com.codahale.metrics.Counter;
import com.codahale.metrics.Timer;
import java.net.ConnectException;
import java.net.InetAddress;
import java.net.NoRouteToHostException;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.net.UnknownHostException;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.apache.hc.core5.http.ConnectionClosedException;
import org.apache.hc.core5.http.NoHttpResponseException;
import org.apache.hc.core5.http.RequestNotExecutedException;
import org.chronos.testing.CallbackServer;
import org.chronos.testing.CallbackServer.Reply;
import org.chronos.timer.CallbackOutcome;
import org.chronos.timer.CallbackSink;
import org.chronos.timer.Pop;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Which failures send a callback again: only those where the target closed the connection under it
 * without answering. A refused or unreachable target, a timeout or an unknown host is an answer of
 * a kind, and sending again would only call a target that said no (or delay the next replica). And
 * how many callbacks one target may hold.
 */
class CallbackClientTest {
  static Stream<Arguments> failures() {
    return Stream.of(
        Arguments.of(new RequestNotExecutedException(), true),
        Arguments.of(new ConnectionClosedException(), true),
        Arguments.of(new NoHttpResponseException("no response"), true),
        Arguments.of(new SocketException("Connection reset"), true),
        Arguments.of(new SocketException("Broken pipe"), true),
        Arguments.of(new ConnectException("Connection refused"), false),
        Arguments.of(new NoRouteToHostException("No route to host"), false),
        Arguments.of(new SocketTimeoutException("timed out"), false),
        Arguments.of(new UnknownHostException("no-such-host.invalid"), false),
        Arguments.of(new SocketException("Network is unreachable"), false));
  }

  @ParameterizedTest(name = "{0}: send again {1}")
  @MethodSource("failures")
  void onlyAConnectionClosedWithoutAnAnswerSendsTheCallbackAgain(
      Exception failure, boolean sendAgain) {
    assertThat(CallbackClient.closedWithoutAnswer(failure)).isEqualTo(sendAgain);
  }

  /** The log line of a callback that ran out of time says so (it used to say "cancelled"). */
  @Test
  void aCallbackPastItsDeadlineFailsAsTimedOut() throws Exception {
    try (CallbackServer target = CallbackServer.start()) {
      String path = target.newPath("stall");
      target.respond(path, request -> Reply.stall(Duration.ofSeconds(2)));
      CallbackClient client = new CallbackClient(200, 10, 10, 1);
      client.start();
      try {
        CompletableFuture<CallbackOutcome> outcome = new CompletableFuture<>();
        Pop pop = pop(1, target.url(path));

        assertThat(client.trySend(pop, outcome::complete)).isEqualTo(CallbackSink.Handed.SENT);

        assertThat(outcome.get(10, TimeUnit.SECONDS))
            .isEqualTo(CallbackOutcome.failed("timed out after 200 ms"));
      } finally {
        client.stop(0);
      }
    }
  }

  /** A client whose targets count as silent after {@code quietMillis} without an answer. */
  private static CallbackClient withQuietTime(
      long timeoutMillis, int maxInFlight, int maxInFlightPerSilentTarget, long quietMillis) {
    return new CallbackClient(
        timeoutMillis,
        maxInFlight,
        maxInFlightPerSilentTarget,
        10,
        1,
        new Timer(),
        new Counter(),
        InetAddress::getAllByName,
        quietMillis);
  }

  /**
   * A target that was answering and stops (its host dies with callbacks in flight) is limited once
   * it has answered nothing for the quiet time, not only once a callback to it has timed out: at a
   * high rate it would otherwise take every slot before its first timeout.
   */
  @Test
  void aTargetThatStopsAnsweringIsLimitedAfterTheQuietTime() throws Exception {
    try (CallbackServer target = CallbackServer.start()) {
      CountDownLatch later = new CountDownLatch(1);
      CallbackServer.Responder held = heldUntil(later);
      String path = target.newPath("dies");
      target.respond(path, request -> request.number() == 1 ? Reply.ok() : held.reply(request));
      CallbackClient client = withQuietTime(30_000, 4, 1, 100);
      client.start();
      try {
        CompletableFuture<CallbackOutcome> answered = new CompletableFuture<>();
        client.trySend(pop(1, target.url(path)), answered::complete);
        assertThat(answered.get(10, TimeUnit.SECONDS).success()).isTrue();
        long answeredBy = System.nanoTime();
        CompletableFuture<CallbackOutcome> unanswered = new CompletableFuture<>();
        assertThat(client.trySend(pop(2, target.url(path)), unanswered::complete))
            .isEqualTo(CallbackSink.Handed.SENT);

        await("the quiet time passed since the last answer")
            .atMost(Duration.ofSeconds(5))
            .pollInterval(Duration.ofMillis(10))
            .until(() -> System.nanoTime() - answeredBy > TimeUnit.MILLISECONDS.toNanos(100));
        assertThat(client.trySend(pop(3, target.url(path)), outcome -> {}))
            .as("quiet, with one in flight")
            .isEqualTo(CallbackSink.Handed.TARGET_BUSY);
        later.countDown();
        assertThat(unanswered.get(10, TimeUnit.SECONDS).success()).isTrue();
      } finally {
        later.countDown();
        client.stop(0);
      }
    }
  }

  private static Pop pop(long id, String uri) {
    return new Pop(id, uri, new byte[0], 1, 0);
  }

  /**
   * A target that has not answered holds at most {@code maxInFlightPerSilentTarget} callbacks: a
   * further pop to it is refused as TARGET_BUSY, holding no slot, while another target's pop goes
   * out and is answered. Once it answers it may take any number of the free slots.
   */
  @Test
  void aSilentTargetHoldsAtMostItsLimitOfCallbacksAndAnAnsweringOneAny() throws Exception {
    try (CallbackServer target = CallbackServer.start();
        CallbackServer other = CallbackServer.start()) {
      CountDownLatch firstAnswers = new CountDownLatch(1);
      CountDownLatch laterAnswers = new CountDownLatch(1);
      String first = target.newPath("first");
      String later = target.newPath("later");
      target.respond(first, heldUntil(firstAnswers));
      target.respond(later, heldUntil(laterAnswers));
      CallbackClient client = withQuietTime(30_000, 4, 2, 60_000);
      client.start();
      try {
        List<CompletableFuture<CallbackOutcome>> held = new java.util.ArrayList<>();
        for (int i = 1; i <= 2; i++) {
          CompletableFuture<CallbackOutcome> outcome = new CompletableFuture<>();
          held.add(outcome);
          assertThat(client.trySend(pop(i, target.url(first)), outcome::complete))
              .isEqualTo(CallbackSink.Handed.SENT);
        }
        target.awaitRequests(first, 2);
        assertThat(client.inFlight(target.baseUrl())).isEqualTo(2);
        assertThat(
                client.trySend(
                    pop(3, target.url(first)),
                    outcome -> {
                      throw new AssertionError("a refused pop has no outcome");
                    }))
            .as("not answered yet: silent")
            .isEqualTo(CallbackSink.Handed.TARGET_BUSY);
        assertThat(client.inFlight()).as("the refused pop holds no slot").isEqualTo(2);

        CompletableFuture<CallbackOutcome> elsewhere = new CompletableFuture<>();
        assertThat(client.trySend(pop(4, other.url("/other")), elsewhere::complete))
            .isEqualTo(CallbackSink.Handed.SENT);
        assertThat(elsewhere.get(10, TimeUnit.SECONDS).success()).isTrue();

        firstAnswers.countDown();
        for (CompletableFuture<CallbackOutcome> outcome : held) {
          assertThat(outcome.get(10, TimeUnit.SECONDS).success()).isTrue();
        }
        assertThat(client.inFlight(target.baseUrl())).isZero();
        // Answering now: it may have every slot, and only the global limit refuses.
        held.clear();
        for (int i = 5; i <= 8; i++) {
          CompletableFuture<CallbackOutcome> outcome = new CompletableFuture<>();
          held.add(outcome);
          assertThat(client.trySend(pop(i, target.url(later)), outcome::complete))
              .isEqualTo(CallbackSink.Handed.SENT);
        }
        assertThat(client.trySend(pop(9, target.url(later)), outcome -> {}))
            .isEqualTo(CallbackSink.Handed.FULL);
        laterAnswers.countDown();
        for (CompletableFuture<CallbackOutcome> outcome : held) {
          assertThat(outcome.get(10, TimeUnit.SECONDS).success()).isTrue();
        }
      } finally {
        firstAnswers.countDown();
        laterAnswers.countDown();
        client.stop(0);
      }
    }
  }

  /** A target whose callback timed out is silent again, and limited, until it next answers. */
  @Test
  void aTargetWhoseCallbackTimedOutIsSilentUntilItAnswers() throws Exception {
    try (CallbackServer target = CallbackServer.start()) {
      String path = target.newPath("flaky");
      CountDownLatch thirdAnswers = new CountDownLatch(1);
      CountDownLatch laterAnswer = new CountDownLatch(1);
      CallbackServer.Responder third = heldUntil(thirdAnswers);
      CallbackServer.Responder later = heldUntil(laterAnswer);
      // The first answers at once, the second after the 200 ms deadline, the rest when let.
      target.respond(
          path,
          request ->
              switch (request.number()) {
                case 1 -> Reply.ok();
                case 2 -> Reply.ok().after(Duration.ofMillis(1000));
                case 3 -> third.reply(request);
                default -> later.reply(request);
              });
      CallbackClient client = withQuietTime(200, 4, 1, 60_000);
      client.start();
      try {
        CompletableFuture<CallbackOutcome> answered = new CompletableFuture<>();
        client.trySend(pop(1, target.url(path)), answered::complete);
        assertThat(answered.get(10, TimeUnit.SECONDS).success()).isTrue();
        CompletableFuture<CallbackOutcome> timedOut = new CompletableFuture<>();
        client.trySend(pop(2, target.url(path)), timedOut::complete);
        assertThat(timedOut.get(10, TimeUnit.SECONDS))
            .isEqualTo(CallbackOutcome.failed("timed out after 200 ms"));

        CompletableFuture<CallbackOutcome> three = new CompletableFuture<>();
        assertThat(client.trySend(pop(3, target.url(path)), three::complete))
            .isEqualTo(CallbackSink.Handed.SENT);
        target.awaitRequests(path, 3);
        assertThat(client.trySend(pop(4, target.url(path)), outcome -> {}))
            .as("silent since its timeout, with one in flight")
            .isEqualTo(CallbackSink.Handed.TARGET_BUSY);
        thirdAnswers.countDown();
        assertThat(three.get(10, TimeUnit.SECONDS).success()).isTrue();

        CompletableFuture<CallbackOutcome> four = new CompletableFuture<>();
        CompletableFuture<CallbackOutcome> five = new CompletableFuture<>();
        assertThat(client.trySend(pop(4, target.url(path)), four::complete))
            .isEqualTo(CallbackSink.Handed.SENT);
        assertThat(client.trySend(pop(5, target.url(path)), five::complete))
            .as("answering again: beyond the limit")
            .isEqualTo(CallbackSink.Handed.SENT);
        laterAnswer.countDown();
        assertThat(four.get(10, TimeUnit.SECONDS).success()).isTrue();
        assertThat(five.get(10, TimeUnit.SECONDS).success()).isTrue();
      } finally {
        thirdAnswers.countDown();
        laterAnswer.countDown();
        client.stop(0);
      }
    }
  }

  @Test
  void aTargetIsTheSchemeHostAndPortOfTheCallbackUriHoweverSpelt() {
    assertThat(Pop.targetOf("http://host:8080/cb?x=1")).isEqualTo("http://host:8080");
    assertThat(Pop.targetOf("http://host")).isEqualTo("http://host");
    assertThat(Pop.targetOf("https://u:p@host?x")).isEqualTo("https://host");
    assertThat(Pop.targetOf("HTTP://App:80/cb")).isEqualTo("http://app");
    assertThat(Pop.targetOf("http://app:/cb")).isEqualTo("http://app");
    assertThat(Pop.targetOf("https://app:443")).isEqualTo("https://app");
    assertThat(Pop.targetOf("https://app:80/cb")).isEqualTo("https://app:80");
    assertThat(Pop.targetOf("http://[::1]/cb")).isEqualTo("http://[::1]");
    assertThat(Pop.targetOf("http://[::1]:80/cb")).isEqualTo("http://[::1]");
    assertThat(Pop.targetOf("http://[::1]:8080/cb")).isEqualTo("http://[::1]:8080");
    assertThat(Pop.targetOf("http://app:0080/cb")).isEqualTo("http://app");
    assertThat(Pop.targetOf("http://app:08080/cb")).isEqualTo("http://app:8080");
    assertThat(Pop.targetOf("http://app:8080/cb")).isEqualTo("http://app:8080");
    assertThat(Pop.targetOf("http://app:8080")).isEqualTo("http://app:8080");
    assertThat(Pop.targetOf("http://u@app:8080/a@b")).isEqualTo("http://app:8080");
    assertThat(Pop.targetOf("http://host#f")).isEqualTo("http://host");
    assertThat(Pop.targetOf("not-a-uri")).isEqualTo("not-a-uri");
  }

  /** {@code host} as a name for 127.0.0.1, as a test's DNS answers it. */
  private static InetAddress[] loopback(String host) throws UnknownHostException {
    return new InetAddress[] {InetAddress.getByAddress(host, new byte[] {127, 0, 0, 1})};
  }

  /** A started client with a 30 s deadline whose host names {@code dns} looks up. */
  private static CallbackClient started(HostLookups.Lookup dns) {
    CallbackClient client =
        new CallbackClient(
            30_000,
            10,
            10,
            10,
            1,
            new Timer(),
            new Counter(),
            dns,
            CallbackClient.defaultQuietMillis(30_000));
    client.start();
    return client;
  }

  /**
   * A client whose DNS server is slow holds up its own callbacks, not everyone's: HttpClient looks
   * host names up on the thread that starts the request, the one dispatcher thread.
   */
  @Test
  void aSlowHostNameLookupHoldsUpNoOtherCallback() throws Exception {
    CountDownLatch slowAnswers = new CountDownLatch(1);
    HostLookups.Lookup dns =
        host -> {
          if (host.equals("slow.test")) {
            try {
              slowAnswers.await();
            } catch (InterruptedException e) {
              throw new UnknownHostException("interrupted");
            }
          }
          return loopback(host);
        };
    try (CallbackServer target = CallbackServer.start()) {
      CallbackClient client = started(dns);
      try {
        CompletableFuture<CallbackOutcome> slow = new CompletableFuture<>();
        CompletableFuture<CallbackOutcome> fast = new CompletableFuture<>();
        String slowPath = target.newPath("slow");
        String fastPath = target.newPath("fast");
        client.trySend(pop(1, "http://slow.test:" + target.port() + slowPath), slow::complete);
        client.trySend(pop(2, "http://fast.test:" + target.port() + fastPath), fast::complete);

        assertThat(fast.get(10, TimeUnit.SECONDS)).isEqualTo(CallbackOutcome.succeeded("HTTP 200"));
        assertThat(slow).isNotDone();

        slowAnswers.countDown();
        assertThat(slow.get(10, TimeUnit.SECONDS)).isEqualTo(CallbackOutcome.succeeded("HTTP 200"));
        assertThat(target.requestsTo(slowPath)).hasSize(1);
      } finally {
        slowAnswers.countDown();
        client.stop(0);
      }
    }
  }

  /** Docker Compose service names have '_', which java.net.URI finds no host in; curl took them. */
  @Test
  void aHostNameWithAnUnderscoreIsLookedUpAndCalled() throws Exception {
    HostLookups.Lookup dns =
        host -> {
          if (!host.equals("my_service")) {
            throw new UnknownHostException(host);
          }
          return loopback(host);
        };
    try (CallbackServer target = CallbackServer.start()) {
      CallbackClient client = started(dns);
      try {
        String path = target.newPath("underscore");
        CompletableFuture<CallbackOutcome> outcome = new CompletableFuture<>();
        client.trySend(
            pop(1, "http://my_service:" + target.port() + path + "?q=1"), outcome::complete);

        assertThat(outcome.get(10, TimeUnit.SECONDS))
            .isEqualTo(CallbackOutcome.succeeded("HTTP 200"));
        assertThat(target.requestsTo(path)).hasSize(1);
        assertThat(target.requestsTo(path).get(0).query()).isEqualTo("q=1");
      } finally {
        client.stop(0);
      }
    }
  }

  /**
   * A host name written with its root's trailing dot is looked up on the lookup threads, as any
   * other, not on the dispatcher thread every other callback waits for (and so is refreshed, as the
   * lookup threads' answers are); one with '_' (which java.net.URI finds no host in) was not.
   */
  @ParameterizedTest
  @ValueSource(strings = {"dotted_svc.", "dotted.test."})
  void aHostNameWithATrailingDotIsLookedUpOffTheDispatcher(String name) throws Exception {
    List<String> lookups = new java.util.concurrent.CopyOnWriteArrayList<>();
    HostLookups.Lookup dns =
        host -> {
          lookups.add(host + " on " + Thread.currentThread().getName());
          return loopback(host);
        };
    try (CallbackServer target = CallbackServer.start()) {
      CallbackClient client = started(dns);
      try {
        String path = target.newPath("dotted");
        CompletableFuture<CallbackOutcome> outcome = new CompletableFuture<>();
        client.trySend(pop(1, "http://" + name + ":" + target.port() + path), outcome::complete);

        assertThat(outcome.get(10, TimeUnit.SECONDS))
            .isEqualTo(CallbackOutcome.succeeded("HTTP 200"));
        assertThat(target.requestsTo(path)).hasSize(1);
        assertThat(lookups)
            .isNotEmpty()
            .allSatisfy(lookup -> assertThat(lookup).contains(" on chronos-callback-dns"));
      } finally {
        client.stop(0);
      }
    }
  }

  /** A name that does not resolve fails its callbacks; the failure is remembered for a while. */
  @Test
  void aHostNameThatDoesNotResolveFailsTheCallback() throws Exception {
    java.util.concurrent.atomic.AtomicInteger lookups =
        new java.util.concurrent.atomic.AtomicInteger();
    HostLookups.Lookup dns =
        host -> {
          lookups.incrementAndGet();
          throw new UnknownHostException(host + ": no such name");
        };
    CallbackClient client = started(dns);
    try {
      for (int i = 0; i < 2; i++) {
        CompletableFuture<CallbackOutcome> outcome = new CompletableFuture<>();
        client.trySend(pop(i, "http://nowhere.test/cb"), outcome::complete);
        CallbackOutcome failed = outcome.get(10, TimeUnit.SECONDS);
        assertThat(failed.success()).isFalse();
        assertThat(failed.detail()).contains("nowhere.test");
      }
      // The failure was remembered: the second callback did not wait for the resolver again.
      assertThat(lookups).hasValue(1);
    } finally {
      client.stop(0);
    }
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("targets")
  void credentialsLeaveTheUriForTheAuthorizationHeaderAndNothingElseDoes(
      String uri, String sentTo, byte[] credentials) {
    CallbackClient.Target target = CallbackClient.Target.of(uri);
    assertThat(target.uri()).isEqualTo(sentTo);
    assertThat(target.authorization())
        .isEqualTo(
            credentials == null
                ? null
                : "Basic " + java.util.Base64.getEncoder().encodeToString(credentials));
    assertThat(CallbackClient.withoutCredentials(uri)).isEqualTo(sentTo);
  }

  private static byte[] utf8(String s) {
    return s.getBytes(java.nio.charset.StandardCharsets.UTF_8);
  }

  static Stream<Arguments> targets() {
    return Stream.of(
        Arguments.of("http://h:1/cb", "http://h:1/cb", null),
        Arguments.of("http://h/cb?to=a@b", "http://h/cb?to=a@b", null),
        Arguments.of("http://h/a@b/cb", "http://h/a@b/cb", null),
        Arguments.of("http://h#a@b", "http://h#a@b", null),
        Arguments.of("http://[::1]:8/cb", "http://[::1]:8/cb", null),
        Arguments.of("http://u:p@h:1/cb?x=@", "http://h:1/cb?x=@", utf8("u:p")),
        Arguments.of("http://u:p@[::1]:8/", "http://[::1]:8/", utf8("u:p")),
        // No password: "u:", as RFC 7617 has it and curl sends it.
        Arguments.of("https://u@h", "https://h", utf8("u:")),
        Arguments.of("http://u%3Ax:p%40%C3%BC+@h/", "http://h/", utf8("u:x:p@\u00fc+")),
        // An escape that is no UTF-8 stands for its byte, as curl sends it.
        Arguments.of("http://u:%FF@h/", "http://h/", new byte[] {'u', ':', (byte) 0xFF}));
  }
}
