/** Tokens for tests: minted by livekit-server-sdk as LiveKit does, or hand-built to break one rule at a time. */
import { createHash, createHmac } from 'node:crypto';
import { AccessToken } from 'livekit-server-sdk';

export const TEST_KEY = 'APItestkey';
export const TEST_SECRET = 'test-secret-that-is-long-enough-0123456789';

export function bodyHash(body: string | Uint8Array): string {
  return createHash('sha256').update(body).digest('base64');
}

/** Exactly what livekit-server does for each delivery: an AccessToken carrying the body's sha256. */
export async function livekitToken(
  body: string | Uint8Array,
  apiKey = TEST_KEY,
  apiSecret = TEST_SECRET,
  ttl = 300,
): Promise<string> {
  const token = new AccessToken(apiKey, apiSecret, { ttl });
  token.sha256 = bodyHash(body);
  return token.toJwt();
}

/** A token LiveKit would never send: any header and claims; unsigned when no secret is given. */
export function handmadeToken(options: {
  header?: Record<string, unknown>;
  claims: Record<string, unknown>;
  secret?: string;
  hmac?: 'sha256' | 'sha512';
}): string {
  const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const signingInput = `${encode(options.header ?? { alg: 'HS256', typ: 'JWT' })}.${encode(options.claims)}`;
  const signature =
    options.secret === undefined ? '' : createHmac(options.hmac ?? 'sha256', options.secret).update(signingInput).digest('base64url');
  return `${signingInput}.${signature}`;
}

export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}
