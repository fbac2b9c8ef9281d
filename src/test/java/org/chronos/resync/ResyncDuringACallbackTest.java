package org.chronos.resync;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;
import static org.chronos.testing.ChronosClient.idOf;

import java.time.Duration;
import java.util.List;
import org.chronos.testing.CallbackServer;
import org.chronos.testing.CallbackServer.Received;
import org.chronos.testing.CallbackServer.Reply;
import org.chronos.testing.ClusterHarness;
import org.chronos.testing.ClusterHarness.Node;
import org.chronos.testing.TimerJson;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A resync that pages a timer while its primary's callback is still out (PROTOCOL.md sections 5 and
 * 6). The pop is not made until that callback succeeds: if it fails, the primary drops its copy and
 * the next replica must make the pop. Two real nodes, rf 2.
 */
class ResyncDuringACallbackTest {
  private ClusterHarness cluster;
  private CallbackServer callbacks;

  @BeforeEach
  void setUp() {
    callbacks = CallbackServer.start();
    cluster = ClusterHarness.start(2);
  }

  @AfterEach
  void tearDown() {
    cluster.close();
    callbacks.close();
  }

  @Test
  void aPopWhoseCallbackFailsAfterTheBackupResyncedIsMadeByTheBackup() {
    String path = callbacks.newPath("failing-during-a-resync");
    // The primary's first callback answers 500 after 1.5 s; the backup's, 2 s later, succeeds.
    callbacks.respondByNumber(
        path, n -> n == 1 ? Reply.status(500).after(Duration.ofMillis(1500)) : Reply.ok());
    long id =
        idOf(
            cluster
                .node(0)
                .client()
                .createTimer(
                    TimerJson.timer()
                        .interval(10)
                        .repeatFor(100)
                        .callback(callbacks.url(path), "o")
                        .json()));
    List<String> replicas = cluster.node(0).view().replicasFor(id, 2);
    Node backup = cluster.byAddress(replicas.get(1));
    await("the backup's copy").until(() -> backup.holdsLive(id));

    // While the primary's first callback is out, the backup resyncs and pages the primary.
    callbacks.awaitRequests(path, 1, Duration.ofSeconds(15));
    backup.resync();

    List<Received> pops = callbacks.awaitRequests(path, 2, Duration.ofSeconds(8));
    assertThat(pops)
        .extracting(Received::sequenceNumber)
        .as("the failed pop made again by the backup, not skipped")
        .containsExactly(1, 1);
  }
}
