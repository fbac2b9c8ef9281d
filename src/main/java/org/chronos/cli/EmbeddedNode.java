package org.chronos.cli;

import io.dropwizard.core.cli.EnvironmentCommand;
import io.dropwizard.core.setup.Bootstrap;
import io.dropwizard.core.setup.Environment;
import java.nio.file.Path;
import java.util.Map;
import net.sourceforge.argparse4j.inf.Namespace;
import org.chronos.ChronosApplication;
import org.chronos.ChronosConfiguration;
import org.eclipse.jetty.server.Server;

/**
 * A whole Chronos node (the application as {@code server} runs it: Jetty, Jersey, the managed
 * services) started inside the current JVM from a configuration file, and stopped again: what
 * {@link Training} runs its nodes with. Not a command of the command line.
 */
final class EmbeddedNode extends EnvironmentCommand<ChronosConfiguration> {
  private Server server;

  private EmbeddedNode(ChronosApplication application) {
    super(application, "embedded", "a node inside another command");
  }

  /** Starts a node configured by this YAML file; it answers once this returns. */
  static EmbeddedNode start(Path configFile) throws Exception {
    ChronosApplication application = new ChronosApplication();
    Bootstrap<ChronosConfiguration> bootstrap = new Bootstrap<>(application);
    application.initialize(bootstrap);
    EmbeddedNode node = new EmbeddedNode(application);
    node.run(bootstrap, new Namespace(Map.of("file", configFile.toString())));
    return node;
  }

  @Override
  protected void run(Environment environment, Namespace namespace, ChronosConfiguration config)
      throws Exception {
    server = config.getServerFactory().build(environment);
    server.start();
  }

  /** Stops the node as a SIGTERM would (its managed services stop with the server). */
  void stop() throws Exception {
    if (server != null) {
      server.stop();
    }
  }
}
