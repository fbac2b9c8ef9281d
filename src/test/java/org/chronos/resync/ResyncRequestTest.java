package org.chronos.resync;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.List;
import org.chronos.testing.CallbackServer;
import org.chronos.testing.CallbackServer.Received;
import org.chronos.testing.CallbackServer.Reply;
import org.chronos.testing.ClusterHarness;
import org.chronos.testing.ClusterHarness.Node;
import org.chronos.testing.TimerJson;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** What a resync asks its peers for, on the wire (PROTOCOL.md section 6). */
class ResyncRequestTest {
  private ClusterHarness cluster;
  private CallbackServer fakePeer;

  @AfterEach
  void tearDown() {
    if (cluster != null) {
      cluster.close();
    }
    if (fakePeer != null) {
      fakePeer.close();
    }
  }

  @Test
  void pagesAreAskedForAsTheOriginalAsksByNodeViewAndPageSizeUncompressedThenFromTheLastPop() {
    fakePeer = CallbackServer.start();
    String peer = "127.0.0.1:" + fakePeer.port();
    cluster = ClusterHarness.create(1, "resync:", "  pageSize: 50");
    Node node = cluster.node(0);
    String timer = TimerJson.pageEntry(1234, List.of(node.address(), peer));
    // A first page of one timer (206: there is more), then the last page: that timer again, as
    // the overlap time-from reaches back into holds it, and nothing after it.
    fakePeer.respondByDefault(
        request -> {
          if (!request.method().equals("GET")) {
            return Reply.status(202);
          }
          return request.query().contains("time-from=")
              ? Reply.ok().withBody("{\"Timers\":[" + timer + "]}")
              : Reply.status(206)
                  .withHeader("Content-Range", "1")
                  .withBody("{\"Timers\":[" + timer + "]}");
        });
    node.writeClusterFile("node = " + node.address() + "\nnode = " + peer);
    node.start();

    JsonNode summary = node.resync();

    assertThat(summary.get("nodesFailed").asInt()).isZero();
    // The timer, and its copy in the last page's overlap.
    assertThat(summary.get("stored").asLong()).isEqualTo(2);
    assertThat(node.holdsLive(1234)).isTrue();
    List<Received> gets =
        fakePeer.requests().stream().filter(r -> r.method().equals("GET")).toList();
    // The start-up resync and the one asked for: two pages each.
    assertThat(gets).hasSize(4);
    // With sync-mode, which older originals require, and the address as the original writes it.
    String expectedQuery =
        "node-for-replicas="
            + node.address()
            + "&cluster-view-id="
            + node.view().viewId()
            + "&sync-mode=SCALE";
    for (int i = 0; i < gets.size(); i++) {
      Received get = gets.get(i);
      assertThat(get.path()).isEqualTo("/timers");
      if (i % 2 == 0) {
        assertThat(get.query()).isEqualTo(expectedQuery);
        assertThat(get.header(ResyncSource.TIME_FROM_HEADER)).isNull();
      } else {
        assertThat(get.query())
            .matches(java.util.regex.Pattern.quote(expectedQuery) + "&time-from=\\d+");
        assertThat(get.header(ResyncSource.TIME_FROM_HEADER)).matches("\\d+");
      }
      assertThat(get.header("Range")).isEqualTo("50");
      // Compressing half a megabyte a page would cost the peer more than the transfer saves.
      assertThat(get.header("Accept-Encoding")).isEqualTo("identity");
    }
  }

  @Test
  void pagesGoOnFromWhereThePeerSaysItsListingGoesOnAndElseFromTheLatestPopTimeSeen() {
    // Two cursors go with each request after the first: the listing's pop time for our nodes (a
    // header), and for an original node the offset from its clock to the latest pop (time-from).
    fakePeer = CallbackServer.start();
    String peer = "127.0.0.1:" + fakePeer.port();
    cluster = ClusterHarness.create(1, "resync:", "  pageSize: 50", "  onStart: false");
    Node node = cluster.node(0);
    List<String> replicas = List.of(node.address(), peer);
    // Page 1 (no time-from) says where the peer's listing goes on; page 2 (from there) does not,
    // like an original node's; page 3 is the last. Each holds a timer due 600 s after it is
    // written, so its latest pop time is far past 777.
    fakePeer.respondByDefault(
        request -> {
          if (!request.method().equals("GET")) {
            return Reply.status(202);
          }
          String cursor = request.header(ResyncSource.TIME_FROM_HEADER);
          if (cursor == null) {
            return Reply.status(206)
                .withHeader("Content-Range", "1")
                .withHeader(ResyncSource.NEXT_TIME_FROM_HEADER, "777")
                .withBody("{\"Timers\":[" + TimerJson.pageEntry(1001, replicas) + "]}");
          }
          if (cursor.equals("777")) {
            return Reply.status(206)
                .withHeader("Content-Range", "1")
                .withBody("{\"Timers\":[" + TimerJson.pageEntry(1002, replicas) + "]}");
          }
          // The overlap: the last page's timer again, and nothing after it.
          return Reply.ok().withBody("{\"Timers\":[" + TimerJson.pageEntry(1002, replicas) + "]}");
        });
    node.writeClusterFile("node = " + node.address() + "\nnode = " + peer);
    node.start();

    long before = System.currentTimeMillis();
    JsonNode summary = node.resync();
    long after = System.currentTimeMillis();

    assertThat(summary.get("nodesFailed").asInt()).as(summary.toString()).isZero();
    // Both timers, and the second's copy in the last page's overlap.
    assertThat(summary.get("stored").asLong()).isEqualTo(3);
    assertThat(node.holdsLive(1001) && node.holdsLive(1002)).isTrue();
    List<Received> gets =
        fakePeer.requests().stream().filter(r -> r.method().equals("GET")).toList();
    assertThat(gets).hasSize(3);
    assertThat(gets.get(0).header(ResyncSource.TIME_FROM_HEADER)).isNull();
    assertThat(gets.get(1).header(ResyncSource.TIME_FROM_HEADER)).isEqualTo("777");
    assertThat(Long.parseLong(gets.get(2).header(ResyncSource.TIME_FROM_HEADER)))
        .isBetween(before + 600_000, after + 600_000);
    // For an original: 600 s from the page, plus its 2 s as the timer's second replica, from now.
    for (Received get : gets.subList(1, 3)) {
      String query = get.query();
      long offset = Long.parseLong(query.substring(query.indexOf("&time-from=") + 11));
      assertThat(offset).isBetween(600_000L - (after - before), 602_001L);
    }
  }
}
