import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestSwitchboard, type TestSwitchboard } from './helpers/switchboard.ts';
import { TEST_KEY, TEST_SECRET } from './helpers/tokens.ts';

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
});
