/** The admin API under /api/v1, behind Bearer ADMIN_TOKEN (GETs: or ADMIN_READ_TOKEN): reads, deliveries, targets, audit, usage, erasure, rooms. */
import express, { type Router } from 'express';
import { auditRoutes } from './audit.ts';
import { actorOf, requireAdminToken } from './auth.ts';
import { deliveryRoutes } from './deliveries.ts';
import { eraseRoutes } from './erase.ts';
import { recordRoutes } from './records.ts';
import type { RouteContext } from './request.ts';
import type { AdminRouteOptions } from './route-options.ts';
import { statsRoutes } from './stats.ts';
import { targetRoutes } from './targets.ts';
import { roomRoutes } from './rooms.ts';
import { usageRoutes } from './usage.ts';

export function adminRouter(options: AdminRouteOptions): Router {
  const router = express.Router();
  router.use('/api/v1', requireAdminToken(options, options.log));
  // Without ADMIN_TOKEN the line above refuses every request: the routes, and the validators each compiles, would
  // only hold memory (about 1.3 MiB of heap).
  if (!options.adminToken) return router;
  const context: RouteContext = { log: options.log, actor: actorOf(options.adminToken) };
  for (const routes of [recordRoutes, deliveryRoutes, targetRoutes, auditRoutes, usageRoutes, eraseRoutes, roomRoutes, statsRoutes]) routes(router, context, options);
  return router;
}
