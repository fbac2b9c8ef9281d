package org.chronos.api;

import java.nio.charset.StandardCharsets;

/**
 * Callback URIs as the original's curl takes them. A client may write characters a URI does not
 * allow after its authority: a {@code |}, {@code {}}, {@code ^} or space in a query, letters
 * outside ASCII, a {@code %} that starts no escape. curl sends them, and the callback's server
 * takes them. {@link java.net.URI} refuses them, and HttpClient would send a character outside
 * ASCII as a single byte, a path the server cannot read, so each is percent-encoded (as UTF-8)
 * before the URI is checked or called. The timer keeps the URI as the client wrote it, so its
 * replicas and an original node see what the client sent.
 */
public final class CallbackUri {
  private static final char[] HEX = "0123456789ABCDEF".toCharArray();

  /** The ASCII characters a URI holds as they are after its authority (RFC 3986, bar '[' ']'). */
  private static final boolean[] ALLOWED = new boolean[128];

  static {
    String allowed =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~:/?#@!$&'()*+,;=";
    for (int i = 0; i < allowed.length(); i++) {
      ALLOWED[allowed.charAt(i)] = true;
    }
  }

  private CallbackUri() {}

  /**
   * {@code uri} with every character a URI may not hold after its authority percent-encoded as its
   * UTF-8 bytes; {@code uri} itself (no copy) when there is none, as for nearly every callback. A
   * {@code %} followed by two hex digits is an escape and stays; so does everything up to the end
   * of the authority ({@code scheme://user@host:port}), which the checks of a callback's host read.
   */
  public static String encoded(String uri) {
    int i = pathStart(uri);
    boolean inFragment = false;
    for (; i < uri.length(); i++) {
      if (!allowed(uri, i, inFragment)) {
        break;
      }
      inFragment |= uri.charAt(i) == '#';
    }
    if (i == uri.length()) {
      return uri;
    }
    StringBuilder out = new StringBuilder(uri.length() + 16).append(uri, 0, i);
    for (; i < uri.length(); i++) {
      char c = uri.charAt(i);
      if (allowed(uri, i, inFragment)) {
        out.append(c);
        inFragment |= c == '#';
        continue;
      }
      int end =
          Character.isHighSurrogate(c)
                  && i + 1 < uri.length()
                  && Character.isLowSurrogate(uri.charAt(i + 1))
              ? i + 2
              : i + 1;
      for (byte b : uri.substring(i, end).getBytes(StandardCharsets.UTF_8)) {
        out.append('%').append(HEX[(b >> 4) & 0xF]).append(HEX[b & 0xF]);
      }
      i = end - 1;
    }
    return out.toString();
  }

  /** Where the path starts: after {@code scheme://authority}, or 0 if there is no {@code //}. */
  private static int pathStart(String uri) {
    int authority = uri.indexOf("://");
    if (authority < 0) {
      return 0;
    }
    int end = authority + 3;
    while (end < uri.length() && "/?#".indexOf(uri.charAt(end)) < 0) {
      end++;
    }
    return end;
  }

  private static boolean allowed(String uri, int i, boolean inFragment) {
    char c = uri.charAt(i);
    if (c >= ALLOWED.length) {
      return false;
    }
    if (c == '%') {
      return i + 2 < uri.length() && isHex(uri.charAt(i + 1)) && isHex(uri.charAt(i + 2));
    }
    if (c == '#') {
      return !inFragment; // a fragment holds no second '#'
    }
    return ALLOWED[c];
  }

  private static boolean isHex(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
  }
}
