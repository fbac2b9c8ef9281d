package org.chronos.sites;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.Set;
import java.util.regex.Pattern;
import org.chronos.cluster.Addresses;
import org.chronos.cluster.ConfigException;
import org.chronos.cluster.IniFile;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The {@code [sites]} section of {@code chronos_shared.conf} (PROTOCOL.md section 7); immutable.
 *
 * @param remoteSites site name to the address that reaches it, in file order
 */
public record SitesConfig(
    String localSite, Map<String, String> remoteSites, boolean replicateAcrossSites) {
  private static final Logger LOG = LoggerFactory.getLogger(SitesConfig.class);

  private static final String SECTION = "sites";

  private static final Pattern NAME = Pattern.compile("[A-Za-z0-9._-]+");
  public static final String DEFAULT_SITE = "site1";

  public SitesConfig {
    remoteSites = Collections.unmodifiableMap(new LinkedHashMap<>(remoteSites));
  }

  /** One site, no replication across sites: what a node runs with when the file is missing. */
  public static SitesConfig single() {
    return new SitesConfig(DEFAULT_SITE, Map.of(), false);
  }

  public static SitesConfig load(Path file, int defaultPort) throws ConfigException {
    if (!Files.exists(file)) {
      return single();
    }
    try {
      return parse(Files.readString(file), file.toString(), defaultPort);
    } catch (IOException e) {
      throw new ConfigException("cannot read " + file + ": " + e.getMessage(), e);
    }
  }

  /** Whether a shared file's text has any line in [sites]. */
  public static boolean namesSites(String text, String source) throws ConfigException {
    return !IniFile.parse(text, source).entries(SECTION).isEmpty();
  }

  public static SitesConfig parse(String text, String source, int defaultPort)
      throws ConfigException {
    IniFile ini = IniFile.parse(text, source);
    ini.unknownKeys(SECTION, Set.of("local_site", "remote_site", "replicate_timers_across_sites"))
        .forEach(LOG::warn);
    String local = ini.value(SECTION, "local_site").orElse(DEFAULT_SITE).trim();
    if (!NAME.matcher(local).matches()) {
      throw new ConfigException(
          source + ": [sites] local_site '" + local + "' is not a valid site name");
    }
    Map<String, String> remotes = new LinkedHashMap<>();
    for (IniFile.Entry entry : ini.entries(SECTION, "remote_site")) {
      String value = entry.value();
      int eq = value.indexOf('=');
      if (eq <= 0 || eq == value.length() - 1) {
        throw new ConfigException(
            source
                + ":"
                + entry.line()
                + ": [sites] remote_site must be name=address, not '"
                + value
                + "'");
      }
      String name = value.substring(0, eq).trim();
      String address = value.substring(eq + 1).trim();
      if (!NAME.matcher(name).matches()) {
        throw new ConfigException(
            source + ":" + entry.line() + ": [sites] remote site name '" + name + "' is not valid");
      }
      String normalized;
      try {
        normalized = Addresses.normalize(address, defaultPort);
      } catch (IllegalArgumentException e) {
        throw new ConfigException(
            source
                + ":"
                + entry.line()
                + ": [sites] remote site "
                + name
                + " address '"
                + address
                + "': "
                + e.getMessage());
      }
      if (name.equals(local)) {
        LOG.info(
            "{}:{}: ignoring remote_site {}: it is the local site", source, entry.line(), name);
        continue;
      }
      if (remotes.putIfAbsent(name, normalized) != null) {
        throw new ConfigException(
            source + ":" + entry.line() + ": [sites] remote site " + name + " is listed twice");
      }
    }
    boolean across = parseBoolean(ini.value(SECTION, "replicate_timers_across_sites"), source);
    return new SitesConfig(local, remotes, across);
  }

  private static boolean parseBoolean(Optional<String> value, String source)
      throws ConfigException {
    if (value.isEmpty()) {
      return false;
    }
    String v = value.get().trim().toLowerCase(Locale.ROOT);
    return switch (v) {
      case "true", "yes", "on", "1" -> true;
      case "false", "no", "off", "0" -> false;
      default ->
          throw new ConfigException(
              source
                  + ": [sites] replicate_timers_across_sites must be true or false, not '"
                  + value.get()
                  + "'");
    };
  }

  /** The site list of a new timer: this site first, then the remote sites in random order. */
  public List<String> newTimerSites(Random random) {
    List<String> remotes = new ArrayList<>(replicateAcrossSites ? remoteSites.keySet() : List.of());
    Collections.shuffle(remotes, random);
    List<String> sites = new ArrayList<>(remotes.size() + 1);
    sites.add(localSite);
    sites.addAll(remotes);
    return List.copyOf(sites);
  }

  /**
   * A timer's site list under this configuration: sites no longer configured drop out, new ones
   * join at the end (with replication across sites on). An empty list (a timer from a node without
   * sites) becomes this site alone. Configured sites stay whether or not this site replicates
   * across sites: a timer another site sent here pops here at this site's place in its list, after
   * its own site's replicas. Cut to this site alone, it popped here at the same time as there.
   */
  public List<String> refresh(List<String> sites) {
    List<String> known = new ArrayList<>();
    for (String site : sites) {
      if ((site.equals(localSite) || remoteSites.containsKey(site)) && !known.contains(site)) {
        known.add(site);
      }
    }
    if (!known.contains(localSite)) {
      known.add(localSite);
    }
    if (replicateAcrossSites) {
      for (String site : remoteSites.keySet()) {
        if (!known.contains(site)) {
          known.add(site);
        }
      }
    }
    return known.equals(sites) ? sites : List.copyOf(known);
  }
}
