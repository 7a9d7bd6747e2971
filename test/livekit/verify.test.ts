import { describe, expect, it } from 'vitest';
import { verifyWebhook, type WebhookDelivery } from '../../src/livekit/verify.ts';
import { bodyHash, handmadeToken, livekitToken } from '../helpers/tokens.ts';
import { expectSignatureFailure } from './expect-signature-failure.ts';

const API_KEY = 'APIswitchboard';
const API_SECRET = 'primary-secret-0123456789abcdef0123456789';
const EGRESS_KEY = 'APIegress';
const EGRESS_SECRET = 'egress-secret-abcdef0123456789abcdef012345';
const keys = new Map([
  [API_KEY, API_SECRET],
  [EGRESS_KEY, EGRESS_SECRET],
]);

// LiveKit's encoder puts a space after some commas; the signature covers these exact bytes.
const BODY = '{"event":"room_started", "room":{"sid":"RM_hycBMAjmt6Ub","name":"session-42"},"id":"EV_pit4haakmhxx", "createdAt":"1763856000"}';

function now(): number {
  return Math.floor(Date.now() / 1000);
}

function delivery(authorization: string | undefined, overrides: Partial<WebhookDelivery> = {}): WebhookDelivery {
  return { body: Buffer.from(BODY), authorization, keys, nowSeconds: now(), clockToleranceSeconds: 10, ...overrides };
}

function claims(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const issuedAt = now();
  return { iss: API_KEY, nbf: issuedAt, exp: issuedAt + 300, sha256: bodyHash(BODY), ...overrides };
}

