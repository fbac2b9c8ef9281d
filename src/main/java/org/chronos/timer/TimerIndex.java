package org.chronos.timer;

import java.util.function.Consumer;

/**
 * The timer store's id index: timer id to {@link Timer}. NOT thread safe (the timer thread owns
 * it).
 *
 * <p>Ids that differ only in their low {@value #GROUP_BITS} bits form a group, and the index is a
 * {@link LongMap} from the group (the id without those bits) to either the group's only timer or,
 * once a second one arrives, an array of {@value #GROUP_SIZE} slots indexed by the low bits. Timer
 * ids are {@code millis << 30 | node << 20 | sequence} ({@link TimerIdGenerator}), so a node
 * creating more than a few timers a millisecond fills whole groups, and the timers it deletes or
 * expires in roughly creation order are found in one hashed lookup of a recently used group plus an
 * array read, where a map of ids would probe and shift entries for every single id. A lone id (a
 * node creating one timer per millisecond, or timers replicated from many nodes) costs what a plain
 * map entry costs: the group holds the timer itself, which carries its id.
 *
 * <p>Memory: about 24 bytes of map per group (two parallel arrays at load 0.35-0.7) plus 48 bytes
 * per group array, so 9 bytes per timer in full groups and 24 for lone ids. A group array stays an
 * array until its last timer leaves.
 */
final class TimerIndex {
  static final int GROUP_BITS = 3;
  static final int GROUP_SIZE = 1 << GROUP_BITS;
  private static final int IN_GROUP = GROUP_SIZE - 1;

  private final LongMap<Object> groups = new LongMap<>(1024);
  private int size;

  int size() {
    return size;
  }

  Timer get(long id) {
    Object o = groups.get(id >>> GROUP_BITS);
    if (o instanceof Timer) {
      Timer t = (Timer) o;
      return t.id() == id ? t : null;
    }
    return o == null ? null : ((Timer[]) o)[(int) id & IN_GROUP];
  }

  /** Indexes the timer under its id; returns the timer it replaces, or null. */
  Timer put(Timer timer) {
    long id = timer.id();
    long group = id >>> GROUP_BITS;
    Object o = groups.get(group);
    if (o == null) {
      groups.put(group, timer);
      size++;
      return null;
    }
    if (o instanceof Timer) {
      Timer only = (Timer) o;
      if (only.id() == id) {
        groups.put(group, timer);
        return only;
      }
      Timer[] slots = new Timer[GROUP_SIZE];
      slots[(int) only.id() & IN_GROUP] = only;
      slots[(int) id & IN_GROUP] = timer;
      groups.put(group, slots);
      size++;
      return null;
    }
    Timer[] slots = (Timer[]) o;
    int i = (int) id & IN_GROUP;
    Timer old = slots[i];
    slots[i] = timer;
    if (old == null) {
      size++;
    }
    return old;
  }

  /** Removes and returns the timer with this id, or null. */
  Timer remove(long id) {
    Timer t = get(id);
    if (t != null) {
      remove(t);
    }
    return t;
  }

  /** Removes the timer only if it is the one indexed under its id (identity). */
  boolean remove(Timer timer) {
    long id = timer.id();
    long group = id >>> GROUP_BITS;
    Object o = groups.get(group);
    if (o == timer) {
      groups.remove(group);
      size--;
      return true;
    }
    if (!(o instanceof Timer[])) {
      return false;
    }
    Timer[] slots = (Timer[]) o;
    int i = (int) id & IN_GROUP;
    if (slots[i] != timer) {
      return false;
    }
    slots[i] = null;
    size--;
    if (isEmpty(slots)) {
      groups.remove(group);
    }
    return true;
  }

  void forEach(Consumer<? super Timer> consumer) {
    groups.forEachValue(
        o -> {
          if (o instanceof Timer) {
            consumer.accept((Timer) o);
          } else {
            for (Timer t : (Timer[]) o) {
              if (t != null) {
                consumer.accept(t);
              }
            }
          }
        });
  }

  /** Begins a resumable scan over the timers (one at a time; see {@link LongMap#scan}). */
  long beginScan() {
    return groups.beginScan();
  }

  /**
   * One step of the scan: hands the consumer the timers of at most {@code maxSlots} more slots of
   * the group map, stopping after the group that reaches {@code maxTimers} (so a few more at most;
   * the groups the map moved behind the scan come on top). An id held from {@link #beginScan} until
   * the step that returns {@link ScanStep#DONE} has its timer (as of the visit) handed over at
   * least once: its group's key is in the map all that while (a group leaves the map only when its
   * last timer does, and becoming an array replaces the value under the same key), and the map's
   * scan visits every such key, reading the group as it is then. A timer may be handed over twice;
   * one added or removed meanwhile may or may not be.
   */
  ScanStep scan(long scanId, int maxTimers, int maxSlots, Consumer<? super Timer> consumer) {
    return groups.scan(
        scanId,
        maxSlots,
        maxTimers,
        o -> {
          if (o instanceof Timer) {
            consumer.accept((Timer) o);
            return 1;
          }
          int n = 0;
          for (Timer t : (Timer[]) o) {
            if (t != null) {
              consumer.accept(t);
              n++;
            }
          }
          return n;
        });
  }

  void endScan(long scanId) {
    groups.endScan(scanId);
  }

  void clear() {
    groups.clear();
    size = 0;
  }

  /** Groups held (for tests of the layout). */
  int groupCount() {
    return groups.size();
  }

  private static boolean isEmpty(Timer[] slots) {
    for (Timer t : slots) {
      if (t != null) {
        return false;
      }
    }
    return true;
  }
}
