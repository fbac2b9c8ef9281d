package org.chronos.callback;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.ConnectException;
import java.net.NoRouteToHostException;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.net.UnknownHostException;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.apache.hc.core5.http.ConnectionClosedException;
import org.apache.hc.core5.http.NoHttpResponseException;
import org.apache.hc.core5.http.RequestNotExecutedException;
import org.chronos.testing.CallbackServer;
import org.chronos.testing.CallbackServer.Reply;
import org.chronos.timer.CallbackOutcome;
import org.chronos.timer.Pop;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Which failures send a callback again: only those where the target closed the connection under it
 * without answering. A refused or unreachable target, a timeout or an unknown host is an answer of
 * a kind, and sending again would only call a target that said no (or delay the next replica).
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

        assertThat(client.trySend(pop, outcome::complete)).isTrue();

        assertThat(outcome.get(10, TimeUnit.SECONDS))
            .isEqualTo(CallbackOutcome.failed("timed out after 200 ms"));
      } finally {
        client.stop(0);
      }
    }
  }
}
