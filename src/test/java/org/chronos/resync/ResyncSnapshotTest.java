package org.chronos.resync;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import org.chronos.replication.ReplicationBatch;
import org.chronos.replication.Replicator;
import org.chronos.resources.TimerPath;
import org.chronos.testing.CallbackServer;
import org.chronos.testing.CallbackServer.Received;
import org.chronos.testing.CallbackServer.Reply;
import org.chronos.testing.ChronosClient;
import org.chronos.testing.ClusterHarness;
import org.chronos.testing.ClusterHarness.Node;
import org.chronos.testing.TimerJson;
import org.chronos.timer.Timer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A resync page is a snapshot of the peer's timers, and its {@code start-time-delta} counts from
 * when the peer wrote it, some time before the page arrives. A page slow in transit (a peer busy
 * listing its timers, a cold JIT, a GC) must not be taken for a different timer: neither undo a pop
 * this node made since (the timer would pop twice) nor move a timer's start later (it would pop
 * late). The peer here is a fake that writes the page and only then waits before answering.
 *
 * <p>The copies a resync sends on to other replicas are snapshots too, and may arrive after the
 * receiver popped or deleted the timer (held up in a retry, or overtaken by a later message in a
 * request that ran alongside): the receiver applies the same rules. There the fake peer plays the
 * resyncing node.
 */
class ResyncSnapshotTest {
  private static final Duration TRANSIT = Duration.ofMillis(700);

  private ClusterHarness cluster;
  private CallbackServer fakePeer;
  private CallbackServer callbacks;
  private Node node;
  private String peer;
  // The held time the fake peer's pages declare, or null for none (an original node).
  private volatile String heldHeader;

  @BeforeEach
  void setUp() {
    fakePeer = CallbackServer.start();
    callbacks = CallbackServer.start();
    peer = "127.0.0.1:" + fakePeer.port();
    startNode();
  }

  /** (Re)starts the node under test, the fake peer its other node, with these YAML lines. */
  private void startNode(String... extraYamlLines) {
    if (cluster != null) {
      cluster.close();
    }
    cluster = ClusterHarness.create(1, extraYamlLines);
    node = cluster.node(0);
    node.writeClusterFile("node = " + node.address() + "\nnode = " + peer);
    node.start();
  }

  @AfterEach
  void tearDown() {
    cluster.close();
    fakePeer.close();
    callbacks.close();
  }

  @Test
  void aSlowPageTakenBeforeAPopDoesNotUndoIt() {
    assertAPopSurvivesAPageFromBeforeIt("popped-once-each", 0, TRANSIT);
  }

  @Test
  void aPageWhoseCopyStartedEarlierThanThisNodesDoesNotUndoAPop() {
    // This node's copy of a timer started late when its replication took long to arrive (a
    // replica never starts before the sender); the peer's copy has the earlier, true start.
    assertAPopSurvivesAPageFromBeforeIt("started-late-here", 500, Duration.ZERO);
  }

  /**
   * A repeating timer pops here (sequence 1); the peer's page, starting {@code startsEarlierMillis}
   * before this node's copy and {@code transit} on its way, still shows sequence 0. The pop stands,
   * the start does not move, and the timer pops 1, 2, 3 once each.
   */
  private void assertAPopSurvivesAPageFromBeforeIt(
      String label, long startsEarlierMillis, Duration transit) {
    String path = callbacks.newPath(label);
    Timer created = poppedOnceHere(TimerJson.timer().interval(2).repeatFor(6), path);
    long id = created.id();
    servePageOf(created, 0, startsEarlierMillis, transit);

    node.resync();

    Timer after = node.timer(id);
    assertThat(after.sequence()).as("sequence after the resync").isPositive();
    assertThat(after.startMillis()).isEqualTo(created.startMillis());
    List<Received> pops = callbacks.awaitRequests(path, 3);
    assertThat(pops).extracting(Received::sequenceNumber).containsExactly(1, 2, 3);
  }

