import { once } from 'node:events';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { redactParams } from '../../src/server/admin/redact.ts';
import { createTestSchema, requirePostgres, SKIP_POSTGRES, TEST_PG_URL, type TestSchema } from '../helpers/postgres.ts';
import { sampleBody, startTestSwitchboard, type TestSwitchboard } from '../helpers/switchboard.ts';

/** Hostile admin input and failing parts: answers are 4xx where the request is at fault, and never show internals. */
describe('admin input and error answers', () => {
  let sb: TestSwitchboard | undefined;
  afterEach(async () => {
    await sb?.stop();
    sb = undefined;
  });

  it('answers 400 to a path that is not valid percent-encoding', async () => {
    sb = await startTestSwitchboard();
    for (const path of ['/api/v1/events/%', '/api/v1/sessions/%E0%A4%A']) {
      const { status, json } = await sb.admin(path);
      expect(status, path).toBe(400);
      expect(json.errcode).toBe('E_INVALID_REQUEST');
    }
  });

  it('shows a __proto__ key in params as it was sent', () => {
    const params = JSON.parse('{"body":{"__proto__":{"admin":true},"room":"r"},"headers":{"__proto__":"x"}}');
    const shown = redactParams(params) as Record<string, Record<string, unknown>>;
    expect(JSON.stringify(shown)).toBe('{"body":{"__proto__":{"admin":true},"room":"r"},"headers":{"__proto__":"[redacted]"}}');
    expect(Object.getPrototypeOf(shown.body)).toBe(Object.prototype);
  });
});

describe.skipIf(SKIP_POSTGRES)('admin input and error answers on PostgreSQL', () => {
  let sb: TestSwitchboard | undefined;
  let schema: TestSchema;
  let proxy: Server | undefined;
  const sockets = new Set<Socket>();
  beforeAll(requirePostgres);
  afterEach(async () => {
    await sb?.stop();
    sb = undefined;
    for (const socket of sockets) socket.destroy();
    proxy?.close();
    await schema?.drop();
  });

  /** A TCP hop in front of PostgreSQL, which the test can take away to make the database unreachable. */
  async function startProxy(): Promise<string> {
    const target = new URL(TEST_PG_URL);
    proxy = createServer((client) => {
      const server = connect(Number(target.port || 5432), target.hostname);
      for (const socket of [client, server]) {
        sockets.add(socket);
        socket.on('error', () => {});
      }
      client.pipe(server).pipe(client);
    });
    proxy.listen(0, '127.0.0.1');
    await once(proxy, 'listening');
    const url = new URL(schema.url);
    url.host = `127.0.0.1:${(proxy.address() as { port: number }).port}`;
    return url.href;
  }

  it('answers 400 to a NUL in a path or query value', async () => {
    schema = await createTestSchema();
    sb = await startTestSwitchboard({ settings: { DATABASE_URL: schema.url } });
    for (const path of ['/api/v1/events/EV%00x', '/api/v1/sessions/a%00b', '/api/v1/deliveries?rule=a%00b', '/api/v1/deliveries?target=%00']) {
      const { status, json } = await sb.admin(path);
      expect(status, path).toBe(400);
      expect(json.errcode).toBe('E_INVALID_REQUEST');
    }
  });

  it('keeps the connection string out of /readyz and the webhook 503 while the database is unreachable', async () => {
    schema = await createTestSchema();
    const url = await startProxy();
    sb = await startTestSwitchboard({ settings: { DATABASE_URL: url, WORKER_CONCURRENCY: '0' } });
    proxy!.close();
    for (const socket of sockets) socket.destroy();

    const ready = await fetch(`${sb.url}/readyz`);
    const readyText = await ready.text();
    expect(ready.status).toBe(503);
    const webhook = await sb.deliver(sampleBody('room_started'));
    expect(webhook.status).toBe(503);
    expect(webhook.json.errcode).toBe('E_STORE_UNAVAILABLE');
    const host = new URL(url).host;
    for (const text of [readyText, JSON.stringify(webhook.json)]) {
      expect(text).not.toContain(host);
      expect(text).not.toContain(schema.name);
    }
    expect(JSON.stringify(sb.logs)).toContain(host);
  });
});
