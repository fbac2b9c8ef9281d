package org.chronos.timer;

import static org.quicktheories.QuickTheory.qt;
import static org.quicktheories.generators.SourceDSL.integers;
import static org.quicktheories.generators.SourceDSL.lists;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.quicktheories.core.Gen;

/**
 * Random create / update / delete / advance sequences against a simple model: the store never pops
 * a deleted timer, never pops early, and never loses a live one.
 */
class TimerStorePropertyTest {
  static final long T0 = 5_000_000L;

  record Op(int kind, int id, int intervalSeconds, int repeats, int advanceMillis) {}

  static Gen<Op> ops() {
    return integers()
        .between(0, 3)
        .zip(
            integers().between(0, 15),
            integers().between(0, 4),
            integers().between(1, 3),
            integers().between(0, 2500),
            (kind, id, interval, repeats, advance) -> new Op(kind, id, interval, repeats, advance));
  }

  /** What the model expects of one timer: when it is due next and how many pops remain. */
  static final class Expected {
    long start;
    long interval;
    long remaining;
    int seq;

    long nextDue() {
      return start + (seq + 1L) * interval;
    }
  }

  @Test
  void neverPopsDeletedNeverEarlyNeverLosesLive() {
    qt().withExamples(300).forAll(lists().of(ops()).ofSizeBetween(1, 60)).checkAssert(this::run);
  }

  private void run(List<Op> ops) {
    TimerStore store = new TimerStore(1, T0, TimerStore.Listener.NONE);
    Map<Long, Expected> model = new HashMap<>();
    long[] now = {T0};
    List<String> violations = new ArrayList<>();
    TimerWheel.Handler<Timer> handler =
        t -> {
          if (!t.hasMorePops()) {
            if (model.containsKey(t.id())) {
              violations.add("live timer " + t.id() + " expired as a tombstone");
            }
            store.expire(t);
            return true;
          }
          Expected e = model.get(t.id());
          if (e == null) {
            violations.add("popped deleted or unknown timer " + t.id());
          } else {
            if (now[0] < e.nextDue()) {
              violations.add("timer " + t.id() + " popped at " + now[0] + " before " + e.nextDue());
            }
            if (t.sequence() + 1 != e.seq + 1) {
              violations.add(
                  "timer "
                      + t.id()
                      + " popped with sequence "
                      + (t.sequence() + 1)
                      + ", expected "
                      + (e.seq + 1));
            }
            e.seq++;
            if (--e.remaining == 0) {
              model.remove(t.id());
            }
          }
          store.popped(t, t.nextDueMillis());
          return true;
        };
    for (Op op : ops) {
      long id = op.id();
      switch (op.kind()) {
        case 0, 1 -> { // create or update: same for the store
          long interval = op.intervalSeconds() * 1000L;
          long repeatFor = interval == 0 ? 0 : interval * op.repeats();
          store.put(
              new Timer(
                  id, 2, now[0], interval, repeatFor, 0, "http://x/", new byte[] {1}, List.of()));
          Expected e = new Expected();
          e.start = now[0];
          e.interval = interval;
          e.remaining = interval == 0 ? 1 : op.repeats();
          model.put(id, e);
        }
        case 2 -> {
          Timer existing = store.get(id);
          store.put(
              existing == null ? Timer.tombstone(id, 2, now[0]) : existing.toTombstone(now[0]));
          model.remove(id);
        }
        default -> {
          now[0] += op.advanceMillis();
          store.poll(now[0], handler, Integer.MAX_VALUE);
        }
      }
      for (Map.Entry<Long, Expected> live : model.entrySet()) {
        if (live.getValue().nextDue() < now[0] - 0 && store.get(live.getKey()) == null) {
          violations.add("live timer " + live.getKey() + " lost");
        }
      }
    }
    now[0] += 100_000;
    while (store.poll(now[0], handler, Integer.MAX_VALUE) > 0) {
      now[0] += 100_000;
    }
    if (!model.isEmpty()) {
      violations.add("timers never popped: " + model.keySet());
    }
    if (!violations.isEmpty()) {
      throw new AssertionError(String.join("\n", violations) + "\nops: " + ops);
    }
  }
}
