package org.chronos.resources;

import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;

/**
 * A raw query string's parameters, separated by {@code &} or {@code ;}: the original's resync
 * requests use {@code ;} ({@code node-for-replicas=...;cluster-view-id=...;time-from=...}), which
 * its HTTP library reads as {@code &}, and JAX-RS does not. Stateless.
 */
final class QueryString {
  private QueryString() {}

  /**
   * Name to value; the first of a repeated name wins; null or empty: none. The query is decoded
   * before it is split: the container hands it on with a ';' escaped ({@code %3B}). No value of
   * these requests has a separator of its own.
   */
  static Map<String, String> parse(String raw) {
    Map<String, String> params = new HashMap<>();
    if (raw == null || raw.isEmpty()) {
      return params;
    }
    for (String pair : decode(raw).split("[&;]")) {
      if (pair.isEmpty()) {
        continue;
      }
      int equals = pair.indexOf('=');
      String name = equals < 0 ? pair : pair.substring(0, equals);
      String value = equals < 0 ? "" : pair.substring(equals + 1);
      params.putIfAbsent(name, value);
    }
    return params;
  }

  private static String decode(String s) {
    try {
      return URLDecoder.decode(s, StandardCharsets.UTF_8);
    } catch (IllegalArgumentException e) {
      return s; // a malformed %-escape: taken as it is
    }
  }
}
