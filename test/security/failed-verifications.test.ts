import { request } from 'node:http';
import type { IncomingMessage } from 'node:http';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DEFAULT_FAILURE_LIMITS, FAILURE_LOG_LIMITS, FailureLimiter } from '../../src/server/failure-limiter.ts';
import { sourceAddressResolver } from '../../src/server/source-address.ts';
import { sampleBody, startTestSwitchboard, type TestSwitchboard } from '../helpers/switchboard.ts';

/** Failed webhook verifications are limited per source address; valid deliveries never are. */
describe('failed verifications from one address', () => {
  let sb: TestSwitchboard;
  afterEach(() => sb?.stop());

  const from = (address: string) => ({ headers: { 'X-Forwarded-For': address } });

  /** Sends failures until one is answered 429: after the burst, give or take the tokens refilled meanwhile. */
  async function failUntilLimited(send: () => Promise<{ status: number; json: any }>) {
    for (let sent = 1; ; sent++) {
      const answer = await send();
      if (answer.status !== 401) {
        expect(answer.status).toBe(429);
        expect(sent).toBeGreaterThan(DEFAULT_FAILURE_LIMITS.burst);
        return answer;
      }
      expect(sent).toBeLessThan(DEFAULT_FAILURE_LIMITS.burst + 5);
    }
  }

  it('get 429 E_RATE_LIMITED past the burst, before the body is read, while other addresses are heard', async () => {
    sb = await startTestSwitchboard({ settings: { TRUST_PROXY: '127.0.0.1, ::1' } });
    const body = sampleBody('room_started');
    const limited = await failUntilLimited(() => sb.deliver(body, { token: 'forged', ...from('203.0.113.7') }));
    expect(limited.json.errcode).toBe('E_RATE_LIMITED');

    // Answered on the headers alone: the declared body never comes.
    const answer = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = request(sb.webhookUrl, { method: 'POST', headers: { 'Content-Length': '1000', 'X-Forwarded-For': '203.0.113.7' } });
      req.on('response', resolve).on('error', reject);
      req.flushHeaders();
    });
    expect(answer.statusCode).toBe(429);
    expect(Number(answer.headers['retry-after'])).toBeGreaterThan(0);
    answer.resume();

    expect((await sb.deliver(body, from('198.51.100.1'))).status).toBe(200);
  });

  it('never hold back an address that sends valid deliveries', async () => {
    sb = await startTestSwitchboard();
    for (let i = 0; i < DEFAULT_FAILURE_LIMITS.burst * 2; i++) {
      expect((await sb.deliver(sampleBody('room_started', { id: `EV_valid_${i}` }))).status).toBe(200);
    }
  });

  it('are logged a few lines at a time, each later line counting the ones left out', async () => {
    sb = await startTestSwitchboard({ settings: { TRUST_PROXY: '127.0.0.1, ::1' } });
    const body = sampleBody('room_started');
    const flood = 60;
    const started = Date.now();
    for (let i = 0; i < flood; i++) await sb.deliver(body, { token: 'forged', ...from('203.0.113.9') });
    const seconds = (Date.now() - started) / 1000;
    const linesOf = () => sb.logs.filter((line) => line.source === '203.0.113.9');
    // At most the burst, and what refilled while the flood was sent.
    expect(linesOf().length).toBeLessThanOrEqual(FAILURE_LOG_LIMITS.burst + Math.ceil(seconds * FAILURE_LOG_LIMITS.refillPerSecond) + 1);
    expect(linesOf().map((line) => line.errcode)).toContain('E_WEBHOOK_INVALID_SIGNATURE');

    // Once a line may be written again, it says how many were left out: no failure goes uncounted.
    let sent = flood;
    const afterFlood = linesOf().length;
    await vi.waitFor(
      async () => {
        await sb.deliver(body, { token: 'forged', ...from('203.0.113.9') });
        sent += 1;
        expect(linesOf().length).toBeGreaterThan(afterFlood);
      },
      { timeout: 5_000, interval: 100 },
    );
    expect(linesOf().some((line) => (line.suppressed as number) > 0)).toBe(true);
    const counted = linesOf().reduce((total, line) => total + 1 + ((line.suppressed as number | undefined) ?? 0), 0);
    expect(counted).toBe(sent);
    expect(linesOf().every((line) => line.level === 40 && !('err' in line))).toBe(true);
  });

  it('count the peer, not X-Forwarded-For, unless the peer is a trusted proxy', async () => {
    sb = await startTestSwitchboard();
    const body = sampleBody('room_started');
    let i = 0;
    await failUntilLimited(() => sb.deliver(body, { token: 'forged', ...from(`203.0.113.${i++}`) }));
  });
});

