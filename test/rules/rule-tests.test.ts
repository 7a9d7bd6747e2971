import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { EventContext, LiveKitEvent } from '../../src/livekit/event-types.ts';
import { buildContext } from '../../src/livekit/event.ts';
import { sampleEvent } from '../../src/livekit/samples.ts';
import { compileRuleTestSources, loadRuleTests, RULE_TEST_EVENT_ID, runRuleTests, type TestEvents } from '../../src/rules/rule-tests.ts';
import { compile, problemsOf, renderActions } from './helpers.ts';

const samples: Record<string, LiveKitEvent> = {
  room_started: { event: 'room_started', room: { name: 'session-42', metadata: '{"plan":"pro"}' } },
  participant_joined: { event: 'participant_joined', room: { name: 'session-42' }, participant: { identity: 'alice' } },
};

const events: TestEvents = {
  sampleFor: (name) => samples[name],
  buildContext: (event): EventContext => {
    const context = structuredClone(event);
    if (context.room?.metadata) context.room.metadataJson = JSON.parse(context.room.metadata);
    return context;
  },
  preview: renderActions,
};

const ruleSet = compile(`rules:
  - id: pro-live
    on: room_started
    filter: { room.metadataJson.plan: pro }
    actions:
      - plugin: status
        with: { key: "{{ room.name }}", status: live }
  - id: joined
    on: participant_joined
    actions:
      - plugin: notify
        with: { url: "https://x/{{ participant.identity }}" }
`);

const testsFrom = (text: string) => compileRuleTestSources({ sources: [{ file: 'tests/t.yaml', text }], env: {} });

describe('rule test files', () => {
  it('passes a test whose expectations hold, naming where it was written', async () => {
    const tests = testsFrom(`tests:
  - name: pro room goes live
    event: room_started
    expect:
      matched: [pro-live]
      actions:
        - { rule: pro-live, plugin: status, params: { key: session-42, status: live } }
`);
    expect(await runRuleTests(ruleSet, tests, events)).toEqual([
      { name: 'pro room goes live', file: 'tests/t.yaml', line: 2, column: 5, passed: true, differences: [] },
    ]);
  });

  it('deep-merges an event object onto the sample it names', async () => {
    const tests = testsFrom(`tests:
  - name: free room stays as it is
    event: { event: room_started, room: { metadata: '{"plan":"free"}' } }
    expect: { matched: [] }
  - name: another pro room
    event: { event: room_started, room: { name: session-7 } }
    expect:
      matched: [pro-live]
      actions: [{ rule: pro-live, plugin: status, params: { key: session-7, status: live } }]
`);
    expect((await runRuleTests(ruleSet, tests, events)).map((result) => [result.passed, result.differences])).toEqual([
      [true, []],
      [true, []],
    ]);
  });

  it('says how the matched rules differ from the expected ones', async () => {
    const tests = testsFrom(`tests:
  - name: wrong
    event: participant_joined
    expect: { matched: [pro-live, joined] }
`);
    expect((await runRuleTests(ruleSet, tests, events))[0]).toMatchObject({
      passed: false,
      differences: ['matched [joined], expected [pro-live, joined]'],
    });
  });

  it('says how rendered params differ, and when an expected action is missing', async () => {
    const tests = testsFrom(`tests:
  - name: wrong params
    event: participant_joined
    expect:
      matched: [joined]
      actions:
        - { rule: joined, plugin: notify, params: { url: "https://x/bob" } }
        - { rule: joined, plugin: status }
`);
    expect((await runRuleTests(ruleSet, tests, events))[0].differences).toEqual([
      'rule "joined", plugin "notify": params.url: expected "https://x/bob", rendered "https://x/alice"',
      'expected an action of rule "joined" with plugin "status"; there is none',
    ]);
  });

  it('fails a test naming an event with no sample', async () => {
    const tests = testsFrom('tests:\n  - { name: typo, event: room_stared, expect: { matched: [] } }\n');
    expect((await runRuleTests(ruleSet, tests, events))[0]).toMatchObject({ passed: false, differences: ['no sample event named "room_stared"'] });
  });

  it('uses an event object as is when there is no sample of its name', async () => {
    const tests = testsFrom('tests:\n  - { name: custom, event: { event: custom_event }, expect: { matched: [] } }\n');
    expect((await runRuleTests(ruleSet, tests, events))[0].passed).toBe(true);
  });

  it('names file, line and column of a problem in a test file', () => {
    const problems = problemsOf(() =>
      testsFrom('tests:\n  - name: t\n    event: room_started\n    expect: { matched: [], rules: [] }\n  - name: u\n'),
    );
    expect(problems.map((problem) => [problem.file, problem.line, problem.column, problem.message])).toEqual([
      ['tests/t.yaml', 4, 28, 'unknown key "rules" in expect (expected one of: matched, actions)'],
      ['tests/t.yaml', 5, 5, 'test is missing required key "event"'],
      ['tests/t.yaml', 5, 5, 'test is missing required key "expect"'],
    ]);
  });
});