  @Test
  void aTimerWhoseTombstoneExpiredDuringTheResyncIsNotPoppedAgain() {
    // A one-shot timer pops here at +1 s and its tombstone goes at +2 s, while the page, a
    // snapshot from before the pop, is still on its way (1.5 s).
    String path = callbacks.newPath("popped-and-forgotten");
    Timer created = poppedOnceHere(TimerJson.timer().interval(1), path);
    long id = created.id();
    servePageOf(created, 0, 0, Duration.ofMillis(1500));

    assertTheResyncSkipsIt(id, path);
  }

  @Test
  void aTimerDroppedAfterItsCallbackFailedIsNotBroughtBackByThePage() {
    // The callback fails at +1 s, so this node drops the timer (its backup pops it); the page, a
    // snapshot from before, arrives at +2 s.
    String path = callbacks.newPath("failing");
    callbacks.respond(path, request -> Reply.status(500));
    long id = createPrimaryHere(TimerJson.timer().interval(1), path);
    Timer created = node.timer(id).snapshot();
    servePageOf(created, 0, 0, Duration.ofMillis(2000));

    assertTheResyncSkipsIt(id, path);
  }

  /** The resync skips the page's copy of a timer this node forgot: it holds and pops it no more. */
  private void assertTheResyncSkipsIt(long id, String path) {
    JsonNode summary = node.resync();

    assertThat(summary.get("superseded").asLong()).as(summary.toString()).isEqualTo(1);
    assertThat(node.timer(id)).as("holds nothing of the timer").isNull();
    assertThat(callbacks.requestsTo(path)).hasSize(1);
  }

  @Test
  void aSlowPageTakenBeforeADeleteDoesNotBringTheTimerBack() {
    String path = callbacks.newPath("deleted");
    long id = createPrimaryHere(TimerJson.timer().interval(30), path);
    Timer created = node.timer(id).snapshot();
    assertThat(node.client().delete(TimerPath.location(id, 2)).statusCode()).isEqualTo(200);
    servePageOf(created, 0);

    node.resync();

    assertThat(node.timer(id).isTombstone()).as("deleted after the resync").isTrue();
  }

  @Test
  void aSlowPageOfTheSameTimerDoesNotMakeItLate() {
    String path = callbacks.newPath("on-time");
    long id = createPrimaryHere(TimerJson.timer().interval(30), path);
    Timer created = node.timer(id).snapshot();
    servePageOf(created, 0);

    node.resync();

    assertThat(node.timer(id).startMillis())
        .as("start after a page %s in transit", TRANSIT)
        .isEqualTo(created.startMillis());
  }

  @Test
  void theCopiesItSendsOnCarryTheStartThisNodeKeeps() throws Exception {
    String path = callbacks.newPath("sent-on");
    long id = createPrimaryHere(TimerJson.timer().interval(30), path);
    Timer created = node.timer(id).snapshot();
    servePageOf(created, 0);

    node.resync();

    // The page lists the peer as a replica below this node: it is sent the timer (one PUT when
    // created, one from the resync), each time with the timer's own start.
    String timerPath = TimerPath.location(id, 2);
    List<Received> copies = fakePeer.requestsTo(timerPath);
    assertThat(copies).hasSize(2);
    for (Received copy : copies) {
      JsonNode timing = new ObjectMapper().readTree(copy.body()).get("timing");
      assertThat(timing.get("start-time").asLong()).isEqualTo(created.startMillis());
    }
    // The creation's is news of a change; the resync's is a snapshot, late by up to the transit.
    assertThat(copies.get(0).header(Replicator.SNAPSHOT_HEADER)).isNull();
    assertThat(Long.parseLong(copies.get(1).header(Replicator.SNAPSHOT_HEADER)))
        .isGreaterThanOrEqualTo(TRANSIT.toNanos() / 1000);
  }

