import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBillingReceiver, type BillingReceiver } from './helpers/billing-receiver.ts';
import { ADMIN_TOKEN, sampleBody, startTestSwitchboard, type TestSwitchboard } from './helpers/switchboard.ts';
import { TEST_KEY, TEST_SECRET } from './helpers/tokens.ts';
import { deliveryWhen, emit, probe, resetProbe, startDeliverySwitchboard } from './server/fixtures/deliveries.ts';

function switchboard(args: string[], options: { env?: Record<string, string>; stdin?: string } = {}) {
  const child = spawn(process.execPath, ['src/cli.ts', ...args], {
    env: { PATH: process.env.PATH, ...options.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  child.stdin.end(options.stdin ?? '');
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => (stdout += chunk));
  child.stderr.on('data', (chunk) => (stderr += chunk));
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.on('close', (code) => resolve({ code, stdout, stderr })),
  );
}

describe('switchboard CLI', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'switchboard-cli-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('serve refuses to start without credentials and names the variable', async () => {
    const { code, stderr } = await switchboard(['serve'], { env: { RULES_DIR: 'rules' } });
    expect(code).toBe(1);
    expect(stderr).toMatch(/E_CONFIG_INVALID: LIVEKIT_API_KEY and LIVEKIT_API_SECRET must be set/);
  });

  it('validate passes the shipped rules', async () => {
    const { code, stdout } = await switchboard(['validate', 'rules']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/2 rules valid/);
  });

  it('validate exits non-zero with file:line:col messages', async () => {
    const rulesDir = join(dir, 'bad-rules');
    mkdirSync(rulesDir);
    writeFileSync(join(rulesDir, 'bad.yaml'), 'rules:\n  - id: broken\n    on: room_started\n    actions:\n      - plugin: nope\n');
    const { code, stderr } = await switchboard(['validate', rulesDir]);
    expect(code).toBe(1);
    expect(stderr).toMatch(/bad\.yaml:5:\d+: \[broken\] .*nope/);
  });

  it('test runs the rule test files and reports each', async () => {
    const { code, stdout } = await switchboard(['test']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/PASS .*room start marks the session live/);
  });

  it('test - dry-runs an event from stdin without side effects', async () => {
    const event = JSON.stringify({ event: 'room_finished', id: 'EV_cli', room: { name: 'session-9' } });
    const { code, stdout } = await switchboard(['test', '-'], { stdin: event });
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toEqual({
      event_type: 'room_finished',
      event_id: 'EV_cli',
      matched: [{ rule: 'session-stopped', actions: [{ plugin: 'status', mode: 'inline', params: { key: 'session-9', status: 'stopped' } }] }],
    });
  });

  describe('send', () => {
    let sb: TestSwitchboard;
    beforeAll(async () => {
      sb = await startTestSwitchboard();
    });
    afterAll(() => sb.stop());

    it('signs a sample as LiveKit does, with the room it is given', async () => {
      const { code, stdout } = await switchboard(
        ['send', 'room_started', '--url', sb.webhookUrl, '--room', 'session-cli', '--key', TEST_KEY, '--secret', TEST_SECRET],
      );
      expect(code).toBe(0);
      const [status, ...body] = stdout.trim().split(' ');
      expect(status).toBe('200');
      expect(JSON.parse(body.join(' ')).results.actions[0].result).toMatchObject({ key: 'session-cli', new_status: 'live' });
    });

    it('sends a file byte for byte', async () => {
      const file = join(dir, 'event.json');
      writeFileSync(file, '{"event": "room_finished", "id": "EV_file", "room": {"name": "session-file"}}');
      const { code, stdout } = await switchboard(['send', file, '--url', sb.webhookUrl, '--key', TEST_KEY, '--secret', TEST_SECRET]);
      expect(code).toBe(0);
      expect(stdout).toMatch(/^200 .*"event_id":"EV_file"/);
    });

    it('exits non-zero when the signature is refused', async () => {
      const { code, stdout } = await switchboard(['send', 'room_started', '--url', sb.webhookUrl, '--key', TEST_KEY, '--secret', 'wrong-secret-0123456789']);
      expect(code).toBe(1);
      expect(stdout).toMatch(/^401 .*E_WEBHOOK_INVALID_SIGNATURE/);
    });
  });

  describe('deliveries', () => {
    let sb: TestSwitchboard;
    let dead: number[];
    let delivered: number;
    const admin = () => ({ env: { ADMIN_TOKEN } });
    beforeAll(async () => {
      resetProbe();
      sb = await startDeliverySwitchboard();
      probe.answers.set('room-b', 'permanent');
      probe.answers.set('room-c', 'permanent');
      dead = [await emit(sb, 'room-b'), await emit(sb, 'room-c')];
      delivered = await emit(sb, 'room-a');
      for (const id of [...dead, delivered]) await deliveryWhen(sb, id);
    });
    afterAll(() => sb.stop());

    it('ls --status dead prints a table of the dead deliveries', async () => {
      const { code, stdout } = await switchboard(['deliveries', 'ls', '--status', 'dead', '--url', sb.url], admin());
      expect(code).toBe(0);
      const [header, ...rows] = stdout.trim().split('\n');
      expect(header.split(/\s{2,}/)).toEqual(['ID', 'STATE', 'RULE', 'TARGET', 'ATTEMPTS', 'DUE/UPDATED', 'LAST ERROR']);
      expect(rows).toHaveLength(2);
      for (const row of rows) expect(row).toMatch(/^\d+\s+dead\s+notify\s+room-[bc]\s+1\/1\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ\s+E_PLUGIN_PERMANENT: room-[bc] refused the call$/);
      expect(rows.map((row) => Number(row.split(' ')[0])).sort()).toEqual([...dead].sort());
    });

    it('ls --json prints the API results', async () => {
      const { code, stdout } = await switchboard(['deliveries', 'ls', '--target', 'room-a', '--json', '--url', sb.url, '--admin-token', ADMIN_TOKEN]);
      expect(code).toBe(0);
      expect(JSON.parse(stdout)).toMatchObject({ deliveries: [{ id: delivered, state: 'succeeded', target: 'room-a' }], next_cursor: null });
    });

    it('exits 1 with errcode and errmesg when the API refuses', async () => {
      const wrongToken = await switchboard(['deliveries', 'ls', '--url', sb.url], { env: { ADMIN_TOKEN: 'wrong' } });
      expect(wrongToken.code).toBe(1);
      expect(wrongToken.stderr).toMatch(/^E_ADMIN_UNAUTHORIZED: /);
      const succeeded = await switchboard(['deliveries', 'replay', String(delivered), '--url', sb.url], admin());
      expect(succeeded.code).toBe(1);
      expect(succeeded.stderr).toMatch(/^E_DELIVERY_SUCCEEDED: .*--force/);
    });

    it('replay --status dead replays every dead delivery and says which', async () => {
      probe.answers.clear();
      const { code, stdout } = await switchboard(['deliveries', 'replay', '--status', 'dead', '--url', sb.url], admin());
      expect(code).toBe(0);
      const [, count, ids] = /^replayed (\d+) deliveries: (.*)$/.exec(stdout.trim()) ?? [];
      expect(Number(count)).toBe(2);
      expect(ids.split(', ').map(Number).sort()).toEqual([...dead].sort());
      for (const id of dead) expect(await deliveryWhen(sb, id)).toMatchObject({ state: 'succeeded' });
    });

    it('replay refuses to run without an id or a filter', async () => {
      const { code, stderr } = await switchboard(['deliveries', 'replay', '--url', sb.url], admin());
      expect(code).toBe(1);
      expect(stderr).toMatch(/E_INVALID_REQUEST: deliveries replay takes a delivery id/);
    });
  });

  describe('usage', () => {
    let sb: TestSwitchboard;
    let receiver: BillingReceiver;
    const admin = () => ({ env: { ADMIN_TOKEN } });
    beforeAll(async () => {
      receiver = await startBillingReceiver();
      sb = await startTestSwitchboard({
        rules: {
          'billing.yaml': `rules:
  - id: bill
    on: participant_left
    actions:
      - plugin: billing
        with: { measure: participant_minutes, customer: "{{ room.metadataJson.customer }}", provider: http, url: "${receiver.url}/usage" }
`,
        },
      });
      await sb.deliver(sampleBody('participant_left', { id: 'EV_cli_usage_1' }));
      await sb.deliver(sampleBody('participant_left', { id: 'EV_cli_usage_2', room: { metadata: '{"customer":"cus_456"}' } }));
    });
    afterAll(async () => {
      await sb.stop();
      await receiver.close();
    });

    it('prints the totals by customer, meter and unit, then the newest records', async () => {
      const { code, stdout } = await switchboard(['usage', '--url', sb.url], admin());
      expect(code).toBe(0);
      const [totals, records] = stdout.trim().split('\n\n');
      expect(totals.split('\n').map((line) => line.split(/\s{2,}/))).toEqual([
        ['CUSTOMER', 'METER', 'QUANTITY', 'UNIT', 'RECORDS'],
        ['cus_123', 'participant_minutes', '10', 'minutes', '1'],
        ['cus_456', 'participant_minutes', '10', 'minutes', '1'],
      ]);
      const [title, header, ...rows] = records.split('\n');
      expect(title).toBe('newest records:');
      expect(header.split(/\s{2,}/)).toEqual(['ID', 'OCCURRED', 'CUSTOMER', 'METER', 'QUANTITY', 'REPORT', 'RULE', 'EVENT']);
      expect(rows).toHaveLength(2);
      expect(rows[0]).toMatch(/^2\s+2025-11-23 00:10:05Z\s+cus_456\s+participant_minutes\s+10 minutes\s+(pending|reported)\s+bill\s+EV_cli_usage_2$/);
    });

    it('filters, and prints the API results with --json', async () => {
      const { code, stdout } = await switchboard(['usage', '--customer', 'cus_456', '--from', '2025-11-23', '--json', '--url', sb.url], admin());
      expect(code).toBe(0);
      expect(JSON.parse(stdout)).toMatchObject({
        totals: [{ customer: 'cus_456', meter: 'participant_minutes', unit: 'minutes', quantity: 10, records: 1 }],
        records: [{ customer: 'cus_456', event_id: 'EV_cli_usage_2' }],
        next_cursor: null,
      });
    });

    it('says so when nothing matches, and refuses a time it cannot read', async () => {
      expect((await switchboard(['usage', '--meter', 'room_minutes', '--url', sb.url], admin())).stdout).toBe('no usage\n');
      const refused = await switchboard(['usage', '--from', 'last week', '--url', sb.url], admin());
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/^E_INVALID_REQUEST: query.from/);
    });
  });
});