describe('rule test expectations', () => {
  const forwarding = compile(`rules:
  - id: forward
    on: participant_joined
    actions:
      - plugin: notify
        with:
          url: "https://x/{{ participant.identity }}"
          body: { room: "{{ room.name }}", who: { identity: "{{ participant.identity }}", role: guest }, tags: [a, b] }
  - id: also
    on: participant_joined
    actions:
      - plugin: status
        with: { key: "{{ room.name }}", status: busy }
`);
  const run = async (text: string, on = forwarding, with_: Partial<TestEvents> = {}) =>
    (await runRuleTests(on, testsFrom(text), { ...events, ...with_ })).map((result) => result.differences);

  it('compares only the params written, object by object; lists compare whole', async () => {
    expect(await run(`tests:
  - name: subset
    event: participant_joined
    expect:
      matched: [forward, also]
      actions: [{ rule: forward, plugin: notify, params: { body: { who: { identity: alice } }, url: "https://x/alice" } }]
  - name: lists whole
    event: participant_joined
    expect:
      matched: [forward, also]
      actions: [{ rule: forward, plugin: notify, params: { body: { tags: [a] } } }]
`)).toEqual([[], ['rule "forward", plugin "notify": params.body.tags: expected ["a"], rendered ["a","b"]']]);
  });

  it('names each differing key path with what was expected and what was rendered', async () => {
    expect(await run(`tests:
  - name: wrong
    event: participant_joined
    expect:
      matched: [forward, also]
      actions:
        - rule: forward
          plugin: notify
          params: { body: { room: session-7, who: { role: host, team: red } }, "X-Trace": on }
`)).toEqual([[
      'rule "forward", plugin "notify": params.body.room: expected "session-7", rendered "session-42"',
      'rule "forward", plugin "notify": params.body.who.role: expected "host", rendered "guest"',
      'rule "forward", plugin "notify": params.body.who.team: expected "red", not rendered',
      'rule "forward", plugin "notify": params["X-Trace"]: expected "on", not rendered',
    ]]);
  });

  it('shows the values of a difference redacted when the caller redacts', async () => {
    const secret = compile(`rules:
  - id: forward
    on: participant_joined
    actions:
      - plugin: notify
        with: { url: "https://x/", body: { token: "tok_live_1" } }
`);
    const differences = await run(`tests:
  - name: t
    event: participant_joined
    expect:
      matched: [forward]
      actions: [{ rule: forward, plugin: notify, params: { body: { token: tok_test_2 } } }]
`, secret, { showParams: (value) => JSON.parse(JSON.stringify(value).replaceAll(/tok_\w+/g, '[redacted]')) });
    expect(differences).toEqual([['rule "forward", plugin "notify": params.body.token: expected "[redacted]", rendered "[redacted]"']]);
  });

  it('takes matched as a list (exactly these, in order), exactly: or includes:', async () => {
    expect(await run(`tests:
  - { name: plain, event: participant_joined, expect: { matched: [forward, also] } }
  - { name: plain order, event: participant_joined, expect: { matched: [also, forward] } }
  - { name: exactly, event: participant_joined, expect: { matched: { exactly: [forward] } } }
  - { name: includes, event: participant_joined, expect: { matched: { includes: [also] } } }
  - { name: includes missing, event: participant_joined, expect: { matched: { includes: [also, pro-live, other] } } }
`)).toEqual([
      [],
      ['matched [forward, also], expected [also, forward]'],
      ['matched [forward, also], expected [forward]'],
      [],
      ['matched [forward, also], which does not include [pro-live, other]'],
    ]);
  });

  it('refuses a matched object with another key, with both or with none', () => {
    const problems = problemsOf(() =>
      testsFrom(`tests:
  - { name: a, event: room_started, expect: { matched: { some: [x] } } }
  - { name: b, event: room_started, expect: { matched: { exactly: [x], includes: [y] } } }
  - { name: c, event: room_started, expect: { matched: {} } }
`),
    );
    expect(problems.map((problem) => [problem.line, problem.message])).toEqual([
      [2, 'unknown key "some" in expect.matched (expected one of: exactly, includes)'],
      [3, 'matched takes a list of rule ids, or one of exactly: and includes:'],
      [4, 'matched takes a list of rule ids, or one of exactly: and includes:'],
    ]);
  });

  it('checks the usage prepare records: as many records, each by the fields written', async () => {
    const billed = { identifier: 'usage_1', customer: 'cus_1', meter: 'participant_minutes', quantity: 10, unit: 'minutes', occurred_at: '2025-11-23T00:10:05.000Z' };
    const preview: TestEvents['preview'] = async (rules, event) =>
      (await renderActions(rules, event)).map((action) => (action.plugin === 'notify' ? { ...action, usage: [billed] } : action));
    expect(await run(`tests:
  - name: billed
    event: participant_joined
    expect:
      matched: [forward, also]
      actions: [{ rule: forward, plugin: notify, usage: [{ customer: cus_1, quantity: 10, unit: minutes }] }]
  - name: wrong quantity
    event: participant_joined
    expect:
      matched: [forward, also]
      actions: [{ rule: forward, plugin: notify, usage: [{ customer: cus_1, quantity: 11 }] }]
  - name: nothing billed
    event: participant_joined
    expect:
      matched: [forward, also]
      actions: [{ rule: forward, plugin: notify, usage: [] }]
`, forwarding, { preview })).toEqual([
      [],
      ['rule "forward", plugin "notify": usage[0].quantity: expected 11, recorded 10'],
      [`rule "forward", plugin "notify": usage: expected [], recorded [${JSON.stringify(billed)}]`],
    ]);
  });

  it('fails a test when an action would fail, unless the test expects that error', async () => {
    const failing = compile(`rules:
  - id: forward
    on: participant_joined
    actions:
      - plugin: notify
        with: { url: { $logic: { "/": [1, { var: nothing }] } } }
`);
    const preview: TestEvents['preview'] = async (rules, event) =>
      (await renderActions(rules, event)).map((action) => ({ ...action, error: { code: 'E_BILLING_CUSTOMER', message: 'customer rendered empty' } }));
    expect(await run(`tests:
  - { name: unexpected, event: participant_joined, expect: { matched: [forward] } }
  - { name: expected, event: participant_joined, expect: { matched: [forward], actions: [{ rule: forward, plugin: notify, error: E_BILLING_CUSTOMER }] } }
  - { name: another, event: participant_joined, expect: { matched: [forward], actions: [{ rule: forward, plugin: notify, error: E_RULE_RENDER }] } }
`, failing, { preview })).toEqual([
      ['rule "forward", plugin "notify": fails with E_BILLING_CUSTOMER: customer rendered empty'],
      [],
      [
        'rule "forward", plugin "notify": fails with E_BILLING_CUSTOMER: customer rendered empty',
        'rule "forward", plugin "notify": expected to fail with E_RULE_RENDER, it fails with E_BILLING_CUSTOMER: customer rendered empty',
      ],
    ]);
    expect(await run(`tests:
  - { name: succeeds, event: participant_joined, expect: { matched: [forward, also], actions: [{ rule: also, plugin: status, error: E_RULE_RENDER }] } }
`)).toEqual([['rule "also", plugin "status": expected to fail with E_RULE_RENDER, it does not fail']]);
  });

  it('fixes the sample event with now: its createdAt and the times derived from it, and its id', async () => {
    const timed = compile(`rules:
  - id: left
    on: participant_left
    actions:
      - plugin: notify
        with: { url: "https://x/", body: { id: "{{ id }}", at: "{{ createdAt }}", joined: "{{ participant.joinedAtMs }}" } }
`);
    const seen: unknown[] = [];
    const sampleFor: TestEvents['sampleFor'] = (name, at) => {
      seen.push(at);
      return sampleEvent(name, at);
    };
    expect(await run(`tests:
  - name: fixed
    now: 2025-11-24T16:00:00Z
    event: participant_left
    expect:
      matched: [left]
      actions: [{ rule: left, plugin: notify, params: { body: { id: EV_rule_test, at: "1764000000", joined: "1763999400210" } } }]
`, timed, { sampleFor, buildContext })).toEqual([[]]);
    expect(seen).toEqual([{ now: new Date('2025-11-24T16:00:00Z'), id: RULE_TEST_EVENT_ID }]);
  });

  it('refuses a now that is not an ISO 8601 time', () => {
    const problems = problemsOf(() =>
      testsFrom(`tests:
  - { name: a, now: yesterday, event: room_started, expect: { matched: [] } }
  - { name: b, now: 2025-13-45T00:00:00Z, event: room_started, expect: { matched: [] } }
`),
    );
    expect(problems.map((problem) => [problem.line, problem.message])).toEqual([
      [2, 'now "yesterday" must be an ISO 8601 time such as 2025-11-23T00:10:00Z'],
      [3, 'now "2025-13-45T00:00:00Z" is not a valid time'],
    ]);
  });
});

describe('loadRuleTests', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('reads the test files under <rules dir>/tests/, and none when there is no such folder', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'switchboard-rule-tests-'));
    dirs.push(dir);
    expect(await loadRuleTests(dir)).toEqual([]);
    fs.mkdirSync(path.join(dir, 'tests'));
    fs.writeFileSync(path.join(dir, 'tests', 'b.yml'), 'tests:\n  - { name: second, event: room_started, expect: { matched: [] } }\n');
    fs.writeFileSync(path.join(dir, 'tests', 'a.yaml'), 'tests:\n  - { name: first, event: room_started, expect: { matched: [] } }\n');
    const tests = await loadRuleTests(dir);
    expect(tests.map((test) => [test.name, test.file])).toEqual([
      ['first', path.join(dir, 'tests', 'a.yaml')],
      ['second', path.join(dir, 'tests', 'b.yml')],
    ]);
  });
});
