package org.chronos.callback;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.ConnectException;
import java.net.NoRouteToHostException;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.net.UnknownHostException;
import org.apache.hc.core5.http.ConnectionClosedException;
import org.apache.hc.core5.http.NoHttpResponseException;
import org.apache.hc.core5.http.RequestNotExecutedException;
import org.junit.jupiter.api.Test;

/**
 * Which failures send a callback again: only those where the target closed the connection under it
 * without answering. A refused or unreachable target, a timeout or an unknown host is an answer of
 * a kind, and sending again would only call a target that said no (or delay the next replica).
 */
class CallbackClientTest {
  @Test
  void onlyAConnectionClosedWithoutAnAnswerSendsTheCallbackAgain() {
    assertThat(CallbackClient.closedWithoutAnswer(new RequestNotExecutedException())).isTrue();
    assertThat(CallbackClient.closedWithoutAnswer(new ConnectionClosedException())).isTrue();
    assertThat(CallbackClient.closedWithoutAnswer(new NoHttpResponseException("no response")))
        .isTrue();
    assertThat(CallbackClient.closedWithoutAnswer(new SocketException("Connection reset")))
        .isTrue();
    assertThat(CallbackClient.closedWithoutAnswer(new SocketException("Broken pipe"))).isTrue();

    assertThat(CallbackClient.closedWithoutAnswer(new ConnectException("Connection refused")))
        .isFalse();
    assertThat(CallbackClient.closedWithoutAnswer(new NoRouteToHostException("unreachable")))
        .isFalse();
    assertThat(CallbackClient.closedWithoutAnswer(new SocketTimeoutException("timed out")))
        .isFalse();
    assertThat(CallbackClient.closedWithoutAnswer(new UnknownHostException("x.invalid"))).isFalse();
    assertThat(CallbackClient.closedWithoutAnswer(new SocketException("Network is unreachable")))
        .isFalse();
  }
}
