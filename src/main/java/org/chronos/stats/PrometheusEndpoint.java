package org.chronos.stats;

import com.codahale.metrics.MetricRegistry;
import io.dropwizard.core.setup.AdminEnvironment;
import io.prometheus.metrics.exporter.servlet.jakarta.PrometheusMetricsServlet;
import io.prometheus.metrics.instrumentation.dropwizard.DropwizardExports;
import io.prometheus.metrics.instrumentation.dropwizard5.labels.CustomLabelMapper;
import io.prometheus.metrics.instrumentation.dropwizard5.labels.MapperConfig;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.util.List;
import java.util.Map;

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
 * </ul>
 */
public final class PrometheusEndpoint {
  /** The admin path of the Prometheus text. */
  public static final String PATH = "/prometheus";

  private PrometheusEndpoint() {}

  public static void install(MetricRegistry metrics, AdminEnvironment admin) {
    // A registry of our own, not the library's global default: several applications (tests run
    // several nodes in one JVM) must not export each other's metrics.
    PrometheusRegistry registry = new PrometheusRegistry();
    DropwizardExports.builder()
        .dropwizardRegistry(metrics)
        .metricFilter((name, metric) -> !name.endsWith(".total"))
        .customLabelMapper(
            new CustomLabelMapper(
                List.of(
                    new MapperConfig(
                        "chronos.timers.created_total", "chronos_timers_creations", Map.of()))))
        .register(registry);
    admin.addServlet("prometheus", new PrometheusMetricsServlet(registry)).addMapping(PATH);
  }
}
