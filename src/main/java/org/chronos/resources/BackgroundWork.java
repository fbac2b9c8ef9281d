package org.chronos.resources;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import org.chronos.api.BadRequestException;

/**
 * Work a request thread hands to other threads and waits for: another node's resync is served on
 * threads at a resync's priority ({@code chronos-resync-serve}), so that on a busy machine pops and
 * ordinary requests get a core first. The request thread's own answer is unchanged: the work's
 * result, or its exception as if the work had run here.
 */
final class BackgroundWork {
  /** Work that may refuse the request with a 4xx. */
  @FunctionalInterface
  interface Work<T> {
    T run() throws BadRequestException;
  }

  private BackgroundWork() {}

  /**
   * Runs {@code work} on {@code executor} and waits for it. If the executor refuses it (the node is
   * stopping and its executors have shut down), runs it on the calling thread instead: a request
   * already taken is answered, not failed for want of a thread.
   */
  static <T> T run(Executor executor, Work<T> work) throws BadRequestException {
    CompletableFuture<T> result = new CompletableFuture<>();
    try {
      executor.execute(
          () -> {
            try {
              result.complete(work.run());
            } catch (BadRequestException | RuntimeException | Error e) {
              result.completeExceptionally(e);
            }
          });
    } catch (RejectedExecutionException e) {
      return work.run();
    }
    try {
      return result.join();
    } catch (CompletionException e) {
      Throwable cause = e.getCause();
      if (cause instanceof BadRequestException bad) {
        throw bad;
      }
      if (cause instanceof RuntimeException runtime) {
        throw runtime;
      }
      if (cause instanceof Error error) {
        throw error;
      }
      throw e;
    }
  }
}
