package org.chronos.stats;

import com.codahale.metrics.Counter;
import com.codahale.metrics.Gauge;
import com.codahale.metrics.Histogram;
import com.codahale.metrics.Meter;
import com.codahale.metrics.MetricRegistry;
import com.codahale.metrics.MetricRegistryListener;
import com.codahale.metrics.Timer;
import io.dropwizard.core.setup.AdminEnvironment;
import io.prometheus.metrics.exporter.servlet.jakarta.PrometheusMetricsServlet;
import io.prometheus.metrics.instrumentation.dropwizard.DropwizardExports;
import io.prometheus.metrics.instrumentation.dropwizard5.labels.CustomLabelMapper;
import io.prometheus.metrics.instrumentation.dropwizard5.labels.MapperConfig;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.PrometheusNaming;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.NavigableSet;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Serves the application's Dropwizard metrics in Prometheus text format at {@code /prometheus} on
 * the admin port, beside Dropwizard's own {@code /metrics}; called once from {@code
 * Application.run}. Scrapes run on admin request threads and read the registry as {@code /metrics}
 * does, so nothing here needs its own thread or state.
 *
 * <p>Every metric in the registry appears, translated by the Prometheus bridge: dots and dashes
 * become underscores ({@code chronos.pops.lateness-micros} is {@code
 * chronos_pops_lateness_micros}), meters and counters become counters with a {@code _total} suffix
 * ({@code chronos_timers_updated_total}), histograms and timers become summaries.
 *
 * <p>Two names need help:
 *
 * <ul>
 *   <li>{@code chronos.timers.created}: OpenMetrics reserves the suffix {@code _created}, and the
 *       bridge strips it, so this meter would be exported as {@code chronos_timers_total}, which
 *       says nothing about creation. It is renamed {@code chronos_timers_creations_total}. (The
 *       bridge matches a meter's name with {@code _total} appended, hence the pattern.)
 *   <li>Names ending in {@code .total} are left out: the bridge exports a meter {@code X} as {@code
 *       X_total}, so a registry holding both {@code X} and {@code X.total} yields two families with
 *       one name, and the whole scrape fails with a 500.
 *   <li>Of names that are one family in Prometheus form (dots and dashes as underscores, endings
 *       such as {@code _total} stripped: the sites {@code dc-2} and {@code dc_2}, both valid), only
 *       the first in sort order is exported, for the same reason; a WARN names each one left out
 *       ({@link Collisions}).
 * </ul>
 */
public final class PrometheusEndpoint {
  private static final Logger LOG = LoggerFactory.getLogger(PrometheusEndpoint.class);

  /** The admin path of the Prometheus text. */
  public static final String PATH = "/prometheus";

  private PrometheusEndpoint() {}

  public static void install(MetricRegistry metrics, AdminEnvironment admin) {
    // A registry of our own, not the library's global default: several applications (tests run
    // several nodes in one JVM) must not export each other's metrics.
    PrometheusRegistry registry = new PrometheusRegistry();
    Collisions collisions = new Collisions();
    metrics.addListener(collisions);
    DropwizardExports.builder()
        .dropwizardRegistry(metrics)
        .metricFilter((name, metric) -> !name.endsWith(".total") && collisions.exports(name))
        .customLabelMapper(
            new CustomLabelMapper(
                List.of(
                    new MapperConfig(
                        "chronos.timers.created_total", "chronos_timers_creations", Map.of()))))
        .register(registry);
    admin.addServlet("prometheus", new PrometheusMetricsServlet(registry)).addMapping(PATH);
  }

  /**
   * The registry's names by their Prometheus form, kept up to date as metrics come and go (a site
   * added or dropped by a reload); a name is exported if it is the first of its form. Thread-safe.
   */
  static final class Collisions extends MetricRegistryListener.Base {
    private final Map<String, NavigableSet<String>> byForm = new HashMap<>();
    private final Set<String> leftOut = ConcurrentHashMap.newKeySet();

    /**
     * The name's family as the bridge exports it: its characters made valid, and the endings
     * Prometheus reserves ({@code _total}, {@code _info}, ...) stripped, as the bridge strips them
     * (a counter {@code a.b} and a gauge {@code a.b_total} are one family).
     */
    static String form(String name) {
      return PrometheusNaming.prometheusName(PrometheusNaming.sanitizeMetricName(name));
    }

    boolean exports(String name) {
      return !leftOut.contains(name);
    }

    private synchronized void added(String name) {
      NavigableSet<String> names = byForm.computeIfAbsent(form(name), f -> new TreeSet<>());
      names.add(name);
      update(names);
      if (names.size() > 1) {
        LOG.warn(
            "metric {} is exported to Prometheus as {}, as {} is: only {} is",
            name,
            form(name),
            names.first().equals(name) ? names.higher(name) : names.first(),
            names.first());
      }
    }

    private synchronized void removed(String name) {
      leftOut.remove(name);
      NavigableSet<String> names = byForm.get(form(name));
      if (names != null && names.remove(name)) {
        if (names.isEmpty()) {
          byForm.remove(form(name));
        } else {
          update(names);
        }
      }
    }

    /** The names of one form: the first exported, the others left out. */
    private void update(NavigableSet<String> names) {
      leftOut.remove(names.first());
      leftOut.addAll(names.tailSet(names.first(), false));
    }

    @Override
    public void onGaugeAdded(String name, Gauge<?> gauge) {
      added(name);
    }

    @Override
    public void onGaugeRemoved(String name) {
      removed(name);
    }

    @Override
    public void onCounterAdded(String name, Counter counter) {
      added(name);
    }

    @Override
    public void onCounterRemoved(String name) {
      removed(name);
    }

    @Override
    public void onHistogramAdded(String name, Histogram histogram) {
      added(name);
    }

    @Override
    public void onHistogramRemoved(String name) {
      removed(name);
    }

    @Override
    public void onMeterAdded(String name, Meter meter) {
      added(name);
    }

    @Override
    public void onMeterRemoved(String name) {
      removed(name);
    }

    @Override
    public void onTimerAdded(String name, Timer timer) {
      added(name);
    }

    @Override
    public void onTimerRemoved(String name) {
      removed(name);
    }
  }
}
