import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBillingReceiver, type BillingReceiver } from './helpers/billing-receiver.ts';
import { startServeProcess } from './helpers/serve-process.ts';
import { ADMIN_TOKEN, sampleBody, startTestSwitchboard, type TestSwitchboard } from './helpers/switchboard.ts';
import { TEST_KEY, TEST_SECRET } from './helpers/tokens.ts';
import { deliveryWhen, emit, emitInTurn, probe, resetProbe, startDeliverySwitchboard } from './server/fixtures/deliveries.ts';
import { timeOption } from '../src/commands/time-option.ts';

const CLI = resolve('src/cli.ts');
/** A test that runs several commands, each a process of its own: seconds each on a loaded machine. */
const SEVERAL_COMMANDS_MS = 60_000;
const COMMANDS = [
  'serve', 'migrate', 'validate', 'test', 'send', 'deliveries ls', 'deliveries replay', 'deliveries show', 'deliveries cancel',
  'targets ls', 'targets enable', 'targets disable', 'events ls', 'events show', 'sessions ls', 'sessions show', 'audit', 'rooms ls', 'rooms show', 'usage', 'prune', 'erase',
];

type RunOptions = { env?: Record<string, string>; stdin?: string; cwd?: string };

function switchboard(args: string[], options: RunOptions = {}) {
  return run(process.execPath, [CLI, ...args], options);
}

