package org.chronos.cluster;

import io.dropwizard.lifecycle.Managed;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicReference;
import org.chronos.sites.SitesConfig;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Holds the node's current {@link ClusterView} and reloads it from the INI files; thread-safe.
 * Readers get the old or the new view, never a mix: a reload parses and validates both files
 * completely, then swaps one reference, or changes nothing and reports why.
 */
public final class ClusterService implements Managed {
  private static final Logger LOG = LoggerFactory.getLogger(ClusterService.class);

  private final Path clusterFile;
  private final Path sharedFile;
  private final int defaultPort;
  private final AtomicReference<Topology> current = new AtomicReference<>();
  private volatile ClusterView previous;

  /**
   * The two files' contents, swapped together so no reader sees one new and one old; {@code
   * listed}: the cluster file exists and has node, joining or leaving lines.
   */
  private record Topology(ClusterView view, SitesConfig sites, boolean listed) {}

  /** Loads the files now, so a node with a bad file refuses to start and says why. */
  public ClusterService(Path clusterFile, Path sharedFile, int defaultPort) throws ConfigException {
    this.clusterFile = clusterFile;
    this.sharedFile = sharedFile;
    this.defaultPort = defaultPort;
    Topology initial = load();
    current.set(initial);
    if (!Files.exists(clusterFile)) {
      LOG.info("cluster file {} not found: running as a single-node cluster", clusterFile);
    }
    LOG.info("cluster view: {}; sites: {}", describe(initial.view()), initial.sites());
  }

  public ClusterView view() {
    return current.get().view();
  }

  public SitesConfig sites() {
    return current.get().sites();
  }

  /**
   * The view before the last reload that changed the cluster's members (or the current one).
   * Updates also tell the replicas a timer had under it, so a reload followed by an update moves
   * the timer even where the new file has no leaving lines to say where it used to live.
   */
  public ClusterView previousView() {
    ClusterView p = previous;
    return p == null ? view() : p;
  }

  /**
   * Re-reads both files and swaps the view, or throws and keeps the current one.
   *
   * @return the new view
   */
  public synchronized ClusterView reload() throws ConfigException {
    Topology next;
    try {
      next = load();
      if (current.get().listed() && !next.listed()) {
        // A file being rewritten (truncated, or moved away and back) when the reload comes would
        // otherwise turn a member of a cluster into a cluster of one.
        throw new ConfigException(
            clusterFile
                + (Files.exists(clusterFile)
                    ? " has no node, joining or leaving line"
                    : " does not exist")
                + ": a node that runs in a cluster does not leave it by losing its file (to run"
                + " alone, list this node as the only node)");
      }
    } catch (ConfigException e) {
      LOG.error("reload refused, keeping cluster view {}: {}", view().viewId(), e.getMessage());
      throw e;
    }
    Topology before = current.getAndSet(next);
    if (!sameMembers(before.view().config(), next.view().config())) {
      // Not only when the view id changes: dropping the leaving lines at the end of a scale-down
      // keeps the id (the new cluster is the same), and the view from before the scale-down
      // would go on sending every update to nodes that have been stopped.
      this.previous = before.view();
    }
    if (before.view().config().instanceId() != next.view().config().instanceId()
        || before.view().config().deploymentId() != next.view().config().deploymentId()) {
      LOG.warn("[identity] changed in {}: new timer ids use it only after a restart", clusterFile);
    }
    LOG.info("reloaded cluster view: {}; sites: {}", describe(next.view()), next.sites());
    return next.view();
  }

  /**
   * Whether two files name the same nodes in the same roles and order (a reload of the same file).
   */
  private static boolean sameMembers(ClusterConfig a, ClusterConfig b) {
    return a.localhost().equals(b.localhost())
        && a.nodes().equals(b.nodes())
        && a.joining().equals(b.joining())
        && a.leaving().equals(b.leaving());
  }

  private Topology load() throws ConfigException {
    String text = ClusterConfig.read(clusterFile);
    ClusterConfig config =
        text == null
            ? ClusterConfig.singleNode(defaultPort)
            : ClusterConfig.parse(text, clusterFile.toString(), defaultPort);
    boolean listed = text != null && ClusterConfig.namesMembers(text, clusterFile.toString());
    SitesConfig sites = SitesConfig.load(sharedFile, defaultPort);
    return new Topology(new ClusterView(config), sites, listed);
  }

  public static String describe(ClusterView v) {
    ClusterConfig c = v.config();
    return String.format(
        "id %s, localhost %s, nodes %s, joining %s, leaving %s",
        v.viewId(), c.localhost(), c.nodes(), c.joining(), c.leaving());
  }

  @Override
  public void start() {}

  @Override
  public void stop() {}
}
