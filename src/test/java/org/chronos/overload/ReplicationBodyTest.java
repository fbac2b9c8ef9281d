package org.chronos.overload;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/**
 * The overload filter tells a peer's replication PUT from a client's by the body, as the parser
 * does.
 */
class ReplicationBodyTest {
  private static boolean replication(String json) {
    return OverloadFilter.isReplication(json.getBytes(StandardCharsets.UTF_8));
  }

  @Test
  void aBodyWithReplicasIsReplication() {
    assertThat(replication("{\"reliability\":{\"replicas\":[\"10.0.0.1:7253\"]}}")).isTrue();
    assertThat(
            replication(
                "{\"timing\":{\"interval\":1},\"callback\":{\"http\":{\"uri\":\"http://x/\",\"opaque\":\"{}\"}},"
                    + "\"reliability\":{\"replication-factor\":2,\"sites\":[\"a\"],\"replicas\":[\"a\",\"b\"]}}"))
        .isTrue();
    // Another site's message (sites, no replicas): the node places it in its own site.
    assertThat(
            replication(
                "{\"timing\":{\"interval\":1},\"callback\":{\"http\":{\"uri\":\"\",\"opaque\":\"\"}},"
                    + "\"reliability\":{\"cluster-view-id\":\"7\",\"replication-factor\":2,\"sites\":[\"site1\",\"site2\"]}}"))
        .isTrue();
    // A malformed replicas value is still a peer's message; the parser answers 400 for it.
    assertThat(replication("{\"reliability\":{\"replicas\":\"oops\"}}")).isTrue();
  }

  @Test
  void aClientBodyIsNot() {
    assertThat(
            replication("{\"timing\":{\"interval\":1},\"reliability\":{\"replication-factor\":3}}"))
        .isFalse();
    assertThat(replication("{\"reliability\":{\"replicas\":null}}")).isFalse();
    assertThat(replication("{\"reliability\":{\"sites\":null}}")).isFalse();
    assertThat(replication("{\"reliability\":[\"replicas\"]}")).isFalse();
    assertThat(replication("{\"callback\":{\"replicas\":[\"a\"]},\"statistics\":{\"replicas\":1}}"))
        .isFalse();
    assertThat(replication("{\"reliability\":{\"x\":{\"replicas\":[\"a\"]}}}")).isFalse();
  }

  @Test
  void anUnreadableBodyIsAClients() {
    assertThat(replication("")).isFalse();
    assertThat(replication("not json")).isFalse();
    assertThat(replication("[{\"reliability\":{\"replicas\":[\"a\"]}}]")).isFalse();
    assertThat(replication("{\"reliability\":{\"replicas\"")).isFalse();
  }
}
