/**
 * Who may use the admin API and the dashboard: ADMIN_TOKEN for everything, ADMIN_READ_TOKEN for reads only (503
 * without ADMIN_TOKEN), and how a caller is named in the audit log.
 */
import { createHash } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import { SwitchboardError } from '../../errors.ts';
import { timingSafeEqualStrings } from '../../livekit/constant-time.ts';
import type { Logger } from '../../telemetry/logger.ts';
import { sendError } from '../error-response.ts';

export interface AdminTokens {
  adminToken: string | undefined;
  adminReadToken: string | undefined;
}

/** `admin` may change things; `read` may only look. */
export type Role = 'admin' | 'read';

/** The caller of an admin change, as the audit log keeps it: never the token itself. */
export interface Actor {
  /** `admin:` and the first 8 hex digits of the token's SHA-256: tells tokens apart across rotations. */
  id: string;
  ip: string | null;
}

/** The role a presented token grants, compared in constant time; null for neither token (or none configured). */
export function roleOf({ adminToken, adminReadToken }: AdminTokens, presented: string): Role | null {
  if (!adminToken) return null;
  if (timingSafeEqualStrings(presented, adminToken)) return 'admin';
  if (adminReadToken && timingSafeEqualStrings(presented, adminReadToken)) return 'read';
  return null;
}

export function adminDisabled(): SwitchboardError {
  return new SwitchboardError('E_ADMIN_DISABLED', 'the admin API and dashboard are disabled: set ADMIN_TOKEN to enable them');
}

export function readOnly(): SwitchboardError {
  return new SwitchboardError('E_READ_ONLY', 'this token is read-only (ADMIN_READ_TOKEN): changes need ADMIN_TOKEN');
}

/** Reads (GET, HEAD) pass with either token; anything else needs ADMIN_TOKEN. */
function isRead(method: string): boolean {
  return method === 'GET' || method === 'HEAD';
}

export function requireAdminToken(tokens: AdminTokens, log: Logger) {
  return (req: Request, res: Response, next: NextFunction): void => {
    if (!tokens.adminToken) {
      sendError(res, log, adminDisabled());
      return;
    }
    const role = roleOf(tokens, bearerOf(req) ?? '');
    if (role === null) {
      res.set('WWW-Authenticate', 'Bearer');
      sendError(res, log, new SwitchboardError('E_ADMIN_UNAUTHORIZED', 'send "Authorization: Bearer <ADMIN_TOKEN>"'));
      return;
    }
    if (role === 'read' && !isRead(req.method)) {
      sendError(res, log, readOnly());
      return;
    }
    next();
  };
}

function bearerOf(req: Request): string | undefined {
  return /^Bearer (.+)$/i.exec(req.get('authorization') ?? '')?.[1];
}

/** Whether the request carries `Authorization: Bearer <token>`, compared in constant time. */
export function presentsBearer(req: Request, token: string): boolean {
  const presented = bearerOf(req);
  return presented !== undefined && timingSafeEqualStrings(presented, token);
}

/** Names the callers of changes, which only ADMIN_TOKEN may make. */
export function actorOf(adminToken: string | undefined): (req: Request) => Actor {
  const id = `admin:${createHash('sha256').update(adminToken ?? '').digest('hex').slice(0, 8)}`;
  return (req) => ({ id, ip: req.ip ?? req.socket.remoteAddress ?? null });
}
