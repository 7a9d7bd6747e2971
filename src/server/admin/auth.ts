/** Who may use the admin API (Bearer ADMIN_TOKEN; 503 without one) and how a caller is named in the audit log. */
import { createHash } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import { SwitchboardError } from '../../errors.ts';
import { timingSafeEqualStrings } from '../../livekit/constant-time.ts';
import type { Logger } from '../../telemetry/logger.ts';
import { sendError } from '../error-response.ts';

/** The caller of an admin change, as the audit log keeps it: never the token itself. */
export interface Actor {
  /** `admin:` and the first 8 hex digits of the token's SHA-256: tells tokens apart across rotations. */
  id: string;
  ip: string | null;
}

export function requireAdminToken(adminToken: string | undefined, log: Logger) {
  return (req: Request, res: Response, next: NextFunction): void => {
    if (!adminToken) {
      sendError(res, log, new SwitchboardError('E_ADMIN_DISABLED', 'the admin API is disabled: set ADMIN_TOKEN to enable it'));
      return;
    }
    if (!presentsBearer(req, adminToken)) {
      res.set('WWW-Authenticate', 'Bearer');
      sendError(res, log, new SwitchboardError('E_ADMIN_UNAUTHORIZED', 'send "Authorization: Bearer <ADMIN_TOKEN>"'));
      return;
    }
    next();
  };
}

/** Whether the request carries `Authorization: Bearer <token>`, compared in constant time. */
export function presentsBearer(req: Request, token: string): boolean {
  const presented = /^Bearer (.+)$/i.exec(req.get('authorization') ?? '')?.[1];
  return presented !== undefined && timingSafeEqualStrings(presented, token);
}

/** Names the callers of requests that passed `requireAdminToken(adminToken)`. */
export function actorOf(adminToken: string | undefined): (req: Request) => Actor {
  const id = `admin:${createHash('sha256').update(adminToken ?? '').digest('hex').slice(0, 8)}`;
  return (req) => ({ id, ip: req.ip ?? req.socket.remoteAddress ?? null });
}
