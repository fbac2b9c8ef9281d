package org.chronos.api;

import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The callback URI check, which remembers URIs it found valid; nothing invalid gets through. */
class CallbackUriCheckTest {
  @ParameterizedTest
  @ValueSource(
      strings = {
        "ftp://host/x",
        "/relative",
        "http:///nohost",
        "http://bad host/",
        "x",
        "http://my_host:99999/cb",
        "http://my_host:0/cb",
        "http://-my_host-/cb",
        "http://my_host..x/cb",
        "http://my_host:8a/cb"
      })
  void anInvalidUriIsRefusedEveryTime(String uri) {
    for (int i = 0; i < 3; i++) {
      assertThatThrownBy(() -> TimerRequestParser.checkCallbackUri(uri))
          .isInstanceOf(BadRequestException.class);
    }
  }

  @ParameterizedTest
  @ValueSource(
      strings = {
        "http://my_service/cb",
        "http://my_service:8080/cb?x=1",
        "http://user:pw@app_1.compose_net:80/",
        "https://a_b.example./"
      })
  void aHostNameWithAnUnderscoreIsAccepted(String uri) {
    assertThatCode(() -> TimerRequestParser.checkCallbackUri(uri)).doesNotThrowAnyException();
  }

  /** curl sends them as they are; they are sent percent-encoded ({@link CallbackUri}). */
  @ParameterizedTest
  @ValueSource(
      strings = {
        "http://127.0.0.1:80/café?f=a|b&q={x}&p=100%",
        "http://my_service/a b?c=^`",
        "http://h/#a#b"
      })
  void charactersAUriMayNotHoldAfterItsAuthorityAreAccepted(String uri) {
    assertThatCode(() -> TimerRequestParser.checkCallbackUri(uri)).doesNotThrowAnyException();
  }

  @Test
  void aValidUriIsAcceptedAgainAndDoesNotMakeAnotherValid() throws BadRequestException {
    for (int i = 0; i < 3; i++) {
      assertThatCode(() -> TimerRequestParser.checkCallbackUri("http://127.0.0.1:8080/cb"))
          .doesNotThrowAnyException();
    }
    // Every one of these shares a slot with some valid URI checked above or below, sooner or
    // later; none may pass because of it.
    for (int i = 0; i < 2000; i++) {
      TimerRequestParser.checkCallbackUri("https://host-" + i + ".example/cb");
      String invalid = "gopher://host-" + i + ".example/cb";
      assertThatThrownBy(() -> TimerRequestParser.checkCallbackUri(invalid))
          .isInstanceOf(BadRequestException.class);
    }
  }
}
