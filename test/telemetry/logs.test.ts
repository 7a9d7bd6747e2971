import { Writable } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../../src/telemetry/logger.ts';
import { startReceiver, status, type Receiver } from '../helpers/receivers.ts';
import { ADMIN_TOKEN, sampleBody, startTestSwitchboard, type TestSwitchboard } from '../helpers/switchboard.ts';
import { livekitToken, TEST_SECRET } from '../helpers/tokens.ts';
import { deliveryWhen, emit, probe, resetProbe, startDeliverySwitchboard } from '../server/fixtures/deliveries.ts';

const PARTNER_TOKEN = 'partner-token-3f9a1c77e0b24d6e';
const SIGNING_KEY = Buffer.from('partner-signing-key-do-not-log-0123').toString('base64');
const PARTNER_WHSEC = `whsec_${SIGNING_KEY}`;
const METRICS_TOKEN = 'metrics-token-5b0e2d91c4a8';

function rules(url: string) {
  return {
    'forward.yaml': `rules:
  - id: forward
    on: room_started
    actions:
      - plugin: http
        retry: { attempts: 2, schedule: [0, 20ms] }
        with:
          url: "${url}/hook"
          headers: { Authorization: "Bearer \${env:PARTNER_TOKEN}" }
          sign: { scheme: standard-webhooks, secret: "\${env:PARTNER_WHSEC}" }
  - id: tagged
    on: room_finished
    actions:
      - plugin: http
        with:
          url: "${url}/tagged"
          headers: { X-Token: "\${env:PARTNER_TOKEN} {{ room.metadata }}" }
`,
  };
}

describe('log lines', () => {
  let sb: TestSwitchboard;
  let receiver: Receiver;
  afterEach(async () => {
    await sb?.stop();
    await receiver?.close();
  });

  it('never carry a credential: LiveKit secret and tokens, admin and metrics tokens, the http plugin’s headers and signing secret', async () => {
    receiver = await startReceiver(status(500, {}, 'busy'));
    sb = await startTestSwitchboard({
      rules: rules(receiver.url),
      settings: { WORKER_POLL_INTERVAL: '20ms', METRICS_TOKEN },
      env: { PARTNER_TOKEN, PARTNER_WHSEC },
    });
    const started = sampleBody('room_started');
    const token = await livekitToken(started);
    const forged = await livekitToken(started, undefined, 'not-the-secret-at-all-0123456789');
    await sb.deliver(started, { token });
    await sb.deliver(started, { token: forged });
    // Event data that makes the header invalid HTTP: the error names the header, never its value.
    await sb.deliver(sampleBody('room_finished', { room: { metadata: 'line\nbreak' } }));
    await sb.admin('/api/v1/rules', 'wrong-admin-token-7d1e');
    await sb.admin('/api/v1/rules');
    await fetch(`${sb.url}/metrics`, { headers: { Authorization: 'Bearer wrong-metrics-token-2a' } });
    await fetch(`${sb.url}/metrics`, { headers: { Authorization: `Bearer ${METRICS_TOKEN}` } });
    await vi.waitFor(
      async () => expect((await sb.store.countDeliveries()).dead).toBe(2),
      { timeout: 10_000, interval: 20 },
    );
    // Attempts are logged once their outcome is durable, a moment after a reader can see it committed.
    await vi.waitFor(() => expect(sb.logs.filter((line) => line.msg === 'delivery attempt')).toHaveLength(3));

    const attempts = sb.logs.filter((line) => line.msg === 'delivery attempt');
    expect(attempts.map((line) => (line.error as { code: string }).code).sort()).toEqual(['E_HTTP_500', 'E_HTTP_500', 'E_HTTP_INVALID_REQUEST']);
    expect(sb.logs.filter((line) => line.msg === 'webhook')).toHaveLength(2);
    expect(sb.logs.some((line) => line.errcode === 'E_ADMIN_UNAUTHORIZED')).toBe(true);
    expect(sb.logs.some((line) => line.errcode === 'E_METRICS_UNAUTHORIZED')).toBe(true);

    const written = JSON.stringify(sb.logs);
    for (const secret of [
      TEST_SECRET,
      token.split('.')[2],
      forged.split('.')[2],
      PARTNER_TOKEN,
      SIGNING_KEY,
      ADMIN_TOKEN,
      'wrong-admin-token-7d1e',
      METRICS_TOKEN,
      'wrong-metrics-token-2a',
    ]) {
      expect(written).not.toContain(secret);
    }
  });

  it('redact credentials wherever an action’s params or a request’s headers are logged', () => {
    const lines: string[] = [];
    const log = createLogger({
      level: 'info',
      destination: new Writable({
        write(chunk, _encoding, done) {
          lines.push(String(chunk));
          done();
        },
      }),
    });
    const params = { url: 'https://partner.example.com/hook', headers: { Authorization: `Bearer ${PARTNER_TOKEN}` }, sign: { scheme: 'standard-webhooks', secret: PARTNER_WHSEC } };
    log.info({ params }, 'params');
    log.info({ delivery: { params } }, 'delivery');
    log.info({ request: { headers: { Authorization: `Bearer ${PARTNER_TOKEN}` } } }, 'request');
    log.info({ secret: TEST_SECRET, token: ADMIN_TOKEN, metricsToken: METRICS_TOKEN }, 'settings');
    const written = lines.join('');
    for (const secret of [PARTNER_TOKEN, PARTNER_WHSEC, TEST_SECRET, ADMIN_TOKEN, METRICS_TOKEN]) expect(written).not.toContain(secret);
    expect(JSON.parse(lines[0]).params.url).toBe('https://partner.example.com/hook');
  });
});

