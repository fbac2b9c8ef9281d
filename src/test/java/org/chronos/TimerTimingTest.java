package org.chronos;

import static org.assertj.core.api.Assertions.assertThat;

import io.dropwizard.testing.junit5.DropwizardAppExtension;
import io.dropwizard.testing.junit5.DropwizardExtensionsSupport;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import org.chronos.testing.CallbackServer;
import org.chronos.testing.CallbackServer.Received;
import org.chronos.testing.ChronosClient;
import org.chronos.testing.SingleNodeApp;
import org.chronos.testing.TimerJson;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.parallel.Execution;
import org.junit.jupiter.api.parallel.ExecutionMode;

/**
 * When timers pop, end to end over real HTTP and the real clock: never early, not much late, as
 * often as repeat-for allows, and not at all once deleted or replaced (PROTOCOL.md section 1).
 *
 * <p>Times are compared on the wall clock ({@link System#currentTimeMillis()}), which is the clock
 * this node schedules with: a pop may not arrive before {@code k * interval} after the moment just
 * before the request was sent, because the node took the timer's start after that. Arrival includes
 * the callback's own delivery, so this catches pops early by more than that (tens of ms once warmed
 * up; exact timing is the timing wheel's unit tests' job).
 *
 * <p>To show that a callback did NOT come, a test creates a marker timer due a full second after
 * the callback in question would have been, and waits for the marker: by then the node has moved
 * past that due time (pops go out in due order), and the second covers delivery.
 *
 * <p>The tests run at the same time as each other (they mostly wait), each on its own callback
 * paths or tags; the class as a whole runs alone (see junit-platform.properties).
 */
@ExtendWith(DropwizardExtensionsSupport.class)
class TimerTimingTest {
  static final DropwizardAppExtension<ChronosConfiguration> APP = SingleNodeApp.create();

  /** How late a pop may arrive: the wheel ticks in 1 ms, so this only absorbs a slow machine. */
  private static final long MAX_LATE_MILLIS = 1000;

  private static CallbackServer callbacks;
  private static ChronosClient chronos;

  @BeforeAll
  static void start() {
    callbacks = CallbackServer.start();
    chronos = ChronosClient.of(APP);
    warmUp();
  }

  /**
   * Runs every request path once before the tests, so that a cold JVM's slow first requests do not
   * widen the gap between sending a request and the node taking the timer's start: the never-early
   * check can only see earliness larger than that gap.
   */
  private static void warmUp() {
    String path = callbacks.newPath("warm-up");
    for (int i = 0; i < 50; i++) {
      chronos.createTimer(TimerJson.oneShot(0, callbacks.url(path), "warm"));
      chronos.put(randomLocation(), TimerJson.oneShot(0, callbacks.url(path), "warm"));
      chronos.delete(randomLocation());
    }
    callbacks.awaitRequests(path, 100);
  }

  private static String randomLocation() {
    return String.format("/timers/%016x-2", ThreadLocalRandom.current().nextLong());
  }

  @AfterAll
  static void stop() {
    callbacks.close();
  }

  /** A timer created now, and the wall-clock moments just before sending and after the answer. */
  private record Created(String location, long sentMillis, long answeredMillis) {}

  private static Created create(String json) {
    long sent = System.currentTimeMillis();
    String location = chronos.createTimer(json);
    return new Created(location, sent, System.currentTimeMillis());
  }

  /** Creates a one-shot marker timer due in {@code seconds}; returns its callback path. */
  private static String marker(int seconds) {
    String path = callbacks.newPath("marker");
    create(TimerJson.oneShot(seconds, callbacks.url(path), "marker"));
    return path;
  }

  private static void assertPoppedOnTime(Received pop, Created timer, int k, int intervalSeconds) {
    long due = (long) k * intervalSeconds * 1000;
    assertThat(pop.arrivalMillis() - timer.sentMillis())
        .as(
            "pop %d arrived %d ms after the request was sent",
            k, pop.arrivalMillis() - timer.sentMillis())
        .isGreaterThanOrEqualTo(due);
    assertThat(pop.arrivalMillis() - timer.answeredMillis())
        .as(
            "pop %d arrived %d ms after the request was answered",
            k, pop.arrivalMillis() - timer.answeredMillis())
        .isLessThan(due + MAX_LATE_MILLIS);
  }

