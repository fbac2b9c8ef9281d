package org.chronos.stats;

import com.codahale.metrics.Counter;
import com.codahale.metrics.Gauge;
import com.codahale.metrics.MetricRegistry;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import org.chronos.timer.Tag;
import org.chronos.timer.Timer;
import org.chronos.timer.TimerStore;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Per-tag live counts (PROTOCOL.md section 8): the sum of tag counts over live timers. Updated on
 * the timer thread; read from any thread. Each tag gets a gauge {@code chronos.tags.<TAG>.count}
 * the first time it is seen.
 *
 * <p>At most {@code timers.maxTagTypes} types are counted. Each keeps a count gauge and eight
 * window gauges for as long as the node runs, so a client that names a new type with every timer
 * (an id in the tag, say) would otherwise grow them without bound. A type first seen beyond the
 * limit is not counted here (logged once; each live timer's tag of such a type counted in {@code
 * chronos.tags.types-refused}). The timer keeps its tags: its replicas, other sites and original
 * nodes get them as the client sent them, and count them by their own limits.
 */
public final class TagCounts implements TimerStore.Listener {
  private static final Logger LOG = LoggerFactory.getLogger(TagCounts.class);

  private final MetricRegistry registry;
  private final int maxTypes;
  private final Counter refused;
  private final Map<String, AtomicLong> counts = new ConcurrentHashMap<>();
  private boolean toldOfTheLimit; // timer thread only

  public TagCounts(MetricRegistry registry) {
    this(registry, Integer.MAX_VALUE);
  }

  /** Counts at most {@code maxTypes} tag types, the first seen. */
  public TagCounts(MetricRegistry registry, int maxTypes) {
    if (maxTypes < 0) {
      throw new IllegalArgumentException("maxTypes must be >= 0: " + maxTypes);
    }
    this.registry = registry;
    this.maxTypes = maxTypes;
    this.refused = registry.counter("chronos.tags.types-refused");
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
    if (counts.size() >= maxTypes) {
      // Only the timer thread adds types, so the size is exact here.
      refused.inc();
      if (!toldOfTheLimit) {
        toldOfTheLimit = true;
        LOG.warn(
            "tag type {} not counted: this node counts at most {} tag types"
                + " (timers.maxTagTypes); further new types are not counted",
            tag,
            maxTypes);
      }
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
