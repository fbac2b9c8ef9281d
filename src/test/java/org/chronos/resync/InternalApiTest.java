package org.chronos.resync;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.net.http.HttpRequest.BodyPublishers;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.chronos.replication.Replicator;
import org.chronos.testing.ChronosClient;
import org.chronos.testing.TimerJson;
import org.chronos.testing.TwoNodeTest;
import org.junit.jupiter.api.Test;

/** The internal resync API's answers to good and bad requests (PROTOCOL.md section 6). */
class InternalApiTest extends TwoNodeTest {
  private static HttpResponse<String> get(String query, String... headers) {
    return a.client().send("GET", "/timers" + query, BodyPublishers.noBody(), headers);
  }

  @Test
  void missingParametersAreRejected() {
    assertThat(get("").statusCode()).isEqualTo(400);
    assertThat(get("?node-for-replicas=" + b.address()).statusCode()).isEqualTo(400);
    HttpResponse<String> r = get("?cluster-view-id=" + a.view().viewId());
    assertThat(r.statusCode()).isEqualTo(400);
    assertThat(r.body()).contains("node-for-replicas");
  }

  @Test
  void aDifferentViewIdIsRejected() {
    HttpResponse<String> r = get("?node-for-replicas=" + b.address() + "&cluster-view-id=12345");
    assertThat(r.statusCode()).isEqualTo(400);
    assertThat(r.body()).contains("cluster-view-id");
  }

  @Test
  void aNodeOutsideTheClusterIsRejected() {
    HttpResponse<String> r =
        get("?node-for-replicas=10.9.9.9:7253&cluster-view-id=" + a.view().viewId());
    assertThat(r.statusCode()).isEqualTo(400);
    assertThat(r.body()).contains("not in this node's cluster");
  }

  @Test
  void aValidRequestPagesWithContentRangeAndTheDocumentedFormat() throws Exception {
    for (int i = 0; i < 5; i++) {
      a.client()
          .createTimer(
              TimerJson.timer().interval(300 + i).callback("http://127.0.0.1:1/x", "o" + i).json());
    }
    String query = "?node-for-replicas=" + b.address() + "&cluster-view-id=" + a.view().viewId();
    HttpResponse<String> first = get(query, "Range", "2");
    assertThat(first.statusCode()).isEqualTo(206);
    assertThat(first.headers().firstValue("Content-Range")).hasValue("2");
    // How long the page took to write after its start-time deltas were taken, in microseconds.
    assertThat(first.headers().firstValue(Replicator.HELD_HEADER))
        .hasValueSatisfying(held -> assertThat(held).matches("[0-9]+"));
    JsonNode page = new ObjectMapper().readTree(first.body());
    assertThat(page.get("Timers")).hasSize(2);
    JsonNode entry = page.get("Timers").get(0);
    assertThat(entry.get("TimerID").isIntegralNumber()).isTrue();
    assertThat(entry.get("OldReplicas").isArray()).isTrue();
    assertThat(entry.at("/Timer/reliability/replicas")).hasSize(2);
    assertThat(entry.at("/Timer/reliability/cluster-view-id").asText())
        .isEqualTo(a.view().viewId());
    long lastPop = 0;
    for (JsonNode t : page.get("Timers")) {
      lastPop =
          Math.max(
              lastPop,
              t.at("/Timer/timing/start-time").asLong()
                  + 1000L * t.at("/Timer/timing/interval").asLong());
    }
    // Where the listing goes on: with nothing popped since it was made, the page's last pop time.
    assertThat(first.headers().firstValue(ResyncSource.NEXT_TIME_FROM_HEADER))
        .hasValue(Long.toString(lastPop));
    HttpResponse<String> rest = get(query + "&time-from=" + lastPop, "Range", "100");
    assertThat(rest.statusCode()).isEqualTo(200);
    assertThat(rest.headers().firstValue(ResyncSource.NEXT_TIME_FROM_HEADER)).isEmpty();
    assertThat(new ObjectMapper().readTree(rest.body()).get("Timers").size())
        .isGreaterThanOrEqualTo(3);
  }