  @Execution(ExecutionMode.CONCURRENT)
  @Test
  void aOneSecondTimerNeverPopsEarlyAndPopsSoonAfterOneSecond() {
    String path = callbacks.newPath("one-second");

    Created timer = create(TimerJson.oneShot(1, callbacks.url(path), "one"));

    Received pop = callbacks.awaitRequest(path);
    assertPoppedOnTime(pop, timer, 1, 1);
    assertThat(pop.sequenceNumber()).isEqualTo(1);
  }

  @Execution(ExecutionMode.CONCURRENT)
  @Test
  void aRepeatingTimerPopsOncePerIntervalWhileRepeatForLastsWithRisingSequenceNumbers() {
    String path = callbacks.newPath("repeat-3");

    Created timer =
        create(
            TimerJson.timer().interval(1).repeatFor(3).callback(callbacks.url(path), "rep").json());

    callbacks.awaitRequests(path, 3);
    String after = marker(2); // due a second after a 4th pop would have been
    callbacks.awaitRequest(after);

    List<Received> pops = callbacks.requestsTo(path);
    assertThat(pops).extracting(Received::sequenceNumber).containsExactly(1, 2, 3);
    for (int k = 1; k <= 3; k++) {
      assertPoppedOnTime(pops.get(k - 1), timer, k, 1);
    }
    assertThat(pops).extracting(Received::bodyText).containsOnly("rep");
  }

  @Execution(ExecutionMode.CONCURRENT)
  @Test
  void intervalEqualToRepeatForPopsOnce() {
    String path = callbacks.newPath("equal");

    Created timer =
        create(
            TimerJson.timer()
                .interval(1)
                .repeatFor(1)
                .callback(callbacks.url(path), "once")
                .json());

    assertPoppedOnTime(callbacks.awaitRequest(path), timer, 1, 1);
    String after = marker(2); // due a second after a 2nd pop would have been
    callbacks.awaitRequest(after);
    assertThat(callbacks.requestsTo(path)).hasSize(1);
  }

  @Execution(ExecutionMode.CONCURRENT)
  @Test
  void zeroIntervalAndZeroRepeatForPopsOnceAtOnce() {
    String path = callbacks.newPath("zero");

    Created timer =
        create(
            TimerJson.timer().interval(0).repeatFor(0).callback(callbacks.url(path), "now").json());

    Received pop = callbacks.awaitRequest(path);
    assertThat(pop.arrivalMillis() - timer.answeredMillis())
        .as("lateness of an immediate timer")
        .isLessThan(MAX_LATE_MILLIS);
    assertThat(pop.sequenceNumber()).isEqualTo(1);
    String after = marker(1); // a zero-interval timer popping again would do so at once
    callbacks.awaitRequest(after);
    assertThat(callbacks.requestsTo(path)).hasSize(1);
  }

  @Execution(ExecutionMode.CONCURRENT)
  @Test
  void zeroIntervalWithoutRepeatForPopsOnceAtOnce() {
    String path = callbacks.newPath("zero-default");

    create(TimerJson.oneShot(0, callbacks.url(path), "now"));

    assertThat(callbacks.awaitRequest(path).sequenceNumber()).isEqualTo(1);
  }

  @Execution(ExecutionMode.CONCURRENT)
  @Test
  void repeatForBelowTheIntervalIsAcceptedButNeverPops() {
    String path = callbacks.newPath("never");

    String body =
        TimerJson.timer().interval(1).repeatFor(0).callback(callbacks.url(path), "never").json();

    HttpResponse<String> response = chronos.post("/timers", body);
    assertThat(response.statusCode()).isEqualTo(200);
    String after = marker(2); // due a second after the would-be first pop

    callbacks.awaitRequest(after);
    assertThat(callbacks.requestsTo(path)).isEmpty();
  }