function run(command: string, args: string[], options: RunOptions = {}) {
  const child = spawn(command, args, {
    env: { PATH: process.env.PATH, ...options.env },
    cwd: options.cwd,
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

  it('serve logs a failed start as one JSON line, as its logs are, naming the error code', async () => {
    const { code, stderr } = await switchboard(['serve', '--port', 'eighty'], { env: { LIVEKIT_KEYS: `${TEST_KEY}: ${TEST_SECRET}` } });
    expect(code).toBe(1);
    const lines = stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0])).toMatchObject({ level: 60, errcode: 'E_CONFIG_INVALID', msg: 'E_CONFIG_INVALID: PORT is "eighty": expected a port number from 0 to 65535' });
  });

  it('serve warns about a LiveKit API secret shorter than 32 characters', async () => {
    const served = await startServeProcess({
      LIVEKIT_KEYS: `${TEST_KEY}: ${TEST_SECRET}, short-key: 0123456789abcdef0123456789abcde`,
      DATABASE_URL: `file:${join(dir, 'short-secret.db')}`,
      RULES_DIR: resolve('rules'),
    });
    await served.stop();
    const warnings = served.stdout.trim().split('\n').map((line) => JSON.parse(line)).filter((line) => /shorter than 32/.test(line.msg));
    expect(warnings.map((line) => [line.level, line.api_key])).toEqual([[40, 'short-key']]);
  });

  it('serve --dev turns the admin API on with a token it makes, prints and saves in .env for the commands run there', async () => {
    const cwd = join(dir, 'dev-mode');
    mkdirSync(cwd);
    writeFileSync(join(cwd, '.env'), 'LOG_LEVEL=warn');
    const settings = { RULES_DIR: resolve('rules'), PLUGINS_DIR: resolve('plugins'), DATABASE_URL: `file:${join(cwd, 'dev.db')}` };
    const served = await startServeProcess(settings, { args: ['--dev'], cwd });
    try {
      const token = /^ADMIN_TOKEN=(\S+)$/m.exec(readFileSync(join(cwd, '.env'), 'utf8'))?.[1];
      expect(token).toMatch(/^[\w-]{32}$/);
      expect(served.stdout).toContain(token);
      const answer = await fetch(`${served.url}/api/v1/deliveries`, { headers: { Authorization: `Bearer ${token}` } });
      expect(answer.status).toBe(200);
      const listed = await switchboard(['deliveries', 'ls', '--url', served.url, '--json'], { cwd });
      expect(listed).toMatchObject({ code: 0 });
      expect(JSON.parse(listed.stdout)).toEqual({ deliveries: [], next_cursor: null });

      // Started from a checkout but outside it: the command it suggests is the checkout's bin, and works as printed.
      const suggested = /^ {2}(.* send room_started --url \S+)$/m.exec(served.stdout)?.[1];
      expect(suggested).toBe(`node ${resolve('bin/switchboard.js')} send room_started --url ${served.url}`);
      const [command, ...args] = suggested!.split(' ');
      const sent = await run(command, args, { cwd, env: { LIVEKIT_API_KEY: TEST_KEY, LIVEKIT_API_SECRET: TEST_SECRET } });
      expect(sent.stderr).toBe('');
      expect(sent.code).toBe(0);
    } finally {
      await served.stop();
    }
    // The next start in the same directory keeps the token it saved.
    const again = await startServeProcess(settings, { args: ['--dev'], cwd });
    await again.stop();
    expect(readFileSync(join(cwd, '.env'), 'utf8').match(/ADMIN_TOKEN=/g)).toHaveLength(1);
  }, 60_000); // two starts of a whole process, each allowed 30 s on a busy machine

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

  it("validate resolves ${env:NAME} from flags, the environment and .env, as settings are read", async () => {
    const cwd = join(dir, 'env-sources');
    mkdirSync(join(cwd, 'rules'), { recursive: true });
    writeFileSync(join(cwd, '.env'), 'HOOK_URL=https://hooks.example.com\n');
    writeFileSync(
      join(cwd, 'rules', 'hooks.yaml'),
      'rules:\n  - id: forward\n    on: room_started\n    actions:\n' +
        '      - plugin: http\n        mode: async\n' +
        '        with: { url: "${env:HOOK_URL}/rooms", method: POST, headers: { X-Token: "${env:ADMIN_TOKEN}" } }\n',
    );
    const pluginsDir = resolve('plugins');
    const fromDotenv = await switchboard(['validate', 'rules', '--plugins-dir', pluginsDir, '--admin-token', 'flag-token'], { cwd });
    expect(fromDotenv).toMatchObject({ code: 0, stdout: expect.stringMatching(/1 rules valid/) });

    rmSync(join(cwd, '.env'));
    const missing = await switchboard(['validate', 'rules', '--plugins-dir', pluginsDir], { cwd, env: { ADMIN_TOKEN: 'env-token' } });
    expect(missing.code).toBe(1);
    // One line: not also "url … is not a valid URL" about the text the missing variable left.
    expect(missing.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(/hooks\.yaml:7:\d+: \[forward\] environment variable HOOK_URL is not set \(referenced as \$\{env:HOOK_URL\}\)$/),
    ]);
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

  it('test hides credentials in the params it prints, as the admin API does', async () => {
    const cwd = join(dir, 'redacted');
    mkdirSync(join(cwd, 'rules', 'tests'), { recursive: true });
    writeFileSync(
      join(cwd, 'rules', 'forward.yaml'),
      'rules:\n  - id: forward\n    on: room_started\n    actions:\n' +
        '      - plugin: http\n        mode: async\n        with:\n' +
        '          url: "https://hooks.example.com/rooms?token=${env:PARTNER_TOKEN}&room={{ room.name }}"\n' +
        '          method: POST\n' +
        '          headers: { Authorization: "Bearer ${env:PARTNER_TOKEN}" }\n' +
        '          sign: { scheme: standard-webhooks, secret: "${env:PARTNER_WHSEC}" }\n',
    );
    writeFileSync(
      join(cwd, 'rules', 'tests', 'forward.yaml'),
      'tests:\n  - name: forwards\n    event: room_started\n    expect:\n      matched: [forward]\n' +
        '      actions: [{ rule: forward, plugin: http, params: { url: "https://elsewhere.example.com" } }]\n',
    );
    const env = { PARTNER_TOKEN: 'tok_live_4f2a9c', PARTNER_WHSEC: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' };
    const event = JSON.stringify({ event: 'room_started', id: 'EV_redact', room: { name: 'session-9' } });
    const dry = await switchboard(['test', '-', '--plugins-dir', resolve('plugins')], { cwd, env, stdin: event });
    expect(dry.code).toBe(0);
    expect(JSON.parse(dry.stdout).matched[0].actions[0].params).toMatchObject({
      url: 'https://hooks.example.com/rooms?token=[redacted]&room=[redacted]',
      headers: { Authorization: '[redacted]' },
      sign: { scheme: 'standard-webhooks', secret: '[redacted]' },
    });
    const tests = await switchboard(['test', '--plugins-dir', resolve('plugins')], { cwd, env });
    expect(tests.code).toBe(1);
    expect(tests.stdout).toMatch(/FAIL .*forwards/);
    for (const output of [dry.stdout, tests.stdout]) {
      expect(output).not.toContain(env.PARTNER_TOKEN);
      expect(output).not.toContain(env.PARTNER_WHSEC);
    }
  });

  it("test runs billing's prepare without side effects: the dry run shows the usage, rule tests assert on it", async () => {
    const receiver = await startBillingReceiver();
    const cwd = join(dir, 'billing-dry-run');
    mkdirSync(join(cwd, 'rules', 'tests'), { recursive: true });
    writeFileSync(
      join(cwd, 'rules', 'billing.yaml'),
      'rules:\n  - id: bill\n    on: participant_left\n    actions:\n      - plugin: billing\n        with:\n' +
        '          measure: participant_minutes\n          customer: "{{ room.metadataJson.customer }}"\n' +
        `          provider: stripe\n          baseUrl: ${receiver.url}\n          secretKey: "\${env:STRIPE_SECRET_KEY}"\n`,
    );
    writeFileSync(
      join(cwd, 'rules', 'tests', 'billing.yaml'),
      `tests:
  - name: a participant's ten minutes are billed to the room's customer
    now: 2025-11-24T16:00:00Z
    event: participant_left
    expect:
      matched: { includes: [bill] }
      actions:
        - rule: bill
          plugin: billing
          params: { customer: cus_123 }
          usage: [{ customer: cus_123, meter: participant_minutes, quantity: 10, unit: minutes, occurred_at: "2025-11-24T16:00:00.000Z" }]
  - name: a room without a customer is refused, not billed zero
    event: { event: participant_left, room: { metadata: "{}" } }
    expect:
      matched: [bill]
      actions: [{ rule: bill, plugin: billing, error: E_BILLING_CUSTOMER }]
  - name: a wrong expectation says which field differs
    event: participant_left
    expect:
      matched: [bill]
      actions: [{ rule: bill, plugin: billing, usage: [{ quantity: 11 }] }]
`,
    );
    const env = { STRIPE_SECRET_KEY: 'sk_live_dry_run_4f2a', DATABASE_URL: `file:${join(cwd, 'never.db')}` };
    try {
      const event = sampleBody('participant_left', { id: 'EV_dry_billing' });
      const dry = await switchboard(['test', '-', '--plugins-dir', resolve('plugins')], { cwd, env, stdin: event });
      expect(dry.stderr).toBe('');
      expect(dry.code).toBe(0);
      const [action] = JSON.parse(dry.stdout).matched[0].actions;
      expect(action).toMatchObject({
        plugin: 'billing',
        mode: 'async',
        params: { customer: 'cus_123', secretKey: '[redacted]' },
        prepared: { provider: { provider: 'stripe', secretKey: '[redacted]' } },
        usage: [{ identifier: expect.stringMatching(/^usage_/), customer: 'cus_123', meter: 'participant_minutes', quantity: 10, unit: 'minutes', occurred_at: '2025-11-23T00:10:05.000Z' }],
      });

      const tests = await switchboard(['test', '--plugins-dir', resolve('plugins')], { cwd, env });
      expect(tests.code).toBe(1);
      expect(tests.stdout.trim().split('\n')).toEqual([
        "PASS rules/tests/billing.yaml:2 a participant's ten minutes are billed to the room's customer",
        'PASS rules/tests/billing.yaml:12 a room without a customer is refused, not billed zero',
        'FAIL rules/tests/billing.yaml:17 a wrong expectation says which field differs',
        '     rule "bill", plugin "billing": usage[0].quantity: expected 11, recorded 10',
        'rule tests: 2 passed, 1 failed',
      ]);
      for (const output of [dry.stdout, tests.stdout]) expect(output).not.toContain(env.STRIPE_SECRET_KEY);
      // Nothing stored, nothing sent.
      expect(existsSync(join(cwd, 'never.db'))).toBe(false);
      expect(receiver.requests).toEqual([]);
    } finally {
      await receiver.close();
    }
  });

  describe('help and usage errors', () => {
    it('switchboard --help lists every command', async () => {
      const { code, stdout } = await switchboard(['--help']);
      expect(code).toBe(0);
      const listed = stdout.split('Commands:\n')[1].split('\n\n')[0].split('\n').map((line) => line.trim().split(/\s{2,}/)[0]);
      expect(listed.map((entry) => entry.replace(/ [<[].*$/, ''))).toEqual(COMMANDS);
    });

    it.each(COMMANDS)('%s --help prints its own help, generated from the table', async (name) => {
      const { code, stdout } = await switchboard([...name.split(' '), '--help']);
      expect(code).toBe(0);
      expect(stdout).toMatch(new RegExp(`^Usage: switchboard ${name}( \\S+)? \\[options\\]\n`));
    });

    it('lists the options and the settings a command reads, with their defaults', async () => {
      const { stdout } = await switchboard(['send', '--help']);
      expect(stdout).toMatch(/^ {2}--url URL +the running Switchboard's base URL \(default http:\/\/127\.0\.0\.1:\$PORT\)/m);
      expect(stdout).toMatch(/^ {2}--webhook-url URL +the whole webhook URL/m);
      expect(stdout).toMatch(/^ {2}--webhook-path WEBHOOK_PATH +default \/api\/v1\/webhooks\/livekit$/m);
      expect(stdout).toMatch(/^ {2}--port PORT +default 8080$/m);
    });

    it.each([
      [['send', '--bogus'], /^switchboard send: Unknown option '--bogus'$/, 'send'],
      [['send'], /^switchboard send: needs <event-name\|file\.json>$/, 'send'],
      [['usage', 'yesterday'], /^switchboard usage: takes no arguments, only options \(got yesterday\)$/, 'usage'],
      [['deliveries'], /^switchboard deliveries: takes ls or replay or show or cancel$/, 'deliveries'],
      [['deliveries', 'show'], /^switchboard deliveries show: needs <id>$/, 'deliveries show'],
      [['targets', 'disable', 'a', 'b'], /^switchboard targets disable: takes <target> \(got also b\)$/, 'targets disable'],
      [['events', 'ls', '--room'], /^switchboard events ls: Option '--room <value>' argument missing$/, 'events ls'],
      [['validate', '--rules-dir'], /^switchboard validate: Option '--rules-dir <value>' argument missing$/, 'validate'],
      [['launch'], /^switchboard: unknown command "launch"$/, undefined],
    ])('%j is a usage error: one line, then where the help is, exit 2', async (args, message, command) => {
      const { code, stdout, stderr } = await switchboard(args);
      expect(code).toBe(2);
      expect(stdout).toBe('');
      const lines = stderr.trimEnd().split('\n');
      expect(lines).toHaveLength(2);
      expect(lines[0]).toMatch(message);
      expect(lines[1]).toBe(command ? `see: switchboard ${command} --help` : 'see: switchboard --help');
    });

    it('deliveries --help shows the help of each of its actions', async () => {
      const { code, stdout } = await switchboard(['deliveries', '--help']);
      expect(code).toBe(0);
      expect(stdout.match(/^Usage: switchboard deliveries \w+/gm)).toEqual([
        'Usage: switchboard deliveries ls',
        'Usage: switchboard deliveries replay',
        'Usage: switchboard deliveries show',
        'Usage: switchboard deliveries cancel',
      ]);
    });
  });

  it('reads each setting from its flag, else the environment, else .env, else its default', async () => {
    const project = join(dir, 'project');
    const one = join(dir, 'one-rule');
    mkdirSync(project);
    mkdirSync(one);
    writeFileSync(join(one, 'one.yaml'), 'rules:\n  - id: only\n    on: room_started\n    actions:\n      - plugin: status\n        with: { key: "{{ room.name }}", status: live }\n');
    writeFileSync(join(project, '.env'), `RULES_DIR=${resolve('rules')}\nPLUGINS_DIR=${resolve('plugins')}\n`);
    const [fromDotenv, fromEnv, fromFlag, fromDefault] = await Promise.all([
      switchboard(['validate'], { cwd: project }),
      switchboard(['validate'], { cwd: project, env: { RULES_DIR: one } }),
      switchboard(['validate', '--rules-dir', resolve('rules')], { cwd: project, env: { RULES_DIR: one } }),
      switchboard(['validate']),
    ]);
    expect(fromDotenv.stdout).toBe(`${resolve('rules')}: 2 rules valid (2 enabled)\n`);
    expect(fromEnv.stdout).toBe(`${one}: 1 rules valid (1 enabled)\n`);
    expect(fromFlag.stdout).toBe(`${resolve('rules')}: 2 rules valid (2 enabled)\n`);
    expect(fromDefault.stdout).toBe('./rules: 2 rules valid (2 enabled)\n');
  }, 60_000);

  describe('time options', () => {
    const now = Date.parse('2026-03-10T12:00:00Z');
    it.each([
      ['30m', '2026-03-10T11:30:00.000Z'],
      ['2h', '2026-03-10T10:00:00.000Z'],
      ['7d', '2026-03-03T12:00:00.000Z'],
    ])('reads %s as that long before now', (value, expected) => {
      expect(timeOption(value, now)).toBe(expected);
    });

    it.each(['2025-05-01', '2025-05-01T12:00:00Z', '2025', 'last week'])('passes %s on as it is, for the admin API to read or refuse', (value) => {
      expect(timeOption(value, now)).toBe(value);
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

    it('adds WEBHOOK_PATH to a --url that is the base URL', async () => {
      const { code, stdout } = await switchboard(['send', 'room_started', '--url', sb.url, '--key', TEST_KEY, '--secret', TEST_SECRET]);
      expect(code).toBe(0);
      expect(stdout).toMatch(/^200 /);
    });

    it('takes a whole webhook URL from --webhook-url, whatever --url says', async () => {
      const args = ['send', 'room_started', '--webhook-url', sb.webhookUrl, '--url', 'http://127.0.0.1:1', '--key', TEST_KEY, '--secret', TEST_SECRET];
      const { code, stdout } = await switchboard(args);
      expect(code).toBe(0);
      expect(stdout).toMatch(/^200 /);
    });

    it('finds the service at http://127.0.0.1:$PORT without --url, and signs with LIVEKIT_API_KEY', async () => {
      const port = new URL(sb.url).port;
      const { code, stdout } = await switchboard(['send', 'room_started'], {
        env: { PORT: port, LIVEKIT_API_KEY: TEST_KEY, LIVEKIT_API_SECRET: TEST_SECRET },
      });
      expect(code).toBe(0);
      expect(stdout).toMatch(/^200 /);
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
      sb = await startDeliverySwitchboard({}, { inTurn: true });
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
      expect(header.split(/\s{2,}/)).toEqual(['ID', 'STATE', 'HELD', 'RULE', 'TARGET', 'ATTEMPTS', 'DUE/UPDATED', 'LAST ERROR']);
      expect(rows).toHaveLength(2);
      for (const row of rows) expect(row).toMatch(/^\d+\s+dead\s+-\s+notify\s+room-[bc]\s+1\/1\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ\s+E_PLUGIN_PERMANENT: room-[bc] refused the call$/);
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

    it('ls --event and --since/--until (relative or ISO 8601) filter the list', async () => {
      const { stdout } = await switchboard(['deliveries', 'ls', '--target', 'room-a', '--json', '--url', sb.url], admin());
      const [{ event_id: eventId }] = JSON.parse(stdout).deliveries;
      const byEvent = await switchboard(['deliveries', 'ls', '--event', eventId, '--json', '--url', sb.url], admin());
      expect(JSON.parse(byEvent.stdout).deliveries.map((d: { id: number }) => d.id)).toEqual([delivered]);
      const recent = await switchboard(['deliveries', 'ls', '--since', '1h', '--json', '--url', sb.url], admin());
      expect(JSON.parse(recent.stdout).deliveries).toHaveLength(3);
      const future = new Date(Date.now() + 3_600_000).toISOString();
      const none = await switchboard(['deliveries', 'ls', '--since', future, '--url', sb.url], admin());
      expect(none.stdout.trim()).toBe('no deliveries');
      const old = await switchboard(['deliveries', 'ls', '--until', '1h', '--json', '--url', sb.url], admin());
      expect(JSON.parse(old.stdout).deliveries).toEqual([]);
      const unreadable = await switchboard(['deliveries', 'ls', '--since', 'last week', '--url', sb.url], admin());
      expect(unreadable.code).toBe(1);
      expect(unreadable.stderr).toMatch(/^E_INVALID_REQUEST: query\.since "last week" must match/);
    }, SEVERAL_COMMANDS_MS);

    it('show prints the delivery and every attempt it took', async () => {
      const { code, stdout } = await switchboard(['deliveries', 'show', String(dead[0]), '--url', sb.url], admin());
      expect(code).toBe(0);
      const [facts, attempts] = stdout.trim().split('\n\n');
      expect(facts).toMatch(new RegExp(`^delivery +${dead[0]}$`, 'm'));
      expect(facts).toMatch(/^rule +notify #0 \(probe\)$/m);
      const [header, ...rows] = attempts.split('\n');
      expect(header.split(/\s{2,}/)).toEqual(['#', 'STARTED', 'DURATION', 'STATUS', 'OUTCOME', 'ERROR', 'ANSWER']);
      expect(rows.length).toBeGreaterThanOrEqual(1);
      expect(rows[0]).toMatch(/^1 .* failed +E_PLUGIN_PERMANENT: room-[bc] refused the call/);
      const missing = await switchboard(['deliveries', 'show', '999999', '--url', sb.url], admin());
      expect(missing.code).toBe(1);
      expect(missing.stderr).toMatch(/^E_NOT_FOUND: no delivery 999999/);
    }, SEVERAL_COMMANDS_MS);

    it('targets disable holds a target\'s deliveries, deliveries cancel cancels one, targets enable lets the rest run', async () => {
      const off = await switchboard(['targets', 'disable', 'room-z', '--reason', 'maintenance', '--url', sb.url], admin());
      expect(off.code).toBe(0);
      expect(off.stdout.trim()).toBe('room-z: disabled');
      const held = [await emit(sb, 'room-z'), await emit(sb, 'room-z')];
      const listed = await switchboard(['targets', 'ls', '--url', sb.url], admin());
      expect(listed.stdout).toMatch(/^room-z +disabled \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ +closed +0 +0 +maintenance$/m);

      const cancelled = await switchboard(['deliveries', 'cancel', String(held[0]), '--url', sb.url], admin());
      expect(cancelled.code).toBe(0);
      expect(cancelled.stdout.trim()).toBe(`cancelled 1 delivery: ${held[0]}`);
      const again = await switchboard(['deliveries', 'cancel', String(held[0]), '--url', sb.url], admin());
      expect(again.code).toBe(1);
      expect(again.stderr).toMatch(/^E_DELIVERY_NOT_CANCELLABLE: /);

      const on = await switchboard(['targets', 'enable', 'room-z', '--json', '--url', sb.url], admin());
      expect(JSON.parse(on.stdout)).toMatchObject({ target: 'room-z', disabled: false });
      expect(await deliveryWhen(sb, held[1])).toMatchObject({ state: 'succeeded' });
      expect((await deliveryWhen(sb, held[0])).state).toBe('cancelled');

      const audit = await switchboard(['audit', '--limit', '2', '--url', sb.url], admin());
      const [entries, more] = audit.stdout.trim().split('\n\n');
      const [header, ...rows] = entries.split('\n');
      expect(header.split(/\s{2,}/)).toEqual(['ID', 'AT', 'ACTION', 'SUBJECT', 'BY', 'DETAILS']);
      expect(rows.map((row) => row.split(/\s{2,}/)[2])).toEqual(['target.enable', 'delivery.cancel']);
      expect(more).toMatch(/^more: --cursor \d+$/);
    }, SEVERAL_COMMANDS_MS);

    it('ls and show say held: ordering of a delivery waiting for an earlier one of its group', async () => {
      probe.answers.set('room-q', 'retryable');
      const first = await emitInTurn(sb, 'room-q');
      await deliveryWhen(sb, first, (delivery) => delivery.state === 'failed-waiting-retry');
      const second = await emitInTurn(sb, 'room-q');
      const listed = await switchboard(['deliveries', 'ls', '--rule', 'in-turn', '--url', sb.url], admin());
      const rows = listed.stdout.trim().split('\n').slice(1).map((row) => row.split(/\s{2,}/).slice(0, 3));
      expect(rows).toEqual([
        [String(second), 'pending', 'ordering'],
        [String(first), 'failed-waiting-retry', '-'],
      ]);
      const shown = await switchboard(['deliveries', 'show', String(second), '--url', sb.url], admin());
      expect(shown.stdout).toMatch(/^held +ordering$/m);
      await sb.adminPost(`/api/v1/deliveries/${first}/cancel`);
    }, SEVERAL_COMMANDS_MS);

    it('replay refuses to run without an id or a filter', async () => {
      const { code, stderr } = await switchboard(['deliveries', 'replay', '--url', sb.url], admin());
      expect(code).toBe(1);
      expect(stderr).toMatch(/E_INVALID_REQUEST: deliveries replay takes a delivery id/);
    });
  });

  describe('rooms', () => {
    let sb: TestSwitchboard;
    const admin = () => ({ env: { ADMIN_TOKEN } });
    beforeAll(async () => {
      sb = await startTestSwitchboard();
      await sb.deliver(sampleBody('room_started'));
      await sb.deliver(sampleBody('participant_joined'));
    });
    afterAll(() => sb.stop());

    it('lists the rooms, then shows one with who is present and its last events', async () => {
      const listed = await switchboard(['rooms', 'ls', '--status', 'live', '--url', sb.url], admin());
      expect(listed.code).toBe(0);
      expect(listed.stdout.trim().split('\n').map((line) => line.split(/\s{2,}/))).toEqual([
        ['NAME', 'STATUS', 'STARTED', 'FINISHED', 'SID'],
        ['session-42', 'live', '2025-11-23 00:00:00Z', '-', 'RM_hycBMAjmt6Ub'],
      ]);
      const shown = await switchboard(['rooms', 'show', 'session-42', '--url', sb.url], admin());
      expect(shown.code).toBe(0);
      expect(shown.stdout).toMatch(/^session-42 \(RM_hycBMAjmt6Ub\): live/);
      expect(shown.stdout).toMatch(/^alice\s+2025-11-23 00:00:05Z\s+PA_8kz1iNVhSUkH$/m);
      expect(shown.stdout).toMatch(/participant_joined\s+EV_/);
      const missing = await switchboard(['rooms', 'show', 'nowhere', '--url', sb.url], admin());
      expect(missing.stderr).toMatch(/E_NOT_FOUND/);
    });
  });

  describe('events and sessions', () => {
    let sb: TestSwitchboard;
    const admin = () => ({ env: { ADMIN_TOKEN } });
    beforeAll(async () => {
      sb = await startTestSwitchboard();
      await sb.deliver(sampleBody('room_started', { id: 'EV_cli_started', room: { name: 'cli-room' } }));
      await sb.deliver(sampleBody('participant_joined', { id: 'EV_cli_joined', room: { name: 'cli-room' }, participant: { identity: 'ana' } }));
      await sb.deliver(sampleBody('room_started', { id: 'EV_cli_other', room: { name: 'other-room', sid: 'RM_cli_other' } }));
    });
    afterAll(() => sb.stop());

    it('events ls searches by room, participant and type, newest first, a page at a time', async () => {
      const { code, stdout } = await switchboard(['events', 'ls', '--room', 'cli-room', '--url', sb.url], admin());
      expect(code).toBe(0);
      const [header, ...rows] = stdout.trim().split('\n');
      expect(header.split(/\s{2,}/)).toEqual(['RECEIVED', 'TYPE', 'ROOM', 'PARTICIPANT', 'EVENT']);
      expect(rows.map((row) => row.split(/\s{2,}/).slice(1))).toEqual([
        ['participant_joined', 'cli-room', 'ana', 'EV_cli_joined'],
        ['room_started', 'cli-room', '-', 'EV_cli_started'],
      ]);
      const ana = await switchboard(['events', 'ls', '--participant', 'ana', '--type', 'participant_joined', '--since', '10m', '--json', '--url', sb.url], admin());
      expect(JSON.parse(ana.stdout).events.map((e: { event_id: string }) => e.event_id)).toEqual(['EV_cli_joined']);
      const paged = await switchboard(['events', 'ls', '--limit', '2', '--url', sb.url], admin());
      const cursor = /^more: --cursor (\d+)$/m.exec(paged.stdout)?.[1];
      const next = await switchboard(['events', 'ls', '--limit', '2', '--cursor', String(cursor), '--json', '--url', sb.url], admin());
      expect(JSON.parse(next.stdout).events.map((e: { event_id: string }) => e.event_id)).toEqual(['EV_cli_started']);
    }, SEVERAL_COMMANDS_MS);

    it('events show prints the matched rules, each action and the payload', async () => {
      const { code, stdout } = await switchboard(['events', 'show', 'EV_cli_started', '--url', sb.url], admin());
      expect(code).toBe(0);
      expect(stdout).toMatch(/^matched +session-live$/m);
      expect(stdout).toMatch(/^session-live +status +succeeded +-/m);
      expect(stdout).toContain('"name": "cli-room"');
    });

    it('sessions ls lists by key and status; sessions show prints the history', async () => {
      const live = await switchboard(['sessions', 'ls', '--status', 'live', '--url', sb.url], admin());
      const [header, ...rows] = live.stdout.trim().split('\n');
      expect(header.split(/\s{2,}/)).toEqual(['KEY', 'STATUS', 'UPDATED', 'BY EVENT']);
      expect(rows.map((row) => row.split(/\s{2,}/)[0])).toEqual(['cli-room', 'other-room']);
      expect((await switchboard(['sessions', 'ls', '--status', 'stopped', '--url', sb.url], admin())).stdout.trim()).toBe('no sessions');
      const shown = await switchboard(['sessions', 'show', 'cli-room', '--url', sb.url], admin());
      expect(shown.code).toBe(0);
      expect(shown.stdout).toMatch(/^status +live$/m);
      expect(shown.stdout).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ +\S+ +live +room_started EV_cli_started$/m);
    }, SEVERAL_COMMANDS_MS);
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
      // Another participant (its own sid: each participant leaves once) in another customer's room.
      await sb.deliver(
        sampleBody('participant_left', {
          id: 'EV_cli_usage_2',
          room: { sid: 'RM_cli_usage_2', metadata: '{"customer":"cus_456"}' },
          participant: { sid: 'PA_cli_usage_2' },
        }),
      );
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

    it('reads --from and --to as how long ago', async () => {
      const before = await switchboard(['usage', '--to', '1d', '--json', '--url', sb.url], admin());
      expect(before.code).toBe(0);
      expect(JSON.parse(before.stdout).records).toHaveLength(2);
      const since = await switchboard(['usage', '--from', '30m', '--url', sb.url], admin());
      expect(since.stdout).toBe('no usage\n');
    });

    it('says so when nothing matches, and refuses a time it cannot read', async () => {
      expect((await switchboard(['usage', '--meter', 'room_minutes', '--url', sb.url], admin())).stdout).toBe('no usage\n');
      const refused = await switchboard(['usage', '--from', 'last week', '--url', sb.url], admin());
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/^E_INVALID_REQUEST: query.from/);
    });
  });

  describe('data lifecycle', () => {
    let sb: TestSwitchboard;
    beforeAll(async () => {
      sb = await startTestSwitchboard();
      await sb.deliver(sampleBody('participant_joined', { id: 'EV_cli_erase', participant: { identity: 'zoe' } }));
    });
    afterAll(() => sb.stop());

    it('prune --dry-run counts what would go by table, and removes nothing', async () => {
      const env = { DATABASE_URL: sb.databaseUrl, RETENTION_EVENTS: '1s', RETENTION_SESSIONS: '1s' };
      await new Promise((resolve) => setTimeout(resolve, 1100));
      const { code, stdout } = await switchboard(['prune', '--dry-run', '--json'], { env });
      expect(code).toBe(0);
      expect(JSON.parse(stdout)).toMatchObject({ dry_run: true, rows: { deliveries: 0, events: 1, event_tombstones: 0 } });
      expect((await sb.admin('/api/v1/events/EV_cli_erase')).json.results.payload).not.toBeNull();
      const table = await switchboard(['prune', '--dry-run'], { env });
      expect(table.stdout).toMatch(/^TABLE\s+WOULD GO$/m);
    });

    it('erase --participant erases through the admin API; one of --participant, --room is needed', async () => {
      const env = { ADMIN_TOKEN };
      const { code, stdout } = await switchboard(['erase', '--participant', 'zoe', '--json', '--url', sb.url], { env });
      expect(code).toBe(0);
      expect(JSON.parse(stdout)).toMatchObject({ erased: { events: 1 } });
      expect((await sb.admin('/api/v1/events/EV_cli_erase')).json.results.payload.participant.identity).toBe('[erased]');
      const refused = await switchboard(['erase', '--url', sb.url], { env });
      expect(refused.code).toBe(2);
      expect(refused.stderr).toMatch(/^switchboard erase: needs one of --participant IDENTITY or --room NAME/);
    });
  });
});
