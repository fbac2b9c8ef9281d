package org.chronos.cluster;

import java.util.regex.Pattern;

/**
 * Checks of cluster addresses, and their {@code host:port} form for connecting; stateless, safe
 * from any thread.
 *
 * <p>A cluster address is hashed, listed in replica lists and compared exactly as the operator
 * wrote it, as the original does: {@code 1.2.3.4} and {@code 1.2.3.4:7253} place timers
 * differently, and every node must list a node in the same form. Only a connection to it completes
 * what is missing ({@link #connectable}): the default port (this node's HTTP port), and the
 * brackets of a bare IPv6 literal.
 */
public final class Addresses {

  private static final Pattern HOST = Pattern.compile("[A-Za-z0-9._-]+");
  private static final Pattern IPV6 =
      Pattern.compile("[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*(%[A-Za-z0-9._-]+)?");
  private static final Pattern PORT = Pattern.compile("[0-9]{1,5}");

  private Addresses() {}

  /**
   * Returns {@code raw} as {@code host:port} or {@code [ipv6]:port}.
   *
   * <p>Accepted: {@code host}, {@code host:port}, {@code [ipv6]}, {@code [ipv6]:port} and a bare
   * {@code ipv6} literal (two or more colons), which gets brackets and {@code defaultPort}: a bare
   * literal cannot carry a port, since its last group would be read as one.
   *
   * @throws IllegalArgumentException with the reason, when the host is empty or has characters no
   *     hostname, IPv4 or IPv6 address has, or the port is not 1-65535
   */
  public static String normalize(String raw, int defaultPort) {
    checkPort(defaultPort);
    String address = raw.strip();
    if (address.isEmpty()) {
      throw new IllegalArgumentException("the address is empty");
    }
    if (address.startsWith("[")) {
      int close = address.indexOf(']');
      if (close < 0) {
        throw new IllegalArgumentException("'[' without a closing ']'");
      }
      String host = address.substring(1, close);
      if (!IPV6.matcher(host).matches()) {
        throw new IllegalArgumentException("'" + host + "' in brackets is not an IPv6 address");
      }
      String rest = address.substring(close + 1);
      if (rest.isEmpty()) {
        return address + ":" + defaultPort;
      }
      if (!rest.startsWith(":")) {
        throw new IllegalArgumentException("expected ':<port>' after ']', got '" + rest + "'");
      }
      checkPort(rest.substring(1));
      return address;
    }
    int colons = (int) address.chars().filter(c -> c == ':').count();
    if (colons >= 2) {
      if (!IPV6.matcher(address).matches()) {
        throw new IllegalArgumentException("not an IPv6 address");
      }
      return "[" + address + "]:" + defaultPort;
    }
    String host = colons == 0 ? address : address.substring(0, address.indexOf(':'));
    if (host.isEmpty()) {
      throw new IllegalArgumentException("the host is empty");
    }
    if (!HOST.matcher(host).matches()) {
      throw new IllegalArgumentException(
          "host '" + host + "' may only contain letters, digits, '.', '-' and '_'");
    }
    if (colons == 0) {
      return address + ":" + defaultPort;
    }
    checkPort(address.substring(host.length() + 1));
    return address;
  }

  /**
   * {@code raw} without surrounding blanks, as it is to be hashed and listed, once {@link
   * #normalize} has found it valid.
   *
   * @throws IllegalArgumentException as {@link #normalize} does
   */
  public static String checked(String raw) {
    normalize(raw, ClusterConfig.DEFAULT_PORT);
    return raw.strip();
  }

  /**
   * Where to connect to reach {@code address}: its {@code host:port} form, with {@code defaultPort}
   * when it has none; an address that is not valid (a peer's garbage) is returned as it is, so the
   * request fails on it rather than here.
   */
  public static String connectable(String address, int defaultPort) {
    try {
      return normalize(address, defaultPort);
    } catch (IllegalArgumentException e) {
      return address;
    }
  }

  private static void checkPort(String port) {
    if (!PORT.matcher(port).matches()) {
      throw new IllegalArgumentException("port '" + port + "' is not a number 1-65535");
    }
    checkPort(Integer.parseInt(port));
  }

  private static void checkPort(int port) {
    if (port < 1 || port > 65535) {
      throw new IllegalArgumentException("port " + port + " is not in 1-65535");
    }
  }
}
