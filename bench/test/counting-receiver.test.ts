import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCountingReceiver, type CountingReceiver } from '../setup.ts';

let receiver: CountingReceiver;

beforeAll(async () => {
  receiver = await startCountingReceiver();
});

afterAll(async () => {
  await receiver.stop();
});

/** Posts `body` with node:http's client, as Switchboard's http plugin does; `chunked` leaves the length out. */
function post(body: string, options: { chunked?: boolean; close?: boolean } = {}): Promise<{ status: number; body: string; keepAlive: string }> {
  return new Promise((resolve, reject) => {
    const headers = { 'content-type': 'application/json', ...(options.close && { connection: 'close' }) };
    const outgoing = request(receiver.url, { method: 'POST', headers }, (response) => {
      let answer = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (answer += chunk));
      response.on('end', () => resolve({ status: response.statusCode!, body: answer, keepAlive: String(response.headers['keep-alive']) }));
    });
    outgoing.on('error', reject);
    if (!options.chunked) return void outgoing.end(body);
    const half = Math.floor(body.length / 2);
    outgoing.write(body.slice(0, half));
    setTimeout(() => outgoing.end(body.slice(half)), 10);
  });
}

describe('the counting receiver', () => {
  it('answers 200 and counts requests, distinct event ids and bodies without one', async () => {
    const before = await receiver.counts();
    await receiver.arrivals();

    const answers = [
      await post(JSON.stringify({ id: 'EV_a', event: 'room_started' })),
      await post(JSON.stringify({ id: 'EV_b' }), { chunked: true }),
      await post(JSON.stringify({ id: 'EV_a' })),
      await post('not json', { close: true }),
      await post(JSON.stringify({ id: 'EV_é' })),
    ];

    expect(answers.map((answer) => [answer.status, answer.body])).toEqual(Array(5).fill([200, '{}']));
    expect(answers[0].keepAlive).toBe('timeout=60');
    const after = await receiver.counts();
    const added = { requests: after.requests - before.requests, unique: after.unique - before.unique, unreadable: after.unreadable - before.unreadable };
    expect(added).toEqual({ requests: 5, unique: 3, unreadable: 1 });
    expect((await receiver.arrivals()).ids).toEqual(['EV_a', 'EV_b', 'EV_é']);
  });
});
