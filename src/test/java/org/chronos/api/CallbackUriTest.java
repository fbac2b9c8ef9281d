package org.chronos.api;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Callback URIs with characters a URI may not hold, percent-encoded as curl's targets read them.
 */
class CallbackUriTest {
  @Test
  void aUriWithNothingToEncodeIsReturnedItself() {
    String uri = "http://user:p%40ss@host:80/a/b;c?x=1&y=%20#frag";
    assertThat(CallbackUri.encoded(uri)).isSameAs(uri);
  }

  @ParameterizedTest
  @CsvSource(
      delimiter = '|',
      quoteCharacter = '"',
      value = {
        "http://h/café | http://h/caf%C3%A9",
        "http://h/a b?c d | http://h/a%20b?c%20d",
        "\"http://h/?f=a|b\" | http://h/?f=a%7Cb",
        "http://h/?q={x}^`\\ | http://h/?q=%7Bx%7D%5E%60%5C",
        "http://h/?p=100% | http://h/?p=100%25",
        "http://h/?p=%4 | http://h/?p=%254",
        "http://h/?p=%41%zz | http://h/?p=%41%25zz",
        "http://h/[1] | http://h/%5B1%5D",
        "http://h/#a#b | http://h/#a%23b",
        "http://h/\uD83D\uDE00 | http://h/%F0%9F%98%80",
        "http://[::1]:80/x y | http://[::1]:80/x%20y",
        "http://my_host/é | http://my_host/%C3%A9"
      })
  void charactersAUriMayNotHoldAfterItsAuthorityArePercentEncoded(String uri, String expected) {
    assertThat(CallbackUri.encoded(uri)).isEqualTo(expected);
  }

  @Test
  void theAuthorityIsLeftAsWrittenForTheHostChecks() {
    assertThat(CallbackUri.encoded("http://bad host/x y")).isEqualTo("http://bad host/x%20y");
  }
}
