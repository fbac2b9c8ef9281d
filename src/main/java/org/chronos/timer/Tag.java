package org.chronos.timer;

import java.util.regex.Pattern;

/**
 * A statistics tag on a timer (PROTOCOL.md section 8): 1-16 letters A-Z and a count from 1 to
 * {@link #MAX_COUNT}, the range of the original's unsigned 32-bit count.
 */
public record Tag(String type, long count) {
  /** The largest count a tag may carry: 2^32 - 1. */
  public static final long MAX_COUNT = 0xFFFF_FFFFL;

  private static final Pattern TYPE = Pattern.compile("[A-Z]{1,16}");

  public Tag {
    if (type == null || !TYPE.matcher(type).matches()) {
      throw new IllegalArgumentException("tag type must be 1-16 letters A-Z: " + type);
    }
    if (count < 1 || count > MAX_COUNT) {
      throw new IllegalArgumentException("tag count must be 1 to " + MAX_COUNT + ": " + count);
    }
  }

  public static boolean isValidType(String type) {
    return type != null && TYPE.matcher(type).matches();
  }
}
