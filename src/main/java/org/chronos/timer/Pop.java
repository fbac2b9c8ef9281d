package org.chronos.timer;

/**
 * One callback to deliver: an immutable snapshot taken on the timer thread when a timer pops.
 *
 * @param sequence the value of {@code X-Sequence-Number}: 1 on a timer's first pop
 * @param dueMillis when the pop was due, for lateness
 */
public record Pop(long timerId, String uri, byte[] opaque, int sequence, long dueMillis) {

  /** The target this pop goes to: see {@link #targetOf}. */
  public String target() {
    return targetOf(uri);
  }

  /**
   * The target of a callback URI, for counting what is in flight to each: its scheme and host, and
   * its port unless the scheme's default ({@code http://host:8080} of {@code
   * http://host:8080/cb?x}; {@code http://app} of {@code HTTP://user@APP:80/cb}), or the whole URI
   * when it has no {@code ://}. Spellings of one server that differ in case, a user name or a
   * default port written or not are one target: counted apart, a silent server written two ways had
   * twice the slots of {@code callbacks.maxInFlightPerSilentTarget}.
   */
  public static String targetOf(String uri) {
    int authority = uri.indexOf("://");
    if (authority < 0) {
      return uri;
    }
    int from = authority + 3;
    int end = from;
    int colon = -1; // of the port, if any
    boolean plain = true; // lower case, no user name, no port to rewrite: the URI's head as it is
    while (end < uri.length() && "/?#".indexOf(uri.charAt(end)) < 0) {
      char c = uri.charAt(end);
      if (c == '@' || (c >= 'A' && c <= 'Z')) {
        plain = false;
      } else if (c == ':') {
        colon = end;
      } else if (c == ']') {
        colon = -1; // the colons so far were an IPv6 literal's
      }
      end++;
    }
    for (int i = 0; plain && i < authority; i++) {
      char c = uri.charAt(i);
      plain = c < 'A' || c > 'Z';
    }
    if (plain && colon >= 0) {
      // A port as it would be written anyway: not empty, no leading zero, not the default.
      plain =
          colon + 1 < end
              && uri.charAt(colon + 1) != '0'
              && !isDefaultPort(uri, authority, uri, colon + 1, end - colon - 1);
    }
    if (plain) {
      return end == uri.length() ? uri : uri.substring(0, end);
    }
    String scheme = uri.substring(0, authority).toLowerCase(java.util.Locale.ROOT);
    int at = uri.lastIndexOf('@', end - 1);
    int hostFrom = Math.max(from, at + 1);
    if (colon < hostFrom) {
      return scheme + "://" + uri.substring(hostFrom, end).toLowerCase(java.util.Locale.ROOT);
    }
    String host = uri.substring(hostFrom, colon).toLowerCase(java.util.Locale.ROOT);
    String port = uri.substring(colon + 1, end);
    int zeros = 0;
    while (zeros < port.length() - 1 && port.charAt(zeros) == '0') {
      zeros++;
    }
    port = port.substring(zeros);
    return port.isEmpty() || isDefaultPort(scheme, scheme.length(), port, 0, port.length())
        ? scheme + "://" + host
        : scheme + "://" + host + ":" + port;
  }

  /**
   * Whether the port ({@code portLength} characters of {@code port} from {@code portFrom}) is the
   * default of the scheme (the first {@code schemeLength} characters of {@code scheme}, lower
   * case): compared in place, as the timer thread does for every pop.
   */
  private static boolean isDefaultPort(
      String scheme, int schemeLength, String port, int portFrom, int portLength) {
    return (schemeLength == 4
            && scheme.startsWith("http")
            && portLength == 2
            && port.startsWith("80", portFrom))
        || (schemeLength == 5
            && scheme.startsWith("https")
            && portLength == 3
            && port.startsWith("443", portFrom));
  }
}
