package org.chronos;

import com.codahale.metrics.Gauge;
import com.codahale.metrics.MetricRegistry;
import io.dropwizard.core.Application;
import io.dropwizard.core.server.DefaultServerFactory;
import io.dropwizard.core.server.ServerFactory;
import io.dropwizard.core.server.SimpleServerFactory;
import io.dropwizard.core.setup.Bootstrap;
import io.dropwizard.core.setup.Environment;
import io.dropwizard.jetty.ConnectorFactory;
import io.dropwizard.jetty.HttpConnectorFactory;
import io.dropwizard.lifecycle.Managed;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.atomic.AtomicReference;
import org.chronos.admin.ReloadTask;
import org.chronos.admin.ResyncTask;
import org.chronos.admin.Signals;
import org.chronos.api.TimerRequestParser;
import org.chronos.callback.CallbackClient;
import org.chronos.cli.ReplicasCommand;
import org.chronos.cli.TrainCommand;
import org.chronos.cluster.ClusterConfig;
import org.chronos.cluster.ClusterService;
import org.chronos.cluster.ConfigException;
import org.chronos.health.ClusterHealthCheck;
import org.chronos.health.TimerThreadHealthCheck;
import org.chronos.http.AsyncHttp;
import org.chronos.node.RealtimePriority;
import org.chronos.node.TimerNode;
import org.chronos.overload.OverloadFilter;
import org.chronos.replication.Replicator;
import org.chronos.resources.IgnoreAccept;
import org.chronos.resources.OtherMethodsFilter;
import org.chronos.resources.PingResource;
import org.chronos.resources.PlainTextErrors;
import org.chronos.resources.TimersResource;
import org.chronos.resync.ResyncService;
import org.chronos.resync.ResyncSource;
import org.chronos.resync.WarmUpGate;
import org.chronos.stats.DeadlockWatch;
import org.chronos.stats.PrometheusEndpoint;
import org.chronos.stats.TagCounts;
import org.chronos.stats.TagWindowStats;
import org.chronos.stats.TimerMetrics;
import org.chronos.timer.Clock;
import org.chronos.timer.LongLivedIds;
import org.chronos.timer.TimerEvents;
import org.chronos.timer.TimerIdGenerator;
import org.chronos.timer.TimerService;
import org.glassfish.jersey.server.ServerProperties;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Wires a Chronos node from plain constructors, in dependency order. */
public class ChronosApplication extends Application<ChronosConfiguration> {
  private static final Logger LOG = LoggerFactory.getLogger(ChronosApplication.class);

  private final Clock clock;
  private TimerService timerService;
  private Replicator replicator;
  private TagCounts tagCounts;
  private ClusterService clusterService;
  private ResyncService resyncService;

  public ChronosApplication() {
    this(Clock.SYSTEM);
  }

  /** Tests pass a clock they control. */
  public ChronosApplication(Clock clock) {
    this.clock = clock;
  }

  public static void main(String[] args) throws Exception {
    if (args.length > 0 && args[0].equals("server")) {
      // Until run() installs the node's handlers, a reload or resync signal is held, not fatal.
      Signals.holdUntilHandled("HUP", "USR1");
    }
    new ChronosApplication().run(args);
  }

  @Override
  public String getName() {
    return "chronos";
  }

  @Override
  public void initialize(Bootstrap<ChronosConfiguration> bootstrap) {
    bootstrap.addCommand(new ReplicasCommand());
    bootstrap.addCommand(new TrainCommand());
  }

