package org.chronos.testing;

import com.sun.net.httpserver.HttpHandler;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.concurrent.Executors;

/**
 * A JDK {@code HttpServer} on loopback and a port of its own, for tests that stand in for a peer
 * (another node, an original node, another site) and choose each answer.
 */
public final class LoopbackServer {
  private LoopbackServer() {}

  /** Started, with a handler per context path (pairs of path and handler), four threads. */
  public static HttpServer start(String path, HttpHandler handler, Object... more) {
    try {
      HttpServer server =
          HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
      server.setExecutor(Executors.newFixedThreadPool(4));
      server.createContext(path, handler);
      for (int i = 0; i + 1 < more.length; i += 2) {
        server.createContext((String) more[i], (HttpHandler) more[i + 1]);
      }
      server.start();
      return server;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** {@code 127.0.0.1:<port>}: the server's address as a cluster or sites file lists it. */
  public static String address(HttpServer server) {
    return "127.0.0.1:" + server.getAddress().getPort();
  }
}
