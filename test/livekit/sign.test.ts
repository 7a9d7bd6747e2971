import { WebhookReceiver } from 'livekit-server-sdk';
import { describe, expect, it } from 'vitest';
import { signWebhook } from '../../src/livekit/sign.ts';
import { verifyWebhook } from '../../src/livekit/verify.ts';
import { bodyHash } from '../helpers/tokens.ts';

const API_KEY = 'APIswitchboard';
const API_SECRET = 'primary-secret-0123456789abcdef0123456789';
const BODY = '{"event":"room_started", "room":{"name":"session-42"},"id":"EV_pit4haakmhxx"}';

describe('signWebhook', () => {
  it('signs a body so that verifyWebhook accepts it', async () => {
    const authorization = await signWebhook({ body: BODY, apiKey: API_KEY, apiSecret: API_SECRET });
    const verified = verifyWebhook({
      body: Buffer.from(BODY),
      authorization,
      keys: new Map([[API_KEY, API_SECRET]]),
      nowSeconds: Date.now() / 1000,
      clockToleranceSeconds: 0,
    });
    expect(verified.apiKey).toBe(API_KEY);
    expect(verified.claims.sha256).toBe(bodyHash(BODY));
  });

  it('signs a body so that livekit-server-sdk\'s WebhookReceiver accepts it', async () => {
    const authorization = await signWebhook({ body: Buffer.from(BODY), apiKey: API_KEY, apiSecret: API_SECRET });
    const event = await new WebhookReceiver(API_KEY, API_SECRET).receive(BODY, authorization);
    expect(event.event).toBe('room_started');
    expect(event.room?.name).toBe('session-42');
  });

  it('returns the bare token, valid for five minutes unless told otherwise', async () => {
    const token = await signWebhook({ body: BODY, apiKey: API_KEY, apiSecret: API_SECRET });
    expect(token).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    const claims = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()) as { nbf: number; exp: number };
    expect(claims.exp - claims.nbf).toBe(300);
    const short = await signWebhook({ body: BODY, apiKey: API_KEY, apiSecret: API_SECRET, ttlSeconds: 30 });
    const shortClaims = JSON.parse(Buffer.from(short.split('.')[1], 'base64url').toString()) as { nbf: number; exp: number };
    expect(shortClaims.exp - shortClaims.nbf).toBe(30);
  });
});
