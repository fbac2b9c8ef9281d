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
    boolean plain = true; // lower case, no user name, no port: the URI's head as it is
    while (end < uri.length() && "/?#".indexOf(uri.charAt(end)) < 0) {
      char c = uri.charAt(end);
      plain &= c != '@' && c != ':' && (c < 'A' || c > 'Z');
      end++;
    }
    for (int i = 0; plain && i < authority; i++) {
      char c = uri.charAt(i);
      plain = c < 'A' || c > 'Z';
    }
    if (plain) {
      return end == uri.length() ? uri : uri.substring(0, end);
    }
    String scheme = uri.substring(0, authority).toLowerCase(java.util.Locale.ROOT);
    int at = uri.lastIndexOf('@', end - 1);
    String host = uri.substring(Math.max(from, at + 1), end).toLowerCase(java.util.Locale.ROOT);
    int colon = host.lastIndexOf(':');
    if (colon >= 0 && host.indexOf(']', colon) < 0) { // not inside an IPv6 literal
      String port = host.substring(colon + 1);
      if (port.isEmpty()
          || (scheme.equals("http") && port.equals("80"))
          || (scheme.equals("https") && port.equals("443"))) {
        host = host.substring(0, colon);
      }
    }
    return scheme + "://" + host;
  }
}
