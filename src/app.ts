/** Wires one running Switchboard from a Config: store, plugins, rules, ingest, HTTP. */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Config } from './config.ts';
import { TargetGuards } from './engine/delivery/target-guards.ts';
import { DeliveryWorker } from './engine/delivery/worker.ts';
import { deadLetterAnnouncer } from './engine/ingest/dead-letter.ts';
import { createIngestion } from './engine/ingest/ingestion.ts';
import { Pruner } from './engine/retention/pruner.ts';
import type { ReconcileLoop } from './engine/reconcile/loop.ts';
import { createRulesHolder, type RulesHolder } from './engine/rules-holder.ts';
import { countingInto, MinuteRollup } from './engine/rollup/minute-rollup.ts';
import { isRetryable } from './engine/run-action.ts';
import { createLiveKitApi } from './livekit/api.ts';
import { loadReloadablePlugins, type PluginRegistry } from './plugins/registry.ts';
import { createHttpServer } from './server/http-app.ts';
import { startHealthPort } from './server/health-port.ts';
import { readinessChecks } from './server/operations.ts';
import { openStore } from './store/open.ts';
import type { Store } from './store/store.ts';
import type { Logger } from './telemetry/logger.ts';
import { createMetrics, type Metrics } from './telemetry/metrics.ts';

/** While closing, how often connections that have fallen idle are closed. */
const IDLE_SWEEP_MS = 100;

export interface Switchboard {
  /** The base URL the server listens on, e.g. http://127.0.0.1:8080. */
  url: string;
  server: Server;
  /** Where HEALTH_PORT's thread answers /healthz and /readyz; undefined when it is off. */
  healthUrl: string | undefined;
  store: Store;
  plugins: PluginRegistry;
  rules: RulesHolder;
  worker: DeliveryWorker;
  guards: TargetGuards;
  metrics: Metrics;
  /** Reconciliation with LiveKit's API; undefined when RECONCILE_INTERVAL is 0. */
  reconcile: ReconcileLoop | undefined;
  /**
   * Stops taking webhooks (503, so LiveKit retries), lets running attempts finish until SHUTDOWN_TIMEOUT, gives
   * back the leases of the rest, closes the store.
   */
  close(): Promise<void>;
}

interface StartOptions {
  env?: Record<string, string | undefined>;
  /** Reload rules when files under RULES_DIR change. */
  watchRules?: boolean;
  /**
   * Called once, after it is logged, when the store reports a failure it cannot recover from in this process (an
   * SQLite I/O error or corrupt file): `switchboard serve` exits non-zero so that its supervisor restarts it.
   */
  onStoreFatal?: (error: Error) => void;
}

