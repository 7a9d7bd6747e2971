import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBillingReceiver, type BillingReceiver } from './helpers/billing-receiver.ts';
import { ADMIN_TOKEN, sampleBody, startTestSwitchboard, type TestSwitchboard } from './helpers/switchboard.ts';
import { TEST_KEY, TEST_SECRET } from './helpers/tokens.ts';
import { deliveryWhen, emit, probe, resetProbe, startDeliverySwitchboard } from './server/fixtures/deliveries.ts';
import { timeOption } from '../src/commands/time-option.ts';

const CLI = resolve('src/cli.ts');
/** A test that runs several commands, each a process of its own: seconds each on a loaded machine. */
const SEVERAL_COMMANDS_MS = 60_000;
const COMMANDS = [
  'serve', 'migrate', 'validate', 'test', 'send', 'deliveries ls', 'deliveries replay', 'deliveries show', 'deliveries cancel',
  'targets ls', 'targets enable', 'targets disable', 'events ls', 'events show', 'sessions ls', 'sessions show', 'audit', 'usage',
];

function switchboard(args: string[], options: { env?: Record<string, string>; stdin?: string; cwd?: string } = {}) {
  const child = spawn(process.execPath, [CLI, ...args], {
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

    it('replay refuses to run without an id or a filter', async () => {
      const { code, stderr } = await switchboard(['deliveries', 'replay', '--url', sb.url], admin());
      expect(code).toBe(1);
      expect(stderr).toMatch(/E_INVALID_REQUEST: deliveries replay takes a delivery id/);
    });
  });

  describe('events and sessions', () => {
    let sb: TestSwitchboard;
    const admin = () => ({ env: { ADMIN_TOKEN } });
    beforeAll(async () => {
      sb = await startTestSwitchboard();
      await sb.deliver(sampleBody('room_started', { id: 'EV_cli_started', room: { name: 'cli-room' } }));
      await sb.deliver(sampleBody('participant_joined', { id: 'EV_cli_joined', room: { name: 'cli-room' }, participant: { identity: 'ana' } }));
      await sb.deliver(sampleBody('room_started', { id: 'EV_cli_other', room: { name: 'other-room' } }));
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
});
