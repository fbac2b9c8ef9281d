package org.chronos.cli;

import io.dropwizard.core.cli.Cli;
import io.dropwizard.core.cli.Command;
import io.dropwizard.core.setup.Bootstrap;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import net.sourceforge.argparse4j.inf.Namespace;
import net.sourceforge.argparse4j.inf.Subparser;
import org.chronos.cluster.ClusterConfig;
import org.chronos.cluster.ClusterView;
import org.chronos.cluster.ConfigException;

/**
 * The {@code replicas} command, run once from the command line by an operator: prints which nodes
 * hold given timers under a cluster file, to check placement before and after scaling.
 *
 * <pre>java -jar target/chronos.jar replicas [--port 7253] &lt;cluster-file&gt; &lt;timer&gt;...
 * </pre>
 *
 * <p>A timer is {@code <16 hex digits>-<replication factor>}, optionally as its URL path {@code
 * /timers/<16 hex>-<rf>}. Output: {@code cluster-view-id <decimal>}, then per timer the timer as
 * given followed by its replicas, primary first, separated by single spaces. Every argument is
 * checked before anything is printed, so a typo gives an error and no partial output.
 */
public class ReplicasCommand extends Command {

  private static final Pattern TIMER =
      Pattern.compile("(?:/timers/)?([0-9a-fA-F]{16})-([1-9][0-9]{0,8})");

  /** A parsed timer argument; {@code text} is kept to echo it exactly as given. */
  record TimerArg(String text, long id, int replicationFactor) {}

  public ReplicasCommand() {
    super("replicas", "Prints the cluster view id and the replicas of the given timers");
  }

  @Override
  public void configure(Subparser subparser) {
    subparser
        .addArgument("--port")
        .type(Integer.class)
        .setDefault(ClusterConfig.DEFAULT_PORT)
        .help(
            "port that cluster addresses written without one reach (to find a node listed twice)");
    subparser
        .addArgument("cluster-file")
        .dest("clusterFile")
        .metavar("cluster-file")
        .help("the chronos_cluster.conf (or old chronos.conf) to place timers with");
    subparser
        .addArgument("timers")
        .nargs("+")
        .metavar("timer")
        .help("<16 hex digits>-<replication factor>, or /timers/<16 hex>-<rf>");
  }

  @Override
  public void run(Bootstrap<?> bootstrap, Namespace namespace) throws Exception {
    printReplicas(
        Path.of(namespace.getString("clusterFile")),
        namespace.getInt("port"),
        namespace.getList("timers"),
        System.out);
  }

  /** Known user errors get a one-line message instead of a stack trace; the exit is still 1. */
  @Override
  public void onError(Cli cli, Namespace namespace, Throwable e) {
    if (e instanceof ConfigException || e instanceof IllegalArgumentException) {
      cli.getStdErr().println("replicas: " + e.getMessage());
    } else {
      super.onError(cli, namespace, e);
    }
  }

  /**
   * Loads {@code clusterFile} and prints the view id and each timer's replicas to {@code out}.
   * Unlike a node, which runs single-node without a cluster file (or reads chronos.conf beside it),
   * this treats a missing file as the operator's typo; chronos.conf itself may be given.
   *
   * @throws ConfigException if the file is missing, unreadable or invalid
   * @throws IllegalArgumentException naming the first malformed timer
   */
  public static void printReplicas(
      Path clusterFile, int defaultPort, List<String> timers, PrintStream out)
      throws ConfigException {
    if (!Files.exists(clusterFile)) {
      throw new ConfigException(clusterFile + ": cluster file does not exist");
    }
    printReplicas(new ClusterView(ClusterConfig.load(clusterFile, defaultPort)), timers, out);
  }

  /** Prints the view id and each timer's replicas under {@code view} to {@code out}. */
  public static void printReplicas(ClusterView view, List<String> timers, PrintStream out) {
    List<TimerArg> parsed = new ArrayList<>(timers.size());
    for (String timer : timers) {
      parsed.add(parseTimer(timer));
    }
    StringBuilder text = new StringBuilder();
    text.append("cluster-view-id ").append(view.viewId()).append('\n');
    for (TimerArg timer : parsed) {
      text.append(timer.text());
      for (String replica : view.replicasFor(timer.id(), timer.replicationFactor())) {
        text.append(' ').append(replica);
      }
      text.append('\n');
    }
    out.print(text);
    out.flush();
  }

  /**
   * @throws IllegalArgumentException naming {@code text} when it is not a timer
   */
  static TimerArg parseTimer(String text) {
    Matcher matcher = TIMER.matcher(text);
    if (!matcher.matches()) {
      throw new IllegalArgumentException(
          "malformed timer '"
              + text
              + "': expected <16 hex digits>-<replication factor 1 or more>,"
              + " optionally as /timers/<16 hex digits>-<replication factor>");
    }
    return new TimerArg(
        text, Long.parseUnsignedLong(matcher.group(1), 16), Integer.parseInt(matcher.group(2)));
  }
}