  @Execution(ExecutionMode.CONCURRENT)
  @Test
  void aTimerDeletedBeforeItPopsNeverCallsBack() {
    String path = callbacks.newPath("deleted");
    Created timer = create(TimerJson.oneShot(1, callbacks.url(path), "deleted"));

    assertThat(chronos.delete(timer.location()).statusCode()).isEqualTo(200);
    assertThat(chronos.delete(timer.location()).statusCode())
        .as("a repeated DELETE")
        .isEqualTo(200);
    String after = marker(2);

    callbacks.awaitRequest(after);
    assertThat(callbacks.requestsTo(path)).isEmpty();
  }

  @Execution(ExecutionMode.CONCURRENT)
  @Test
  void aDeleteWithAnythingAfterTheReplicationFactorStillDeletes() {
    String path = callbacks.newPath("deleted-suffix");
    Created timer = create(TimerJson.oneShot(1, callbacks.url(path), "deleted"));

    assertThat(chronos.delete(timer.location() + "/whatever").statusCode()).isEqualTo(200);
    String after = marker(2);

    callbacks.awaitRequest(after);
    assertThat(callbacks.requestsTo(path)).isEmpty();
  }

  @Execution(ExecutionMode.CONCURRENT)
  @Test
  void deletingARepeatingTimerAfterItsFirstPopStopsIt() {
    String path = callbacks.newPath("delete-repeating");
    Created timer =
        create(
            TimerJson.timer().interval(1).repeatFor(10).callback(callbacks.url(path), "r").json());

    callbacks.awaitRequest(path);
    assertThat(chronos.delete(timer.location()).statusCode()).isEqualTo(200);
    String after = marker(2); // pop 2 was due within a second of the DELETE

    callbacks.awaitRequest(after);
    assertThat(callbacks.requestsTo(path)).extracting(Received::sequenceNumber).containsExactly(1);
  }

  @Execution(ExecutionMode.CONCURRENT)
  @Test
  void putReplacesATimerSoOnlyTheNewCallbackArrives() {
    String oldPath = callbacks.newPath("put-old");
    String newPath = callbacks.newPath("put-new");
    Created original = create(TimerJson.oneShot(1, callbacks.url(oldPath), "old"));

    long putSent = System.currentTimeMillis();
    // Due a full second after the original would have popped, so its absence is proven by then.
    HttpResponse<String> response =
        chronos.put(original.location(), TimerJson.oneShot(2, callbacks.url(newPath), "new"));

    assertThat(response.statusCode()).isEqualTo(200);
    assertThat(response.headers().firstValue("Location")).hasValue(original.location());
    Received pop = callbacks.awaitRequest(newPath);
    assertThat(pop.bodyText()).isEqualTo("new");
    assertThat(pop.sequenceNumber()).isEqualTo(1);
    assertThat(pop.arrivalMillis() - putSent)
        .as("the replacement times from the PUT")
        .isGreaterThanOrEqualTo(2000);
    assertThat(callbacks.requestsTo(oldPath)).isEmpty();
  }

  @Execution(ExecutionMode.CONCURRENT)
  @Test
  void putOnAnUnknownIdCreatesATimerThatPopsOnTime() {
    String location = randomLocation();
    String path = callbacks.newPath("put-unknown");

    long sent = System.currentTimeMillis();
    HttpResponse<String> response =
        chronos.put(location, TimerJson.oneShot(1, callbacks.url(path), "p"));
    Created timer = new Created(location, sent, System.currentTimeMillis());

    assertThat(response.statusCode()).isEqualTo(200);
    assertThat(response.headers().firstValue("Location")).hasValue(location);
    assertPoppedOnTime(callbacks.awaitRequest(path), timer, 1, 1);
  }

  @Execution(ExecutionMode.CONCURRENT)
  @Test
  void manyTimersCreatedTogetherAllPopExactlyOnce() {
    String path = callbacks.newPath("many");
    int count = 50;

    for (int i = 0; i < count; i++) {
      create(TimerJson.oneShot(1, callbacks.url(path), "t" + i));
    }

    List<Received> pops = callbacks.awaitRequests(path, count, Duration.ofSeconds(10));
    String after = marker(1); // created after all of them, so due after all of them
    callbacks.awaitRequest(after);
    assertThat(callbacks.requestsTo(path))
        .extracting(Received::bodyText)
        .doesNotHaveDuplicates()
        .hasSize(count);
    assertThat(pops).extracting(Received::sequenceNumber).containsOnly(1);
  }
}
