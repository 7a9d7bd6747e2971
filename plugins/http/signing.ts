/** Signs what the http plugin sends: Standard Webhooks (with key rotation) or a plain hex HMAC-SHA256 header. */
import { createHash, createHmac } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { isTemplated } from 'livekit-switchboard/plugin';

export type Signing =
  | { scheme: 'standard-webhooks'; secret: string | string[] }
  | { scheme: 'hmac-sha256'; header?: string; secret: string };

const DEFAULT_HMAC_HEADER = 'X-Signature';
const STANDARD_WEBHOOKS_HEADERS = ['webhook-id', 'webhook-timestamp', 'webhook-signature'];

/** The headers that sign `body`, the exact text sent. */
export function signatureHeaders(sign: Signing, body: string, idempotencyKey: string, now = new Date()): Record<string, string> {
  if (sign.scheme === 'hmac-sha256') {
    return { [sign.header ?? DEFAULT_HMAC_HEADER]: createHmac('sha256', sign.secret).update(body).digest('hex') };
  }
  const id = webhookId(idempotencyKey);
  const signatures = secretsOf(sign).map((secret) => new Webhook(secret).sign(id, now, body));
  return {
    'webhook-id': id,
    'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
    'webhook-signature': signatures.join(' '),
  };
}

/**
 * The Standard Webhooks message id: the same for every retry of one delivery, so receivers can deduplicate on it.
 * A hash rather than the key itself keeps engine identifiers out of other systems and the id short.
 */
function webhookId(idempotencyKey: string): string {
  return `msg_${createHash('sha256').update(idempotencyKey).digest('base64url').slice(0, 24)}`;
}

/** The headers a signing scheme writes, which a rule's `headers` must not set. */
export function signingHeaderNames(sign: unknown): string[] {
  const { scheme, header } = (sign ?? {}) as Record<string, unknown>;
  if (scheme === 'standard-webhooks') return STANDARD_WEBHOOKS_HEADERS;
  if (scheme === 'hmac-sha256') return [typeof header === 'string' ? header : DEFAULT_HMAC_HEADER];
  return [];
}

/** Load-time problems the schema cannot see; messages never repeat a secret. */
export function checkSigning(sign: unknown): string[] {
  if (typeof sign !== 'object' || sign === null) return [];
  if (isTemplated(sign)) return ['sign must be written literally (secrets come from ${env:NAME}, not from event data)'];
  const { scheme, secret, header } = sign as Record<string, unknown>;
  if (scheme !== 'standard-webhooks') return [];
  const problems = header === undefined ? [] : [`sign.header is for hmac-sha256; standard-webhooks writes ${STANDARD_WEBHOOKS_HEADERS.join(', ')}`];
  if (Array.isArray(secret)) secret.forEach((value, index) => problems.push(...checkSecret(value, `sign.secret[${index}]`)));
  else problems.push(...checkSecret(secret, 'sign.secret'));
  return problems;
}

function checkSecret(secret: unknown, at: string): string[] {
  if (typeof secret !== 'string') return [];
  if (!secret.startsWith('whsec_')) return [`${at} must be a Standard Webhooks secret: "whsec_" then base64`];
  try {
    new Webhook(secret);
    return [];
  } catch {
    return [`${at} is not valid base64 after "whsec_"`];
  }
}

function secretsOf(sign: { secret: string | string[] }): string[] {
  return Array.isArray(sign.secret) ? sign.secret : [sign.secret];
}
