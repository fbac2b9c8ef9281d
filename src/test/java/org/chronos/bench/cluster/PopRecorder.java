package org.chronos.bench.cluster;

import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.locks.LockSupport;
import java.util.function.LongFunction;

/**
 * A steady background of short timers and the callback target they pop into, so that pop lateness
 * can be measured on the callback side, per phase.
 *
 * <p>A pacing thread creates {@code rate} timers a second ({@code POST /timers} with {@link
 * AsyncPoster}, at most {@code maxInFlight} at once; interval 1 s, one pop, the opaque being the
 * timer's key). For each key it records when the request was sent, when the 200 came back, and
 * which node is the timer's primary (from the {@code Location} id). The callback target is a JDK
 * {@link HttpServer} that answers 200 at once and records, per key, the first arrival and the
 * number of arrivals (more than one is a duplicate pop). A timer's due time is taken as response
 * time + interval (the node stamps the start between send and response, so this under-states
 * lateness by at most the create round trip; send time + interval over-states it by as much, and
 * both are reported).
 */
final class PopRecorder implements AutoCloseable {
  private static final long UNSET = 0;

  private final int capacity;
  private final long intervalNanos;
  private final int intervalSeconds;
  private final AtomicLongArray sent;
  private final AtomicLongArray answered;
  private final AtomicLongArray arrived;
  private final AtomicLongArray arrivedAgain;
  private final AtomicIntegerArray arrivals;
  private final byte[] primary; // 0 unknown, 1..n: index + 1 of the primary in the node list given
  private final AtomicInteger next = new AtomicInteger();
  private final AtomicLong createErrors = new AtomicLong();
  private final AtomicLong strayCallbacks = new AtomicLong();
  private final HttpServer server;
  private final ExecutorService serverThreads;
  private final AsyncPoster client;
  private final Semaphore inFlight;
  private volatile boolean running;
  private Thread pacer;