  @Test
  void aResyncCopyArrivingAfterAPopDoesNotUndoIt() throws Exception {
    // The peer's page was taken before this node popped the timer (sequence 1), and its copy of
    // it, sequence 0, reaches this node after the pop.
    String path = callbacks.newPath("copy-after-pop");
    Timer created = poppedOnceHere(TimerJson.timer().interval(2).repeatFor(6), path);
    long id = created.id();

    assertThat(sendResyncCopy(created, created.startMillis(), false)).isEqualTo(200);

    assertThat(node.timer(id).sequence()).as("sequence after the copy").isPositive();
    List<Received> pops = callbacks.awaitRequests(path, 3);
    assertThat(pops).extracting(Received::sequenceNumber).containsExactly(1, 2, 3);
  }

  @Test
  void aResyncCopyTakenBeforeADeleteDoesNotBringTheTimerBack() throws Exception {
    // The copy's start is late by its page's transit, which puts it after the deletion's.
    String path = callbacks.newPath("copy-after-delete");
    long id = createPrimaryHere(TimerJson.timer().interval(30), path);
    Timer created = node.timer(id).snapshot();
    assertThat(node.client().delete(TimerPath.location(id, 2)).statusCode()).isEqualTo(200);
    long deletedAt = node.timer(id).startMillis();

    assertThat(sendResyncCopy(created, deletedAt + 300, true)).isEqualTo(200);

    assertThat(node.timer(id).isTombstone()).as("deleted after the copy").isTrue();
  }

  @Test
  void aResyncCopyOfATimerForgottenSinceItsLastPopIsNotStored() throws Exception {
    // The peer reads a page of this node's timers; then a one-shot timer pops here and its
    // tombstone goes one interval later, before the peer's copy of it (from a page taken before
    // the pop) arrives.
    String page = "/timers?node-for-replicas=" + peer + "&cluster-view-id=" + node.view().viewId();
    assertThat(node.client().get(page).statusCode()).isEqualTo(200);
    String path = callbacks.newPath("copy-after-forgetting");
    Timer created = poppedOnceHere(TimerJson.timer().interval(1), path);
    long id = created.id();
    awaitForgotten(id);

    assertThat(sendResyncCopy(created, created.startMillis(), true)).isEqualTo(200);

    assertThat(node.timer(id)).as("holds nothing of the timer").isNull();
    assertThat(callbacks.requestsTo(path)).hasSize(1);
  }

  @Test
  void aResyncCopyThatMakesThisNodeNoReplicaLeavesATombstoneAfterAPopToo() throws Exception {
    // Under the resyncing node's new view this node is no replica of a timer it popped since the
    // snapshot: the copy is there to stop this node popping it, and must not be skipped.
    String path = callbacks.newPath("no-replica-any-more");
    Timer created = poppedOnceHere(TimerJson.timer().interval(2).repeatFor(60), path);
    long id = created.id();

    assertThat(
            sendResyncCopy(created, created.startMillis(), List.of(peer, "127.0.0.9:7253"), false))
        .isEqualTo(200);

    assertThat(node.timer(id).isTombstone()).as("a tombstone after the copy").isTrue();
  }

  @Test
  void aResyncCopyThatMakesThisNodeNoReplicaLeavesATombstoneThoughThisNodePoppedItSince()
      throws Exception {
    // The copy was taken after the timer's first pop (sequence 1), and this node has popped it
    // again since. By the version rule alone the older copy would lose, and the live copy here
    // would go on popping alongside the new replicas.
    String path = callbacks.newPath("popped-again-no-replica-any-more");
    Timer created = poppedOnceHere(TimerJson.timer().interval(1).repeatFor(60), path);
    long id = created.id();
    callbacks.awaitRequests(path, 2);
    await().atMost(Duration.ofSeconds(5)).until(() -> node.timer(id).sequence() >= 2);

    assertThat(
            sendResyncCopy(
                created, created.startMillis(), 1, List.of(peer, "127.0.0.9:7253"), false))
        .isEqualTo(200);

    assertThat(node.timer(id).isTombstone()).as("a tombstone after the copy").isTrue();
  }