  @Override
  public void run(ChronosConfiguration config, Environment environment) throws ConfigException {
    int port = applicationPort(config.getServerFactory());
    clusterService =
        new ClusterService(
            Path.of(config.getCluster().getConfigFile()),
            Path.of(config.getCluster().getSharedConfigFile()),
            port);
    ClusterConfig identity = clusterService.view().config();
    LongLivedIds longLived =
        new LongLivedIds(identity.deploymentId(), identity.instanceId(), clock);
    TimerIdGenerator ids =
        new TimerIdGenerator(clock, identity.deploymentId(), identity.instanceId(), longLived);
    clusterService.onIdentityChange(c -> ids.setIdentity(c.deploymentId(), c.instanceId()));

    ChronosConfiguration.CallbackSettings cb = config.getCallbacks();
    if (cb.getTimeout().toMilliseconds() > TimerNode.REPLICA_DELAY_MILLIS) {
      LOG.warn(
          "callbacks.timeout {} is longer than the {} ms after which a timer's next replica pops"
              + " it when it has heard nothing: a callback answered after that is made twice"
              + " (PROTOCOL: a callback must answer within 2 s)",
          cb.getTimeout(),
          TimerNode.REPLICA_DELAY_MILLIS);
    }
    CallbackClient callbacks =
        new CallbackClient(
            cb.getTimeout().toMilliseconds(),
            cb.getMaxInFlight(),
            cb.effectiveMaxInFlightPerSilentTarget(),
            cb.getMaxConnections(),
            cb.getIoThreads(),
            environment.metrics().timer("chronos.callbacks.latency"),
            environment.metrics().counter("chronos.callbacks.resent"));

    ChronosConfiguration.ReplicationSettings rs = config.getReplication();
    Replicator replicator = newReplicator(clock, environment.metrics(), rs, port);
    this.replicator = replicator;

    ChronosConfiguration.TimerSettings ts = config.getTimers();
    // Completed once the start-up resync (if any) has finished; site re-sends wait for it.
    CompletableFuture<Void> startedUp = new CompletableFuture<>();
    TimerNode node =
        new TimerNode(
            clock,
            ids,
            clusterService::view,
            clusterService::previousView,
            clusterService::sites,
            replicator,
            environment.metrics(),
            config.getResync().getMaxRememberedTimers(),
            rs.getMaxOwedSiteDeletions(),
            startedUp);
    tagCounts = new TagCounts(environment.metrics(), ts.getMaxTagTypes());
    TagWindowStats tagWindows = new TagWindowStats(clock, environment.metrics());
    timerService =
        new TimerService(
            clock,
            ts.getTickMillis(),
            ts.getCommandQueueCapacity(),
            ts.getMaxWorkPerRound(),
            callbacks,
            TimerEvents.all(new TimerMetrics(environment.metrics()), node),
            LongLivedIds.both(tagWindows.after(tagCounts), longLived));
    node.bind(timerService);
    TimerMetrics.registerGauges(environment.metrics(), timerService);
    environment
        .metrics()
        .register("chronos.callbacks.in-flight", (Gauge<Integer>) callbacks::inFlight);
    environment
        .jersey()
        .property(ServerProperties.LOCATION_HEADER_RELATIVE_URI_RESOLUTION_DISABLED, true);
    TimerRequestParser parser = new TimerRequestParser(ts.getMaxTimerSeconds());
    ResyncSource resyncSource = new ResyncSource(clock, timerService, clusterService::view);
    WarmUpGate warmUpGate = new WarmUpGate(environment.metrics());
    // Other nodes' resyncs: their pages and the copies they send on, at a resync's priority; half
    // the cores (at least 2), so that several peers resyncing at once cannot take them all.
    int servingThreads = Math.max(2, Runtime.getRuntime().availableProcessors() / 2);
    ExecutorService resyncServing =
        environment
            .lifecycle()
            .executorService("chronos-resync-serve")
            .minThreads(servingThreads)
            .maxThreads(servingThreads)
            .threadFactory(AsyncHttp.daemonThreads("chronos-resync-serve", AsyncHttp.BACKGROUND))
            .build();
    environment
        .jersey()
        .register(
            new TimersResource(
                node,
                parser,
                ts.getMaxBodySize().toBytes(),
                resyncSource,
                resyncServing,
                warmUpGate));
    if (config.getOverload().isEnabled()) {
      // Peeks as far as a peer's PUT may go, so that one over the client limit still counts as a
      // peer's (its replicas come after the opaque).
      OverloadFilter.install(
          config.getOverload().buildMonitor(clock),
          ts.getMaxBodySize().toBytes() + TimersResource.PEER_MARGIN_BYTES,
          environment);
    }
    PrometheusEndpoint.install(environment.metrics(), environment.admin());
    DeadlockWatch.install(environment.metrics(), environment.healthChecks());
    environment.jersey().register(new PingResource(ts.getMaxBodySize().toBytes()));
    environment.jersey().register(new IgnoreAccept());
    environment.jersey().register(new PlainTextErrors());
    OtherMethodsFilter.install(environment);
    // How the timer thread is scheduled, once the managed start below has asked for a policy.
    AtomicReference<String> timerScheduling = new AtomicReference<>("normal (not started yet)");
    environment
        .healthChecks()
        .register(
            "timer-thread",
            new TimerThreadHealthCheck(
                timerService, clock, ts.getMaxLag().toMilliseconds(), timerScheduling::get));

    long graceMillis = cb.getShutdownGracePeriod().toMilliseconds();
    environment
        .lifecycle()
        .manage(
            new Managed() {
              @Override
              public void start() {
                replicator.start();
                callbacks.start();
                timerService.start();
                long budget = ts.getRealtimeBudget().toNanoseconds();
                long period = ts.getRealtimePeriod().toNanoseconds();
                RealtimePriority.Outcome raised =
                    RealtimePriority.raiseTimerThread(
                        timerService, ts.getRealtimePriority(), budget, period);
                timerScheduling.set(raised.scheduling());
                boolean realtime = raised.realtime();
                if (realtime) {
                  long window = ts.getRealtimeBatchWindow().toNanoseconds();
                  timerService.batchCommands(window);
                  LOG.info(
                      "timer thread takes requests in batches: after taking some it lets more"
                          + " gather for up to {} us (timers.realtimeBatchWindow)",
                      window / 1000);
                }
                if (realtime && budget > 0) {
                  // Under SCHED_DEADLINE: serving another node's resync may use half the budget,
                  // so that a burst of it never leaves pops waiting for the next period.
                  timerService.limitBackgroundShare(budget / 2.0 / period);
                }
              }

              /*
               * Jetty has stopped taking requests by now. Stop popping, but keep the timer thread
               * handling callback outcomes until the callbacks in flight finish (or the grace
               * period ends): a success must still be replicated, or a backup pops it again.
               * Then let the replication queues empty before closing the replicator.
               */
              @Override
              public void stop() throws InterruptedException {
                timerService.stopPopping();
                int abandoned = callbacks.stop(graceMillis);
                int[] held = timerService.stop(5000);
                LOG.info(
                    "stopped holding {} live timers and {} tombstones; {} callbacks abandoned",
                    held[0],
                    held[1],
                    abandoned);
                node.stop();
                replicator.stop(graceMillis);
              }
            });
    environment.lifecycle().manage(clusterService);
    // The retries of the start-up resync for the peers it missed; the resync's stop cancels the
    // one pending.
    ScheduledExecutorService resyncRetries =
        environment.lifecycle().scheduledExecutorService("chronos-resync-retry").threads(1).build();
    ResyncService resync =
        new ResyncService(
            clock,
            clusterService::view,
            node,
            replicator,
            parser,
            config.getResync().getPageSize(),
            config.getResync().getMaxTimersPerSecond(),
            java.time.Duration.ofMillis(config.getResync().getRequestTimeout().toMilliseconds()),
            java.time.Duration.ofMillis(
                config.getResync().getTimerThreadTimeout().toMilliseconds()),
            environment.metrics(),
            warmUpGate,
            // The warm-up's copies go to this node itself through a replicator like the real one,
            // whose metrics nobody reads.
            () -> newReplicator(clock, new MetricRegistry(), rs, port),
            resyncRetries,
            port);
    resyncService = resync;
    // A later resync that brings what the start-up resync missed: other sites get it too.
    resync.onMissedPeersReached(
        reached -> node.missedPeersReached(reached.peers(), reached.stored()));
    environment
        .lifecycle()
        .manage(
            new Managed() {
              @Override
              public void start() {
                // A restarted node gets its timers back from its peers; site re-sends wait for it.
                resync
                    .startUp(
                        config.getResync().isOnStart(),
                        config.getResync().getStartUpRetry().toMilliseconds())
                    .thenRun(() -> startedUp.complete(null));
                // Queued behind the start-up resync, if any.
                resync.warmUp(config.getResync().getWarmUpTimers());
              }

              @Override
              public void stop() {
                resync.stop();
              }
            });
    environment
        .healthChecks()
        .register("cluster", new ClusterHealthCheck(clusterService, replicator, resync, clock));
    environment.admin().addTask(new ReloadTask(clusterService));
    environment.admin().addTask(new ResyncTask(resync));

    ExecutorService signalWork =
        environment
            .lifecycle()
            .executorService("chronos-signals")
            .maxThreads(1)
            .minThreads(1)
            .build();
    // Installed once every service has started (the start-up resync included), so that a signal
    // main() held meanwhile can be acted on at once.
    environment
        .lifecycle()
        .manage(
            new Managed() {
              @Override
              public void start() {
                // HUP first: a reload and a resync held meanwhile run in that order.
                Signals.handle(
                    "HUP",
                    signalWork,
                    () -> {
                      try {
                        clusterService.reload();
                      } catch (ConfigException e) {
                        // Already logged by the cluster service, with the view it kept.
                      }
                    });
                Signals.handle("USR1", signalWork, () -> resync.start("SIGUSR1"));
              }
            });
  }