describe('sourceAddressResolver', () => {
  const req = (peer: string, forwarded?: string) =>
    ({ socket: { remoteAddress: peer }, headers: forwarded === undefined ? {} : { 'x-forwarded-for': forwarded } }) as unknown as IncomingMessage;

  it('believes X-Forwarded-For only from trusted proxies, taking the rightmost hop that is not one', () => {
    const resolve = sourceAddressResolver(['10.0.0.0/8', '::1']);
    expect(resolve(req('10.1.2.3', '1.1.1.1, 2.2.2.2'))).toBe('2.2.2.2');
    expect(resolve(req('10.1.2.3', '1.1.1.1, 10.9.9.9'))).toBe('1.1.1.1');
    expect(resolve(req('::ffff:10.1.2.3', 'spoofed, 2.2.2.2'))).toBe('2.2.2.2');
    expect(resolve(req('10.1.2.3', 'not-an-address, 10.0.0.2'))).toBe('10.0.0.2');
    expect(resolve(req('192.0.2.1', '2.2.2.2'))).toBe('192.0.2.1');
    expect(resolve(req('::1'))).toBe('::1');
    expect(sourceAddressResolver([])(req('::ffff:192.0.2.1', '2.2.2.2'))).toBe('192.0.2.1');
  });

  it('refuses a TRUST_PROXY entry that is not an address or a range', () => {
    expect(() => sourceAddressResolver(['10.0.0.0/33'])).toThrow('TRUST_PROXY');
    expect(() => sourceAddressResolver(['proxy.internal'])).toThrow('TRUST_PROXY');
  });
});

describe('FailureLimiter', () => {
  it('refills over time and keeps at most maxAddresses buckets', () => {
    let now = 0;
    const limiter = new FailureLimiter({ burst: 2, refillPerSecond: 1, maxAddresses: 3 }, () => now);
    limiter.recordFailure('a');
    expect(limiter.retryAfterSeconds('a')).toBe(0);
    limiter.recordFailure('a');
    expect(limiter.retryAfterSeconds('a')).toBe(1);
    now += 1000;
    expect(limiter.retryAfterSeconds('a')).toBe(0);
    for (const address of ['b', 'c', 'd', 'e']) limiter.recordFailure(address);
    expect(limiter.size).toBe(3);
  });

  it('grants takes while tokens last, then counts the refused ones for the next granted take', () => {
    let now = 0;
    const limiter = new FailureLimiter({ burst: 2, refillPerSecond: 1, maxAddresses: 10 }, () => now);
    expect([limiter.take('a'), limiter.take('a')]).toEqual([
      { granted: true, refusedBefore: 0 },
      { granted: true, refusedBefore: 0 },
    ]);
    expect(limiter.take('a').granted).toBe(false);
    expect(limiter.take('a').granted).toBe(false);
    expect(limiter.take('b')).toEqual({ granted: true, refusedBefore: 0 });
    now += 1000;
    expect(limiter.take('a')).toEqual({ granted: true, refusedBefore: 2 });
    expect(limiter.take('a').granted).toBe(false);
  });
});
