package org.chronos.overload;

import static org.assertj.core.api.Assertions.assertThat;

import io.dropwizard.testing.junit5.DropwizardAppExtension;
import io.dropwizard.testing.junit5.DropwizardExtensionsSupport;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import org.chronos.ChronosConfiguration;
import org.chronos.testing.ChronosClient;
import org.chronos.testing.SingleNodeApp;
import org.chronos.testing.TimerJson;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * A refused client that waits for {@code 100 Continue} before sending its body (curl does, for
 * larger bodies) is refused at once: reading the body to keep the connection, the node asked it to
 * send the whole body first, only to refuse it.
 */
@ExtendWith(DropwizardExtensionsSupport.class)
class OverloadExpectContinueTest {
  // One token, and the next ten seconds later: the second request is refused.
  static final DropwizardAppExtension<ChronosConfiguration> APP =
      SingleNodeApp.create("overload:", "  bucketSize: 1", "  initialRate: 0.1", "  minRate: 0.1");

  @Test
  void aRefusedClientAwaitingContinueIsRefusedWithoutSendingItsBody() throws IOException {
    ChronosClient client = ChronosClient.of(APP);
    String body = TimerJson.oneShot(600, "http://127.0.0.1:1/never", "expect");
    assertThat(client.post("/timers", body).statusCode()).isEqualTo(200); // the one token

    try (Socket socket = new Socket(InetAddress.getLoopbackAddress(), APP.getLocalPort())) {
      socket.setSoTimeout(10_000);
      socket
          .getOutputStream()
          .write(
              ("POST /timers HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                      + "Content-Length: "
                      + body.getBytes(StandardCharsets.UTF_8).length
                      + "\r\nExpect: 100-continue\r\n\r\n")
                  .getBytes(StandardCharsets.US_ASCII));

      assertThat(statusLine(socket.getInputStream()))
          .as("the first answer, with the body not sent")
          .startsWith("HTTP/1.1 503");
    }
  }

  private static String statusLine(InputStream in) throws IOException {
    StringBuilder line = new StringBuilder();
    int b;
    while ((b = in.read()) >= 0 && b != '\r') {
      line.append((char) b);
    }
    return line.toString();
  }
}
