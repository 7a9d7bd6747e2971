import { once } from 'node:events';
import { Agent, request, type IncomingHttpHeaders } from 'node:http';
import { connect } from 'node:net';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { bodyHash, handmadeToken, livekitToken, nowSeconds, TEST_KEY, TEST_SECRET } from '../helpers/tokens.ts';
import { sampleBody, startTestSwitchboard, type TestSwitchboard } from '../helpers/switchboard.ts';

const OTHER_KEY = 'APIegresskey';
const OTHER_SECRET = 'egress-secret-0123456789-abcdefghijklmnop';

describe('POST /api/v1/webhooks/livekit', () => {
  let sb: TestSwitchboard;
  beforeEach(async () => {
    sb = await startTestSwitchboard({
      settings: { LIVEKIT_KEYS: `${TEST_KEY}: ${TEST_SECRET}\n${OTHER_KEY}: ${OTHER_SECRET}`, MAX_BODY_BYTES: '16KiB' },
    });
  });
  afterEach(() => sb.stop());

  it('verifies a LiveKit-signed room_started, runs the status rule inline and answers with what happened', async () => {
    const body = sampleBody('room_started');
    const { status, json } = await sb.deliver(body);
    expect(status).toBe(200);
    expect(json).toEqual({
      success: true,
      results: {
        event_id: JSON.parse(body).id,
        event_type: 'room_started',
        duplicate: false,
        matched: ['session-live'],
        actions: [
          {
            rule: 'session-live',
            plugin: 'status',
            status: 'succeeded',
            result: { key: 'session-42', old_status: 'ready', new_status: 'live', applied: true },
          },
        ],
      },
    });
  });

  it('hashes the raw bytes, so a body with irregular spacing after commas verifies', async () => {
    const body = sampleBody('room_started').replaceAll(',"', ', "');
    const { status, json } = await sb.deliver(body);
    expect(status).toBe(200);
    expect(json.results.matched).toEqual(['session-live']);
  });

  it('looks the secret up by iss, so an extra webhook signed with another key verifies', async () => {
    const body = sampleBody('egress_ended');
    const { status } = await sb.deliver(body, { token: await livekitToken(body, OTHER_KEY, OTHER_SECRET) });
    expect(status).toBe(200);
  });

  it('accepts a token with a Bearer prefix', async () => {
    const body = sampleBody('room_started');
    const { status } = await sb.deliver(body, { token: `Bearer ${await livekitToken(body)}` });
    expect(status).toBe(200);
  });

  it('accepts unknown event names and unknown fields, matching no rule', async () => {
    const body = JSON.stringify({ event: 'agent_job_started', id: 'EV_agentjob0001', createdAt: '1763856000', job: { id: 'AJ_1' } });
    const { status, json } = await sb.deliver(body);
    expect(status).toBe(200);
    expect(json.results).toMatchObject({ event_type: 'agent_job_started', duplicate: false, matched: [], actions: [] });
  });

  describe('answers 401 E_WEBHOOK_INVALID_SIGNATURE naming the failed check', () => {
    const body = sampleBody('room_started');
    const claims = () => ({ iss: TEST_KEY, nbf: nowSeconds(), exp: nowSeconds() + 300, sha256: bodyHash(body) });
    const signed = (changes: Record<string, unknown>, alg = 'HS256') =>
      handmadeToken({
        header: { alg, typ: 'JWT' },
        claims: { ...claims(), ...changes },
        secret: alg === 'none' ? undefined : TEST_SECRET,
        hmac: alg === 'HS512' ? 'sha512' : 'sha256',
      });
    const cases: [string, () => Promise<string | null> | string | null, RegExp][] = [
      ['a missing Authorization header', () => null, /no Authorization header/i],
      ['a token that is not a JWT', () => 'not-a-jwt', /not a JWT/],
      ['an unknown API key', () => livekitToken(body, 'APIunknown', TEST_SECRET), /unknown API key/i],
      ['a signature made with another secret', () => livekitToken(body, TEST_KEY, 'wrong-secret-0123456789abcdef'), /signature/i],
      ['a tampered body', () => livekitToken(body.replace('session-42', 'session-43')), /hash|sha256/i],
      ['an expired token', () => signed({ nbf: nowSeconds() - 900, exp: nowSeconds() - 600 }), /expired/i],
      ['a token not yet valid', () => signed({ nbf: nowSeconds() + 600, exp: nowSeconds() + 900 }), /not valid before/i],
      ['alg none', () => signed({}, 'none'), /algorithm|alg/i],
      ['alg HS512', () => signed({}, 'HS512'), /algorithm|alg/i],
      ['a token without exp', () => signed({ exp: undefined }), /exp/i],
      ['a token without the sha256 claim', () => signed({ sha256: undefined }), /sha256|hash/i],
    ];
    it.each(cases)('for %s', async (_name, token, message) => {
      const { status, json } = await sb.deliver(body, { token: await token() });
      expect(status).toBe(401);
      expect(json).toMatchObject({ success: false, errcode: 'E_WEBHOOK_INVALID_SIGNATURE' });
      expect(json.errmesg).toMatch(message);
      expect(json.erresid).toMatch(/^[0-9a-f-]{36}$/);
      expect(JSON.stringify(json)).not.toMatch(/at .*\.ts:\d+/);
    });
  });

  it('writes the erresid it answers with to the log line', async () => {
    const { json } = await sb.deliver(sampleBody('room_started'), { token: null });
    expect(sb.logs.some((line) => line.erresid === json.erresid && line.errcode === 'E_WEBHOOK_INVALID_SIGNATURE')).toBe(true);
  });

  it('never logs the Authorization token or the secret', async () => {
    const body = sampleBody('room_started');
    const token = await livekitToken(body);
    await sb.deliver(body, { token });
    await sb.deliver(body, { token: token.slice(0, -2) + 'xx' });
    const written = JSON.stringify(sb.logs);
    expect(written).not.toContain(token.split('.')[2]);
    expect(written).not.toContain(TEST_SECRET);
  });

  it.each([
    ['invalid JSON', '{"event": "room_started",'],
    ['a JSON array', '[1,2,3]'],
    ['an object without event', '{"id":"EV_x"}'],
  ])('answers 400 E_WEBHOOK_INVALID_PAYLOAD for %s, after verifying the signature', async (_name, body) => {
    const { status, json } = await sb.deliver(body);
    expect(status).toBe(400);
    expect(json).toMatchObject({ success: false, errcode: 'E_WEBHOOK_INVALID_PAYLOAD' });
  });

  it('answers 413 E_WEBHOOK_TOO_LARGE for a body over MAX_BODY_BYTES', async () => {
    const body = JSON.stringify({ event: 'room_started', padding: 'x'.repeat(20_000) });
    const { status, json } = await sb.deliver(body);
    expect(status).toBe(413);
    expect(json.errcode).toBe('E_WEBHOOK_TOO_LARGE');
  });

  it('answers 405 with Allow: POST for other methods', async () => {
    const response = await fetch(sb.webhookUrl, { method: 'GET' });
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('POST');
    expect(await response.json()).toMatchObject({ success: false, errcode: 'E_METHOD_NOT_ALLOWED' });
  });

  it('answers 503 E_STORE_UNAVAILABLE when the event cannot be recorded, so LiveKit retries', async () => {
    await sb.store.close();
    const { status, json } = await sb.deliver(sampleBody('room_started'));
    expect(status).toBe(503);
    expect(json).toMatchObject({ success: false, errcode: 'E_STORE_UNAVAILABLE' });
  });

  it('answers GET /healthz with 200', async () => {
    const response = await fetch(`${sb.url}/healthz`);
    expect(response.status).toBe(200);
  });

  it('keeps an idle connection open longer than LiveKit keeps one idle (90 s), and says so', async () => {
    const body = sampleBody('room_started');
    const authorization = await livekitToken(body);
    const agent = new Agent({ keepAlive: true });
    try {
      const { status, headers } = await new Promise<{ status?: number; headers: IncomingHttpHeaders }>((resolve, reject) => {
        const headers = { 'content-type': 'application/webhook+json', authorization };
        request(sb.webhookUrl, { method: 'POST', agent, headers }, (response) => {
          response.resume();
          response.on('end', () => resolve({ status: response.statusCode, headers: response.headers }));
        })
          .on('error', reject)
          .end(body);
      });
      expect(status).toBe(200);
      expect(headers.connection).toBe('keep-alive');
      expect(headers['keep-alive']).toBe('timeout=95');
    } finally {
      agent.destroy();
    }
  });

  it('closes a kept-alive connection that falls idle while the server closes, so keep-alive does not hold up the close', async () => {
    const body = sampleBody('room_started');
    const authorization = await livekitToken(body);
    const socket = connect(Number(new URL(sb.url).port), '127.0.0.1');
    await once(socket, 'connect');
    // The connection is busy when the server starts closing: its request's body is not all sent yet.
    socket.write(
      `POST ${new URL(sb.webhookUrl).pathname} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: keep-alive\r\n` +
        `content-type: application/webhook+json\r\nauthorization: ${authorization}\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n`,
    );
    socket.write(body.slice(0, 10));
    let received = '';
    socket.setEncoding('utf8').on('data', (chunk: string) => (received += chunk));
    // However the server ends the connection (FIN or reset), it must end it.
    socket.on('error', () => {});
    const ended = once(socket, 'close');
    const closing = sb.close();
    await vi.waitFor(() => expect(sb.server.listening).toBe(false), { timeout: 5000, interval: 10 });
    socket.write(body.slice(10));
    await ended;
    await closing;
    expect(received).toMatch(/^HTTP\/1\.1 \d{3} /);
    socket.destroy();
  });
});

