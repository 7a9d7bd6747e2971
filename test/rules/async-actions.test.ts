import { describe, expect, it } from 'vitest';
import type { EventContext } from '../../src/livekit/event-types.ts';
import type { PluginSpec } from '../../src/plugins/params.ts';
import type { CompiledAction } from '../../src/rules/types.ts';
import { compile, plugins, problemsOf, roomStarted } from './helpers.ts';

/** A rule on room_started whose one action is `plugin` (notify: async by default) with the given key lines. */
const actionWith = (keys: string[], plugin = 'notify') =>
  ['rules:', '  - id: r', '    on: room_started', '    actions:', `      - plugin: ${plugin}`, ...keys.map((key) => `        ${key}`), ''].join('\n');

const compileAction = (keys: string[], plugin = 'notify'): CompiledAction => compile(actionWith(keys, plugin)).rules[0].actions[0];

/** [line, column, message] of each problem: the action's keys start on line 6, column 9. */
const problemsWith = (keys: string[], plugin = 'notify') =>
  problemsOf(() => compile(actionWith(keys, plugin))).map((problem) => [problem.line, problem.column, problem.message]);

describe('async action keys', () => {
  it('compiles retry with a schedule to the delays in milliseconds, numbers being seconds', () => {
    const action = compileAction(['retry: { attempts: 9, schedule: [0, 500ms, 1s, 1.5, 30s, 5m, 2h, 1d, 0.25s] }', 'with: { url: u }']);
    expect(action.retry).toEqual({ attempts: 9, schedule: [0, 500, 1_000, 1_500, 30_000, 300_000, 7_200_000, 86_400_000, 250] });
  });

  it('compiles retry with attempts alone, leaving the delays to the default schedule', () => {
    expect(compileAction(['retry: { attempts: 3 }', 'with: { url: u }']).retry).toEqual({ attempts: 3 });
  });

  it('compiles retry with exponential backoff to its initial and max delays in milliseconds', () => {
    const action = compileAction(['retry: { attempts: 8, backoff: exponential, initial: 1s, max: 10m }', 'with: { url: u }']);
    expect(action.retry).toEqual({ attempts: 8, backoff: 'exponential', initialMs: 1_000, maxMs: 600_000 });
  });

  it('compiles timeout to milliseconds, for an async and an inline action alike', () => {
    expect(compileAction(['timeout: 10s', 'with: { url: u }']).timeoutMs).toBe(10_000);
    expect(compileAction(['timeout: 2.5', 'with: { key: k, status: live }'], 'status')).toMatchObject({ mode: 'inline', timeoutMs: 2_500 });
    expect(compileAction(['timeout: 10m', 'with: { url: u }']).timeoutMs).toBe(600_000);
  });

  it('compiles rateLimit as written, either limit alone or both', () => {
    expect(compileAction(['rateLimit: { perSecond: 20, concurrency: 4 }', 'with: { url: u }']).rateLimit).toEqual({ perSecond: 20, concurrency: 4 });
    expect(compileAction(['rateLimit: { perSecond: 0.5 }', 'with: { url: u }']).rateLimit).toEqual({ perSecond: 0.5 });
    expect(compileAction(['rateLimit: { concurrency: 1 }', 'with: { url: u }']).rateLimit).toEqual({ concurrency: 1 });
  });

  it('leaves retry, timeout and rateLimit undefined when not written: the engine applies its defaults', () => {
    const action = compileAction(['with: { url: u }']);
    expect(action).toMatchObject({ plugin: 'notify', mode: 'async' });
    expect([action.retry, action.timeoutMs, action.rateLimit]).toEqual([undefined, undefined, undefined]);
  });

  it('numbers each action by its position in the rule, from 0', () => {
    const ruleSet = compile(
      'rules:\n  - id: r\n    on: room_started\n    actions:\n      - { plugin: status, with: { key: k, status: live } }\n      - { plugin: notify, with: { url: a } }\n      - { plugin: notify, with: { url: b } }\n',
    );
    expect(ruleSet.rules[0].actions.map((action) => action.index)).toEqual([0, 1, 2]);
  });
});

