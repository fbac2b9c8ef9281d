package org.chronos.resync;

import com.codahale.metrics.Counter;
import com.codahale.metrics.MetricRegistry;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.util.HexFormat;
import org.apache.hc.core5.http.Header;
import org.apache.hc.core5.http.message.BasicHeader;

/**
 * How a node tells its own warm-up requests from real ones ({@link ResyncWarmUp} over HTTP): the
 * warm-up sends its page requests, copies and references to this node itself, with {@link #HEADER}
 * set to a secret made when the node starts and never sent anywhere else. A request that carries it
 * goes through the same HTTP, routing and parsing code as a real one, but is answered from the
 * warm-up's made-up timers and changes nothing: its copies and references are read and dropped. A
 * request with any other value is an ordinary request. Thread-safe.
 */
public final class WarmUpGate {
  /**
   * The header that marks a warm-up request (not in the protocol: our nodes' own, to themselves).
   */
  public static final String HEADER = "X-Chronos-Warm-Up";

  private final byte[] secret;
  private final Header mark;
  private final Counter answered;
  private volatile byte[] page;

  public WarmUpGate(MetricRegistry metrics) {
    byte[] random = new byte[16];
    new SecureRandom().nextBytes(random);
    String token = HexFormat.of().formatHex(random);
    this.secret = token.getBytes(StandardCharsets.US_ASCII);
    this.mark = new BasicHeader(HEADER, token);
    this.answered = metrics.counter("chronos.resync.warm-up-requests");
  }

  /** Whether a request with this value of {@link #HEADER} (null if none) is a warm-up request. */
  public boolean admits(String header) {
    return header != null
        && MessageDigest.isEqual(secret, header.getBytes(StandardCharsets.US_ASCII));
  }

  /** A warm-up request was answered (metric {@code chronos.resync.warm-up-requests}). */
  public void answered() {
    answered.inc();
  }

  /** The page a warm-up page request gets, or null when no warm-up round is asking. */
  public byte[] page() {
    return page;
  }

  /** The header every warm-up request carries. */
  Header mark() {
    return mark;
  }

  void serve(byte[] next) {
    page = next;
  }
}