  @Test
  void beyondItsCapANodeLetsTheOldestForgottenTimerGo() throws Exception {
    startNode("resync:", "  maxRememberedTimers: 1");
    String page = "/timers?node-for-replicas=" + peer + "&cluster-view-id=" + node.view().viewId();
    assertThat(node.client().get(page).statusCode()).isEqualTo(200);
    // Two one-shot timers pop here, one after the other, and are forgotten.
    List<String> replicas = List.of(node.address(), peer);
    long first = anIdReplicatedBy(replicas, 2);
    long second = anIdReplicatedBy(replicas, 2, first + 1);
    String firstPath = callbacks.newPath("cap-first");
    String secondPath = callbacks.newPath("cap-second");
    Timer firstCreated = poppedAndForgotten(first, firstPath);
    Timer secondCreated = poppedAndForgotten(second, secondPath);

    // Copies from before their pops: the later timer is still remembered and its copy skipped;
    // the earlier one was let go at the cap of 1, so its copy is stored, already due, and pops.
    assertThat(sendResyncCopy(secondCreated, secondCreated.startMillis(), false)).isEqualTo(200);
    assertThat(sendResyncCopy(firstCreated, firstCreated.startMillis(), false)).isEqualTo(200);

    callbacks.awaitRequests(firstPath, 2);
    assertThat(callbacks.requestsTo(secondPath)).as("the last forgotten, remembered").hasSize(1);
  }

  /**
   * A client creates a one-shot timer with this id (PUT) calling back {@code path}; it pops here
   * after 1 s and is forgotten a second later. Returns it as created.
   */
  private Timer poppedAndForgotten(long id, String path) {
    String json = TimerJson.timer().interval(1).callback(callbacks.url(path), "o").json();
    assertThat(node.client().put(TimerPath.location(id, 2), json).statusCode()).isEqualTo(200);
    Timer created = node.timer(id).snapshot();
    callbacks.awaitRequests(path, 1);
    awaitForgotten(id);
    return created;
  }

  /** Waits until the node holds nothing of the timer, not even its tombstone. */
  private void awaitForgotten(long id) {
    await("the popped timer's tombstone to go")
        .atMost(Duration.ofSeconds(10))
        .until(() -> node.timer(id) == null);
  }

  private int sendResyncCopy(Timer timer, long startMillis, boolean inABatch) throws Exception {
    return sendResyncCopy(timer, startMillis, List.of(node.address(), peer), inABatch);
  }

  /**
   * Sends the node what the fake peer's resync would send on: its copy of {@code timer} with
   * sequence number 0, a start of {@code startMillis} and these replicas, marked as a snapshot up
   * to {@link #TRANSIT} late, as a single PUT or in a batch. Returns the status the node gave the
   * copy.
   */
  private int sendResyncCopy(Timer timer, long startMillis, List<String> replicas, boolean inABatch)
      throws Exception {
    return sendResyncCopy(timer, startMillis, 0, replicas, inABatch);
  }

  /** As above, the copy at {@code sequence}. */
  private int sendResyncCopy(
      Timer timer, long startMillis, int sequence, List<String> replicas, boolean inABatch)
      throws Exception {
    String path = TimerPath.location(timer.id(), 2);
    String body =
        timerJson(
            startMillis,
            sequence,
            timer.intervalMillis(),
            timer.repeatForMillis(),
            timer.callbackUri(),
            node.view().viewId(),
            2,
            replicas);
    String lateBy = Long.toString(TRANSIT.toNanos() / 1000);
    if (!inABatch) {
      return node.client()
          .send(
              "PUT",
              path,
              HttpRequest.BodyPublishers.ofString(body),
              "Content-Type",
              "application/json",
              Replicator.SNAPSHOT_HEADER,
              lateBy)
          .statusCode();
    }
    HttpResponse<String> answer =
        node.client()
            .post(
                ReplicationBatch.PATH,
                "{\"Requests\":[{\"Path\":\""
                    + path
                    + "\",\"Snapshot\":"
                    + lateBy
                    + ",\"Body\":"
                    + body
                    + "}]}");
    assertThat(answer.statusCode()).as(answer.body()).isEqualTo(200);
    return new ObjectMapper().readTree(answer.body()).get("Statuses").get(0).asInt();
  }

