package org.chronos.resources;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import org.chronos.api.BadRequestException;
import org.chronos.api.TimerJson;

/** Parses a {@code DELETE /timers/references} body: {@code {"IDs":[{"ID":n,"ReplicaIndex":i}]}}. */
final class ReferencesParser {
  private static final ObjectMapper MAPPER = new ObjectMapper();

  private ReferencesParser() {}

  /** Returns {id, replica index} pairs. */
  static List<long[]> parse(byte[] body) throws BadRequestException {
    JsonNode root;
    try {
      root = MAPPER.readTree(body);
    } catch (IOException e) {
      throw new BadRequestException("malformed JSON: " + e.getMessage());
    }
    if (root == null || !root.isObject() || !root.path("IDs").isArray()) {
      throw new BadRequestException("body must be an object with an IDs array");
    }
    List<long[]> refs = new ArrayList<>();
    for (JsonNode entry : root.get("IDs")) {
      JsonNode id = entry.get("ID");
      JsonNode index = entry.get("ReplicaIndex");
      if (id == null
          || !id.isIntegralNumber()
          || index == null
          || !index.isIntegralNumber()
          || !index.canConvertToInt()
          || index.intValue() < 0) {
        throw new BadRequestException(
            "each IDs entry needs an integer ID and a non-negative ReplicaIndex: " + entry);
      }
      refs.add(new long[] {TimerJson.readId(id), index.intValue()});
    }
    return refs;
  }
}
