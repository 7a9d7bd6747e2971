/**
 * The endpoints operators and orchestrators poll: `GET /healthz` (the process is alive), `GET /readyz` (it can do
 * its work: 503 E_NOT_READY naming each failing check) and `GET /metrics` (Prometheus text; behind
 * `Bearer METRICS_TOKEN` when one is set, open otherwise, as scrapers on an internal network expect).
 */
import type { Request, Response, Router } from 'express';
import express from 'express';
import { SwitchboardError } from '../errors.ts';
import type { DeliveryWorker } from '../engine/delivery/worker.ts';
import type { RulesStatus } from '../engine/rules-holder.ts';
import { presentsBearer } from './admin/auth.ts';
import type { RuleSet } from '../rules/types.ts';
import type { Store } from '../store/store.ts';
import type { Logger } from '../telemetry/logger.ts';
import type { Metrics } from '../telemetry/metrics.ts';
import { waitAtMost } from '../wait-at-most.ts';
import { sendError } from './error-response.ts';

export interface ReadinessOptions {
  log: Logger;
  store: Pick<Store, 'ping' | 'health' | 'probeWrite'>;
  currentRules: () => RuleSet;
  rulesStatus: () => RulesStatus;
  worker: Pick<DeliveryWorker, 'running'>;
  /** False with WORKER_CONCURRENCY=0: this process runs no deliveries, and is ready without a worker. */
  workerEnabled: boolean;
  accepting: () => boolean;
}

export interface OperationsRouteOptions {
  log: Logger;
  /** What `/readyz` checks (readinessChecks): the health port's thread asks the same. */
  readiness: ReadinessChecks;
  metrics: Metrics;
  metricsToken: string | undefined;
}

/** A readiness check: resolves to what it saw when it passes, throws saying why when it fails. */
export type Check = () => Promise<string>;
export type ReadinessChecks = Record<string, Check>;

const STORE_PING_TIMEOUT_MS = 2_000;
/** How long after a failed commit readiness waits before trying a commit of its own. */
const STORE_RETRY_AFTER_MS = 10_000;

/** What `/readyz` found: each check's word when all pass, or why not, naming each that failed. */
export type Readiness = { ready: true; checks: Record<string, string> } | { ready: false; why: string };

export function operationsRouter(options: OperationsRouteOptions): Router {
  const router = express.Router();

  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });

  router.get('/readyz', async (_req, res) => {
    const readiness = await checkReadiness(options.readiness);
    if (!readiness.ready) {
      sendError(res, options.log, new SwitchboardError('E_NOT_READY', `not ready: ${readiness.why}`));
      return;
    }
    res.json({ success: true, results: readiness });
  });

  router.get('/metrics', async (req: Request, res: Response) => {
    if (options.metricsToken !== undefined && !presentsBearer(req, options.metricsToken)) {
      res.set('WWW-Authenticate', 'Bearer');
      sendError(res, options.log, new SwitchboardError('E_METRICS_UNAUTHORIZED', 'send "Authorization: Bearer <METRICS_TOKEN>"'));
      return;
    }
    try {
      const text = await options.metrics.render();
      res.set('Content-Type', options.metrics.contentType).send(text);
    } catch (error) {
      sendError(res, options.log, error);
    }
  });
  return router;
}

/** Runs every readiness check at once. */
export async function checkReadiness(checks: ReadinessChecks): Promise<Readiness> {
  const results = await Promise.all(
    Object.entries(checks).map(async ([name, check]) => {
      try {
        return { name, passed: true, said: await check() };
      } catch (error) {
        return { name, passed: false, said: error instanceof Error ? error.message : String(error) };
      }
    }),
  );
  const failed = results.filter((result) => !result.passed);
  if (failed.length > 0) return { ready: false, why: failed.map((result) => `${result.name}: ${result.said}`).join('; ') };
  return { ready: true, checks: Object.fromEntries(results.map((result) => [result.name, result.said])) };
}

export function readinessChecks(options: ReadinessOptions): ReadinessChecks {
  return {
    async store() {
      const { store, log } = options;
      // A store can answer a ping while every commit fails (a full disk): while the last commit that wrote failed,
      // only a commit that writes makes it ready again. Out of the load balancer no webhook comes to try one, so
      // once the failure is STORE_RETRY_AFTER_MS old this check tries a small one itself.
      const failure = store.health.failure;
      const commitsFail = () => {
        // Its message may name the database's address or file: the log has it, the answer does not.
        log.warn({ err: failure!.error }, "readiness: the store's commits fail");
        return new Error('commits fail (the log says why)');
      };
      if (failure !== null && Date.now() - failure.at < STORE_RETRY_AFTER_MS) throw commitsFail();
      try {
        const probe = failure === null ? store.ping() : store.probeWrite();
        await waitAtMost(probe, STORE_PING_TIMEOUT_MS, () => {
          throw new Error(`did not answer within ${STORE_PING_TIMEOUT_MS} ms`);
        });
      } catch (error) {
        if (failure !== null) throw commitsFail();
        log.warn({ err: error }, 'readiness: the store did not answer');
        throw new Error('unavailable (the log says why)');
      }
      return 'ok';
    },
    // A failed reload leaves the last good rules serving: still ready, but the check says the rules are stale.
    async rules() {
      const { last } = options.rulesStatus();
      if (last.outcome === 'failure') return `stale: last reload failed at ${last.at.toISOString()}: ${last.problems.length} problems`;
      return `ok: ${options.currentRules().rules.length} rules`;
    },
    async worker() {
      if (!options.workerEnabled) return 'off (WORKER_CONCURRENCY=0)';
      if (!options.worker.running) throw new Error('the delivery worker is not running');
      return 'ok';
    },
    async webhooks() {
      if (!options.accepting()) throw new Error('shutting down: new webhooks are refused');
      return 'ok';
    },
  };
}
