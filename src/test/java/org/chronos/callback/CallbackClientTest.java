package org.chronos.callback;

import static org.assertj.core.api.Assertions.assertThat;

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
        Pop pop = new Pop(1, target.url(path), new byte[0], 1, 0);

        assertThat(client.trySend(pop, outcome::complete)).isEqualTo(CallbackSink.Handed.SENT);

        assertThat(outcome.get(10, TimeUnit.SECONDS))
            .isEqualTo(CallbackOutcome.failed("timed out after 200 ms"));
      } finally {
        client.stop(0);
      }
    }
  }

  /**
   * A target that does not answer holds at most its share of the callbacks in flight: a further pop
   * to it is refused as TARGET_BUSY while another target's pop goes out and is answered, and once
   * one of its callbacks has finished it takes another.
   */
  @Test
  void aTargetThatDoesNotAnswerHoldsAtMostItsShareOfTheCallbacks() throws Exception {
    try (CallbackServer silent = CallbackServer.start();
        CallbackServer live = CallbackServer.start()) {
      CountDownLatch answer = new CountDownLatch(1);
      String path = silent.newPath("silent");
      silent.respond(
          path,
          request -> {
            try {
              answer.await();
            } catch (InterruptedException e) {
              Thread.currentThread().interrupt();
            }
            return Reply.ok();
          });
      CallbackClient client = new CallbackClient(30_000, 4, 2, 10, 1);
      client.start();
      try {
        List<CompletableFuture<CallbackOutcome>> held = new java.util.ArrayList<>();
        for (int i = 1; i <= 2; i++) {
          CompletableFuture<CallbackOutcome> outcome = new CompletableFuture<>();
          held.add(outcome);
          assertThat(
                  client.trySend(
                      new Pop(i, silent.url(path), new byte[0], 1, 0), outcome::complete))
              .isEqualTo(CallbackSink.Handed.SENT);
        }
        silent.awaitRequests(path, 2);
        assertThat(client.inFlight(silent.baseUrl())).isEqualTo(2);
        assertThat(
                client.trySend(
                    new Pop(3, silent.url(path), new byte[0], 1, 0),
                    outcome -> {
                      throw new AssertionError("a refused pop has no outcome");
                    }))
            .isEqualTo(CallbackSink.Handed.TARGET_BUSY);
        assertThat(client.inFlight()).as("the refused pop holds no slot").isEqualTo(2);

        CompletableFuture<CallbackOutcome> other = new CompletableFuture<>();
        assertThat(
                client.trySend(new Pop(4, live.url("/other"), new byte[0], 1, 0), other::complete))
            .isEqualTo(CallbackSink.Handed.SENT);
        assertThat(other.get(10, TimeUnit.SECONDS).success()).isTrue();

        answer.countDown();
        for (CompletableFuture<CallbackOutcome> outcome : held) {
          assertThat(outcome.get(10, TimeUnit.SECONDS).success()).isTrue();
        }
        assertThat(client.inFlight(silent.baseUrl())).isZero();
        CompletableFuture<CallbackOutcome> again = new CompletableFuture<>();
        assertThat(client.trySend(new Pop(5, silent.url(path), new byte[0], 1, 0), again::complete))
            .isEqualTo(CallbackSink.Handed.SENT);
        assertThat(again.get(10, TimeUnit.SECONDS).success()).isTrue();
      } finally {
        answer.countDown();
        client.stop(0);
      }
    }
  }

  @Test
  void aTargetIsTheSchemeAndAuthorityOfTheCallbackUri() {
    assertThat(Pop.targetOf("http://host:8080/cb?x=1")).isEqualTo("http://host:8080");
    assertThat(Pop.targetOf("http://host")).isEqualTo("http://host");
    assertThat(Pop.targetOf("https://u:p@host?x")).isEqualTo("https://u:p@host");
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
        new CallbackClient(30_000, 10, 10, 10, 1, new Timer(), new Counter(), dns);
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
        client.trySend(
            new Pop(1, "http://slow.test:" + target.port() + slowPath, new byte[0], 1, 0),
            slow::complete);
        client.trySend(
            new Pop(2, "http://fast.test:" + target.port() + fastPath, new byte[0], 1, 0),
            fast::complete);

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
            new Pop(1, "http://my_service:" + target.port() + path + "?q=1", new byte[0], 1, 0),
            outcome::complete);

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
        client.trySend(
            new Pop(1, "http://" + name + ":" + target.port() + path, new byte[0], 1, 0),
            outcome::complete);

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
        client.trySend(new Pop(i, "http://nowhere.test/cb", new byte[0], 1, 0), outcome::complete);
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