describe('deduplication', () => {
  let sb: TestSwitchboard;
  beforeEach(async () => {
    sb = await startTestSwitchboard();
  });
  afterEach(() => sb.stop());

  it('answers a redelivery of the same id with duplicate: true and runs nothing again', async () => {
    const started = sampleBody('room_started');
    await sb.deliver(started);
    await sb.deliver(sampleBody('room_finished'));
    const again = await sb.deliver(started);
    expect(again.status).toBe(200);
    expect(again.json.results).toMatchObject({ duplicate: true, matched: [], actions: [] });
    const session = await sb.admin('/api/v1/sessions/session-42');
    expect(session.json.results.status).toBe('stopped');
    expect(session.json.results.history).toHaveLength(2);
  });

  it('treats concurrent redeliveries as one event', async () => {
    const body = sampleBody('room_started');
    const answers = await Promise.all(Array.from({ length: 5 }, () => sb.deliver(body)));
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200, 200]);
    expect(answers.filter((a) => !a.json.results.duplicate)).toHaveLength(1);
  });

  it('dedupes a body without an id by the hash of its bytes', async () => {
    const body = JSON.stringify({ event: 'room_started', room: { name: 'no-id-room' }, createdAt: '1763856000' });
    const first = await sb.deliver(body);
    const second = await sb.deliver(body);
    expect(first.json.results.duplicate).toBe(false);
    expect(first.json.results.event_id).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(second.json.results).toMatchObject({ duplicate: true, event_id: first.json.results.event_id });
  });

  it('runs a delivery again after the store failed to record it', async () => {
    const body = sampleBody('room_started');
    await sb.store.close();
    expect((await sb.deliver(body)).status).toBe(503);

    const restarted = await startTestSwitchboard({ settings: { DATABASE_URL: sb.databaseUrl } });
    try {
      const retry = await restarted.deliver(body);
      expect(retry.json.results).toMatchObject({ duplicate: false, matched: ['session-live'] });
    } finally {
      await restarted.stop();
    }
  });
});

describe('session status ordering', () => {
  let sb: TestSwitchboard;
  beforeEach(async () => {
    sb = await startTestSwitchboard();
  });
  afterEach(() => sb.stop());

  it('keeps the newer status when an older room_started arrives late', async () => {
    const finished = await sb.deliver(sampleBody('room_finished'));
    expect(finished.json.results.actions[0].result).toMatchObject({ old_status: 'ready', new_status: 'stopped', applied: true });

    const lateStart = await sb.deliver(sampleBody('room_started'));
    expect(lateStart.json.results.actions[0]).toMatchObject({
      status: 'succeeded',
      result: { key: 'session-42', old_status: 'stopped', new_status: 'stopped', applied: false },
    });
    const session = await sb.admin('/api/v1/sessions/session-42');
    expect(session.json.results.status).toBe('stopped');
  });

  it('orders events with the same createdAt by arrival', async () => {
    const createdAt = '1763856100';
    await sb.deliver(sampleBody('room_started', { createdAt }));
    await sb.deliver(sampleBody('room_finished', { createdAt }));
    const session = await sb.admin('/api/v1/sessions/session-42');
    expect(session.json.results.status).toBe('stopped');
  });
});
