package org.chronos.testing;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Loopback ports for nodes that must know their own port before they start (it goes in their
 * cluster file). Thread-safe: test classes run in parallel.
 *
 * <p>The OS hands out a free port by binding port 0, but once that socket closes it may hand out
 * the same port again at once, and did: two nodes of one cluster got the same port, and the cluster
 * file listing it twice was refused. So a port is never handed out twice in this JVM.
 */
public final class FreePorts {
  private static final Set<Integer> HANDED_OUT = ConcurrentHashMap.newKeySet();

  private FreePorts() {}

  /** A loopback port that was free a moment ago and that this JVM has not handed out before. */
  public static int next() {
    for (int attempt = 0; attempt < 1000; attempt++) {
      int port;
      try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
        socket.setReuseAddress(true);
        port = socket.getLocalPort();
      } catch (IOException e) {
        throw new IllegalStateException("no free loopback port", e);
      }
      if (HANDED_OUT.add(port)) {
        return port;
      }
    }
    throw new IllegalStateException("the OS kept offering ports already handed out");
  }
}
