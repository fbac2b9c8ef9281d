package org.chronos.stats;

import com.codahale.metrics.Counter;
import com.codahale.metrics.MetricRegistry;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The tag types a node counts, at most {@code timers.maxTagTypes}; thread-safe. Each type a node
 * counts keeps a count gauge and eight window gauges for as long as the node runs, so a client that
 * names a new type with every timer (an id in the tag, say) would otherwise grow them without
 * bound. A type first seen beyond the limit is not counted here (logged once; each live timer's tag
 * of such a type counted in {@code chronos.tags.types-refused}). The timer keeps its tags: its
 * replicas, other sites and original nodes get them as the client sent them, and count them by
 * their own limits.
 */
public final class TagTypes {
  private static final Logger LOG = LoggerFactory.getLogger(TagTypes.class);

  private final int max;
  private final Set<String> known = ConcurrentHashMap.newKeySet();
  private final AtomicInteger size = new AtomicInteger();
  private final AtomicBoolean told = new AtomicBoolean();
  private final Counter refused;

  public TagTypes(int max, MetricRegistry metrics) {
    if (max < 0) {
      throw new IllegalArgumentException("max must be >= 0: " + max);
    }
    this.max = max;
    this.refused = metrics.counter("chronos.tags.types-refused");
  }

  /** No limit: every type is counted. */
  public static TagTypes unlimited() {
    return new TagTypes(Integer.MAX_VALUE, new MetricRegistry());
  }

  /** Whether the type is counted: known, or new with room for it (then known from now on). */
  public boolean admit(String type) {
    if (known.contains(type)) {
      return true;
    }
    if (size.incrementAndGet() > max) {
      size.decrementAndGet();
      // Another thread may have just added this very type.
      if (known.contains(type)) {
        return true;
      }
      refused.inc();
      if (told.compareAndSet(false, true)) {
        LOG.warn(
            "tag type {} not counted: this node counts at most {} tag types"
                + " (timers.maxTagTypes); further new types are not counted",
            type,
            max);
      }
      return false;
    }
    if (!known.add(type)) {
      size.decrementAndGet(); // added meanwhile by another thread
    }
    return true;
  }
}
