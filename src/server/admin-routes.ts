/** The admin read API under /api/v1: sessions, events, rules. Bearer ADMIN_TOKEN; disabled (503) without one. */
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { SwitchboardError } from '../errors.ts';
import { timingSafeEqualStrings } from '../livekit/constant-time.ts';
import type { RuleSet } from '../rules/types.ts';
import type { Store, StoredEvent, SessionStatus } from '../store/store.ts';
import type { Logger } from '../telemetry/logger.ts';
import { sendError } from './error-response.ts';

export interface AdminRouteOptions {
  adminToken: string | undefined;
  store: Store;
  currentRules: () => RuleSet;
  log: Logger;
}

export function adminRouter(options: AdminRouteOptions): Router {
  const router = express.Router();
  router.use('/api/v1', requireAdminToken(options));

  router.get('/api/v1/sessions/:key', handle(options, async (req) => {
    const session = await options.store.getSession(String(req.params.key));
    if (!session) throw new SwitchboardError('E_NOT_FOUND', `no session "${req.params.key}" has been seen`);
    return sessionView(session);
  }));

  router.get('/api/v1/events/:id', handle(options, async (req) => {
    const event = await options.store.getEvent(String(req.params.id));
    if (!event) throw new SwitchboardError('E_NOT_FOUND', `no event "${req.params.id}" has been recorded`);
    return eventView(event);
  }));

  router.get('/api/v1/rules', handle(options, async () => ({
    rules: options.currentRules().rules.map((rule) => ({
      id: rule.id,
      description: rule.description,
      enabled: rule.enabled,
      on: rule.on,
      file: rule.location.file,
      line: rule.location.line,
      actions: rule.actions.map((action) => ({ plugin: action.plugin, mode: action.mode })),
    })),
  })));

  return router;
}

function requireAdminToken(options: AdminRouteOptions) {
  return (req: Request, res: Response, next: NextFunction): void => {
    if (!options.adminToken) {
      sendError(res, options.log, new SwitchboardError('E_ADMIN_DISABLED', 'the admin API is disabled: set ADMIN_TOKEN to enable it'));
      return;
    }
    const presented = /^Bearer (.+)$/i.exec(req.get('authorization') ?? '')?.[1];
    if (!presented || !timingSafeEqualStrings(presented, options.adminToken)) {
      res.set('WWW-Authenticate', 'Bearer');
      sendError(res, options.log, new SwitchboardError('E_ADMIN_UNAUTHORIZED', 'send "Authorization: Bearer <ADMIN_TOKEN>"'));
      return;
    }
    next();
  };
}

function handle(options: AdminRouteOptions, produce: (req: Request) => Promise<unknown>) {
  return async (req: Request, res: Response): Promise<void> => {
    try {
      res.json({ success: true, results: await produce(req) });
    } catch (error) {
      sendError(res, options.log, error, { path: req.path });
    }
  };
}

function sessionView(session: SessionStatus) {
  return {
    key: session.key,
    status: session.status,
    updated_at: session.updatedAt.toISOString(),
    event_id: session.eventId,
    history: session.history.map((entry) => ({
      status: entry.status,
      old_status: entry.oldStatus,
      event_id: entry.eventId,
      event_type: entry.eventName,
      event_created_at: entry.eventCreatedAt,
      at: entry.at.toISOString(),
    })),
  };
}

function eventView(event: StoredEvent) {
  return {
    event_id: event.id,
    event_type: event.name,
    seq: event.seq,
    created_at: event.createdAt,
    received_at: event.receivedAt.toISOString(),
    api_key: event.apiKey,
    matched: event.matched,
    actions: event.actions,
    payload: JSON.parse(event.body),
  };
}
