package org.chronos.resources;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** The {@code <16 hex>-<rf>[anything]} part of a timer URL (PROTOCOL.md section 1). Immutable. */
public record TimerPath(long id, int replicationFactor) {
  private static final Pattern PATTERN =
      Pattern.compile("([0-9a-fA-F]{16})-([0-9]+)(?![0-9]).*", Pattern.DOTALL);

  /** Parses the part after {@code /timers/}; null when it is not a timer URL. */
  public static TimerPath parse(String rest) {
    Matcher m = PATTERN.matcher(rest);
    if (!m.matches()) {
      return null;
    }
    String digits = m.group(2);
    int first = 0;
    while (first < digits.length() - 1 && digits.charAt(first) == '0') {
      first++; // leading zeros are no digits of it
    }
    digits = digits.substring(first);
    // Every digit is the replication factor's: one too large for an int is no timer's, rather
    // than its first ten digits being read as one.
    if (digits.length() > 10 || Long.parseLong(digits) > Integer.MAX_VALUE) {
      return null;
    }
    return new TimerPath(Long.parseUnsignedLong(m.group(1), 16), Integer.parseInt(digits));
  }

  private static final char[] HEX = "0123456789abcdef".toCharArray();

  /** {@code /timers/<16 lowercase hex digits>-<rf>}; by hand, since it runs for every request. */
  public static String location(long id, int replicationFactor) {
    StringBuilder s = new StringBuilder(36).append("/timers/");
    for (int shift = 60; shift >= 0; shift -= 4) {
      s.append(HEX[(int) (id >>> shift) & 0xf]);
    }
    return s.append('-').append(replicationFactor).toString();
  }

  public String location() {
    return location(id, replicationFactor);
  }
}
