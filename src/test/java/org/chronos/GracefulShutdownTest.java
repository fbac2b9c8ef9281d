package org.chronos;

import static org.assertj.core.api.Assertions.assertThat;

import com.codahale.metrics.MetricRegistry;
import io.dropwizard.testing.ConfigOverride;
import io.dropwizard.testing.DropwizardTestSupport;
import java.time.Duration;
import org.chronos.testing.CallbackServer;
import org.chronos.testing.CallbackServer.Reply;
import org.chronos.testing.ChronosClient;
import org.chronos.testing.SingleNodeApp;
import org.chronos.testing.TimerJson;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** Shutdown stops taking requests but lets callbacks in flight finish within the grace period. */
class GracefulShutdownTest {
  private final CallbackServer callbacks = CallbackServer.start();

  @AfterEach
  void tearDown() {
    callbacks.close();
  }

  @Test
  void aCallbackInFlightAtShutdownFinishesWithinTheGracePeriod() throws Exception {
    DropwizardTestSupport<ChronosConfiguration> node =
        SingleNodeApp.support(ConfigOverride.config("callbacks.shutdownGracePeriod", "5s"));
    node.before();
    MetricRegistry metrics = node.getEnvironment().metrics();
    ChronosClient client = new ChronosClient(node.getLocalPort(), node.getAdminPort());
    String path = callbacks.newPath("slow");
    // The client takes a second to answer: the node is stopped while it waits.
    callbacks.respond(path, request -> Reply.ok().after(Duration.ofSeconds(1)));
    client.createTimer(
        TimerJson.timer().interval(0).repeatFor(0).callback(callbacks.url(path), "x").json());
    callbacks.awaitRequest(path);

    node.after();

    assertThat(metrics.counter("chronos.callbacks.succeeded").getCount())
        .as("the callback answered during shutdown counts as delivered")
        .isEqualTo(1);
    assertThat(metrics.counter("chronos.callbacks.failed").getCount()).isZero();
  }

  @Test
  void withNoGracePeriodACallbackInFlightIsAbandoned() throws Exception {
    DropwizardTestSupport<ChronosConfiguration> node =
        SingleNodeApp.support(ConfigOverride.config("callbacks.shutdownGracePeriod", "0s"));
    node.before();
    MetricRegistry metrics = node.getEnvironment().metrics();
    ChronosClient client = new ChronosClient(node.getLocalPort(), node.getAdminPort());
    String path = callbacks.newPath("abandoned");
    callbacks.respond(path, request -> Reply.ok().after(Duration.ofSeconds(1)));
    client.createTimer(
        TimerJson.timer().interval(0).repeatFor(0).callback(callbacks.url(path), "x").json());
    callbacks.awaitRequest(path);

    node.after();

    assertThat(metrics.counter("chronos.callbacks.succeeded").getCount()).isZero();
  }
}
