import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { EventContext, LiveKitEvent } from '../../src/livekit/event-types.ts';
import { compileRuleTestSources, loadRuleTests, runRuleTests, type TestEvents } from '../../src/rules/rule-tests.ts';
import { compile, problemsOf } from './helpers.ts';

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
  it('passes a test whose expectations hold, naming where it was written', () => {
    const tests = testsFrom(`tests:
  - name: pro room goes live
    event: room_started
    expect:
      matched: [pro-live]
      actions:
        - { rule: pro-live, plugin: status, params: { key: session-42, status: live } }
`);
    expect(runRuleTests(ruleSet, tests, events)).toEqual([
      { name: 'pro room goes live', file: 'tests/t.yaml', line: 2, column: 5, passed: true, differences: [] },
    ]);
  });

  it('deep-merges an event object onto the sample it names', () => {
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
    expect(runRuleTests(ruleSet, tests, events).map((result) => [result.passed, result.differences])).toEqual([
      [true, []],
      [true, []],
    ]);
  });

  it('says how the matched rules differ from the expected ones', () => {
    const tests = testsFrom(`tests:
  - name: wrong
    event: participant_joined
    expect: { matched: [pro-live, joined] }
`);
    expect(runRuleTests(ruleSet, tests, events)[0]).toMatchObject({
      passed: false,
      differences: ['matched [joined], expected [pro-live, joined]'],
    });
  });

  it('says how rendered params differ, and when an expected action is missing', () => {
    const tests = testsFrom(`tests:
  - name: wrong params
    event: participant_joined
    expect:
      matched: [joined]
      actions:
        - { rule: joined, plugin: notify, params: { url: "https://x/bob" } }
        - { rule: joined, plugin: status }
`);
    expect(runRuleTests(ruleSet, tests, events)[0].differences).toEqual([
      'rule "joined", plugin "notify": expected params {"url":"https://x/bob"}, rendered {"url":"https://x/alice"}',
      'expected an action of rule "joined" with plugin "status"; there is none',
    ]);
  });

  it('fails a test naming an event with no sample', () => {
    const tests = testsFrom('tests:\n  - { name: typo, event: room_stared, expect: { matched: [] } }\n');
    expect(runRuleTests(ruleSet, tests, events)[0]).toMatchObject({ passed: false, differences: ['no sample event named "room_stared"'] });
  });

  it('uses an event object as is when there is no sample of its name', () => {
    const tests = testsFrom('tests:\n  - { name: custom, event: { event: custom_event }, expect: { matched: [] } }\n');
    expect(runRuleTests(ruleSet, tests, events)[0].passed).toBe(true);
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
