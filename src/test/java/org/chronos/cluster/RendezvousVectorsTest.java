package org.chronos.cluster;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.IntStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/**
 * Checks every line of the compatibility vectors computed by the original hashing: a mixed cluster
 * of original and JVM nodes only works if all of them match exactly.
 */
class RendezvousVectorsTest {

  private static final ObjectMapper JSON = new ObjectMapper();

  @Test
  void theVectorFileHasEveryExpectedLineAndOnlyKnownKinds() throws IOException {
    List<JsonNode> vectors = vectors();

    assertThat(vectors).hasSize(294);
    assertThat(vectors).extracting(v -> v.get("kind").asText()).containsOnly("cluster", "replicas");
  }

  @TestFactory
  Stream<DynamicTest> everyVectorLineMatches() throws IOException {
    List<JsonNode> vectors = vectors();
    return IntStream.range(0, vectors.size())
        .mapToObj(
            i -> {
              JsonNode v = vectors.get(i);
              String name = "line " + (i + 1) + ": " + v;
              return DynamicTest.dynamicTest(name, () -> check(v));
            });
  }

  private static void check(JsonNode vector) {
    List<String> nodes = strings(vector.get("nodes"));
    switch (vector.get("kind").asText()) {
      case "cluster" -> checkCluster(vector, nodes);
      case "replicas" -> checkReplicas(vector, nodes);
      default -> throw new AssertionError("unknown vector kind in " + vector);
    }
  }

  private static void checkCluster(JsonNode vector, List<String> nodes) {
    List<Long> expectedHashes = new ArrayList<>();
    vector.get("serverHashes").forEach(h -> expectedHashes.add(h.asLong()));
    assertThat(ClusterView.serverHashes(nodes))
        .as("serverHashes")
        .containsExactly(expectedHashes.stream().mapToLong(Long::longValue).toArray());

    List<String> blooms =
        nodes.stream().map(a -> Long.toUnsignedString(ClusterView.bloomOf(a))).toList();
    assertThat(blooms).as("blooms").isEqualTo(strings(vector.get("blooms")));

    assertThat(ClusterView.viewIdOf(nodes))
        .as("clusterViewId")
        .isEqualTo(vector.get("clusterViewId").asText());
    assertThat(new ClusterView(config(nodes)).viewId())
        .as("ClusterView.viewId()")
        .isEqualTo(vector.get("clusterViewId").asText());
  }

  private static void checkReplicas(JsonNode vector, List<String> nodes) {
    long timerId = Long.parseUnsignedLong(vector.get("timerId").asText(), 16);
    int rf = vector.get("replicationFactor").asInt();

    List<String> replicas = new ClusterView(config(nodes)).replicasFor(timerId, rf);

    assertThat(replicas).isEqualTo(strings(vector.get("replicas")));
  }

  private static ClusterConfig config(List<String> nodes) {
    return new ClusterConfig(nodes.get(0), nodes, List.of(), List.of(), 0, 0);
  }

  private static List<String> strings(JsonNode array) {
    List<String> result = new ArrayList<>();
    array.forEach(n -> result.add(n.asText()));
    return result;
  }

  private static List<JsonNode> vectors() throws IOException {
    try (InputStream in =
        RendezvousVectorsTest.class.getResourceAsStream("/rendezvous-vectors.jsonl")) {
      assertThat(in).as("rendezvous-vectors.jsonl on the test classpath").isNotNull();
      String text = new String(in.readAllBytes(), StandardCharsets.UTF_8);
      List<JsonNode> vectors = new ArrayList<>();
      for (String line : text.split("\\R")) {
        if (!line.isBlank()) {
          vectors.add(JSON.readTree(line));
        }
      }
      return vectors;
    }
  }
}