  /**
   * @param maxInFlight creates in flight at most; when the node answers slowly the pacer waits (the
   *     achieved rate shows in each phase's pop count) rather than opening ever more connections
   */
  PopRecorder(int capacity, int intervalSeconds, int maxInFlight) throws IOException {
    this.capacity = capacity;
    this.inFlight = new Semaphore(maxInFlight);
    this.intervalSeconds = intervalSeconds;
    this.intervalNanos = TimeUnit.SECONDS.toNanos(intervalSeconds);
    this.sent = new AtomicLongArray(capacity);
    this.answered = new AtomicLongArray(capacity);
    this.arrived = new AtomicLongArray(capacity);
    this.arrivedAgain = new AtomicLongArray(capacity);
    this.arrivals = new AtomicIntegerArray(capacity);
    this.primary = new byte[capacity];
    this.server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 1024);
    this.serverThreads =
        Executors.newFixedThreadPool(4, daemon("callback-target", TARGET_PRIORITY));
    server.setExecutor(serverThreads);
    server.createContext(
        "/cb",
        exchange -> {
          long now = System.nanoTime();
          try (InputStream in = exchange.getRequestBody()) {
            String body = new String(in.readAllBytes(), StandardCharsets.US_ASCII).trim();
            int key = -1;
            try {
              key = Integer.parseInt(body);
            } catch (NumberFormatException e) {
              // not one of ours
            }
            if (key >= 0 && key < capacity) {
              int before = arrivals.getAndIncrement(key);
              if (before == 0) {
                arrived.set(key, now);
              } else if (before == 1) {
                arrivedAgain.set(key, now);
              }
            } else {
              strayCallbacks.incrementAndGet();
            }
            exchange.sendResponseHeaders(200, -1);
          } finally {
            exchange.close();
          }
        });
    server.createContext(
        "/never",
        exchange -> {
          strayCallbacks.incrementAndGet();
          exchange.sendResponseHeaders(200, -1);
          exchange.close();
        });
    startAt(TARGET_PRIORITY, server::start); // its dispatcher thread takes the starter's priority
    this.client = new AsyncPoster(maxInFlight);
  }

  /**
   * Java priority of the callback target's threads (its dispatcher and handlers). With {@code
   * -Dcbench.targetPriority=10} and the generator JVM run with {@code -XX:ThreadPriorityPolicy=1}
   * (run.sh: {@code CBENCH_TARGET_PRIORITY=1}) they run at the nice value the nodes' timer and
   * callback threads have, as a callback target on its own machine would not wait for the nodes'
   * other work; by default they run at normal priority, competing with the nodes for the two cores.
   */
  static final int TARGET_PRIORITY =
      Integer.getInteger("cbench.targetPriority", Thread.NORM_PRIORITY);

  private static void startAt(int priority, Runnable start) {
    Thread starter = new Thread(start, "callback-target-start");
    starter.setPriority(priority);
    starter.start();
    try {
      starter.join();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while starting the callback target", e);
    }
  }

  private static java.util.concurrent.ThreadFactory daemon(String name, int priority) {
    return r -> {
      Thread t = new Thread(r, name);
      t.setDaemon(true);
      t.setPriority(priority);
      return t;
    };
  }

  /** Base URI of the callback target, e.g. {@code http://127.0.0.1:PORT}. */
  String base() {
    return "http://127.0.0.1:" + server.getAddress().getPort();
  }

  /**
   * Starts creating {@code perSecond} timers a second on {@code timersUri}; {@code primaryOf} maps
   * a timer id to the index + 1 of its primary node (0 if unknown).
   */
  void start(URI timersUri, int perSecond, LongFunction<Integer> primaryOf) {
    running = true;
    long period = TimeUnit.SECONDS.toNanos(1) / perSecond;
    pacer =
        new Thread(
            () -> {
              long due = System.nanoTime();
              while (running) {
                int key = next.getAndIncrement();
                if (key >= capacity) {
                  break;
                }
                try {
                  inFlight.acquire();
                } catch (InterruptedException e) {
                  return;
                }
                create(timersUri, key, primaryOf);
                due += period;
                long wait = due - System.nanoTime();
                if (wait > 0) {
                  LockSupport.parkNanos(wait);
                } else if (wait < -TimeUnit.SECONDS.toNanos(1)) {
                  due = System.nanoTime(); // fell far behind: do not burst to catch up
                }
              }
            },
            "background-pacer");
    pacer.setDaemon(true);
    pacer.start();
  }

  private void create(URI timersUri, int key, LongFunction<Integer> primaryOf) {
    byte[] body = CreateLoad.timerBody(intervalSeconds, 2, base() + "/cb", Integer.toString(key));
    sent.set(key, System.nanoTime());
    client.post(
        timersUri,
        body,
        (status, head, error) -> {
          long now = System.nanoTime();
          inFlight.release();
          if (status == 200) {
            org.apache.hc.core5.http.Header header = head.getFirstHeader("Location");
            String location = header == null ? "" : header.getValue();
            int slash = location.lastIndexOf('/');
            int dash = location.lastIndexOf('-');
            try {
              long id = Long.parseUnsignedLong(location.substring(slash + 1, dash), 16);
              primary[key] = (byte) (int) primaryOf.apply(id);
            } catch (RuntimeException e) {
              primary[key] = 0;
            }
            answered.set(key, now);
          } else {
            createErrors.incrementAndGet();
          }
        });
  }

  /** Stops creating timers (those already created still pop). */
  void stopCreating() throws InterruptedException {
    running = false;
    if (pacer != null) {
      pacer.join(5000);
    }
  }

  long createErrors() {
    return createErrors.get();
  }

  long strayCallbacks() {
    return strayCallbacks.get();
  }

  int created() {
    return Math.min(next.get(), capacity);
  }

  /**
   * The timers due in {@code [from, to)} whose callback came twice, one line each: primary (1 = A,
   * 2 = B), due time from {@code from}, and both arrivals from the due time (ms).
   */
  List<String> duplicates(long from, long to) {
    List<String> out = new java.util.ArrayList<>();
    for (int k = 0; k < created(); k++) {
      long answeredAt = answered.get(k);
      if (answeredAt == UNSET || arrivals.get(k) < 2) {
        continue;
      }
      long due = answeredAt + intervalNanos;
      if (due >= from && due < to) {
        out.add(
            String.format(
                "primary %s, due at %+.0f ms, arrivals %+.1f and %+.1f ms from due",
                primary[k] == 1 ? "A" : primary[k] == 2 ? "B" : "?",
                (due - from) / 1e6,
                (arrived.get(k) - due) / 1e6,
                (arrivedAgain.get(k) - due) / 1e6));
      }
    }
    return out;
  }

  /**
   * The {@code n} latest first callbacks of timers due in {@code [from, to)}, latest first, one
   * line each: primary, due time from {@code from}, lateness (ms). Shows whether late pops came
   * together (a stall) or spread over the phase.
   */
  List<String> latest(long from, long to, int n) {
    List<long[]> late = new java.util.ArrayList<>();
    for (int k = 0; k < created(); k++) {
      long answeredAt = answered.get(k);
      if (answeredAt == UNSET || arrivals.get(k) == 0) {
        continue;
      }
      long due = answeredAt + intervalNanos;
      if (due >= from && due < to) {
        late.add(new long[] {arrived.get(k) - due, due - from, primary[k]});
      }
    }
    late.sort((x, y) -> Long.compare(y[0], x[0]));
    List<String> out = new java.util.ArrayList<>();
    for (long[] l : late.subList(0, Math.min(n, late.size()))) {
      out.add(
          String.format(
              "primary %s, due at %+.0f ms, late %.1f ms",
              l[2] == 1 ? "A" : l[2] == 2 ? "B" : "?", l[1] / 1e6, l[0] / 1e6));
    }
    return out;
  }

  /**
   * Writes one line per timer due in {@code [from, to)} whose callback arrived: {@code
   * phase,primary,lateness in ns} (primary A, B or ?; lateness from the create's answer + interval,
   * as in {@link #phase}), so that several runs can be pooled ({@link PoolLateness}). Timers whose
   * callback never came are written as {@code phase,primary,missing}.
   */
  void writeSamples(java.io.Writer out, String phaseName, long from, long to)
      throws java.io.IOException {
    for (int k = 0; k < created(); k++) {
      long answeredAt = answered.get(k);
      if (answeredAt == UNSET) {
        continue;
      }
      long due = answeredAt + intervalNanos;
      if (due < from || due >= to) {
        continue;
      }
      String who = primary[k] == 1 ? "A" : primary[k] == 2 ? "B" : "?";
      out.write(
          phaseName
              + ","
              + who
              + ","
              + (arrivals.get(k) == 0 ? "missing" : Long.toString(arrived.get(k) - due))
              + "\n");
    }
  }

  /** Callback-side pop lateness of the timers due in {@code [from, to)} (nanoTime). */
  PhaseStats phase(long from, long to, int primaryFilter) {
    int n = created();
    long[] fromAnswer = new long[n];
    long[] fromSend = new long[n];
    long[] roundTrip = new long[n];
    int count = 0;
    int missing = 0;
    int duplicates = 0;
    for (int k = 0; k < n; k++) {
      long answeredAt = answered.get(k);
      if (answeredAt == UNSET) {
        continue;
      }
      long due = answeredAt + intervalNanos;
      if (due < from || due >= to || (primaryFilter != 0 && primary[k] != primaryFilter)) {
        continue;
      }
      long arrival = arrived.get(k);
      if (arrivals.get(k) == 0) {
        missing++;
        continue;
      }
      if (arrivals.get(k) > 1) {
        duplicates++;
      }
      fromAnswer[count] = arrival - due;
      fromSend[count] = arrival - (sent.get(k) + intervalNanos);
      roundTrip[count] = answeredAt - sent.get(k);
      count++;
    }
    return new PhaseStats(
        count,
        missing,
        duplicates,
        Stats.p50p99max(fromAnswer, count),
        Stats.p50p99max(fromSend, count),
        Stats.p50p99max(roundTrip, count));
  }

  /**
   * Lateness in ns: p50, p99, max, measured from due = response + interval and from due = send +
   * interval.
   */
  record PhaseStats(
      int pops, int missing, int duplicates, long[] fromAnswer, long[] fromSend, long[] roundTrip) {
    String describe() {
      return String.format(
          "%5d pops: late p50 %6.2f ms, p99 %6.2f ms, max %7.2f ms (due from send: p50 %6.2f, p99 %6.2f;"
              + " create round trip p50 %.2f, p99 %.2f); missing %d, duplicates %d",
          pops,
          fromAnswer[0] / 1e6,
          fromAnswer[1] / 1e6,
          fromAnswer[2] / 1e6,
          fromSend[0] / 1e6,
          fromSend[1] / 1e6,
          roundTrip[0] / 1e6,
          roundTrip[1] / 1e6,
          missing,
          duplicates);
    }
  }

  @Override
  public void close() {
    running = false;
    server.stop(0);
    serverThreads.shutdownNow();
    client.close();
  }
}
