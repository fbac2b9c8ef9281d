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
   * The target of a callback URI, for counting what is in flight to each: its scheme and authority
   * as written ({@code http://host:8080} of {@code http://host:8080/cb?x}), or the whole URI when
   * it has no {@code ://}. Spellings of one server that differ (a port written or not, case) count
   * as different targets.
   */
  public static String targetOf(String uri) {
    int authority = uri.indexOf("://");
    if (authority < 0) {
      return uri;
    }
    int end = authority + 3;
    while (end < uri.length() && "/?#".indexOf(uri.charAt(end)) < 0) {
      end++;
    }
    return end == uri.length() ? uri : uri.substring(0, end);
  }
}
