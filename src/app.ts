/** Wires one running Switchboard from a Config: store, plugins, rules, ingest, HTTP. */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Config } from './config.ts';
import { TargetGuards } from './engine/delivery/target-guards.ts';
import { DeliveryWorker } from './engine/delivery/worker.ts';
import { deadLetterAnnouncer } from './engine/ingest/dead-letter.ts';
import { createIngestion } from './engine/ingest/ingestion.ts';
import { createRulesHolder, type RulesHolder } from './engine/rules-holder.ts';
import { isRetryable } from './engine/run-action.ts';
import { loadReloadablePlugins, type PluginRegistry } from './plugins/registry.ts';
import { createHttpServer } from './server/http-app.ts';
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
  store: Store;
  plugins: PluginRegistry;
  rules: RulesHolder;
  worker: DeliveryWorker;
  guards: TargetGuards;
  metrics: Metrics;
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
}

export async function startSwitchboard(config: Config, log: Logger, options: StartOptions = {}): Promise<Switchboard> {
  const plugins = await loadReloadablePlugins(config.pluginsDir);
  const rules = await createRulesHolder(
    { dir: config.rulesDir, plugins, env: options.env ?? process.env },
    log,
  );
  const store = await openStore(config.databaseUrl, { onWarning: (message) => log.warn(message) });
  if (config.migrateOnStart) await store.migrate();

  let accepting = true;
  const guards = new TargetGuards({
    circuit: config.circuit,
    isFailure: isRetryable,
    onOpen: (target, probeAt) => log.warn({ target, probe_at: probeAt.toISOString() }, 'circuit opened: attempts to this target wait for its probe'),
  });
  const metrics = createMetrics({
    deliveryCounts: () => store.countDeliveries(),
    oldestDueAt: (now) => store.oldestDueAt(now),
    circuits: () => guards.snapshot(),
    targetSwitches: () => store.listTargets(),
    rulesStatus: rules.status,
    log,
  });
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
    // webhook measured slower than letting whichever has room claim them (docs/benchmarks.md).
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
    worker,
    workerEnabled: config.workerConcurrency > 0,
    guards,
    metrics,
    metricsToken: config.metricsToken,
    maxConnections: config.maxConnections,
    trustProxy: config.trustProxy,
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => resolve());
  });
  if (options.watchRules) rules.watch();
  if (config.workerConcurrency > 0) worker.start();

  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${address.port}`;
  log.info({ url, webhook_path: config.webhookPath, rules: rules.current().rules.length, plugins: plugins.list().length }, 'switchboard listening');

  let closing: Promise<void> | undefined;
  return {
    url,
    server,
    store,
    plugins,
    rules,
    worker,
    guards,
    metrics,
    close() {
      closing ??= (async () => {
        accepting = false;
        rules.close();
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
        await store.close();
      })();
      return closing;
    },
  };
}