describe('ordering key', () => {
  const defaultKey = compileAction(['with: { url: u }']).orderingKey;
  const egress = (egressInfo: Record<string, unknown>, event = 'egress_ended'): EventContext => ({
    event,
    room: { name: 'session-42' },
    egressInfo: { roomName: 'session-42', ...egressInfo },
  });

  it('defaults to the room name for room, participant and track events', () => {
    expect(defaultKey(roomStarted())).toBe('session-42');
    expect(defaultKey({ event: 'participant_joined', room: { name: 'lobby' }, participant: { identity: 'alice' } })).toBe('lobby');
    expect(defaultKey({ event: 'track_published', room: { name: 'lobby' } })).toBe('lobby');
  });

  it('defaults to the egress id for egress events, and to the ingress id for ingress events', () => {
    expect(defaultKey(egress({ egressId: 'EG_1' }))).toBe('EG_1');
    expect(defaultKey(egress({ egressId: 'EG_2' }, 'egress_started'))).toBe('EG_2');
    expect(defaultKey({ event: 'ingress_started', room: { name: 'session-42' }, ingressInfo: { ingressId: 'IN_1' } })).toBe('IN_1');
  });

  it('is null by default when the event has no such key, not the room name in its place', () => {
    expect(defaultKey(egress({}))).toBeNull();
    expect(defaultKey({ event: 'ingress_ended', room: { name: 'session-42' } })).toBeNull();
    expect(defaultKey({ event: 'room_started' })).toBeNull();
    expect(defaultKey(roomStarted({ name: '' }))).toBeNull();
    expect(defaultKey({ event: 'switchboard.delivery_dead' })).toBeNull();
  });

  it('is always null with ordering: none', () => {
    const key = compileAction(['ordering: none', 'with: { url: u }']).orderingKey;
    expect(key(roomStarted())).toBeNull();
    expect(key(egress({ egressId: 'EG_1' }))).toBeNull();
  });

  it('renders an ordering template to a string, once compiled', () => {
    const key = compileAction(['ordering: "{{ participant.identity }}"', 'with: { url: u }']).orderingKey;
    expect(key({ event: 'participant_joined', room: { name: 'lobby' }, participant: { identity: 'alice' } })).toBe('alice');
    const composite = compileAction(['ordering: "{{ room.name }}/{{ participant.identity }}"', 'with: { url: u }']).orderingKey;
    expect(composite({ event: 'participant_joined', room: { name: 'lobby' }, participant: { identity: 'bob' } })).toBe('lobby/bob');
    const numeric = compileAction(['ordering: "{{ room.numParticipants }}"', 'with: { url: u }']).orderingKey;
    expect(numeric(roomStarted({ numParticipants: 3 }))).toBe('3');
  });

  it('is null when the ordering template renders a missing or empty value', () => {
    const key = compileAction(['ordering: "{{ participant.identity }}"', 'with: { url: u }']).orderingKey;
    expect(key(roomStarted())).toBeNull();
    expect(key(roomStarted({}, { participant: { identity: '' } }))).toBeNull();
    expect(key(roomStarted({}, { participant: { identity: null } }))).toBeNull();
  });

  it('orders every delivery of the action under one key when the ordering is a fixed string', () => {
    expect(compileAction(['ordering: billing', 'with: { url: u }']).orderingKey(roomStarted())).toBe('billing');
  });
});

