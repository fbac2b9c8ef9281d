package org.chronos.cluster;

import io.dropwizard.lifecycle.Managed;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;
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
  private final List<Consumer<ClusterConfig>> identityListeners = new CopyOnWriteArrayList<>();
  private volatile ClusterView previous;

  /**
   * The two files' contents, swapped together so no reader sees one new and one old; {@code
   * listed}: the cluster file exists and has node, joining or leaving lines; {@code sitesListed}:
   * the shared file exists and has lines in [sites].
   */
  private record Topology(
      ClusterView view,
      SitesConfig sites,
      boolean listed,
      boolean sitesListed,
      Path source,
      Path identitySource) {}

  /**
   * The file of the original's first clustering document, beside the cluster file: [cluster] (and
   * [http], which is ignored) in one file. Read when the cluster file does not exist.
   */
  static final String OLDER_LAYOUT_FILE = "chronos.conf";

  /** Loads the files now, so a node with a bad file refuses to start and says why. */
  public ClusterService(Path clusterFile, Path sharedFile, int defaultPort) throws ConfigException {
    this.clusterFile = clusterFile;
    this.sharedFile = sharedFile;
    this.defaultPort = defaultPort;
    Topology initial = load(true);
    current.set(initial);
    if (!initial.source().equals(clusterFile) && !Files.exists(clusterFile)) {
      LOG.warn(
          "cluster file {} not found: reading [cluster] from {}, the original's older layout (it"
              + " is read until {} exists)",
          clusterFile,
          initial.source(),
          clusterFile);
    } else if (!Files.exists(clusterFile)) {
      LOG.info("cluster file {} not found: running as a single-node cluster", clusterFile);
    }
    if (!initial.identitySource().equals(initial.source())) {
      LOG.info(
          "[identity] read from {}, [cluster] from {}: deployment_id {}, instance_id {}",
          initial.identitySource(),
          initial.source(),
          initial.view().config().deploymentId(),
          initial.view().config().instanceId());
    }
    LOG.info("cluster view: {}; sites: {}", describe(initial.view()), initial.sites());
    warnIfInstanceIdDerived(initial);
    warnIfNotListed(initial);
  }

  /**
   * Warns, at start and at each reload, of a node whose {@code localhost} is none of the addresses
   * its cluster file lists: written otherwise than the others list it (a host name against an
   * address), it is chosen as a replica under its listed name and yet takes no copy for its own, so
   * the timers it should hold have one copy fewer. (A node taken out of the cluster runs so,
   * rightly, until it is stopped.)
   */
  private static void warnIfNotListed(Topology topology) {
    ClusterConfig config = topology.view().config();
    if (topology.listed()
        && !config.nodes().contains(config.localhost())
        && !config.joining().contains(config.localhost())
        && !config.leaving().contains(config.localhost())) {
      LOG.warn(
          "{}: [cluster] localhost {} is none of the node, joining or leaving addresses: this"
              + " node stores what it is sent as tombstones and pops no timer. If it is one of"
              + " the nodes listed, write localhost exactly as the other nodes list it (a node"
              + " taken out of the cluster runs so until it is stopped)",
          topology.source(),
          config.localhost());
    }
  }

  /**
   * Warns, at start and at each reload, of a node that makes timer ids with an instance_id taken
   * from its address ({@link ClusterConfig#derivedInstanceId}) because no file sets one.
   */
  private static void warnIfInstanceIdDerived(Topology topology) {
    ClusterConfig config = topology.view().config();
    if (config.instanceIdDerived()) {
      LOG.warn(
          "{}: [identity] instance_id is not set, and the cluster lists more than one node: this"
              + " node makes timer ids with instance_id {}, taken from its address {} so as to"
              + " differ from every other node listed. Set instance_id (0-127) on every node,"
              + " different on each (and deployment_id, 0-7, different for each site): two nodes"
              + " with the same instance_id can give two timers one id, and one timer then"
              + " replaces the other",
          topology.identitySource(),
          config.instanceId(),
          config.localhost());
    }
  }

  public ClusterView view() {
    return current.get().view();
  }

  /**
   * Tells {@code listener} of each reload that changes [identity], with the new configuration, so
   * that new timer ids use it at once, as the original's do.
   */
  public void onIdentityChange(Consumer<ClusterConfig> listener) {
    identityListeners.add(listener);
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
      // chronos.conf is read unless the node runs from a cluster file that lists members: that
      // file found gone for a moment (rewritten) must not switch the node to an old member list
      // left there. A node started with neither file (as the package installs it) follows the
      // original's first clustering document when chronos.conf gets [cluster] lines and a reload.
      Topology now = current.get();
      next = load(!(now.listed() && now.source().equals(clusterFile)));
      if (now.identitySource().equals(clusterFile)
          && !now.source().equals(clusterFile)
          && !next.identitySource().equals(clusterFile)) {
        // Members from chronos.conf, [identity] from the cluster file: that file caught being
        // rewritten would otherwise switch the node to chronos.conf's identity, or 0/0.
        throw new ConfigException(
            clusterFile
                + (Files.exists(clusterFile) ? " has no [identity] key" : " does not exist")
                + ": the node's [identity] comes from it (its members from "
                + now.source()
                + "), and does not change by losing the file");
      }
      if (current.get().listed() && !next.listed()) {
        // A file being rewritten (truncated, or moved away and back) when the reload comes would
        // otherwise turn a member of a cluster into a cluster of one.
        Path read = next.source();
        throw new ConfigException(
            read
                + (Files.exists(read) ? " has no node, joining or leaving line" : " does not exist")
                + ": a node that runs in a cluster does not leave it by losing its file (to run"
                + " alone, list this node as the only node)");
      }
      if (current.get().sitesListed() && !next.sitesListed()) {
        // The same for the shared file: the node would become a lone "site1", stop sending to
        // the other sites and pop their timers' copies as their first site.
        throw new ConfigException(
            sharedFile
                + (Files.exists(sharedFile) ? " has no [sites] line" : " does not exist")
                + ": a node that runs with sites does not lose them by losing its file (to run"
                + " without other sites, leave local_site alone in it)");
      }
    } catch (ConfigException e) {
      LOG.error("reload refused, keeping cluster view {}: {}", view().viewId(), e.getMessage());
      throw e;
    }
    Topology before = current.getAndSet(next);
    if (!before.source().equals(next.source())) {
      LOG.warn("the cluster configuration is now read from {}", next.source());
    }
    if (!sameMembers(before.view().config(), next.view().config())) {
      // Not only when the view id changes: dropping the leaving lines at the end of a scale-down
      // keeps the id (the new cluster is the same), and the view from before the scale-down
      // would go on sending every update to nodes that have been stopped.
      this.previous = before.view();
    }
    ClusterConfig config = next.view().config();
    if (before.view().config().instanceId() != config.instanceId()
        || before.view().config().deploymentId() != config.deploymentId()) {
      LOG.info(
          config.instanceIdDerived()
              ? "[identity] instance_id, not set in {}, is taken anew from this node's address"
                  + " and the nodes listed: new timer ids are made with deployment_id {} and"
                  + " instance_id {}"
              : "[identity] changed in {}: new timer ids are made with deployment_id {} and"
                  + " instance_id {}",
          next.identitySource(),
          config.deploymentId(),
          config.instanceId());
      identityListeners.forEach(listener -> listener.accept(config));
    }
    LOG.info("reloaded cluster view: {}; sites: {}", describe(next.view()), next.sites());
    warnIfInstanceIdDerived(next);
    warnIfNotListed(next);
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

  /**
   * Reads both files; without the cluster file, or with one that has no node, joining or leaving
   * line, and if {@code olderLayout}, the [cluster] lines of {@link #OLDER_LAYOUT_FILE} beside it,
   * as the original reads a key the cluster file lacks from there. A cluster file without
   * [identity] keys (or none) takes them from that file, which holds them in the older layout: a
   * node moved to a cluster file written without them would otherwise go back to 0/0 and make the
   * ids another node makes.
   */
  private Topology load(boolean olderLayout) throws ConfigException {
    Path source = clusterFile;
    String text = ClusterConfig.read(clusterFile);
    boolean listed = text != null && ClusterConfig.namesMembers(text, source.toString());
    Path older = clusterFile.resolveSibling(OLDER_LAYOUT_FILE);
    // The cluster file's own text, when it exists but [cluster] is read from the older layout.
    String memberless = null;
    if (!listed && olderLayout) {
      String olderText = readOlderLayout(older, "[cluster]");
      if (olderText != null && ClusterConfig.namesMembers(olderText, older.toString())) {
        if (text != null) {
          LOG.warn(
              "{} has no node, joining or leaving line: [cluster] is read from {}, as the original"
                  + " reads it ([identity] still from {} if it has one)",
              clusterFile,
              older,
              clusterFile);
          memberless = text;
        }
        source = older;
        text = olderText;
        listed = true;
      }
    }
    if (memberless != null) {
      // Its [identity] keys and localhost win over the older layout's, as a key the cluster file
      // has always does.
      ClusterConfig config =
          ClusterConfig.parse(
              text, source.toString(), defaultPort, memberless, clusterFile.toString(), true);
      boolean ownIdentity = ClusterConfig.namesIdentity(memberless, clusterFile.toString());
      return topology(config, true, source, ownIdentity ? clusterFile : older);
    }
    Path identitySource = source;
    String identityText = null;
    if (!source.equals(older)
        && (text == null || !ClusterConfig.namesIdentity(text, source.toString()))) {
      identityText = readOlderLayout(older, "[identity]");
      if (identityText != null && ClusterConfig.namesIdentity(identityText, older.toString())) {
        identitySource = older;
      } else {
        identityText = null;
      }
    }
    ClusterConfig config =
        text == null && identityText == null
            ? ClusterConfig.singleNode(defaultPort)
            : ClusterConfig.parse(
                text == null ? "" : text,
                source.toString(),
                defaultPort,
                identityText,
                older.toString(),
                false);
    return topology(config, listed, source, identitySource);
  }

  /** The topology of {@code config} and the shared file, read now. */
  private Topology topology(ClusterConfig config, boolean listed, Path source, Path identitySource)
      throws ConfigException {
    String sharedText = ClusterConfig.read(sharedFile);
    SitesConfig sites =
        sharedText == null
            ? SitesConfig.single()
            : SitesConfig.parse(sharedText, sharedFile.toString(), defaultPort);
    boolean sitesListed =
        sharedText != null && SitesConfig.namesSites(sharedText, sharedFile.toString());
    return new Topology(
        new ClusterView(config), sites, listed, sitesListed, source, identitySource);
  }

  /**
   * The older layout's file if it has the {@code section} wanted, or null: it may well be another
   * program's file, or not be ours to read.
   */
  private static String readOlderLayout(Path older, String section) {
    String text;
    try {
      text = ClusterConfig.read(older);
    } catch (ConfigException e) {
      LOG.warn("not reading {} from {}: {}", section, older, e.getMessage());
      return null;
    }
    return text != null && text.contains(section) ? text : null;
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
