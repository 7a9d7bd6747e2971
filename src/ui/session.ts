/**
 * The dashboard's session: a cookie holding the role and expiry, signed with a key derived from the tokens (so
 * rotating ADMIN_TOKEN or ADMIN_READ_TOKEN ends every session), and the CSRF token each form carries.
 */
import { createHmac, randomBytes } from 'node:crypto';
import type { Request, Response } from 'express';
import { timingSafeEqualStrings } from '../livekit/constant-time.ts';
import type { AdminTokens, Role } from '../server/admin/auth.ts';

export const SESSION_COOKIE = 'switchboard_session';
const COOKIE_PATH = '/ui';

export interface UiSession {
  role: Role;
  /** Milliseconds since the epoch. */
  expiresAt: number;
  /** Random per login: the CSRF token is derived from it, so it changes with every session. */
  nonce: string;
}

export interface SessionSeal {
  seal(session: UiSession): string;
  open(cookie: string | undefined, now: number): UiSession | null;
  csrfToken(session: UiSession): string;
}

export function sessionSeal({ adminToken, adminReadToken }: AdminTokens): SessionSeal {
  const key = createHmac('sha256', 'switchboard dashboard session').update(`${adminToken}\0${adminReadToken ?? ''}`).digest();
  const sign = (text: string) => createHmac('sha256', key).update(text).digest('base64url');
  return {
    seal(session) {
      const payload = Buffer.from(JSON.stringify(session)).toString('base64url');
      return `${payload}.${sign(payload)}`;
    },
    open(cookie, now) {
      const [payload, signature] = (cookie ?? '').split('.');
      if (!payload || !signature || !timingSafeEqualStrings(signature, sign(payload))) return null;
      const session = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as UiSession;
      return session.expiresAt > now ? session : null;
    },
    csrfToken: (session) => sign(`csrf:${session.nonce}`),
  };
}

export function newSession(role: Role, ttlMs: number, now: number): UiSession {
  return { role, expiresAt: now + ttlMs, nonce: randomBytes(16).toString('base64url') };
}

/** HttpOnly and SameSite=Strict always; Secure when the request came over HTTPS. */
export function setSessionCookie(req: Request, res: Response, value: string, maxAgeMs: number): void {
  res.cookie(SESSION_COOKIE, value, { path: COOKIE_PATH, httpOnly: true, sameSite: 'strict', secure: req.secure, maxAge: maxAgeMs });
}

export function clearSessionCookie(req: Request, res: Response): void {
  res.clearCookie(SESSION_COOKIE, { path: COOKIE_PATH, httpOnly: true, sameSite: 'strict', secure: req.secure });
}

/** One cookie's value from the Cookie header (express parses none without a middleware). */
export function cookieOf(req: Request, name: string): string | undefined {
  for (const pair of (req.get('cookie') ?? '').split(';')) {
    const at = pair.indexOf('=');
    if (at !== -1 && pair.slice(0, at).trim() === name) return pair.slice(at + 1).trim();
  }
  return undefined;
}
