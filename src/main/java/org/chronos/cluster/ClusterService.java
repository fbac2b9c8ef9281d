package org.chronos.cluster;

import io.dropwizard.lifecycle.Managed;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicReference;
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
  private final AtomicReference<ClusterView> view = new AtomicReference<>();
  private volatile ClusterView previous;

  /** Loads the files now, so a node with a bad file refuses to start and says why. */
  public ClusterService(Path clusterFile, Path sharedFile, int defaultPort) throws ConfigException {
    this.clusterFile = clusterFile;
    this.sharedFile = sharedFile;
    this.defaultPort = defaultPort;
    ClusterView initial = load();
    view.set(initial);
    if (!Files.exists(clusterFile)) {
      LOG.info("cluster file {} not found: running as a single-node cluster", clusterFile);
    }
    LOG.info("cluster view: {}", describe(initial));
  }

  public ClusterView view() {
    return view.get();
  }

  /**
   * The view before the last reload that changed it (or the current one). Updates also tell the
   * replicas a timer had under it, so a reload followed by an update moves the timer even where
   * the new file has no leaving lines to say where it used to live.
   */
  public ClusterView previousView() {
    ClusterView p = previous;
    return p == null ? view.get() : p;
  }

  /**
   * Re-reads both files and swaps the view, or throws and keeps the current one.
   *
   * @return the new view
   */
  public synchronized ClusterView reload() throws ConfigException {
    ClusterView next;
    try {
      next = load();
    } catch (ConfigException e) {
      LOG.error("reload refused, keeping cluster view {}: {}", view.get().viewId(), e.getMessage());
      throw e;
    }
    ClusterView previous = view.getAndSet(next);
    if (!previous.viewId().equals(next.viewId())) {
      this.previous = previous;
    }
    if (previous.config().instanceId() != next.config().instanceId()
        || previous.config().deploymentId() != next.config().deploymentId()) {
      LOG.warn("[identity] changed in {}: new timer ids use it only after a restart", clusterFile);
    }
    LOG.info("reloaded cluster view: {}", describe(next));
    return next;
  }

  private ClusterView load() throws ConfigException {
    ClusterConfig config = ClusterConfig.load(clusterFile, defaultPort);
    checkShared();
    return new ClusterView(config);
  }

  // The [sites] file is read for syntax now; sites themselves arrive with geographic redundancy.
  private void checkShared() throws ConfigException {
    if (Files.exists(sharedFile)) {
      try {
        IniFile.parse(Files.readString(sharedFile), sharedFile.toString());
      } catch (java.io.IOException e) {
        throw new ConfigException("cannot read " + sharedFile + ": " + e.getMessage());
      }
    }
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