describe('verifyWebhook', () => {
  it('accepts a delivery signed by livekit-server-sdk and names the API key', async () => {
    const token = await livekitToken(BODY, API_KEY, API_SECRET);
    const verified = verifyWebhook(delivery(token));
    expect(verified.apiKey).toBe(API_KEY);
    expect(verified.claims).toMatchObject({ iss: API_KEY, sha256: bodyHash(BODY) });
  });

  it('hashes the raw bytes, so a body with spaces after commas verifies and its re-serialised form does not', async () => {
    const token = await livekitToken(BODY, API_KEY, API_SECRET);
    expect(() => verifyWebhook(delivery(token))).not.toThrow();
    const reserialised = Buffer.from(JSON.stringify(JSON.parse(BODY)));
    expectSignatureFailure(() => verifyWebhook(delivery(token, { body: reserialised })), 'hash_mismatch');
  });

  it('rejects a body altered after signing', async () => {
    const token = await livekitToken(BODY, API_KEY, API_SECRET);
    const tampered = Buffer.from(BODY.replace('session-42', 'session-43'));
    expectSignatureFailure(() => verifyWebhook(delivery(token, { body: tampered })), 'hash_mismatch');
  });

  it('rejects a token signed with another secret', async () => {
    const token = await livekitToken(BODY, API_KEY, 'not-the-secret');
    const error = expectSignatureFailure(() => verifyWebhook(delivery(token)), 'bad_signature');
    expect(error.message).toContain(API_KEY);
  });

  it('verifies a token from another key of the set with that key\'s secret', async () => {
    const token = await livekitToken(BODY, EGRESS_KEY, EGRESS_SECRET);
    expect(verifyWebhook(delivery(token)).apiKey).toBe(EGRESS_KEY);
    const crossed = await livekitToken(BODY, EGRESS_KEY, API_SECRET);
    expectSignatureFailure(() => verifyWebhook(delivery(crossed)), 'bad_signature');
  });

  it('rejects an API key outside the set, naming it', async () => {
    const token = await livekitToken(BODY, 'APIstranger', API_SECRET);
    const error = expectSignatureFailure(() => verifyWebhook(delivery(token)), 'unknown_key');
    expect(error.message).toContain('unknown API key "APIstranger"');
  });

  it('rejects a token without an issuer as an unknown key', () => {
    const token = handmadeToken({ claims: claims({ iss: undefined }), secret: API_SECRET });
    expectSignatureFailure(() => verifyWebhook(delivery(token)), 'unknown_key');
  });

  it('rejects a token expired beyond the clock tolerance, saying when it expired', async () => {
    const token = await livekitToken(BODY, API_KEY, API_SECRET);
    const { exp } = verifyWebhook(delivery(token)).claims as { exp: number };
    const error = expectSignatureFailure(() => verifyWebhook(delivery(token, { nowSeconds: exp + 11 })), 'expired');
    expect(error.message).toContain(`token expired at ${new Date(exp * 1000).toISOString()}`);
  });

  it('accepts a token expired within the clock tolerance', async () => {
    const token = await livekitToken(BODY, API_KEY, API_SECRET);
    const { exp } = verifyWebhook(delivery(token)).claims as { exp: number };
    expect(() => verifyWebhook(delivery(token, { nowSeconds: exp + 9.5 }))).not.toThrow();
  });

  it('rejects a token whose not-before lies beyond the clock tolerance', async () => {
    const token = await livekitToken(BODY, API_KEY, API_SECRET);
    const { nbf } = verifyWebhook(delivery(token)).claims as { nbf: number };
    expectSignatureFailure(() => verifyWebhook(delivery(token, { nowSeconds: nbf - 11 })), 'not_yet_valid');
    expect(() => verifyWebhook(delivery(token, { nowSeconds: nbf - 9 }))).not.toThrow();
  });

  it('checks the signature before trusting time claims', async () => {
    const token = await livekitToken(BODY, API_KEY, 'not-the-secret');
    expectSignatureFailure(() => verifyWebhook(delivery(token, { nowSeconds: now() + 3600 })), 'bad_signature');
  });

  it('rejects an unsigned "alg: none" token', () => {
    const token = handmadeToken({ header: { alg: 'none', typ: 'JWT' }, claims: claims() });
    expectSignatureFailure(() => verifyWebhook(delivery(token)), 'unsupported_algorithm');
  });

  it('rejects an HS512 token even when signed with the right secret', () => {
    const token = handmadeToken({ header: { alg: 'HS512', typ: 'JWT' }, claims: claims(), secret: API_SECRET, hmac: 'sha512' });
    const error = expectSignatureFailure(() => verifyWebhook(delivery(token)), 'unsupported_algorithm');
    expect(error.message).toContain('"HS512"');
  });

  it('rejects a header whose type is not JWT', () => {
    const token = handmadeToken({ header: { alg: 'HS256', typ: 'JOSE+JSON' }, claims: claims(), secret: API_SECRET });
    expectSignatureFailure(() => verifyWebhook(delivery(token)), 'malformed_token');
  });

  it('accepts a hand-made HS256 token with a lower-case "jwt" type', () => {
    const token = handmadeToken({ header: { alg: 'HS256', typ: 'jwt' }, claims: claims(), secret: API_SECRET });
    expect(verifyWebhook(delivery(token)).apiKey).toBe(API_KEY);
  });

  it('rejects a delivery without an Authorization header', () => {
    expectSignatureFailure(() => verifyWebhook(delivery(undefined)), 'missing_header');
    expectSignatureFailure(() => verifyWebhook(delivery('   ')), 'missing_header');
  });

  it('accepts the token behind a "Bearer " prefix in any case', async () => {
    const token = await livekitToken(BODY, API_KEY, API_SECRET);
    expect(verifyWebhook(delivery(`Bearer ${token}`)).apiKey).toBe(API_KEY);
    expect(verifyWebhook(delivery(`bearer ${token}`)).apiKey).toBe(API_KEY);
  });

  it.each([
    ['a word', 'garbage'],
    ['two parts', 'abc.def'],
    ['four parts', 'a.b.c.d'],
    ['segments that are not JSON', 'abc.def.ghi'],
    ['characters outside base64url', 'eyJhbGciOiJIUzI1NiJ9!.e30.sig'],
    ['a JSON array as claims', `${Buffer.from('{"alg":"HS256"}').toString('base64url')}.${Buffer.from('[]').toString('base64url')}.sig`],
  ])('rejects a malformed token: %s', (_, token) => {
    expectSignatureFailure(() => verifyWebhook(delivery(token)), 'malformed_token');
  });

  it('rejects a signature that is not canonical base64url', async () => {
    const token = await livekitToken(BODY, API_KEY, API_SECRET);
    expectSignatureFailure(() => verifyWebhook(delivery(`${token}=`)), 'bad_signature');
  });

  it('rejects a signed token without a body hash', () => {
    const token = handmadeToken({ claims: claims({ sha256: undefined }), secret: API_SECRET });
    expectSignatureFailure(() => verifyWebhook(delivery(token)), 'missing_hash');
  });

  it('rejects a signed token without an expiry', () => {
    const token = handmadeToken({ claims: claims({ exp: undefined }), secret: API_SECRET });
    expectSignatureFailure(() => verifyWebhook(delivery(token)), 'missing_expiry');
  });

  it('rejects time claims that are not numbers', () => {
    const token = handmadeToken({ claims: claims({ exp: 'tomorrow' }), secret: API_SECRET });
    expectSignatureFailure(() => verifyWebhook(delivery(token)), 'malformed_token');
  });

  it('reports far-off expiry dates without failing itself', () => {
    const token = handmadeToken({ claims: claims({ exp: -1e20 }), secret: API_SECRET });
    expectSignatureFailure(() => verifyWebhook(delivery(token)), 'expired');
  });

  it('accepts a body hash written without padding', () => {
    const token = handmadeToken({ claims: claims({ sha256: bodyHash(BODY).replace(/=+$/, '') }), secret: API_SECRET });
    expect(() => verifyWebhook(delivery(token))).not.toThrow();
  });

  it('never puts a secret in its messages', async () => {
    const failures = [
      await livekitToken(BODY, API_KEY, 'not-the-secret'),
      await livekitToken(BODY, 'APIstranger', API_SECRET),
      await livekitToken('other body', API_KEY, API_SECRET),
      handmadeToken({ header: { alg: 'HS512' }, claims: claims(), secret: API_SECRET, hmac: 'sha512' }),
    ];
    for (const token of failures) {
      let message = '';
      try {
        verifyWebhook(delivery(token));
      } catch (error) {
        message = (error as Error).message;
      }
      expect(message).not.toBe('');
      expect(message).not.toContain(API_SECRET);
      expect(message).not.toContain(EGRESS_SECRET);
    }
  });
});