  /**
   * An original node's requests: parameters separated by ';', {@code time-from} an offset from its
   * own clock (taken once, when it starts on this peer) after the last page's latest pop, as an
   * unsigned 32-bit number, and the same request again after a failure. It must get every timer
   * once, each id a signed 64-bit number (it refuses larger ones).
   */
  @Test
  void anOriginalNodePagingAsItDoesGetsEveryTimerOnce() throws Exception {
    Set<Long> created = new HashSet<>();
    for (int i = 0; i < 250; i++) {
      created.add(
          ChronosClient.idOf(
              a.client()
                  .createTimer(
                      TimerJson.timer()
                          .interval(600 + i)
                          .callback("http://127.0.0.1:1/x", "p" + i)
                          .json())));
    }
    String query = "?node-for-replicas=" + b.address() + ";cluster-view-id=" + a.view().viewId();
    long clock = System.currentTimeMillis();
    List<Long> paged = new ArrayList<>();
    HttpResponse<String> page = get(query, "Range", "100");
    for (int pages = 1; page.statusCode() == 206; pages++) {
      assertThat(pages).as("pages").isLessThan(20);
      long lastPop = 0;
      for (JsonNode t : idsOf(page, paged)) {
        lastPop =
            Math.max(
                lastPop,
                t.at("/Timer/timing/start-time").asLong()
                    + 1000L
                        * t.at("/Timer/timing/interval").asLong()
                        * (t.at("/Timer/timing/sequence-number").asLong() + 1));
      }
      String next = query + ";time-from=" + ((lastPop - clock + 1) & 0xFFFF_FFFFL);
      page = get(next, "Range", "100");
      if (pages == 1) {
        // Asked again (the answer was lost, say): the same page.
        HttpResponse<String> again = get(next, "Range", "100");
        List<Long> first = new ArrayList<>();
        List<Long> repeated = new ArrayList<>();
        idsOf(page, first);
        idsOf(again, repeated);
        assertThat(repeated).isNotEmpty().isEqualTo(first);
      }
    }
    assertThat(page.statusCode()).as(page.body()).isEqualTo(200);
    idsOf(page, paged);

    assertThat(paged).doesNotHaveDuplicates().containsAll(created);
  }

  /** The page's timers, their ids added to {@code ids}; each id must fit a signed 64-bit number. */
  private static List<JsonNode> idsOf(HttpResponse<String> page, List<Long> ids) throws Exception {
    List<JsonNode> timers = new ArrayList<>();
    for (JsonNode t : new ObjectMapper().readTree(page.body()).get("Timers")) {
      assertThat(t.get("TimerID").canConvertToLong()).as(t.get("TimerID").toString()).isTrue();
      ids.add(t.get("TimerID").longValue());
      timers.add(t);
    }
    return timers;
  }

  @Test
  void referencesAnswer202AndRejectMalformedBodies() {
    assertThat(
            a.client()
                .send(
                    "DELETE",
                    "/timers/references",
                    BodyPublishers.ofString("{\"IDs\":[{\"ID\":1,\"ReplicaIndex\":0}]}"))
                .statusCode())
        .isEqualTo(202);
    assertThat(
            a.client()
                .send("DELETE", "/timers/references", BodyPublishers.ofString("{\"IDs\":5}"))
                .statusCode())
        .isEqualTo(400);
    assertThat(
            a.client()
                .send("DELETE", "/timers/references", BodyPublishers.ofString("not json"))
                .statusCode())
        .isEqualTo(400);
    assertThat(
            a.client()
                .send(
                    "DELETE",
                    "/timers/references",
                    BodyPublishers.ofString("{\"IDs\":[{\"ID\":\"x\",\"ReplicaIndex\":0}]}"))
                .statusCode())
        .isEqualTo(400);
  }
}