export async function startSwitchboard(config: Config, log: Logger, options: StartOptions = {}): Promise<Switchboard> {
  const plugins = await loadReloadablePlugins(config.pluginsDir);
  const rules = await createRulesHolder(
    { dir: config.rulesDir, plugins, env: options.env ?? process.env },
    log,
  );
  let storeFailed = false;
  const store = await openStore(config.databaseUrl, {
    cacheMiB: config.sqliteCacheMiB,
    onWarning: (message) => log.warn(message),
    onFatal: (error) => {
      if (storeFailed) return;
      storeFailed = true;
      log.fatal({ err: error }, 'the store failed beyond repair in this process: exiting for a restart');
      options.onStoreFatal?.(error);
    },
  });
  if (config.migrateOnStart) await store.migrate();

  let accepting = true;
  const guards = new TargetGuards({
    circuit: config.circuit,
    isFailure: isRetryable,
    onOpen: (target, probeAt) => log.warn({ target, probe_at: probeAt.toISOString() }, 'circuit opened: attempts to this target wait for its probe'),
  });
  const rollup = new MinuteRollup(store, log);
  const metrics = countingInto(rollup, createMetrics({
    deliveryCounts: () => store.countDeliveries(),
    oldestDueAt: (now) => store.oldestDueAt(now),
    oldestEventAt: () => store.oldestEventAt(),
    circuits: () => guards.snapshot(),
    targetSwitches: () => store.listTargets(),
    rulesStatus: rules.status,
    pictureCounts: () => store.pictureCounts(),
    log,
  }));
  const ingestion = createIngestion({
    store,
    plugins,
    currentRules: rules.current,
    log,
    metrics,
    inlineActionTimeoutMs: config.inlineActionTimeoutMs,
    asyncActionTimeoutMs: config.actionTimeoutMs,
    onQueued: () => worker.wake(),
    // SQLite only. On PostgreSQL, with replicas sharing the queue, handing deliveries to the replica that took the
    // webhook measured slower than letting whichever has room claim them (docs/decisions/0008-handoff-sqlite-only.md).
    ...(store.kind === 'sqlite' && { reserve: (target: string) => worker.reserve(target) }),
  });
  const worker: DeliveryWorker = new DeliveryWorker({
    store,
    plugins,
    guards,
    currentRules: rules.current,
    log,
    metrics,
    announceDead: deadLetterAnnouncer(ingestion),
    concurrency: config.workerConcurrency,
    pollIntervalMs: config.workerPollIntervalMs,
    leaseMs: config.deliveryLeaseMs,
  });
  const readiness = readinessChecks({
    log,
    store,
    currentRules: rules.current,
    rulesStatus: rules.status,
    worker,
    workerEnabled: config.workerConcurrency > 0,
    accepting: () => accepting,
  });
  const server = createHttpServer({
    path: config.webhookPath,
    keys: config.keys,
    maxBodyBytes: config.maxBodyBytes,
    clockToleranceSeconds: config.clockToleranceSeconds,
    ingest: ingestion.ingest,
    log,
    accepting: () => accepting,
    adminToken: config.adminToken,
    adminReadToken: config.adminReadToken,
    uiSessionTtlMs: config.uiSessionTtlMs,
    store,
    currentRules: rules.current,
    rulesStatus: rules.status,
    readiness,
    worker,
    guards,
    metrics,
    metricsToken: config.metricsToken,
    maxConnections: config.maxConnections,
    trustProxy: config.trustProxy,
  });

  // Imported only when on: reconciliation brings livekit-server-sdk along.
  const reconcile = config.liveKitApi && config.reconcileIntervalMs > 0
    ? (await import('./engine/reconcile/loop.ts')).createReconcileLoop({
        api: createLiveKitApi(config.liveKitApi, { onCall: (method, outcome) => metrics.liveKitApiCall(method, outcome) }),
        store,
        ingest: ingestion.ingest,
        intervalMs: config.reconcileIntervalMs,
        silenceAlertMs: config.silenceAlertMs,
        log,
      })
    : undefined;

  // Listening before PORT does: whoever waits for /healthz on PORT finds HEALTH_PORT up too.
  const healthPort = config.healthPort === undefined
    ? undefined
    : await startHealthPort({ port: config.healthPort, host: config.host, readiness, log });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => resolve());
  }).catch(async (error: unknown) => {
    await healthPort?.close();
    throw error;
  });
  if (options.watchRules) rules.watch();
  if (config.workerConcurrency > 0) worker.start();
  const pruner = new Pruner({ store, retention: config.retention, intervalMs: config.pruneIntervalMs, log, metrics });
  if (config.pruneIntervalMs > 0) pruner.start();
  reconcile?.start();
  rollup.start();

  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${address.port}`;
  log.info({ url, health_url: healthPort?.url, webhook_path: config.webhookPath, rules: rules.current().rules.length, plugins: plugins.list().length }, 'switchboard listening');

  let closing: Promise<void> | undefined;
  return {
    url,
    server,
    healthUrl: healthPort?.url,
    store,
    plugins,
    rules,
    worker,
    guards,
    metrics,
    reconcile,
    close() {
      closing ??= (async () => {
        accepting = false;
        rules.close();
        const pruned = pruner.stop();
        await reconcile?.stop();
        await worker.stop(config.shutdownTimeoutMs);
        await new Promise<void>((resolve) => {
          // A request in flight is answered; its connection, and any other that falls idle meanwhile, is closed
          // then, rather than kept alive for KEEP_ALIVE_TIMEOUT_MS.
          const sweep = setInterval(() => server.closeIdleConnections(), IDLE_SWEEP_MS);
          server.close(() => {
            clearInterval(sweep);
            resolve();
          });
          server.closeIdleConnections();
        });
        guards.close();
        await pruned;
        await rollup.stop();
        await healthPort?.close();
        await store.close();
      })();
      return closing;
    },
  };
}