describe('invalid async action keys', () => {
  it('names a malformed duration where it is written', () => {
    expect(problemsWith(['timeout: 5x', 'with: { url: u }'])).toEqual([
      [6, 18, 'actions[0].timeout "5x" must be a duration: a number of seconds, or a number with a unit such as 500ms, 5s, 5m, 2h, 1d'],
    ]);
    expect(problemsWith(['retry: { attempts: 3, schedule: [0, "5 s", -1] }', 'with: { url: u }'])).toEqual([
      [6, 45, 'actions[0].retry.schedule[1] "5 s" must be a duration: a number of seconds, or a number with a unit such as 500ms, 5s, 5m, 2h, 1d'],
      [6, 52, 'actions[0].retry.schedule[2] must be >= 0'],
    ]);
    expect(problemsWith(['timeout: [1s]', 'with: { url: u }'])).toEqual([[6, 18, 'actions[0].timeout must be a number or a string']]);
  });

  it('accepts a timeout above 0 and up to 10m only', () => {
    expect(problemsWith(['timeout: 0', 'with: { url: u }'])).toEqual([[6, 18, 'actions[0].timeout must be more than 0']]);
    expect(problemsWith(['timeout: 0ms', 'with: { url: u }'])).toEqual([[6, 18, 'actions[0].timeout must be more than 0']]);
    expect(problemsWith(['timeout: 601s', 'with: { url: u }'])).toEqual([[6, 18, 'actions[0].timeout must be at most 10m']]);
    expect(problemsWith(['timeout: 1h', 'with: { url: u }'])).toEqual([[6, 18, 'actions[0].timeout must be at most 10m']]);
  });

  it('accepts 1 to 100 attempts, as a whole number, and requires them', () => {
    expect(problemsWith(['retry:', '  attempts: 0', '  schedule: [1s]', 'with: { url: u }'])).toEqual([[7, 21, 'actions[0].retry.attempts must be >= 1']]);
    expect(problemsWith(['retry:', '  attempts: 101', '  schedule: [1s]', 'with: { url: u }'])).toEqual([[7, 21, 'actions[0].retry.attempts must be <= 100']]);
    expect(problemsWith(['retry:', '  attempts: 2.5', '  schedule: [1s]', 'with: { url: u }'])).toEqual([[7, 21, 'actions[0].retry.attempts must be an integer']]);
    expect(problemsWith(['retry:', '  schedule: [1s]', 'with: { url: u }'])).toEqual([[7, 11, 'actions[0].retry is missing required key "attempts"']]);
  });

  it('takes at most one of schedule and backoff, and a schedule that is not empty', () => {
    expect(problemsWith(['retry:', '  attempts: 3', '  initial: 1s', 'with: { url: u }'])).toEqual([
      [8, 11, 'actions[0].retry.initial applies only with backoff: exponential'],
    ]);
    expect(problemsWith(['retry:', '  attempts: 3', '  schedule: [1s]', '  backoff: exponential', '  initial: 1s', '  max: 1m', 'with: { url: u }'])).toEqual([
      [9, 11, 'actions[0].retry takes schedule or backoff, not both'],
    ]);
    expect(problemsWith(['retry:', '  attempts: 3', '  schedule: []', 'with: { url: u }'])).toEqual([[8, 21, 'actions[0].retry.schedule must not be empty']]);
    expect(problemsWith(['retry:', '  attempts: 3', '  backoff: linear', '  initial: 1s', '  max: 1m', 'with: { url: u }'])).toEqual([
      [8, 20, 'actions[0].retry.backoff must be one of: exponential'],
    ]);
  });

  it('requires initial and max with backoff, initial above 0 and not above max, and neither without backoff', () => {
    expect(problemsWith(['retry:', '  attempts: 3', '  backoff: exponential', '  initial: 1s', 'with: { url: u }'])).toEqual([
      [7, 11, 'actions[0].retry with backoff: exponential needs max'],
    ]);
    expect(problemsWith(['retry:', '  attempts: 3', '  backoff: exponential', 'with: { url: u }'])).toEqual([
      [7, 11, 'actions[0].retry with backoff: exponential needs initial and max'],
    ]);
    expect(problemsWith(['retry:', '  attempts: 3', '  backoff: exponential', '  initial: 10m', '  max: 1m', 'with: { url: u }'])).toEqual([
      [9, 20, 'actions[0].retry.initial must not be more than actions[0].retry.max'],
    ]);
    expect(problemsWith(['retry:', '  attempts: 3', '  backoff: exponential', '  initial: 0', '  max: 1m', 'with: { url: u }'])).toEqual([
      [9, 20, 'actions[0].retry.initial must be more than 0'],
    ]);
    expect(problemsWith(['retry:', '  attempts: 3', '  schedule: [1s]', '  max: 1m', 'with: { url: u }'])).toEqual([
      [9, 11, 'actions[0].retry.max applies only with backoff: exponential'],
    ]);
  });

  it('requires a positive perSecond, a whole concurrency of at least 1, and at least one of them', () => {
    expect(problemsWith(['rateLimit: {}', 'with: { url: u }'])).toEqual([[6, 20, 'actions[0].rateLimit needs at least one of: perSecond, concurrency']]);
    expect(problemsWith(['rateLimit: { perSecond: 0, concurrency: 1.5 }', 'with: { url: u }'])).toEqual([
      [6, 33, 'actions[0].rateLimit.perSecond must be > 0'],
      [6, 49, 'actions[0].rateLimit.concurrency must be an integer'],
    ]);
    expect(problemsWith(['rateLimit: { concurrency: 0 }', 'with: { url: u }'])).toEqual([[6, 35, 'actions[0].rateLimit.concurrency must be >= 1']]);
    expect(problemsWith(['rateLimit: { burst: 5 }', 'with: { url: u }'])).toEqual([
      [6, 22, 'unknown key "burst" in actions[0].rateLimit (expected one of: perSecond, concurrency)'],
    ]);
  });

  it('rejects an empty ordering', () => {
    expect(problemsWith(['ordering: ""', 'with: { url: u }'])).toEqual([[6, 19, 'actions[0].ordering must not be empty']]);
  });

  it('names an invalid path in an ordering template', () => {
    expect(problemsWith(['ordering: "{{ participant identity }}"', 'with: { url: u }'])).toEqual([
      [6, 19, 'invalid path "{{ participant identity }}": use dotted names such as room.name'],
    ]);
  });

  it('refuses retry, rateLimit and ordering on an action that runs inline, with the rule id', () => {
    const problems = problemsOf(() =>
      compile(actionWith(['mode: inline', 'retry: { attempts: 3, schedule: [1s] }', 'timeout: 5s', 'rateLimit: { concurrency: 1 }', 'ordering: none', 'with: { url: u }'])),
    );
    expect(problems).toEqual([
      { file: 'rules.yaml', line: 7, column: 9, ruleId: 'r', message: 'retry applies to async actions; this action runs inline' },
      { file: 'rules.yaml', line: 9, column: 9, ruleId: 'r', message: 'rateLimit applies to async actions; this action runs inline' },
      { file: 'rules.yaml', line: 10, column: 9, ruleId: 'r', message: 'ordering applies to async actions; this action runs inline' },
    ]);
  });

  it("says when an action runs inline by its plugin's default, and how to queue it", () => {
    expect(problemsWith(['retry: { attempts: 3, schedule: [1s] }', 'with: { key: k, status: live }'], 'status')).toEqual([
      [6, 9, 'retry applies to async actions; this action runs inline (plugin "status" runs inline unless the action says mode: async)'],
    ]);
    expect(compileAction(['mode: async', 'retry: { attempts: 3, schedule: [1s] }', 'with: { key: k, status: live }'], 'status').retry).toEqual({
      attempts: 3,
      schedule: [1_000],
    });
  });
});

