package org.chronos.stats;

import com.codahale.metrics.Gauge;
import com.codahale.metrics.MetricRegistry;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import org.chronos.timer.Tag;
import org.chronos.timer.Timer;
import org.chronos.timer.TimerStore;

/**
 * Per-tag live counts (PROTOCOL.md section 8): the sum of tag counts over live timers. Updated on
 * the timer thread; read from any thread. Each tag gets a gauge {@code chronos.tags.<TAG>.count}
 * the first time it is seen.
 */
public final class TagCounts implements TimerStore.Listener {
  private final MetricRegistry registry;
  private final TagTypes types;
  private final Map<String, AtomicLong> counts = new ConcurrentHashMap<>();

  public TagCounts(MetricRegistry registry) {
    this(registry, TagTypes.unlimited());
  }

  /** Counts the types {@code types} admits, and no others. */
  public TagCounts(MetricRegistry registry, TagTypes types) {
    this.registry = registry;
    this.types = types;
  }

  @Override
  public void liveAdded(Timer timer) {
    for (Tag tag : timer.tags()) {
      AtomicLong c = counter(tag.type());
      if (c != null) {
        c.addAndGet(tag.count());
      }
    }
  }

  @Override
  public void liveRemoved(Timer timer) {
    for (Tag tag : timer.tags()) {
      AtomicLong c = counts.get(tag.type()); // a type not counted was never added
      if (c != null) {
        c.addAndGet(-tag.count());
      }
    }
  }

  /** Whether the type is counted here (seen, and within {@code timers.maxTagTypes}). */
  public boolean isCounted(String tag) {
    return counts.containsKey(tag);
  }

  /** The current count for a tag; 0 for a tag never seen. */
  public long count(String tag) {
    AtomicLong c = counts.get(tag);
    return c == null ? 0 : c.get();
  }

  /** The tag's counter, made the first time it is seen; null for a type not counted. */
  private AtomicLong counter(String tag) {
    AtomicLong c = counts.get(tag);
    if (c != null) {
      return c;
    }
    if (!types.admit(tag)) {
      return null;
    }
    return counts.computeIfAbsent(
        tag,
        t -> {
          AtomicLong created = new AtomicLong();
          registry.register(
              MetricRegistry.name("chronos", "tags", t, "count"), (Gauge<Long>) created::get);
          return created;
        });
  }
}