  @Test
  void aTimerHeldAsNoReplicaBeforeAReloadIsStoredWhenThisNodeBecomesOne() {
    // Under the first view the peer alone holds this rf-1 timer, and a replication message about
    // it leaves this node a tombstone: it is no replica.
    long id = anIdReplicatedBy(List.of(peer), 1);
    String uri = callbacks.url(callbacks.newPath("moved-here"));
    long start = System.currentTimeMillis();
    String viewBefore = node.view().viewId();
    List<String> before = node.view().replicasFor(id, 1);
    assertThat(before).containsExactly(peer);
    assertThat(
            node.client()
                .put(
                    TimerPath.location(id, 1),
                    timerJson(start, 0, 30_000, 30_000, uri, viewBefore, 1, before))
                .statusCode())
        .isEqualTo(200);
    assertThat(node.timer(id).isTombstone()).isTrue();
    // The peer leaves: this node becomes the timer's replica and resyncs it from the peer.
    node.writeClusterFile("node = " + node.address() + "\nleaving = " + peer);
    assertThat(node.reload()).isEqualTo(200);
    servePage(id, 1, start, 0, 30_000, 30_000, uri, List.of(node.address()), before, TRANSIT);

    node.resync();

    assertThat(node.holdsLive(id)).as("holds the timer it now replicates").isTrue();
  }

  @Test
  void aPageStartsItsTimersFromWhenThePeerWroteIt() {
    // A timer this node never had, on a page the peer took 700 ms to send and says so: the copy
    // starts when the peer's does, not 700 ms later. Late by the loopback transit and the fake's
    // oversleeping only, far below its 700 ms.
    long lateBy = startOfANewTimerFromAPage(Long.toString(TRANSIT.toNanos() / 1000), TRANSIT);
    assertThat(lateBy).isBetween(0L, 300L);
  }

  @Test
  void aPeerClaimingMoreHeldTimeThanThePageTookIsNotBelieved() {
    // The page cannot have been written before it was asked for: a held time beyond the page's
    // round trip counts as the round trip, and the copy starts as the peer's does (give or take
    // the request's few milliseconds to the peer), not an hour earlier.
    long lateBy = startOfANewTimerFromAPage("3600000000", Duration.ZERO);
    assertThat(lateBy).isBetween(-300L, 300L);
  }

  /**
   * Resyncs a timer this node never had from a page sent {@code transit} after it was written and
   * declaring {@code held}; returns how much later than the peer's its copy starts here (ms).
   */
  private long startOfANewTimerFromAPage(String held, Duration transit) {
    List<String> replicas = List.of(node.address(), peer);
    long id = anIdReplicatedBy(replicas, 2);
    long start = System.currentTimeMillis() - 1000;
    String uri = callbacks.url(callbacks.newPath("new-here"));
    heldHeader = held;
    servePage(id, 2, start, 0, 30_000, 30_000, uri, replicas, replicas, transit);

    node.resync();

    return node.timer(id).startMillis() - start;
  }

  /** A timer id whose replicas under the node's current view are {@code replicas}. */
  private long anIdReplicatedBy(List<String> replicas, int rf) {
    return anIdReplicatedBy(replicas, rf, 0x0123456789abcdefL);
  }

  /** The first id from {@code from} on whose replicas are {@code replicas}. */
  private long anIdReplicatedBy(List<String> replicas, int rf, long from) {
    long id = from;
    while (!node.view().replicasFor(id, rf).equals(replicas)) {
      id++;
    }
    return id;
  }

  /**
   * Creates a timer with this node as its primary and waits for its first pop; returns it as
   * created (sequence 0).
   */
  private Timer poppedOnceHere(TimerJson timer, String path) {
    Timer created = node.timer(createPrimaryHere(timer, path)).snapshot();
    callbacks.awaitRequests(path, 1);
    return created;
  }