  /** The first application connector's port: the default for cluster addresses without one. */
  static int applicationPort(ServerFactory factory) {
    List<ConnectorFactory> connectors = List.of();
    if (factory instanceof DefaultServerFactory d) {
      connectors = d.getApplicationConnectors();
    } else if (factory instanceof SimpleServerFactory s) {
      connectors = List.of(s.getConnector());
    }
    for (ConnectorFactory c : connectors) {
      if (c instanceof HttpConnectorFactory http) {
        // Port 0 (ephemeral, as in tests) cannot be a peer's default port: cluster files must
        // then give ports explicitly, and addresses without one fall back to the standard port.
        return http.getPort() == 0 ? 7253 : http.getPort();
      }
    }
    return 7253;
  }

  /** A replicator as {@code replication} configures it, not yet started. */
  private static Replicator newReplicator(
      Clock clock,
      MetricRegistry metrics,
      ChronosConfiguration.ReplicationSettings rs,
      int defaultPort) {
    Replicator replicator =
        new Replicator(
            clock,
            metrics,
            rs.getTimeout().toMilliseconds(),
            rs.getMaxQueuedPerPeer(),
            rs.getMaxInFlightPerPeer(),
            rs.getMaxBulkInFlightPerPeer(),
            rs.getMaxBulkQueuedPerPeer(),
            rs.getMaxBatch(),
            (int) Math.min(Integer.MAX_VALUE, rs.getMaxBatchSize().toBytes()),
            defaultPort);
    replicator.retryFor(rs.getRetryFor().toMilliseconds());
    return replicator;
  }

  /** For tests. */
  public TimerService timerService() {
    return timerService;
  }

  /** For tests. */
  public Replicator replicator() {
    return replicator;
  }

  /** For tests. */
  public TagCounts tagCounts() {
    return tagCounts;
  }

  /** For tests. */
  public ClusterService clusterService() {
    return clusterService;
  }

  /** For tests. */
  public ResyncService resyncService() {
    return resyncService;
  }
}