const WARN = 40;
const ERROR = 50;

describe('log levels', () => {
  let sb: TestSwitchboard;
  afterEach(() => sb.stop());

  it('warns when a delivery goes dead, a target is disabled and a circuit opens', async () => {
    resetProbe();
    sb = await startDeliverySwitchboard({ CIRCUIT_FAILURES: '1' });
    probe.answers.set('room-down', 'retryable');
    probe.answers.set('room-gone', 'gone');
    await deliveryWhen(sb, await emit(sb, 'room-down'));
    await deliveryWhen(sb, await emit(sb, 'room-gone'));
    await deliveryWhen(sb, await emit(sb, 'room-up'));
    await vi.waitFor(() => expect(sb.logs.filter((line) => line.msg === 'delivery attempt')).toHaveLength(3));

    const attempts = sb.logs.filter((line) => line.msg === 'delivery attempt');
    expect(attempts.map((line) => [line.target, line.state, line.level]).sort()).toEqual([
      ['room-down', 'dead', WARN],
      ['room-gone', 'dead', WARN],
      ['room-up', 'succeeded', 30],
    ]);
    expect(sb.logs.filter((line) => line.msg === 'target disabled: enable it when it is fixed')).toEqual([
      expect.objectContaining({ level: WARN, target: 'room-gone' }),
    ]);
    const opened = sb.logs.filter((line) => /^circuit opened/.test(String(line.msg)));
    expect(opened.map((line) => [line.level, line.target])).toEqual([[WARN, 'room-down']]);
  });

  it("logs a client's mistake (4xx) and a state answer without a stack, a 5xx it caused with one", async () => {
    sb = await startTestSwitchboard();
    await sb.deliver(sampleBody('room_started'), { token: 'forged' });
    await sb.admin('/api/v1/sessions/session-42', 'wrong-token');
    const disabled = await startTestSwitchboard({ settings: { ADMIN_TOKEN: '' } });
    try {
      await disabled.admin('/api/v1/sessions/session-42');
      expect(disabled.logs.find((line) => line.errcode === 'E_ADMIN_DISABLED')).toMatchObject({ level: WARN, status: 503 });
      expect(disabled.logs.find((line) => line.errcode === 'E_ADMIN_DISABLED')).not.toHaveProperty('err');
    } finally {
      await disabled.stop();
    }
    for (const errcode of ['E_WEBHOOK_INVALID_SIGNATURE', 'E_ADMIN_UNAUTHORIZED']) {
      const line = sb.logs.find((candidate) => candidate.errcode === errcode);
      expect(line).toMatchObject({ level: WARN });
      expect(line).not.toHaveProperty('err');
    }

    await sb.store.close();
    const failed = await sb.admin('/api/v1/sessions/session-42');
    expect(failed.status).toBeGreaterThanOrEqual(500);
    const line = sb.logs.find((candidate) => candidate.erresid === failed.json.erresid);
    expect(line).toMatchObject({ level: ERROR, err: { stack: expect.any(String) } });
  });
});
