import { once } from 'node:events';
import { Agent, request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startTestSwitchboard, type TestSwitchboard } from '../helpers/switchboard.ts';

/** Slow and idle clients cannot hold the server's connections: real sockets on loopback. */
describe('connections', () => {
  let sb: TestSwitchboard;
  const sockets: Socket[] = [];
  afterEach(async () => {
    for (const socket of sockets) socket.destroy();
    await sb?.stop();
  });

  async function open(): Promise<Socket> {
    const { port } = new URL(sb.url);
    const socket = connect(Number(port), '127.0.0.1');
    sockets.push(socket);
    await once(socket, 'connect');
    return socket;
  }

  /** What the server writes until it closes the connection, and how long that took. */
  async function untilClosed(socket: Socket): Promise<{ text: string; ms: number }> {
    const started = performance.now();
    let text = '';
    socket.on('data', (chunk) => (text += chunk));
    socket.on('error', () => {});
    await once(socket, 'close');
    return { text, ms: performance.now() - started };
  }

  it('cuts a webhook body that trickles in, answering 408 E_WEBHOOK_TIMEOUT', async () => {
    sb = await startTestSwitchboard();
    const socket = await open();
    const { pathname } = new URL(sb.webhookUrl);
    socket.write(`POST ${pathname} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{`);
    const trickle = setInterval(() => socket.write(' '), 1000);
    const closed = await untilClosed(socket);
    clearInterval(trickle);
    expect(closed.text).toMatch(/^HTTP\/1\.1 408/);
    expect(closed.text).toContain('E_WEBHOOK_TIMEOUT');
    expect(closed.ms).toBeLessThan(15_000);
  }, 20_000);

  it('refuses connections past MAX_CONNECTIONS while a kept-alive one still gets /healthz', async () => {
    sb = await startTestSwitchboard({ settings: { MAX_CONNECTIONS: '3' } });
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const healthz = () =>
      new Promise<number>((resolve, reject) => {
        request(`${sb.url}/healthz`, { agent }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode!));
        })
          .on('error', reject)
          .end();
      });
    expect(await healthz()).toBe(200);
    await open();
    await open();
    const refused = await open();
    const closed = await untilClosed(refused);
    expect(closed.text).toBe('');
    expect(await healthz()).toBe(200);
    agent.destroy();
  });
});
