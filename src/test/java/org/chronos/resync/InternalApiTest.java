package org.chronos.resync;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.net.http.HttpRequest.BodyPublishers;
import java.net.http.HttpResponse;
import org.chronos.replication.Replicator;
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
