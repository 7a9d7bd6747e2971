/**
 * A token written in a target's URL query (`?token=${env:…}`) stays with the delivery: the target is named by its
 * scheme, host and port, and wherever a URL is shown (metrics, the admin API, logs, a dead-letter event) its query
 * values are hidden.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ok, startReceiver, type Receiver } from '../helpers/receivers.ts';
import { sampleBody, startTestSwitchboard, type TestSwitchboard } from '../helpers/switchboard.ts';

const SECRET = 'tok-s3cr3t-value';

/** A plugin like many a user writes: its target is its whole URL, and its errors quote that URL. */
const QUERY_HOOK = `import { definePlugin, PermanentError } from '${resolve('src/plugins/contract.ts')}';
export default definePlugin({
  name: 'query-hook',
  description: 'Calls a URL; names its whole URL as the target',
  params: { type: 'object', required: ['url'], properties: { url: { type: 'string' } } },
  target: (params) => params.url,
  run(params) {
    throw new PermanentError(\`refused by \${params.url}\`, { code: 'E_REFUSED' });
  },
});
`;

function pluginsDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'switchboard-plugins-'));
  writeFileSync(join(dir, 'query-hook.ts'), QUERY_HOOK);
  return dir;
}

describe('secrets in a target URL', () => {
  let sb: TestSwitchboard;
  let receiver: Receiver;
  afterEach(async () => {
    await sb?.stop();
    await receiver?.close();
  });

  it('shows the target as scheme, host and port, and hides query values in metrics, the admin API, logs and dead letters', async () => {
    receiver = await startReceiver(ok());
    sb = await startTestSwitchboard({
      settings: { PLUGINS_DIR: pluginsDir(), WORKER_POLL_INTERVAL: '20ms' },
      env: { PARTNER_TOKEN: SECRET },
      rules: {
        'leaky.yaml': `rules:
  - id: leaky
    on: room_started
    actions:
      - plugin: query-hook
        retry: { attempts: 1 }
        with: { url: "https://partner.example.com:8443/hook?token=\${env:PARTNER_TOKEN}&room=a" }
  - id: on-dead
    on: switchboard.delivery_dead
    actions:
      - plugin: http
        with: { url: "${receiver.url}/dead" }
`,
      },
    });
    const { json } = await sb.deliver(sampleBody('room_started'));
    const id = json.results.actions[0].result.delivery_id;
    await vi.waitFor(() => expect(receiver.count).toBe(1));

    const forwarded = JSON.parse(receiver.requests[0].body);
    expect(forwarded.delivery.target).toBe('https://partner.example.com:8443');
    expect(forwarded.delivery.lastError.message).toBe('refused by https://partner.example.com:8443/hook?token=[redacted]&room=[redacted]');
    expect(receiver.requests[0].body).not.toContain(SECRET);

    const targets = await sb.admin('/api/v1/targets');
    expect(targets.json.results.targets).toEqual(
      expect.arrayContaining([expect.objectContaining({ target: 'https://partner.example.com:8443' })]),
    );
    expect(JSON.stringify(targets.json)).not.toContain(SECRET);

    const delivery = await sb.admin(`/api/v1/deliveries/${id}`);
    expect(JSON.stringify(delivery.json)).toContain('token=[redacted]');
    expect(JSON.stringify(delivery.json)).not.toContain(SECRET);

    const metrics = await (await fetch(`${sb.url}/metrics`)).text();
    expect(metrics).toContain('target="https://partner.example.com:8443"');
    expect(metrics).not.toContain(SECRET);

    expect(sb.logs.some((line) => line.msg === 'delivery attempt' && line.delivery_id === id)).toBe(true);
    expect(JSON.stringify(sb.logs)).not.toContain(SECRET);
  });
});
