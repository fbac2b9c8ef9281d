package org.chronos.api;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.JsonNodeType;
import java.io.IOException;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.chronos.timer.Tag;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Turns a timer body into a {@link TimerRequest} or a {@link BadRequestException} naming what is
 * wrong; thread-safe. Everything a client can get wrong is a 400 here, never an exception that
 * would become a 500.
 */
public final class TimerRequestParser {
  /**
   * Most a timer's {@code start-time-delta} may reach into the past or future (100 years in ms),
   * and half the latest {@code start-time} (so before 2170): internal fields, bounded so that no
   * arithmetic on them overflows.
   */
  static final long MAX_START_OFFSET_MILLIS = 100L * 36525 * 24 * 3600 * 10;

  private static final Logger LOG = LoggerFactory.getLogger(TimerRequestParser.class);

  /** Most tag types a timer carries; entries of further types are ignored. */
  static final int MAX_TAGS = 32;

  private final ObjectMapper mapper;
  private final long maxSeconds;

  /**
   * @param maxSeconds the largest interval or repeat-for accepted, in seconds
   */
  public TimerRequestParser(long maxSeconds) {
    if (maxSeconds < 1) {
      throw new IllegalArgumentException("maxSeconds must be >= 1: " + maxSeconds);
    }
    this.maxSeconds = maxSeconds;
    this.mapper =
        new ObjectMapper()
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION);
  }

  public TimerRequest parse(byte[] body) throws BadRequestException {
    if (body.length == 0) {
      throw new BadRequestException("empty body: a timer is a JSON object");
    }
    String text;
    try {
      // Jackson lets overlong forms and code points above U+10FFFF through; the JDK's decoder does
      // not.
      text =
          StandardCharsets.UTF_8
              .newDecoder()
              .onMalformedInput(CodingErrorAction.REPORT)
              .onUnmappableCharacter(CodingErrorAction.REPORT)
              .decode(ByteBuffer.wrap(body))
              .toString();
    } catch (CharacterCodingException e) {
      throw new BadRequestException("malformed JSON: the body is not valid UTF-8");
    }
    JsonNode root;
    try {
      root = mapper.readTree(text);
    } catch (JsonProcessingException e) {
      throw new BadRequestException("malformed JSON: " + e.getOriginalMessage());
    } catch (IOException e) {
      throw new BadRequestException("unreadable body: " + e.getMessage());
    }
    return parse(root);
  }

  /** Validates an already parsed timer object (resync pages carry timers inside a list). */
  public TimerRequest parse(JsonNode root) throws BadRequestException {
    if (root == null || !root.isObject()) {
      throw new BadRequestException("body must be a JSON object, not " + describe(root));
    }

    JsonNode timing = requiredObject(root, "timing", "");
    long intervalSeconds = requiredSeconds(timing, "interval");
    long repeatForSeconds =
        timing.has("repeat-for") ? requiredSeconds(timing, "repeat-for") : intervalSeconds;
    if (intervalSeconds == 0 && repeatForSeconds != 0) {
      throw new BadRequestException(
          "timing.interval is 0 but timing.repeat-for is not: it would pop forever");
    }
    Long startTimeDelta = optionalLong(timing, "start-time-delta");
    if (startTimeDelta != null && Math.abs(startTimeDelta) > MAX_START_OFFSET_MILLIS) {
      throw new BadRequestException(
          "timing.start-time-delta must be within 100 years of now: " + startTimeDelta);
    }
    Long startTime = optionalLong(timing, "start-time");
    if (startTime != null && (startTime < 0 || startTime > MAX_START_OFFSET_MILLIS * 2)) {
      throw new BadRequestException(
          "timing.start-time must be ms since 1970 and before 2170: " + startTime);
    }
    Long sequence = optionalLong(timing, "sequence-number");
    if (sequence != null && (sequence < 0 || sequence > Integer.MAX_VALUE)) {
      throw new BadRequestException("timing.sequence-number out of range: " + sequence);
    }

    Integer replicationFactor = null;
    List<String> replicas = null;
    List<String> sites = null;
    String clusterViewId = null;
    JsonNode reliability = root.get("reliability");
    if (reliability != null) {
      if (!reliability.isObject()) {
        throw new BadRequestException(
            "reliability must be an object, not " + describe(reliability));
      }
      if (reliability.has("replication-factor")) {
        JsonNode rf = reliability.get("replication-factor");
        if (!rf.isIntegralNumber() || !rf.canConvertToInt() || rf.intValue() < 1) {
          throw new BadRequestException(
              "reliability.replication-factor must be a positive integer, not " + describe(rf));
        }
        replicationFactor = rf.intValue();
      }
      replicas = optionalStrings(reliability, "replicas");
      if (replicas != null && replicas.isEmpty()) {
        throw new BadRequestException("reliability.replicas must not be empty");
      }
      sites = optionalStrings(reliability, "sites");
      JsonNode view = reliability.get("cluster-view-id");
      if (view != null && !view.isNull()) {
        if (!view.isTextual()) {
          throw new BadRequestException(
              "reliability.cluster-view-id must be a string, not " + describe(view));
        }
        clusterViewId = view.textValue();
      }
    }

    JsonNode callback = requiredObject(root, "callback", "");
    JsonNode http = callback.get("http");
    if (http == null) {
      List<String> types = new ArrayList<>();
      callback.fieldNames().forEachRemaining(types::add);
      throw new BadRequestException(
          types.isEmpty()
              ? "callback.http is required"
              : "unsupported callback type " + types + ": only http is supported");
    }
    if (!http.isObject()) {
      throw new BadRequestException("callback.http must be an object, not " + describe(http));
    }
    String uri = requiredString(http, "uri", "callback.http.");
    String opaque = requiredString(http, "opaque", "callback.http.");
    // Raw bytes that are not UTF-8 are refused above; an escaped lone surrogate ("\ud800") passes
    // Jackson and would reach the callback as '?'.
    if (hasLoneSurrogate(opaque)) {
      throw new BadRequestException(
          "callback.http.opaque holds an unpaired UTF-16 surrogate escape: not a character");
    }
    // Only peers (same site: replicas; other sites: sites) send tombstones; a client sending an
    // empty URI made a mistake.
    boolean tombstone = (replicas != null || sites != null) && uri.isEmpty() && opaque.isEmpty();
    if (!tombstone) {
      checkCallbackUri(uri);
    }

    List<Tag> tags = parseTags(root.get("statistics"));
    return new TimerRequest(
        intervalSeconds * 1000,
        repeatForSeconds * 1000,
        tombstone ? null : uri,
        tombstone ? null : opaque,
        replicationFactor,
        replicas,
        tombstone,
        tags,
        startTimeDelta,
        startTime,
        sequence == null ? null : sequence.intValue(),
        clusterViewId,
        sites);
  }

  /**
   * Callback URIs found valid lately, by hash: most timers share a few URIs, and parsing one costs
   * more than the rest of the check. Racy on purpose (a slot holds some valid URI or null).
   */
  private static final String[] VALID_URIS = new String[256];

  /** Rejects at request time what could only fail at pop time. */
  static void checkCallbackUri(String uri) throws BadRequestException {
    int slot = uri.hashCode() & (VALID_URIS.length - 1);
    if (uri.equals(VALID_URIS[slot])) {
      return;
    }
    check(uri);
    VALID_URIS[slot] = uri;
  }

  private static void check(String uri) throws BadRequestException {
    URI parsed;
    try {
      parsed = new URI(CallbackUri.encoded(uri));
    } catch (URISyntaxException e) {
      throw new BadRequestException("callback.http.uri is not a valid URI: " + e.getMessage());
    }
    String scheme = parsed.getScheme() == null ? null : parsed.getScheme().toLowerCase(Locale.ROOT);
    if (!"http".equals(scheme) && !"https".equals(scheme)) {
      throw new BadRequestException(
          "callback.http.uri must be an absolute http or https URI: " + uri);
    }
    int port = parsed.getPort();
    if (parsed.getHost() == null || parsed.getHost().isEmpty()) {
      // java.net.URI finds no host in a name with '_' (Docker Compose service names have them),
      // which DNS and curl take: such a name and an optional port are accepted, as the original
      // did.
      HostAndPort named = HostAndPort.of(parsed.getRawAuthority());
      if (named == null) {
        throw new BadRequestException("callback.http.uri has no host: " + uri);
      }
      port = named.port();
    }
    // java.net.URI takes any number of digits as a port.
    if (port == 0 || port > 65535) {
      throw new BadRequestException("callback.http.uri has a port outside 1-65535: " + port);
    }
    if (hasLoneSurrogate(uri)) {
      throw new BadRequestException(
          "callback.http.uri holds an unpaired UTF-16 surrogate escape: not a character");
    }
  }

  /** Whether {@code s} holds a UTF-16 surrogate that is not half of a pair. */
  static boolean hasLoneSurrogate(String s) {
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (Character.isHighSurrogate(c)
          && i + 1 < s.length()
          && Character.isLowSurrogate(s.charAt(i + 1))) {
        i++;
      } else if (Character.isSurrogate(c)) {
        return true;
      }
    }
    return false;
  }

  private List<Tag> parseTags(JsonNode statistics) {
    if (statistics == null || !statistics.isObject()) {
      return List.of();
    }
    JsonNode info = statistics.get("tag-info");
    if (info == null || !info.isArray()) {
      return List.of();
    }
    // Entries of one type add up, as the original's did (up to its unsigned 32-bit count).
    Map<String, Long> counts = new LinkedHashMap<>();
    boolean told = false;
    for (JsonNode entry : info) {
      Tag tag = parseTag(entry);
      if (tag == null) {
        LOG.debug("ignoring malformed tag entry {}", entry);
      } else if (counts.size() < MAX_TAGS || counts.containsKey(tag.type())) {
        counts.merge(tag.type(), tag.count(), (a, b) -> Math.min(Tag.MAX_COUNT, a + b));
      } else if (!told) {
        LOG.info("timer has more than {} tag types; ignoring the others", MAX_TAGS);
        told = true;
      }
    }
    if (counts.isEmpty()) {
      return List.of();
    }
    List<Tag> tags = new ArrayList<>(counts.size());
    counts.forEach((type, count) -> tags.add(new Tag(type, count)));
    return List.copyOf(tags);
  }

  private static Tag parseTag(JsonNode entry) {
    if (!entry.isObject()) {
      return null;
    }
    JsonNode type = entry.get("type");
    if (type == null || !type.isTextual() || !Tag.isValidType(type.textValue())) {
      return null;
    }
    long count = 1;
    JsonNode countNode = entry.get("count");
    if (countNode != null) {
      if (!countNode.isIntegralNumber()
          || !countNode.canConvertToLong()
          || countNode.longValue() < 1
          || countNode.longValue() > Tag.MAX_COUNT) {
        return null;
      }
      count = countNode.longValue();
    }
    return new Tag(type.textValue().intern(), count);
  }

  private long requiredSeconds(JsonNode parent, String field) throws BadRequestException {
    JsonNode node = parent.get(field);
    if (node == null || node.isNull()) {
      throw new BadRequestException("timing." + field + " is required");
    }
    if (!node.isIntegralNumber()) {
      throw new BadRequestException(
          "timing." + field + " must be an integer number of seconds, not " + describe(node));
    }
    if (!node.canConvertToLong() || node.longValue() < 0 || node.longValue() > maxSeconds) {
      throw new BadRequestException(
          "timing."
              + field
              + " must be between 0 and "
              + maxSeconds
              + " seconds: "
              + node.asText());
    }
    return node.longValue();
  }

  private static Long optionalLong(JsonNode parent, String field) throws BadRequestException {
    JsonNode node = parent.get(field);
    if (node == null || node.isNull()) {
      return null;
    }
    if (!node.isIntegralNumber() || !node.canConvertToLong()) {
      throw new BadRequestException(
          "timing." + field + " must be an integer, not " + describe(node));
    }
    return node.longValue();
  }

  private static JsonNode requiredObject(JsonNode parent, String field, String path)
      throws BadRequestException {
    JsonNode node = parent.get(field);
    if (node == null || node.isNull()) {
      throw new BadRequestException(path + field + " is required");
    }
    if (!node.isObject()) {
      throw new BadRequestException(path + field + " must be an object, not " + describe(node));
    }
    return node;
  }

  private static String requiredString(JsonNode parent, String field, String path)
      throws BadRequestException {
    JsonNode node = parent.get(field);
    if (node == null || node.isNull()) {
      throw new BadRequestException(path + field + " is required");
    }
    if (!node.isTextual()) {
      throw new BadRequestException(path + field + " must be a string, not " + describe(node));
    }
    return node.textValue();
  }

  private static List<String> optionalStrings(JsonNode parent, String field)
      throws BadRequestException {
    JsonNode node = parent.get(field);
    if (node == null || node.isNull()) {
      return null;
    }
    if (!node.isArray()) {
      throw new BadRequestException(
          "reliability." + field + " must be an array of strings, not " + describe(node));
    }
    List<String> values = new ArrayList<>(node.size());
    for (JsonNode item : node) {
      if (!item.isTextual()) {
        throw new BadRequestException(
            "reliability." + field + " must hold only strings, not " + describe(item));
      }
      values.add(item.textValue());
    }
    return List.copyOf(values);
  }

  private static String describe(JsonNode node) {
    if (node == null || node.getNodeType() == JsonNodeType.MISSING) {
      return "nothing";
    }
    String kind =
        switch (node.getNodeType()) {
          case ARRAY -> "an array";
          case OBJECT -> "an object";
          case STRING -> "a string";
          case NUMBER -> "a number";
          case BOOLEAN -> "a boolean";
          case NULL -> "null";
          default -> "a " + node.getNodeType().name().toLowerCase(Locale.ROOT);
        };
    String text = node.toString();
    return text.length() > 40 ? kind : kind + " (" + text + ")";
  }
}
