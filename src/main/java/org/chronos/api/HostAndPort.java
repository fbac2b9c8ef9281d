package org.chronos.api;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A URI authority that {@link java.net.URI} parses only as "registry-based", without a host: a host
 * name with {@code _} in it (DNS and curl take those, java.net.URI does not), and an optional port.
 * User information is left to the caller.
 *
 * @param port -1 when the authority has none
 */
public record HostAndPort(String host, int port) {
  private static final Pattern NAME =
      Pattern.compile(
          "((?:[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?\\.)*"
              + "[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?)\\.?(?::([0-9]{1,9}))?");

  /** The host and port of {@code authority} (after any {@code user@}), or null if not a name. */
  public static HostAndPort of(String authority) {
    if (authority == null) {
      return null;
    }
    String hostPort = authority.substring(authority.lastIndexOf('@') + 1);
    Matcher m = NAME.matcher(hostPort);
    if (!m.matches()) {
      return null;
    }
    return new HostAndPort(m.group(1), m.group(2) == null ? -1 : Integer.parseInt(m.group(2)));
  }
}
