package org.chronos.cli;

import io.dropwizard.core.cli.Command;
import io.dropwizard.core.setup.Bootstrap;
import net.sourceforge.argparse4j.inf.Namespace;
import net.sourceforge.argparse4j.inf.Subparser;

/**
 * The {@code train} command: runs {@link Training} (two nodes on loopback doing a node's work,
 * resyncs included) and exits. Run under JDK 25+ with {@code -XX:AOTCacheOutput=<file>}, it leaves
 * an AOT cache holding that work's method profiles; nodes started with {@code -XX:AOTCache=<file>}
 * then have their hot code compiled within seconds of starting, instead of while they first run it
 * (on a small machine a first resync otherwise takes two to three times as long as later ones).
 *
 * <pre>java -XX:AOTCacheOutput=chronos.aot -jar chronos.jar train [--timers 20000] [--rounds 2]
 * </pre>
 */
public class TrainCommand extends Command {

  public TrainCommand() {
    super(
        "train",
        "Runs two nodes on loopback through a node's work (for a JDK 25+ AOT cache) and exits");
  }

  @Override
  public void configure(Subparser subparser) {
    subparser
        .addArgument("--timers")
        .type(Integer.class)
        .setDefault(20_000)
        .help("timers created per round (one in ten pops after 1 s)");
    subparser
        .addArgument("--rounds")
        .type(Integer.class)
        .setDefault(2)
        .help("times the work is repeated");
    subparser
        .addArgument("--warm-up-timers")
        .dest("warmUpTimers")
        .type(Integer.class)
        .setDefault(100_000)
        .help("each node's resync.warmUpTimers (its start-up warm-up, as in production)");
  }

  @Override
  public void run(Bootstrap<?> bootstrap, Namespace namespace) throws Exception {
    long start = System.nanoTime();
    Training.Summary s =
        new Training(
                new Training.Settings(
                    namespace.getInt("timers"),
                    namespace.getInt("rounds"),
                    namespace.getInt("warmUpTimers")))
            .run();
    System.out.printf(
        "trained in %d s: %d timers created, %d updated, %d deleted, %d of %d callbacks received,"
            + " timers received in each resync %s%n",
        (System.nanoTime() - start) / 1_000_000_000L,
        s.created(),
        s.updated(),
        s.deleted(),
        s.callbacks(),
        s.shortTimers(),
        s.timersReceivedPerResync());
    // The nodes' client and pool threads may outlive their servers briefly; the JVM exits now,
    // which is when it writes an AOT cache.
    System.exit(s.created() > 0 && s.timersReceivedPerResync().get(0) > 0 ? 0 : 1);
  }
}
