package org.chronos.cluster;

import java.io.IOException;
import java.nio.charset.CharacterCodingException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Immutable contents of {@code chronos_cluster.conf} (thread-safe); built by whoever loads or
 * reloads the cluster file, and turned into a {@link ClusterView} for replica placement.
 *
 * <p>Every address is kept as written ({@link Addresses}): it is hashed and listed in that form, so
 * every node must write a node the same way; two lines that reach the same host and port are
 * refused. A {@code localhost} that reaches a listed address but is written otherwise (the older
 * {@code localhost = 1.2.3.4} with {@code node = 1.2.3.4:7253}) is taken in the listed form. {@code
 * nodes} are the staying nodes, {@code joining} and {@code leaving} the nodes of a scale-up or
 * scale-down in progress; when the file has none of the three, {@code nodes} is just {@code
 * localhost}. {@code localhost} need not be in the cluster: a node that has been removed keeps
 * running (and answering resyncs) until it is stopped.
 *
 * <p>Other sections and keys are ignored, as the original ignores them, so the older all-in-one
 * {@code chronos.conf} ({@code [http]} bind-address/bind-port, {@code node = host:port}) parses; a
 * key {@code [cluster]} or {@code [identity]} does not have, or either section written in other
 * letter case, is logged as a warning (a misspelt {@code joining} leaves a node out).
 *
 * <p>{@code instanceIdDerived}: neither file set instance_id and the file lists more than one node,
 * so {@code instanceId} was taken from {@code localhost} ({@link #derivedInstanceId}).
 */
public record ClusterConfig(
    String localhost,
    List<String> nodes,
    List<String> joining,
    List<String> leaving,
    int instanceId,
    int deploymentId,
    boolean instanceIdDerived) {

  private static final Logger LOG = LoggerFactory.getLogger(ClusterConfig.class);

  public static final int DEFAULT_PORT = 7253;
  public static final int MAX_INSTANCE_ID = 127;
  public static final int MAX_DEPLOYMENT_ID = 7;

  private static final String CLUSTER = "cluster";
  private static final String IDENTITY = "identity";

  /**
   * Validates what the file parser cannot have got wrong but a programmatic caller can.
   *
   * @throws IllegalArgumentException naming the bad value
   */
  public ClusterConfig {
    Objects.requireNonNull(localhost, "localhost");
    nodes = List.copyOf(nodes);
    joining = List.copyOf(joining);
    leaving = List.copyOf(leaving);
    checkRange("instance_id", instanceId, MAX_INSTANCE_ID);
    checkRange("deployment_id", deploymentId, MAX_DEPLOYMENT_ID);
    if (nodes.isEmpty() && joining.isEmpty()) {
      throw new IllegalArgumentException(
          "the new cluster (nodes + joining) is empty; leaving=" + leaving);
    }
    Set<String> seen = new HashSet<>();
    for (List<String> list : List.of(nodes, joining, leaving)) {
      for (String address : list) {
        if (!seen.add(address)) {
          throw new IllegalArgumentException("address " + address + " is listed more than once");
        }
      }
    }
  }

  /** A cluster configuration whose instance_id is as given (set in a file, or 0 by default). */
  public ClusterConfig(
      String localhost,
      List<String> nodes,
      List<String> joining,
      List<String> leaving,
      int instanceId,
      int deploymentId) {
    this(localhost, nodes, joining, leaving, instanceId, deploymentId, false);
  }

  /** A single-node cluster of {@code 127.0.0.1:<defaultPort>}, identity 0/0: no file needed. */
  public static ClusterConfig singleNode(int defaultPort) {
    String localhost = Addresses.normalize("127.0.0.1", defaultPort);
    return new ClusterConfig(localhost, List.of(localhost), List.of(), List.of(), 0, 0);
  }

  /**
   * Reads {@code file}; a missing file is the {@link #singleNode} default, as for a node installed
   * without clustering.
   *
   * @throws ConfigException if the file exists but cannot be read, or its content is invalid
   */
  public static ClusterConfig load(Path file, int defaultPort) throws ConfigException {
    checkDefaultPort(defaultPort);
    String text = read(file);
    return text == null ? singleNode(defaultPort) : parse(text, file.toString(), defaultPort);
  }

  /**
   * The file's text, or null if there is no such file.
   *
   * @throws ConfigException if it exists but cannot be read as UTF-8 text
   */
  static String read(Path file) throws ConfigException {
    try {
      return Files.readString(file);
    } catch (NoSuchFileException e) {
      return null;
    } catch (CharacterCodingException e) {
      throw new ConfigException(file + ": is not UTF-8 text", e);
    } catch (IOException e) {
      throw new ConfigException(file + ": cannot be read: " + e, e);
    }
  }

  /** Whether a cluster file's text has any node, joining or leaving line. */
  static boolean namesMembers(String text, String sourceName) throws ConfigException {
    IniFile ini = IniFile.parse(text, sourceName);
    return !(ini.entries(CLUSTER, "node").isEmpty()
        && ini.entries(CLUSTER, "joining").isEmpty()
        && ini.entries(CLUSTER, "leaving").isEmpty());
  }

  /**
   * Parses a cluster file's text; {@code sourceName} prefixes every error message and {@code
   * defaultPort} (this node's HTTP port) is the port an address written without one reaches, which
   * decides whether two lines name one node (the addresses themselves are kept as written).
   *
   * @throws ConfigException naming the file, line, key and bad value
   */
  public static ClusterConfig parse(String text, String sourceName, int defaultPort)
      throws ConfigException {
    return parse(text, sourceName, defaultPort, null, null, false);
  }

  /**
   * As {@link #parse(String, String, int)}; an [identity] key the text does not have is taken from
   * {@code identityText} ({@code identityName}: its file), when given. If {@code
   * identityTextFirst}, {@code identityText} is the node's own cluster file, which lists no member
   * while {@code text} does: each [identity] key it has, and its [cluster] localhost, win over the
   * text's, as the original reads a key from the older layout only when the cluster file lacks it.
   */
  static ClusterConfig parse(
      String text,
      String sourceName,
      int defaultPort,
      String identityText,
      String identityName,
      boolean identityTextFirst)
      throws ConfigException {
    checkDefaultPort(defaultPort);
    IniFile ini = IniFile.parse(text, sourceName);
    IniFile fallback = identityText == null ? null : IniFile.parse(identityText, identityName);
    for (IniFile file : identityTextFirst ? List.of(ini, fallback) : List.of(ini)) {
      file.unknownKeys(CLUSTER, Set.of("localhost", "node", "joining", "leaving"))
          .forEach(LOG::warn);
      file.unknownKeys(IDENTITY, Set.of("instance_id", "deployment_id")).forEach(LOG::warn);
    }

    Map<String, IniFile.Entry> firstSeen = new HashMap<>();
    Map<String, String> listedAs = new HashMap<>();
    List<String> nodes = addresses(ini, "node", defaultPort, firstSeen, listedAs);
    List<String> joining = addresses(ini, "joining", defaultPort, firstSeen, listedAs);
    List<String> leaving = addresses(ini, "leaving", defaultPort, firstSeen, listedAs);
    boolean clustered = !(nodes.isEmpty() && joining.isEmpty() && leaving.isEmpty());

    IniFile localFile = ini;
    Optional<IniFile.Entry> localEntry = ini.singleEntry(CLUSTER, "localhost");
    if (identityTextFirst && fallback != null) {
      Optional<IniFile.Entry> own = fallback.singleEntry(CLUSTER, "localhost");
      if (own.isPresent()) {
        localFile = fallback;
        localEntry = own;
      }
    }
    String localhost;
    if (localEntry.isPresent()) {
      String written = address(localFile, localEntry.get());
      localhost = listedAs.getOrDefault(Addresses.normalize(written, defaultPort), written);
    } else if (clustered) {
      throw new ConfigException(
          sourceName
              + ": [cluster] localhost is missing; it is required when node,"
              + " joining or leaving lines are present");
    } else {
      localhost = Addresses.normalize("127.0.0.1", defaultPort);
    }

    if (!clustered) {
      nodes = List.of(localhost);
    } else if (nodes.isEmpty() && joining.isEmpty()) {
      throw new ConfigException(
          sourceName
              + ": [cluster] has leaving lines "
              + leaving
              + " but no node or joining line; no node would be left");
    }

    IniFile first = identityTextFirst && fallback != null ? fallback : ini;
    IniFile second = first == ini ? fallback : ini;
    int instanceId = identity(first, second, "instance_id", MAX_INSTANCE_ID);
    int deploymentId = identity(first, second, "deployment_id", MAX_DEPLOYMENT_ID);
    Set<String> members = new java.util.TreeSet<>(concat(concat(nodes, joining), leaving));
    members.add(localhost);
    boolean derived =
        members.size() > 1
            && ini.entries(IDENTITY, "instance_id").isEmpty()
            && (fallback == null || fallback.entries(IDENTITY, "instance_id").isEmpty());
    if (derived) {
      instanceId = derivedInstanceId(localhost, members);
    }
    return new ClusterConfig(localhost, nodes, joining, leaving, instanceId, deploymentId, derived);
  }

  /**
   * The instance_id of a node whose files set none, in a cluster file listing more than one node.
   * The original takes 0 on every such node, so two of them that made a timer in the same
   * millisecond gave both timers one id, and one replaced the other. Each member takes the slot its
   * address's hash names, or the next one free, in the order of those slots and then of the
   * addresses: the nodes of one cluster file get different ids (up to 128 of them), and a node
   * added to it moves at most the few whose slots it takes.
   */
  static int derivedInstanceId(String localhost, Set<String> members) {
    int slots = MAX_INSTANCE_ID + 1;
    List<String> ordered = new ArrayList<>(members);
    ordered.sort(
        java.util.Comparator.comparingInt(ClusterConfig::instanceSlot)
            .thenComparing(java.util.Comparator.naturalOrder()));
    boolean[] taken = new boolean[slots];
    int free = slots;
    for (String member : ordered) {
      int slot = instanceSlot(member);
      while (free > 0 && taken[slot]) {
        slot = (slot + 1) % slots;
      }
      if (free > 0) {
        taken[slot] = true;
        free--;
      }
      if (member.equals(localhost)) {
        return slot;
      }
    }
    throw new IllegalArgumentException(localhost + " is not among " + members);
  }

  private static int instanceSlot(String address) {
    return Math.floorMod(
        Murmur3.x86_32(address.getBytes(java.nio.charset.StandardCharsets.UTF_8), 0),
        MAX_INSTANCE_ID + 1);
  }

  /** Node then joining addresses: where new timers are placed. */
  public List<String> newCluster() {
    return concat(nodes, joining);
  }

  /** Node then leaving addresses: where timers were placed before the scaling began. */
  public List<String> oldCluster() {
    return concat(nodes, leaving);
  }

  /**
   * The addresses of one key, as written; {@code firstSeen} and {@code listedAs}, by the host and
   * port each reaches, find the same node listed twice and the listed form of {@code localhost}.
   */
  private static List<String> addresses(
      IniFile ini,
      String key,
      int defaultPort,
      Map<String, IniFile.Entry> firstSeen,
      Map<String, String> listedAs)
      throws ConfigException {
    List<String> result = new ArrayList<>();
    for (IniFile.Entry entry : ini.entries(CLUSTER, key)) {
      String address = address(ini, entry);
      String reaches = Addresses.normalize(address, defaultPort);
      listedAs.putIfAbsent(reaches, address);
      IniFile.Entry earlier = firstSeen.putIfAbsent(reaches, entry);
      if (earlier != null) {
        throw new ConfigException(
            String.format(
                "%s:%d: [cluster] %s '%s' is %s, already listed on line %d as"
                    + " %s '%s'; each address may appear once across"
                    + " node, joining and leaving",
                ini.sourceName(),
                entry.line(),
                key,
                entry.value(),
                reaches,
                earlier.line(),
                earlier.key(),
                earlier.value()));
      }
      result.add(address);
    }
    return result;
  }

  private static String address(IniFile ini, IniFile.Entry entry) throws ConfigException {
    try {
      return Addresses.checked(entry.value());
    } catch (IllegalArgumentException e) {
      throw new ConfigException(
          String.format(
              "%s:%d: [cluster] %s '%s' is not a valid address: %s",
              ini.sourceName(), entry.line(), entry.key(), entry.value(), e.getMessage()),
          e);
    }
  }

  /** Whether {@code text} has an [identity] instance_id or deployment_id. */
  static boolean namesIdentity(String text, String sourceName) throws ConfigException {
    IniFile ini = IniFile.parse(text, sourceName);
    return !(ini.entries(IDENTITY, "instance_id").isEmpty()
        && ini.entries(IDENTITY, "deployment_id").isEmpty());
  }

  private static int identity(IniFile ini, IniFile fallback, String key, int max)
      throws ConfigException {
    Optional<IniFile.Entry> entry = ini.singleEntry(IDENTITY, key);
    if (entry.isEmpty() && fallback != null) {
      ini = fallback;
      entry = ini.singleEntry(IDENTITY, key);
    }
    if (entry.isEmpty()) {
      return 0;
    }
    String value = entry.get().value();
    int parsed;
    try {
      parsed = Integer.parseInt(value);
    } catch (NumberFormatException e) {
      parsed = -1;
    }
    if (parsed < 0 || parsed > max) {
      throw new ConfigException(
          String.format(
              "%s:%d: [identity] %s '%s' must be an integer 0-%d",
              ini.sourceName(), entry.get().line(), key, value, max));
    }
    return parsed;
  }

  private static void checkRange(String name, int value, int max) {
    if (value < 0 || value > max) {
      throw new IllegalArgumentException(name + " " + value + " is not in 0-" + max);
    }
  }

  private static void checkDefaultPort(int defaultPort) {
    if (defaultPort < 1 || defaultPort > 65535) {
      throw new IllegalArgumentException("default port " + defaultPort + " is not in 1-65535");
    }
  }

  private static List<String> concat(List<String> first, List<String> second) {
    List<String> all = new ArrayList<>(first.size() + second.size());
    all.addAll(first);
    all.addAll(second);
    return List.copyOf(all);
  }
}
