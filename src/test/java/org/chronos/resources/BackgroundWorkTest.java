package org.chronos.resources;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.chronos.api.BadRequestException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The hand-off of another node's resync work to the low-priority serving threads: the request
 * thread gets the work's answer or its exception as if it had run the work itself, and still
 * answers when those threads are gone (a node stopping), where the peer would otherwise see a 500.
 */
class BackgroundWorkTest {
  private final ExecutorService serving =
      Executors.newSingleThreadExecutor(r -> new Thread(r, "serving-thread"));

  @AfterEach
  void tearDown() {
    serving.shutdownNow();
  }

  @Test
  void theWorkRunsOnTheServingThreadsAndTheCallerGetsItsResult() throws Exception {
    String ranOn = BackgroundWork.run(serving, () -> Thread.currentThread().getName());
    assertThat(ranOn).isEqualTo("serving-thread");
  }

  @Test
  void whenTheServingThreadsAreShutDownTheWorkRunsOnTheCallersThread() throws Exception {
    serving.shutdown();
    String ranOn = BackgroundWork.run(serving, () -> Thread.currentThread().getName());
    assertThat(ranOn).isEqualTo(Thread.currentThread().getName());
  }

  @Test
  void aRefusalInTheWorkReachesTheCallerWithItsStatusAndReason() {
    assertThatThrownBy(
            () ->
                BackgroundWork.run(
                    serving,
                    () -> {
                      throw new BadRequestException(409, "wrong cluster view id");
                    }))
        .isInstanceOfSatisfying(
            BadRequestException.class, e -> assertThat(e.status()).isEqualTo(409))
        .hasMessage("wrong cluster view id");
  }

  @Test
  void aRefusalIsTheSameWhenTheWorkRunsOnTheCallersThread() {
    serving.shutdown();
    assertThatThrownBy(
            () ->
                BackgroundWork.run(
                    serving,
                    () -> {
                      throw new BadRequestException(404, "unknown node");
                    }))
        .isInstanceOfSatisfying(
            BadRequestException.class, e -> assertThat(e.status()).isEqualTo(404));
  }

  @Test
  void aFailureInTheWorkReachesTheCallerUnwrapped() {
    IllegalStateException failure = new IllegalStateException("store gone");
    assertThatThrownBy(
            () ->
                BackgroundWork.run(
                    serving,
                    () -> {
                      throw failure;
                    }))
        .isSameAs(failure);
    AssertionError error = new AssertionError("broken");
    assertThatThrownBy(
            () ->
                BackgroundWork.run(
                    serving,
                    () -> {
                      throw error;
                    }))
        .isSameAs(error);
  }
}
