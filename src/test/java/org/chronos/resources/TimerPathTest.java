package org.chronos.resources;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

class TimerPathTest {
  @ParameterizedTest
  @CsvSource({
    "0, 1, /timers/0000000000000000-1",
    "1, 2, /timers/0000000000000001-2",
    "81985529216486895, 3, /timers/0123456789abcdef-3",
    "-1, 2147483647, /timers/ffffffffffffffff-2147483647",
    "-9223372036854775808, 0, /timers/8000000000000000-0"
  })
  void locationIsSixteenLowercaseHexDigitsThenTheReplicationFactor(
      long id, int rf, String expected) {
    assertThat(TimerPath.location(id, rf)).isEqualTo(expected);
    assertThat(new TimerPath(id, rf).location()).isEqualTo(expected);
  }

  @ParameterizedTest
  @ValueSource(longs = {0, 1, 0x0123456789abcdefL, -1, Long.MIN_VALUE, 0x7f00ff00ff00ff00L})
  void locationParsesBackToTheSameTimer(long id) {
    String rest = TimerPath.location(id, 2).substring("/timers/".length());

    assertThat(TimerPath.parse(rest)).isEqualTo(new TimerPath(id, 2));
  }

  @ParameterizedTest
  @ValueSource(strings = {"", "0123456789abcde-2", "0123456789abcdeg-2", "0123456789abcdef-", "x"})
  void malformedPathsAreNotTimers(String rest) {
    assertThat(TimerPath.parse(rest)).isNull();
  }

  @ParameterizedTest
  @ValueSource(
      strings = {
        "0123456789abcdef-2147483648",
        "0123456789abcdef-12345678901",
        "0123456789abcdef-9999999999999999999999"
      })
  void aReplicationFactorTooLargeForAnIntIsNotReadFromItsFirstDigits(String rest) {
    assertThat(TimerPath.parse(rest)).isNull();
  }

  @Test
  void aReplicationFactorOfTenDigitsIsReadWhole() {
    assertThat(TimerPath.parse("0123456789abcdef-2147483647x"))
        .isEqualTo(new TimerPath(0x0123456789abcdefL, Integer.MAX_VALUE));
  }

  @Test
  void leadingZerosOfTheReplicationFactorAreNotDigitsOfIt() {
    assertThat(TimerPath.parse("0123456789abcdef-00000000002"))
        .isEqualTo(new TimerPath(0x0123456789abcdefL, 2));
    assertThat(TimerPath.parse("0123456789abcdef-0000000000000000000000002"))
        .isEqualTo(new TimerPath(0x0123456789abcdefL, 2));
    assertThat(TimerPath.parse("0123456789abcdef-0"))
        .isEqualTo(new TimerPath(0x0123456789abcdefL, 0));
  }

  @ParameterizedTest
  @ValueSource(strings = {"0123456789ABCDEF-2", "0123456789abcdef-2/extra"})
  void upperCaseHexAndTrailingTextAreAccepted(String rest) {
    assertThat(TimerPath.parse(rest)).isEqualTo(new TimerPath(0x0123456789abcdefL, 2));
  }
}
