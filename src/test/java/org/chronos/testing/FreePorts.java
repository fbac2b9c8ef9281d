package org.chronos.testing;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Loopback ports for nodes that must know their own port before they start (it goes in their
 * cluster file). Thread-safe: test classes run in parallel.
 *
 * <p>A port is never handed out twice in this JVM: two nodes of one cluster once got the same port
 * from the OS, and the cluster file listing it twice was refused. And it is picked below the
 * kernel's range for outgoing connections' local ports: a port from binding port 0 is in that
 * range, and between the pick and the node's start one of the many connections the tests open took
 * it ("Failed to bind", seen in a test run and in a benchmark series).
 */
public final class FreePorts {
  private static final Set<Integer> HANDED_OUT = ConcurrentHashMap.newKeySet();

  private FreePorts() {}

  /** A port free on 127.0.0.1 a moment ago, outside the ephemeral range, not handed out before. */
  public static int next() {
    int below = ephemeralStart();
    int lowest = Math.min(10_000, below - 1024);
    for (int attempt = 0; attempt < 1000; attempt++) {
      int port = lowest + ThreadLocalRandom.current().nextInt(below - lowest);
      if (!HANDED_OUT.add(port)) {
        continue; // given to another node, which may not have started yet
      }
      try (ServerSocket socket = new ServerSocket()) {
        socket.setReuseAddress(true);
        socket.bind(new InetSocketAddress("127.0.0.1", port));
        return port;
      } catch (IOException e) {
        // taken: another
      }
    }
    throw new IllegalStateException("no free loopback port below " + below);
  }

  /** Where the kernel's range for outgoing connections' local ports starts (Linux; else 32768). */
  private static int ephemeralStart() {
    try {
      // readAllLines, not readString: /proc files say they are empty, and readString then read
      // one byte ("3" of "32768") on JDK 17.
      String range =
          Files.readAllLines(Path.of("/proc/sys/net/ipv4/ip_local_port_range")).get(0).trim();
      int start = Integer.parseInt(range.split("\\s+")[0]);
      return start < 2048 ? 32768 : start; // no room below such a start: the usual one
    } catch (IOException | RuntimeException e) {
      return 32768;
    }
  }
}
