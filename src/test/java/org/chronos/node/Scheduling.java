package org.chronos.node;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.dropwizard.testing.junit5.DropwizardAppExtension;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.chronos.ChronosApplication;
import org.chronos.ChronosConfiguration;
import org.chronos.testing.CallbackServer;
import org.chronos.testing.ChronosClient;
import org.chronos.testing.TimerJson;
import org.chronos.timer.TimerService;

/** Linux scheduling policies of this JVM's threads, read from /proc, for the real-time tests. */
final class Scheduling {
  static final int SCHED_OTHER = 0;
  static final int SCHED_FIFO = 1;
  static final int SCHED_DEADLINE = 6;

  private Scheduling() {}

  /** The thread's policy (stat field 41), or -1 if it has ended. */
  static int policyOf(long tid) {
    String[] fields = statFields(tid);
    return fields == null ? -1 : Integer.parseInt(fields[41 - 3]);
  }

  /** The thread's real-time priority (stat field 40), or -1 if it has ended. */
  static int rtPriorityOf(long tid) {
    String[] fields = statFields(tid);
    return fields == null ? -1 : Integer.parseInt(fields[40 - 3]);
  }

  static String comm(long tid) throws IOException {
    return Files.readString(Path.of("/proc/self/task/" + tid + "/comm"), StandardCharsets.UTF_8)
        .trim();
  }

  /**
   * "tid (name): policy" for every live thread of this JVM other than {@code except} not
   * SCHED_OTHER.
   */
  static List<String> otherThreadsNotOrdinary(long except) throws IOException {
    List<String> found = new ArrayList<>();
    try (var tasks = Files.list(Path.of("/proc/self/task"))) {
      for (Path task : (Iterable<Path>) tasks::iterator) {
        long tid = Long.parseLong(task.getFileName().toString());
        int policy = policyOf(tid);
        if (tid != except && policy > SCHED_OTHER) {
          found.add(tid + ": policy " + policy);
        }
      }
    }
    return found;
  }

  /**
   * Checks that the node pops, and then that no thread but its timer thread ({@code tid}) runs
   * under a real-time policy, a thread the timer thread starts included. The callback client starts
   * its executors' threads lazily, on the first pop, from the timer thread; had they inherited its
   * policy, one that then runs busy, or spins on a lock with another real-time thread, shuts every
   * ordinary thread out of its core (bench/README.md 3e: pops held up for a second).
   */
  static void assertPopsAndNoOtherThreadIsRealtime(
      DropwizardAppExtension<ChronosConfiguration> app, CallbackServer callbacks, long tid)
      throws IOException {
    String path = callbacks.newPath("rt");
    ChronosClient.of(app)
        .createTimer(TimerJson.timer().interval(1).callback(callbacks.url(path), "rt").json());
    callbacks.awaitRequest(path);

    ChronosApplication application = app.getApplication();
    assertThat(policyOfAThreadStartedBy(application.timerService()))
        .as("policy of a thread the timer thread started")
        .isEqualTo(SCHED_OTHER);
    assertThat(otherThreadsNotOrdinary(tid)).isEmpty();
  }

  /** The message of the node's {@code timer-thread} health check (admin {@code /healthcheck}). */
  static String timerThreadHealth(DropwizardAppExtension<ChronosConfiguration> app)
      throws IOException {
    String body = ChronosClient.of(app).admin("/healthcheck").body();
    return new ObjectMapper().readTree(body).path("timer-thread").path("message").asText();
  }

  /** The policy a thread started by the service's timer thread begins with. */
  static int policyOfAThreadStartedBy(TimerService service) {
    return service
        .query(
            store -> {
              try {
                return withWaitingThread("rt-child-probe", Scheduling::policyOf);
              } catch (Exception e) {
                throw new IllegalStateException(e);
              }
            })
        .join();
  }

  /**
   * Whether this process may put one of its threads under a real-time policy: runs {@code chrt}
   * with these arguments and a probe thread's id last.
   */
  static boolean processMay(String... chrtArguments) throws Exception {
    return withWaitingThread(
        "rt-probe",
        tid -> {
          List<String> command = new ArrayList<>(List.of("chrt"));
          command.addAll(List.of(chrtArguments));
          command.add(Long.toString(tid));
          try {
            Process chrt = new ProcessBuilder(command).redirectErrorStream(true).start();
            chrt.getInputStream().readAllBytes();
            return chrt.waitFor() == 0;
          } catch (IOException e) {
            return false; // no chrt: the node cannot raise its thread either
          }
        });
  }

  /** Something done with a thread's Linux id. */
  interface OnThread<T> {
    T apply(long tid) throws Exception;
  }

  /**
   * Starts a thread (from the calling thread, so with its policy unless that resets on fork) that
   * waits while {@code action} runs with its Linux id, then lets it end.
   */
  static <T> T withWaitingThread(String name, OnThread<T> action) throws Exception {
    CompletableFuture<Long> tid = new CompletableFuture<>();
    CompletableFuture<Void> release = new CompletableFuture<>();
    Thread thread =
        new Thread(
            () -> {
              tid.complete(RealtimePriority.currentThreadId());
              release.join();
            },
            name);
    thread.setDaemon(true);
    thread.start();
    try {
      return action.apply(tid.get());
    } finally {
      release.complete(null);
      thread.join();
    }
  }

  /** The fields of the thread's stat line from field 3 on; null if the thread has ended. */
  private static String[] statFields(long tid) {
    String stat;
    try {
      stat = Files.readString(Path.of("/proc/self/task/" + tid + "/stat"), StandardCharsets.UTF_8);
    } catch (NoSuchFileException ended) {
      return null;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return stat.substring(stat.lastIndexOf(')') + 2).trim().split(" ");
  }
}
