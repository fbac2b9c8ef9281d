package org.chronos.cluster;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * An immutable, parsed INI text (thread-safe once built), used to read Chronos's cluster files.
 *
 * <p>Sections and their entries keep file order and repeated keys are all kept, because the cluster
 * file lists {@code node = ...} once per node and the order of those lines matters. A section
 * header seen twice continues the same section. Keys before any header belong to the section {@code
 * ""}. Names are case-sensitive.
 *
 * <p>Comments: a line whose first non-blank character is {@code #} or {@code ;}, and the rest of a
 * line from any {@code #} ({@code localhost = 1.2.3.4 # me}, or {@code 1.2.3.4#me}), as the
 * original's parser (Boost.Program_options) reads its files: no value of these files has a {@code
 * #}.
 */
public final class IniFile {

  /** One {@code key = value} line; {@code line} is 1-based, for error messages. */
  public record Entry(String key, String value, int line) {}

  private final String sourceName;
  private final Map<String, List<Entry>> sections;

  private IniFile(String sourceName, Map<String, List<Entry>> sections) {
    this.sourceName = sourceName;
    this.sections = sections;
  }

  /**
   * Parses {@code text}; {@code sourceName} (usually the file path) prefixes every error.
   *
   * @throws ConfigException naming the line number and content of the first line that is neither
   *     blank, a comment, a {@code [section]} header nor {@code key = value}
   */
  public static IniFile parse(String text, String sourceName) throws ConfigException {
    if (text.startsWith("\uFEFF")) {
      text = text.substring(1); // editors on some platforms save UTF-8 with a BOM
    }
    Map<String, List<Entry>> sections = new LinkedHashMap<>();
    String section = "";
    String[] lines = text.split("\\R", -1);
    for (int i = 0; i < lines.length; i++) {
      int lineNumber = i + 1;
      String raw = lines[i];
      String line = stripInlineComment(raw).strip();
      if (line.isEmpty() || line.startsWith("#") || line.startsWith(";")) {
        continue;
      }
      if (line.startsWith("[")) {
        if (line.length() < 2 || !line.endsWith("]")) {
          throw syntaxError(sourceName, lineNumber, raw, "a section header is [name]");
        }
        section = line.substring(1, line.length() - 1).strip();
        if (section.isEmpty()) {
          throw syntaxError(sourceName, lineNumber, raw, "the section name is empty");
        }
        sections.computeIfAbsent(section, s -> new ArrayList<>());
        continue;
      }
      int equals = line.indexOf('=');
      if (equals < 0) {
        throw syntaxError(sourceName, lineNumber, raw, "expected [section] or key = value");
      }
      String key = line.substring(0, equals).strip();
      if (key.isEmpty()) {
        throw syntaxError(sourceName, lineNumber, raw, "the key before '=' is empty");
      }
      String value = line.substring(equals + 1).strip();
      sections
          .computeIfAbsent(section, s -> new ArrayList<>())
          .add(new Entry(key, value, lineNumber));
    }
    Map<String, List<Entry>> frozen = new LinkedHashMap<>();
    sections.forEach((name, entries) -> frozen.put(name, List.copyOf(entries)));
    return new IniFile(sourceName, Collections.unmodifiableMap(frozen));
  }

  /** The name given to {@link #parse}, for messages about this file's values. */
  public String sourceName() {
    return sourceName;
  }

  public boolean hasSection(String section) {
    return sections.containsKey(section);
  }

  /** Section names in file order, {@code ""} first when keys precede any header. */
  public Set<String> sectionNames() {
    return sections.keySet();
  }

  /** Every entry of {@code section} in file order; empty when the section is absent. */
  public List<Entry> entries(String section) {
    return sections.getOrDefault(section, List.of());
  }

  /** The entries for {@code key} in {@code section}, in file order. */
  public List<Entry> entries(String section, String key) {
    List<Entry> matches = new ArrayList<>();
    for (Entry entry : entries(section)) {
      if (entry.key().equals(key)) {
        matches.add(entry);
      }
    }
    return List.copyOf(matches);
  }

  /** The values for a repeatable key ({@code node}, {@code joining}), in file order. */
  public List<String> values(String section, String key) {
    return entries(section, key).stream().map(Entry::value).toList();
  }

  /**
   * The entry for a single-valued key, or empty when absent.
   *
   * @throws ConfigException if the key appears more than once: a silently ignored duplicate ({@code
   *     localhost} twice, say) is far more likely a mistake than an intent
   */
  public Optional<Entry> singleEntry(String section, String key) throws ConfigException {
    List<Entry> matches = entries(section, key);
    if (matches.size() > 1) {
      throw new ConfigException(
          String.format(
              "%s:%d: [%s] %s is given more than once (first on line %d: '%s',"
                  + " again as '%s'); it takes a single value",
              sourceName,
              matches.get(1).line(),
              section,
              key,
              matches.get(0).line(),
              matches.get(0).value(),
              matches.get(1).value()));
    }
    return matches.stream().findFirst();
  }

  /** The value of a single-valued key; see {@link #singleEntry} for the duplicate rule. */
  public Optional<String> value(String section, String key) throws ConfigException {
    return singleEntry(section, key).map(Entry::value);
  }

  /**
   * What in {@code section} is not one of {@code known}, and sections named as {@code section} in
   * other letter case, each described with its line, for a warning: the original ignores options it
   * does not know, so a file it takes must load here too, but a misspelt {@code joining} or a
   * {@code [Cluster]} should not go unnoticed.
   */
  public List<String> unknownKeys(String section, Set<String> known) {
    List<String> unknown = new ArrayList<>();
    for (String name : sections.keySet()) {
      if (!name.equals(section) && name.equalsIgnoreCase(section)) {
        unknown.add(
            String.format(
                "%s: section [%s] is not [%s] (names are case-sensitive): its lines are ignored",
                sourceName, name, section));
      }
    }
    for (Entry entry : entries(section)) {
      if (!known.contains(entry.key())) {
        unknown.add(
            String.format(
                "%s:%d: [%s] has no key '%s' (its keys are %s): the line is ignored",
                sourceName, entry.line(), section, entry.key(), new java.util.TreeSet<>(known)));
      }
    }
    return unknown;
  }

  /** Cuts a line at its first {@code #}. */
  private static String stripInlineComment(String line) {
    int hash = line.indexOf('#');
    return hash < 0 ? line : line.substring(0, hash);
  }

  private static ConfigException syntaxError(
      String sourceName, int lineNumber, String raw, String why) {
    return new ConfigException(
        String.format("%s:%d: %s, got '%s'", sourceName, lineNumber, why, raw.strip()));
  }
}
