package org.chronos.replication;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

class ReplicationBatchTest {
  private static byte[] utf8(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  @Test
  void entriesComeBackWithTheirPathsAndBodiesInOrder() throws IOException {
    byte[] batch =
        ReplicationBatch.encode(
            List.of("/timers/0000000000000001-2", "/timers/00000000000000ff-3"),
            List.of(
                utf8("{\"timing\":{\"interval\":1},\"opaque\":\"é \\\" ]}\"}"),
                utf8("{\"reliability\":{\"replicas\":[\"a:1\",\"b:2\"]}}")),
            new long[] {0, 1_234_567},
            new long[] {Replicator.NOT_A_SNAPSHOT, 700_000});

    List<ReplicationBatch.Entry> entries = ReplicationBatch.decode(batch);

    assertThat(entries).hasSize(2);
    assertThat(entries.get(0).path()).isEqualTo("/timers/0000000000000001-2");
    assertThat(entries.get(0).body().path("opaque").asText()).isEqualTo("é \" ]}");
    assertThat(entries.get(1).path()).isEqualTo("/timers/00000000000000ff-3");
    assertThat(entries.get(1).body().path("reliability").path("replicas").get(1).asText())
        .isEqualTo("b:2");
    assertThat(entries.get(0).heldMicros()).isZero();
    assertThat(entries.get(1).heldMicros()).isEqualTo(1_234_567);
    assertThat(entries.get(0).snapshotMicros()).isEqualTo(Replicator.NOT_A_SNAPSHOT);
    assertThat(entries.get(1).snapshotMicros()).isEqualTo(700_000);
  }

  @Test
  void anEntryIsASnapshotOnlyWithAWholeNonNegativeSnapshotTime() throws IOException {
    List<ReplicationBatch.Entry> entries =
        ReplicationBatch.decode(
            utf8(
                "{\"Requests\":[{\"Path\":\"/timers/a\",\"Body\":{}},"
                    + "{\"Path\":\"/timers/b\",\"Snapshot\":-5,\"Body\":{}},"
                    + "{\"Path\":\"/timers/c\",\"Snapshot\":\"900\",\"Body\":{}},"
                    + "{\"Path\":\"/timers/d\",\"Snapshot\":2.5,\"Body\":{}},"
                    + "{\"Path\":\"/timers/e\",\"Snapshot\":0,\"Body\":{}},"
                    + "{\"Path\":\"/timers/f\",\"Snapshot\":1500,\"Body\":{}}]}"));

    assertThat(entries)
        .extracting(ReplicationBatch.Entry::snapshotMicros)
        .containsExactly(-1L, -1L, -1L, -1L, 0L, 1500L);
  }

  @Test
  void aHeldTimeThatIsMissingNegativeOrNotAWholeNumberCountsAsNone() throws IOException {
    List<ReplicationBatch.Entry> entries =
        ReplicationBatch.decode(
            utf8(
                "{\"Requests\":[{\"Path\":\"/timers/a\",\"Body\":{}},"
                    + "{\"Path\":\"/timers/b\",\"Held\":-5,\"Body\":{}},"
                    + "{\"Path\":\"/timers/c\",\"Held\":\"900\",\"Body\":{}},"
                    + "{\"Path\":\"/timers/d\",\"Held\":2.5,\"Body\":{}},"
                    + "{\"Path\":\"/timers/e\",\"Held\":99999999999999999999999,\"Body\":{}},"
                    + "{\"Path\":\"/timers/f\",\"Held\":1500,\"Body\":{}}]}"));

    assertThat(entries)
        .extracting(ReplicationBatch.Entry::heldMicros)
        .containsExactly(0L, 0L, 0L, 0L, 0L, 1500L);
    assertThat(entries).extracting(e -> e.body() != null).containsOnly(true);
  }

  @Test
  void anEntryWithoutAPathOrBodyDecodesWithNulls() throws IOException {
    List<ReplicationBatch.Entry> entries =
        ReplicationBatch.decode(utf8("{\"Requests\":[{\"Body\":{}},{\"Path\":\"/timers/x\"}]}"));

    assertThat(entries.get(0).path()).isNull();
    assertThat(entries.get(1).body()).isNull();
  }

  @Test
  void somethingThatIsNotABatchIsRefused() {
    assertThatThrownBy(() -> ReplicationBatch.decode(utf8("{\"timing\":{}}")))
        .isInstanceOf(IOException.class);
    assertThatThrownBy(() -> ReplicationBatch.decode(utf8("[1,2"))).isInstanceOf(IOException.class);
  }

  @Test
  void statusesRoundTrip() throws IOException {
    byte[] answer = ReplicationBatch.encodeStatuses(new int[] {200, 400, 503});

    assertThat(new String(answer, StandardCharsets.US_ASCII))
        .isEqualTo("{\"Statuses\":[200,400,503]}");
    assertThat(ReplicationBatch.decodeStatuses(answer, 3)).containsExactly(200, 400, 503);
  }

  @Test
  void anAnswerWithTheWrongNumberOfStatusesOrNoneIsRefused() {
    byte[] two = ReplicationBatch.encodeStatuses(new int[] {200, 200});

    assertThatThrownBy(() -> ReplicationBatch.decodeStatuses(two, 3))
        .hasMessageContaining("2 statuses for 3");
    assertThatThrownBy(() -> ReplicationBatch.decodeStatuses(two, 1))
        .hasMessageContaining("more statuses");
    assertThatThrownBy(() -> ReplicationBatch.decodeStatuses(utf8("<html>not found</html>"), 1))
        .isInstanceOf(IOException.class);
    assertThatThrownBy(() -> ReplicationBatch.decodeStatuses(utf8("{\"Statuses\":[\"ok\"]}"), 1))
        .isInstanceOf(IOException.class);
  }
}
