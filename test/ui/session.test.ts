import { describe, expect, it } from 'vitest';
import { newSession, sessionSeal } from '../../src/ui/session.ts';

const TOKENS = { adminToken: 'admin-token', adminReadToken: 'read-token' };
const HOUR = 3_600_000;

describe('dashboard session', () => {
  const seal = sessionSeal(TOKENS);
  const now = Date.parse('2026-12-07T00:00:00Z');

  it('opens a sealed session until it expires', () => {
    const session = newSession('read', HOUR, now);
    const cookie = seal.seal(session);
    expect(seal.open(cookie, now + HOUR - 1)).toEqual(session);
    expect(seal.open(cookie, now + HOUR)).toBeNull();
  });

  it('refuses a cookie whose role was changed, or that another token pair signed', () => {
    const cookie = seal.seal(newSession('read', HOUR, now));
    const [payload, signature] = cookie.split('.');
    const promoted = Buffer.from(Buffer.from(payload, 'base64url').toString().replace('"read"', '"admin"')).toString('base64url');
    expect(seal.open(`${promoted}.${signature}`, now)).toBeNull();
    expect(sessionSeal({ ...TOKENS, adminToken: 'rotated' }).open(cookie, now)).toBeNull();
    expect(sessionSeal({ ...TOKENS, adminReadToken: 'rotated' }).open(cookie, now)).toBeNull();
    expect(seal.open(undefined, now)).toBeNull();
    expect(seal.open('garbage', now)).toBeNull();
  });

  it('gives each session its own CSRF token', () => {
    const one = newSession('admin', HOUR, now);
    const other = newSession('admin', HOUR, now);
    expect(seal.csrfToken(one)).toBe(seal.csrfToken(one));
    expect(seal.csrfToken(one)).not.toBe(seal.csrfToken(other));
  });
});
