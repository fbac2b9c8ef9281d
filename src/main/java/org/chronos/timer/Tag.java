package org.chronos.timer;

import java.util.regex.Pattern;

/** A statistics tag on a timer (PROTOCOL.md section 8): 1-16 letters A-Z and a positive count. */
public record Tag(String type, int count) {
  private static final Pattern TYPE = Pattern.compile("[A-Z]{1,16}");

  public Tag {
    if (type == null || !TYPE.matcher(type).matches()) {
      throw new IllegalArgumentException("tag type must be 1-16 letters A-Z: " + type);
    }
    if (count < 1) {
      throw new IllegalArgumentException("tag count must be positive: " + count);
    }
  }

  public static boolean isValidType(String type) {
    return type != null && TYPE.matcher(type).matches();
  }
}