  /** Creates timers until one has this node as its primary; returns its id. */
  private long createPrimaryHere(TimerJson timer, String path) {
    while (true) {
      String location = node.client().createTimer(timer.callback(callbacks.url(path), "o").json());
      long id = ChronosClient.idOf(location);
      if (node.view().replicasFor(id, 2).get(0).equals(node.address())) {
        return id;
      }
      node.client().delete(location);
    }
  }

  /**
   * The fake peer answers GET /timers with a page holding {@code timer} at {@code sequence}, its
   * delta written when the request arrived and sent {@link #TRANSIT} later; batches get 404 (so
   * replication comes as single PUTs, as to an original node), other PUTs 200, references 202.
   */
  private void servePageOf(Timer timer, int sequence) {
    servePageOf(timer, sequence, 0, TRANSIT);
  }

  /**
   * As {@link #servePageOf(Timer, int)}, with the peer's copy starting {@code startsEarlierMillis}
   * before this node's, and the page sent {@code transit} after it was written.
   */
  private void servePageOf(Timer timer, int sequence, long startsEarlierMillis, Duration transit) {
    List<String> replicas = List.of(node.address(), peer);
    servePage(
        timer.id(),
        2,
        timer.startMillis() - startsEarlierMillis,
        sequence,
        timer.intervalMillis(),
        timer.repeatForMillis(),
        timer.callbackUri(),
        replicas,
        replicas,
        transit);
  }

  /** The fake peer's page: one timer, as {@link #servePageOf(Timer, int)} describes. */
  private void servePage(
      long id,
      int rf,
      long startMillis,
      int sequence,
      long intervalMillis,
      long repeatForMillis,
      String uri,
      List<String> replicas,
      List<String> oldReplicas,
      Duration transit) {
    String viewId = node.view().viewId();
    fakePeer.respondByDefault(
        request -> {
          if (request.method().equals("DELETE")) {
            return Reply.status(202);
          }
          if (request.path().equals("/timers/batch")) {
            return Reply.status(404);
          }
          if (!request.method().equals("GET")) {
            return Reply.ok();
          }
          String page =
              "{\"Timers\":[{\"TimerID\":"
                  + Long.toUnsignedString(id)
                  + ",\"OldReplicas\":"
                  + jsonList(oldReplicas)
                  + ",\"Timer\":"
                  + timerJson(
                      startMillis,
                      sequence,
                      intervalMillis,
                      repeatForMillis,
                      uri,
                      viewId,
                      rf,
                      replicas)
                  + "}]}";
          Reply reply = Reply.ok().withBody(page).after(transit);
          return heldHeader == null ? reply : reply.withHeader(Replicator.HELD_HEADER, heldHeader);
        });
  }

  /** A timer in the node-to-node format, its start-time-delta written now. */
  private static String timerJson(
      long startMillis,
      int sequence,
      long intervalMillis,
      long repeatForMillis,
      String uri,
      String viewId,
      int rf,
      List<String> replicas) {
    return "{\"timing\":{\"start-time-delta\":"
        + (startMillis - System.currentTimeMillis())
        + ",\"start-time\":"
        + startMillis
        + ",\"sequence-number\":"
        + sequence
        + ",\"interval\":"
        + intervalMillis / 1000
        + ",\"repeat-for\":"
        + repeatForMillis / 1000
        + "},\"callback\":{\"http\":{\"uri\":\""
        + uri
        + "\",\"opaque\":\"o\"}},\"reliability\":{\"cluster-view-id\":\""
        + viewId
        + "\",\"replication-factor\":"
        + rf
        + ",\"replicas\":"
        + jsonList(replicas)
        + "}}";
  }

  private static String jsonList(List<String> items) {
    return items.stream()
        .map(item -> "\"" + item + "\"")
        .collect(java.util.stream.Collectors.joining(",", "[", "]"));
  }
}