describe("a plugin's own check of with:", () => {
  const seen: Record<string, unknown>[] = [];
  const httpPlugin: PluginSpec = {
    name: 'http',
    inline: false,
    params: { type: 'object', required: ['url'], properties: { url: { type: 'string' }, method: { type: 'string' } } },
    check(params) {
      seen.push(params);
      const messages: string[] = [];
      if (typeof params.url === 'string' && !params.url.includes('{{') && !/^https?:\/\//.test(params.url)) {
        messages.push(`url "${params.url}" must start with http:// or https://`);
      }
      if (params.method === 'TRACE') messages.push('method TRACE is not allowed');
      return messages;
    },
  };
  const failingPlugin: PluginSpec = {
    name: 'failing',
    inline: false,
    params: { type: 'object' },
    check() {
      throw new Error('cannot read properties of undefined');
    },
  };
  const sloppyPlugin: PluginSpec = { name: 'sloppy', inline: false, params: { type: 'object' }, check: () => undefined as unknown as string[] };
  const withCheck = new Map([...plugins, ...[httpPlugin, failingPlugin, sloppyPlugin].map((spec) => [spec.name, spec] as const)]);
  const compileWithCheck = (keys: string[], plugin = 'http', env = {}) => compile(actionWith(keys, plugin), { plugins: withCheck, env });

  it('reports each message at the with block, after the plugin name, with the rule id', () => {
    const problems = problemsOf(() => compileWithCheck(['with:', '  url: ftp://example.com', '  method: TRACE']));
    expect(problems).toEqual([
      { file: 'rules.yaml', line: 7, column: 11, ruleId: 'r', message: 'plugin "http": url "ftp://example.com" must start with http:// or https://' },
      { file: 'rules.yaml', line: 7, column: 11, ruleId: 'r', message: 'plugin "http": method TRACE is not allowed' },
    ]);
  });

  it('gives the check with: as written, environment substituted and templates unrendered', () => {
    seen.length = 0;
    const ruleSet = compileWithCheck(['with: { url: "${env:HOOK}/rooms/{{ room.name }}", method: POST }'], 'http', { HOOK: 'https://hooks.example' });
    expect(seen).toEqual([{ url: 'https://hooks.example/rooms/{{ room.name }}', method: 'POST' }]);
    expect(ruleSet.rules[0].actions[0].with).toEqual(seen[0]);
  });

  it('runs the check only on params that pass the plugin schema', () => {
    seen.length = 0;
    const problems = problemsOf(() => compileWithCheck(['with: { method: TRACE }']));
    expect(seen).toEqual([]);
    expect(problems.map((problem) => problem.message)).toEqual(['plugin "http": actions[0].with is missing required key "url"']);
  });

  it('reports a check that throws or returns no list as a problem, without stopping the load', () => {
    const problems = problemsOf(() =>
      compile(
        'rules:\n  - id: r\n    on: room_started\n    actions:\n      - plugin: failing\n        with: { a: 1 }\n      - plugin: sloppy\n        with: { b: 2 }\n      - plugin: nope\n',
        { plugins: withCheck },
      ),
    );
    expect(problems.map((problem) => [problem.line, problem.column, problem.message])).toEqual([
      [6, 15, 'plugin "failing": check failed: cannot read properties of undefined'],
      [8, 15, 'plugin "sloppy": check returned undefined instead of a list of messages'],
      [9, 17, 'unknown plugin "nope" (known plugins: failing, http, notify, sloppy, status)'],
    ]);
  });
});
