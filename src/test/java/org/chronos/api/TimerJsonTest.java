package org.chronos.api;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.chronos.timer.Tag;
import org.chronos.timer.Timer;
import org.junit.jupiter.api.Test;

class TimerJsonTest {
  private final TimerRequestParser parser = new TimerRequestParser(315_360_000L);

  @Test
  void idsAreWrittenAsSignedNumbersAsTheOriginalReadsThemAndReadBackEitherWay() throws Exception {
    ObjectMapper mapper = new ObjectMapper();
    long[] ids = {0L, 1234L, Long.MAX_VALUE, Long.MIN_VALUE, -1L, 0xabcdef0123456789L};
    for (long id : ids) {
      java.io.StringWriter out = new java.io.StringWriter();
      try (com.fasterxml.jackson.core.JsonGenerator g = mapper.getFactory().createGenerator(out)) {
        g.writeStartArray();
        TimerJson.writeId(g, id);
        g.writeEndArray();
      }
      assertThat(out.toString()).isEqualTo("[" + id + "]");
      assertThat(TimerJson.readId(mapper.readTree(out.toString()).get(0))).isEqualTo(id);
      assertThat(TimerJson.readId(mapper.readTree(Long.toUnsignedString(id)))).isEqualTo(id);
    }
  }

  @Test
  void theInternalFormatRoundTripsThroughTheParser() throws Exception {
    Timer timer =
        new Timer(
            0xabcL,
            3,
            1_000_000L,
            5000,
            15_000,
            2,
            "http://cb:80/x",
            "op\u00e9que".getBytes(StandardCharsets.UTF_8),
            List.of(new Tag("CALL", 2), new Tag("REG", 1)));
    timer.setReplicas(List.of("10.0.0.1:7253", "10.0.0.2:7253"));
    timer.setClusterViewId("12345");
    timer.setSites(List.of("site1", "site2"));
    byte[] json = TimerJson.write(timer, 1_004_000L);

    JsonNode tree = new ObjectMapper().readTree(json);
    assertThat(tree.at("/timing/start-time-delta").asLong()).isEqualTo(-4000);
    assertThat(tree.at("/timing/start-time").asLong()).isEqualTo(1_000_000L);
    assertThat(tree.at("/timing/interval").asLong()).isEqualTo(5);

    TimerRequest parsed = parser.parse(json);
    assertThat(parsed.intervalMillis()).isEqualTo(5000);
    assertThat(parsed.repeatForMillis()).isEqualTo(15_000);
    assertThat(parsed.startTimeDeltaMillis()).isEqualTo(-4000);
    assertThat(parsed.startTimeMillis()).isEqualTo(1_000_000L);
    assertThat(parsed.sequenceNumber()).isEqualTo(2);
    assertThat(parsed.callbackUri()).isEqualTo("http://cb:80/x");
    assertThat(parsed.opaque()).isEqualTo("op\u00e9que");
    assertThat(parsed.replicationFactor()).isEqualTo(3);
    assertThat(parsed.replicas()).containsExactly("10.0.0.1:7253", "10.0.0.2:7253");
    assertThat(parsed.clusterViewId()).isEqualTo("12345");
    assertThat(parsed.sites()).containsExactly("site1", "site2");
    assertThat(parsed.tags()).containsExactly(new Tag("CALL", 2), new Tag("REG", 1));
    assertThat(parsed.tombstone()).isFalse();
  }

  @Test
  void aTombstoneTravelsWithAnEmptyUriAndOpaque() throws Exception {
    Timer tombstone = Timer.tombstone(7, 2, 5000);
    tombstone.setReplicas(List.of("a:1", "b:1"));
    byte[] json = TimerJson.write(tombstone, 5000);
    JsonNode tree = new ObjectMapper().readTree(json);
    assertThat(tree.at("/callback/http/uri").asText()).isEmpty();
    assertThat(tree.at("/callback/http/opaque").asText()).isEmpty();
    TimerRequest parsed = parser.parse(json);
    assertThat(parsed.tombstone()).isTrue();
    assertThat(parsed.intervalMillis()).isEqualTo(Timer.DEFAULT_TOMBSTONE_MILLIS);
  }

  @Test
  void fieldsWeDoNotKnowAreIgnoredNotRejected() throws Exception {
    String body =
        "{\"timing\":{\"interval\":1,\"repeat-for\":1,\"future-field\":[1,2]},"
            + "\"callback\":{\"http\":{\"uri\":\"http://x/\",\"opaque\":\"o\",\"extra\":true}},"
            + "\"reliability\":{\"replicas\":[\"a:1\"],\"cluster-view-id\":\"9\",\"something\":{}},"
            + "\"unknown-section\":{\"a\":1}}";
    TimerRequest parsed = parser.parse(body.getBytes(StandardCharsets.UTF_8));
    assertThat(parsed.isReplication()).isTrue();
    assertThat(parsed.replicas()).containsExactly("a:1");
  }
}
