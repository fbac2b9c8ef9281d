package org.chronos.callback;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The callback client's host name lookups against a resolver that fails for a while, on a clock the
 * test moves: a name that resolved keeps its addresses over failed lookups for a while, as a
 * resolver's blip at a name's refresh failed every callback to it for 10 s (and each failure
 * dropped a timer's copy, on every replica at its own refresh).
 */
class HostLookupsTest {
  private static final String HOST = "app.example";

  private final AtomicLong now = new AtomicLong(1_000_000_000L);

  /** What the resolver answers: an address, or null for a failure. */
  private final AtomicReference<byte[]> dns = new AtomicReference<>(new byte[] {10, 0, 0, 1});

  private final HostLookups lookups =
      new HostLookups(
          host -> {
            byte[] address = dns.get();
            if (address == null) {
              throw new UnknownHostException(host + ": temporary failure in name resolution");
            }
            return new InetAddress[] {InetAddress.getByAddress(host, address)};
          },
          now::get);

  @AfterEach
  void stop() {
    lookups.stop();
  }

  private void advanceSeconds(long seconds) {
    now.addAndGet(TimeUnit.SECONDS.toNanos(seconds));
  }

  private String resolved() throws UnknownHostException {
    return lookups.resolve(HOST)[0].getHostAddress();
  }

  @Test
  void aNameThatResolvedKeepsItsAddressesWhileItsLookupsFailForAWhile() throws Exception {
    lookups.lookUp(HOST).join();
    assertThat(resolved()).isEqualTo("10.0.0.1");

    advanceSeconds(31); // due for a fresh lookup, which fails
    dns.set(null);
    assertThat(lookups.whenReady(HOST)).as("used as it was while looked up").isNull();
    lookups.lookUp(HOST).join();
    assertThat(resolved()).isEqualTo("10.0.0.1");
    assertThat(lookups.whenReady(HOST)).as("not looked up again at once").isNull();

    advanceSeconds(11); // looked up again, and fails again
    lookups.lookUp(HOST).join();
    assertThat(resolved()).isEqualTo("10.0.0.1");

    dns.set(new byte[] {10, 0, 0, 2}); // the resolver answers again, with another address
    advanceSeconds(11);
    lookups.lookUp(HOST).join();
    assertThat(resolved()).isEqualTo("10.0.0.2");
  }

  @Test
  void aNameWhoseLookupsFailLongerThanThatFails() throws Exception {
    lookups.lookUp(HOST).join();
    dns.set(null);
    // Looked up every 11 s; the first failure at 11 s, the last more than 10 min after it.
    for (long waited = 0;
        waited <= TimeUnit.NANOSECONDS.toSeconds(HostLookups.STALE_NANOS) + 11;
        waited += 11) {
      advanceSeconds(11);
      lookups.lookUp(HOST).join();
    }
    assertThatThrownBy(this::resolved).isInstanceOf(UnknownHostException.class);
  }

  @Test
  void aNameCalledBackRarelyKeepsItsAddressesWhenItsNextLookupFails() throws Exception {
    lookups.lookUp(HOST).join();
    advanceSeconds(11 * 60); // no callback to it for 11 min
    dns.set(null);
    lookups.lookUp(HOST).join();
    assertThat(resolved()).isEqualTo("10.0.0.1");
  }

  @Test
  void aNameThatNeverResolvedFailsAtOnceForAWhile() {
    dns.set(null);
    lookups.lookUp(HOST).join();
    assertThatThrownBy(this::resolved).isInstanceOf(UnknownHostException.class);
    assertThat(lookups.whenReady(HOST)).as("the failure remembered").isNull();
  }
}
