import { spawnSync } from 'node:child_process';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { startReceiver, status, type Receiver } from '../helpers/receivers.ts';
import { sampleBody, startTestSwitchboard, type TestSwitchboard } from '../helpers/switchboard.ts';

const METRICS_TOKEN = 'metrics-token-for-tests';

function rules(url: string) {
  return {
    'rules.yaml': `rules:
  - id: session-live
    on: room_started
    actions:
      - plugin: status
        with: { key: "{{ room.name }}", status: live }
  - id: forward
    on: room_started
    actions:
      - plugin: http
        retry: { attempts: 2, schedule: [0, 20ms] }
        with: { url: "${url}/hook" }
`,
  };
}

/** The samples of a Prometheus text exposition: `name{a="1",b="2"}` (labels sorted) → value. */
function parse(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    samples.set(canonical(line.slice(0, at)), Number(line.slice(at + 1)));
  }
  return samples;
}

function canonical(series: string): string {
  const brace = series.indexOf('{');
  if (brace === -1) return series;
  const labels = [...series.slice(brace + 1, -1).matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((match) => `${match[1]}="${match[2]}"`);
  return `${series.slice(0, brace)}{${labels.sort().join(',')}}`;
}

function series(name: string, labels: Record<string, string> = {}): string {
  return canonical(`${name}{${Object.entries(labels).map(([key, value]) => `${key}="${value}"`).join(',')}}`.replace('{}', ''));
}

describe('GET /metrics', () => {
  let sb: TestSwitchboard;
  let receiver: Receiver;
  afterEach(async () => {
    await sb?.stop();
    await receiver?.close();
  });

  async function scrape(): Promise<{ text: string; samples: Map<string, number> }> {
    const response = await fetch(`${sb.url}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await response.text();
    return { text, samples: parse(text) };
  }

  it('moves as webhooks arrive, are refused, repeat, and their deliveries fail for good', async () => {
    receiver = await startReceiver(status(500));
    sb = await startTestSwitchboard({ rules: rules(receiver.url), settings: { WORKER_POLL_INTERVAL: '20ms' } });
    const before = (await scrape()).samples;
    expect(before.get(series('switchboard_deliveries', { state: 'pending' }))).toBe(0);
    expect(before.get('switchboard_oldest_due_delivery_age_seconds')).toBe(0);
    expect(before.get('process_cpu_seconds_total')).toBeGreaterThan(0);

    const body = sampleBody('room_started');
    const { json } = await sb.deliver(body);
    const deliveryId = json.results.actions.find((action: { status: string }) => action.status === 'queued').result.delivery_id;
    await sb.deliver(body);
    await sb.deliver(sampleBody('room_finished'), { token: 'not-a-jwt' });
    await vi.waitFor(async () => expect((await sb.store.getDelivery(deliveryId))?.state).toBe('dead'), { timeout: 10_000, interval: 20 });
    // The worker counts an attempt once its outcome is durable, a moment after a reader can see it committed.
    const deadAttempt = series('switchboard_delivery_attempts_total', { rule: 'forward', plugin: 'http', outcome: 'dead' });
    await vi.waitFor(async () => expect((await scrape()).samples.get(deadAttempt)).toBe(1), { timeout: 10_000, interval: 20 });

    const { text, samples } = await scrape();
    const value = (name: string, labels: Record<string, string> = {}) => samples.get(series(name, labels));
    expect(value('switchboard_webhooks_received_total', { event: 'room_started', outcome: 'accepted' })).toBe(1);
    expect(value('switchboard_webhooks_received_total', { event: 'room_started', outcome: 'duplicate' })).toBe(1);
    expect(value('switchboard_webhooks_received_total', { event: 'unknown', outcome: 'E_WEBHOOK_INVALID_SIGNATURE' })).toBe(1);
    expect(value('switchboard_webhook_verification_failures_total', { reason: 'malformed_token' })).toBe(1);
    expect(value('switchboard_ingest_duration_seconds_count', { outcome: 'accepted' })).toBe(1);
    expect(value('switchboard_ingest_duration_seconds_bucket', { outcome: 'accepted', le: '+Inf' })).toBe(1);
    expect(value('switchboard_rule_matches_total', { rule: 'session-live' })).toBe(1);
    expect(value('switchboard_rule_matches_total', { rule: 'forward' })).toBe(1);
    expect(value('switchboard_actions_total', { rule: 'session-live', plugin: 'status', mode: 'inline', outcome: 'succeeded' })).toBe(1);
    expect(value('switchboard_actions_total', { rule: 'forward', plugin: 'http', mode: 'async', outcome: 'queued' })).toBe(1);
    expect(value('switchboard_delivery_attempts_total', { rule: 'forward', plugin: 'http', outcome: 'failed-waiting-retry' })).toBe(1);
    expect(value('switchboard_delivery_attempts_total', { rule: 'forward', plugin: 'http', outcome: 'dead' })).toBe(1);
    expect(value('switchboard_delivery_attempt_duration_seconds_count', { plugin: 'http', outcome: 'dead' })).toBe(1);
    expect(value('switchboard_dead_letters_total', { rule: 'forward', plugin: 'http' })).toBe(1);
    expect(value('switchboard_deliveries', { state: 'dead' })).toBe(1);
    expect(value('switchboard_deliveries', { state: 'pending' })).toBe(0);
    expect(value('switchboard_circuit_state', { target: receiver.url })).toBe(0);

    const lint = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    if (lint.error) {
      throw new Error(`promtool could not run (${lint.error.message}): install it with apt-get install prometheus`);
    }
    expect(lint.stdout + lint.stderr).toBe('');
    expect(lint.status).toBe(0);
  });

  it('reports the age of the oldest delivery left waiting past its due time, and open circuits', async () => {
    receiver = await startReceiver(status(503));
    sb = await startTestSwitchboard({
      rules: rules(receiver.url),
      settings: { WORKER_POLL_INTERVAL: '20ms', CIRCUIT_FAILURES: '1', CIRCUIT_RESET: '60s' },
    });
    await sb.deliver(sampleBody('room_started', { id: 'EV_first' }));
    await vi.waitFor(() => expect(sb.guards.snapshot()[0]?.circuit).toBe('open'), { timeout: 5000, interval: 20 });
    await sb.deliver(sampleBody('room_started', { id: 'EV_held', room: { name: 'other-room' } }));
    await new Promise((resolve) => setTimeout(resolve, 300));
    const { samples } = await scrape();
    expect(samples.get(series('switchboard_circuit_state', { target: receiver.url }))).toBe(2);
    expect(samples.get('switchboard_oldest_due_delivery_age_seconds')).toBeGreaterThanOrEqual(0.25);
  });

  it('asks for METRICS_TOKEN when one is set', async () => {
    sb = await startTestSwitchboard({ settings: { METRICS_TOKEN } });
    const refused = await fetch(`${sb.url}/metrics`);
    expect(refused.status).toBe(401);
    expect(await refused.json()).toMatchObject({ success: false, errcode: 'E_METRICS_UNAUTHORIZED' });
    const wrong = await fetch(`${sb.url}/metrics`, { headers: { Authorization: `Bearer ${sb.url}` } });
    expect(wrong.status).toBe(401);
    const allowed = await fetch(`${sb.url}/metrics`, { headers: { Authorization: `Bearer ${METRICS_TOKEN}` } });
    expect(allowed.status).toBe(200);
    expect(await allowed.text()).toContain('switchboard_webhooks_received_total');
  });
});
