/** The admin API under /api/v1, behind Bearer ADMIN_TOKEN (GETs: or ADMIN_READ_TOKEN): reads, deliveries, targets, audit, usage. */
import express, { type Router } from 'express';
import type { TargetGuards } from '../../engine/target-guards.ts';
import type { DeliveryWorker } from '../../engine/worker.ts';
import type { RuleSet } from '../../rules/types.ts';
import type { Store } from '../../store/store.ts';
import type { Logger } from '../../telemetry/logger.ts';
import { auditRoutes } from './audit.ts';
import { actorOf, requireAdminToken, type AdminTokens } from './auth.ts';
import { deliveryRoutes } from './deliveries.ts';
import { recordRoutes } from './records.ts';
import type { RouteContext } from './request.ts';
import { targetRoutes } from './targets.ts';
import { usageRoutes } from './usage.ts';

export interface AdminRouteOptions extends AdminTokens {
  store: Store;
  currentRules: () => RuleSet;
  log: Logger;
  /** Woken after a replay or an enable, so the change runs now rather than at the next poll. */
  worker: Pick<DeliveryWorker, 'wake'>;
  /** This process's circuits and rate limits, shown beside the targets' stored switches. */
  guards: Pick<TargetGuards, 'snapshot' | 'reset'>;
}

export function adminRouter(options: AdminRouteOptions): Router {
  const router = express.Router();
  router.use('/api/v1', requireAdminToken(options, options.log));
  const context: RouteContext = { log: options.log, actor: actorOf(options.adminToken) };
  for (const routes of [recordRoutes, deliveryRoutes, targetRoutes, auditRoutes, usageRoutes]) routes(router, context, options);
  return router;
}
