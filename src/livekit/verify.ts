/** Verification of LiveKit's webhook signature: an HS256 JWT in `Authorization` carrying the body's SHA-256. */
import { createHmac, hash } from 'node:crypto';
import { SwitchboardError } from '../errors.ts';
import { timingSafeEqualBytes } from './constant-time.ts';
import { isPlainObject } from '../plain-object.ts';

export type SignatureFailure =
  | 'missing_header'
  | 'malformed_token'
  | 'unsupported_algorithm'
  | 'unknown_key'
  | 'bad_signature'
  | 'expired'
  | 'not_yet_valid'
  | 'missing_expiry'
  | 'missing_hash'
  | 'hash_mismatch';

export interface WebhookDelivery {
  /** The raw body bytes, exactly as received. */
  body: Uint8Array;
  /** The `Authorization` header: the JWT, with or without a `Bearer ` prefix. */
  authorization: string | undefined;
  /** API key → secret. The token's `iss` picks the secret. */
  keys: ReadonlyMap<string, string>;
  nowSeconds: number;
  clockToleranceSeconds: number;
}

interface VerifiedWebhook {
  apiKey: string;
  claims: Record<string, unknown>;
}

/**
 * Checks that a delivery was signed by a known LiveKit API key and that its body is the one that was signed.
 * Throws `E_WEBHOOK_INVALID_SIGNATURE` with `details.reason` naming the failed check.
 *
 * @example
 * const { apiKey } = verifyWebhook({
 *   body: rawBody,
 *   authorization: req.get('authorization'),
 *   keys: new Map([['APIabc', 'secret']]),
 *   nowSeconds: Date.now() / 1000,
 *   clockToleranceSeconds: 10,
 * });
 */
export function verifyWebhook(delivery: WebhookDelivery): VerifiedWebhook {
  const segments = tokenFrom(delivery.authorization).split('.');
  if (segments.length !== 3) fail('malformed_token', 'the Authorization header is not a JWT (three dot-separated parts)');
  const [encodedHeader, encodedClaims, encodedSignature] = segments;

  if (encodedHeader !== lastAcceptedHeader) {
    checkHeader(decodeJsonObject(encodedHeader, 'header'));
    lastAcceptedHeader = encodedHeader;
  }

  const claims = decodeJsonObject(encodedClaims, 'claims');
  const apiKey = claims.iss;
  if (typeof apiKey !== 'string') fail('unknown_key', 'token names no API key (no "iss" claim)');
  const secret = delivery.keys.get(apiKey);
  if (secret === undefined) fail('unknown_key', `unknown API key ${describe(apiKey)}`);

  // Nothing in the claims is trusted before this point passes.
  const expected = createHmac('sha256', secret).update(`${encodedHeader}.${encodedClaims}`).digest();
  const signature = decodeBase64Url(encodedSignature);
  if (signature === undefined || !timingSafeEqualBytes(signature, expected)) {
    fail('bad_signature', `token signature does not match the secret of API key ${describe(apiKey)}`);
  }

  checkValidity(claims, delivery.nowSeconds, delivery.clockToleranceSeconds);
  checkBodyHash(claims, delivery.body);
  return { apiKey, claims };
}

// LiveKit sends the same header with every delivery: once one has passed, the same text needs no second look.
let lastAcceptedHeader = '';

function checkHeader(header: Record<string, unknown>): void {
  if (header.alg !== 'HS256') {
    fail('unsupported_algorithm', `token algorithm ${describe(header.alg)} is not accepted: LiveKit signs with HS256`);
  }
  // RFC 7515 §4.1.9: media type names compare case-insensitively.
  if (header.typ !== undefined && (typeof header.typ !== 'string' || header.typ.toUpperCase() !== 'JWT')) {
    fail('malformed_token', `token type ${describe(header.typ)} is not JWT`);
  }
  // RFC 7515 §4.1.11: a token naming extensions we do not implement must be rejected.
  if (header.crit !== undefined) fail('malformed_token', 'token requires extensions ("crit") that are not supported');
}

function tokenFrom(authorization: string | undefined): string {
  const token = authorization?.trim().replace(/^bearer\s+/i, '') ?? '';
  if (token === '') fail('missing_header', 'no Authorization header: LiveKit sends its signed token there');
  return token;
}

function checkValidity(claims: Record<string, unknown>, now: number, tolerance: number): void {
  const { exp, nbf } = claims;
  if (exp === undefined) fail('missing_expiry', 'token has no expiry ("exp" claim)');
  if (!isFiniteNumber(exp)) fail('malformed_token', `token expiry ${describe(exp)} is not a number`);
  if (nbf !== undefined && !isFiniteNumber(nbf)) fail('malformed_token', `token "nbf" ${describe(nbf)} is not a number`);
  const clock = () => `now ${isoTime(now)}, clock tolerance ${tolerance} s`;
  if (exp + tolerance < now) fail('expired', `token expired at ${isoTime(exp)} (${clock()})`);
  if (nbf !== undefined && nbf - tolerance > now) fail('not_yet_valid', `token is not valid before ${isoTime(nbf)} (${clock()})`);
}

// LiveKit sends standard base64; comparing decoded digests makes padding irrelevant.
function checkBodyHash(claims: Record<string, unknown>, body: Uint8Array): void {
  const claimed = claims.sha256;
  if (typeof claimed !== 'string' || claimed === '') fail('missing_hash', 'token has no "sha256" claim for the body');
  const actual = hash('sha256', body, 'buffer');
  if (!timingSafeEqualBytes(Buffer.from(claimed, 'base64'), actual)) {
    fail('hash_mismatch', 'body does not match the token\'s "sha256" claim: it was altered, or re-encoded before verification');
  }
}

function decodeJsonObject(segment: string, part: 'header' | 'claims'): Record<string, unknown> {
  const bytes = decodeBase64Url(segment);
  let value: unknown;
  try {
    value = bytes === undefined ? undefined : JSON.parse(bytes.toString('utf8'));
  } catch {
    value = undefined;
  }
  if (!isPlainObject(value)) fail('malformed_token', `token ${part} is not a base64url-encoded JSON object`);
  return value;
}

// Buffer's decoder skips characters it does not know; the round trip rejects those and non-canonical encodings.
function decodeBase64Url(segment: string): Buffer | undefined {
  const bytes = Buffer.from(segment, 'base64url');
  return bytes.toString('base64url') === segment ? bytes : undefined;
}

function isFiniteNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

function isoTime(seconds: number): string {
  const date = new Date(seconds * 1000);
  return Number.isNaN(date.getTime()) ? `${seconds} s since the epoch` : date.toISOString();
}

// Token fields are sender-controlled: quoted, and cut short, before they reach a message or a log line.
function describe(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 80)}…` : text;
}

function fail(reason: SignatureFailure, detail: string): never {
  throw new SwitchboardError('E_WEBHOOK_INVALID_SIGNATURE', `webhook signature check failed: ${detail}`, {
    details: { reason },
  });
}
