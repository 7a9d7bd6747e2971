import { describe, expect, it } from 'vitest';
import { isSwitchboardError } from '../../src/errors.ts';
import { compileRuleSources } from '../../src/rules/compile.ts';
import { compile, plugins, problemsOf } from './helpers.ts';

const lines = (...text: string[]) => `${text.join('\n')}\n`;

describe('rule file validation', () => {
  it('names file, line and column of bad YAML syntax', () => {
    const problems = problemsOf(() =>
      compile(lines('rules:', '  - id: a', '    on: [room_started', '    actions: []'), { file: 'broken.yaml' }),
    );
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({ file: 'broken.yaml', line: 4, column: 5 });
    expect(problems[0].message).toMatch(/^invalid YAML: /);
  });

  it('names file, line and column of an unknown key, with the rule id and the keys it expected', () => {
    const problems = problemsOf(() =>
      compile(
        lines(
          'rules:',
          '  - id: session-live',
          '    on: room_started',
          '    fitler: { room.name: "session-*" }',
          '    actions:',
          '      - plugin: status',
          '        with: { key: k, status: live }',
        ),
      ),
    );
    expect(problems).toEqual([
      {
        file: 'rules.yaml',
        line: 4,
        column: 5,
        ruleId: 'session-live',
        message:
          'unknown key "fitler" in rule (expected one of: id, description, enabled, on, filter, when, actions)',
      },
    ]);
  });

  it('names an unknown key inside an action by its path', () => {
    const problems = problemsOf(() =>
      compile(lines('rules:', '  - id: a', '    on: room_started', '    actions:', '      - plugin: status', '        params: {}')),
    );
    expect(problems).toContainEqual({
      file: 'rules.yaml',
      line: 6,
      column: 9,
      ruleId: 'a',
      message: 'unknown key "params" in actions[0] (expected one of: id, plugin, mode, retry, timeout, rateLimit, ordering, with)',
    });
  });

  it('points a missing required key at the rule that lacks it', () => {
    const problems = problemsOf(() => compile(lines('rules:', '  - id: a', '    on: room_started')));
    expect(problems).toEqual([
      { file: 'rules.yaml', line: 2, column: 5, ruleId: 'a', message: 'rule is missing required key "actions"' },
    ]);
  });

  it('names the expected type of a wrongly typed value', () => {
    const problems = problemsOf(() =>
      compile(
        lines(
          'rules:',
          '  - id: a',
          '    on: 5',
          '    enabled: "yes"',
          '    actions:',
          '      - plugin: status',
          '        mode: later',
          '        with: { key: k, status: live }',
        ),
      ),
    );
    expect(problems.map((problem) => [problem.line, problem.column, problem.message])).toEqual([
      [3, 9, 'on must be a string or a list'],
      [4, 14, 'enabled must be true or false'],
      [7, 15, 'actions[0].mode must be one of: inline, async'],
    ]);
  });

  it('rejects an id outside the allowed characters and an empty action list', () => {
    const problems = problemsOf(() => compile(lines('rules:', '  - id: "session live"', '    on: room_started', '    actions: []')));
    expect(problems.map((problem) => [problem.line, problem.column, problem.message])).toEqual([
      [2, 9, 'id "session live" must match ^[A-Za-z0-9][A-Za-z0-9._-]*$'],
      [4, 14, 'actions must not be empty'],
    ]);
  });

  it('points a duplicate id at the second definition and names where the first is', () => {
    const rule = (id: string) => lines(`  - id: ${id}`, '    on: room_started', '    actions: [{ plugin: status, with: { key: k, status: live } }]');
    const problems = problemsOf(() =>
      compileRuleSources({
        sources: [
          { file: 'rules/a.yaml', text: `rules:\n${rule('shared')}` },
          { file: 'rules/b.yaml', text: `rules:\n${rule('other')}${rule('shared')}` },
        ],
        plugins,
        env: {},
      }),
    );
    expect(problems).toEqual([
      {
        file: 'rules/b.yaml',
        line: 5,
        column: 9,
        ruleId: 'shared',
        message: 'duplicate rule id "shared" (first defined at rules/a.yaml:2)',
      },
    ]);
  });

  it('names an unknown plugin and lists the known ones', () => {
    const problems = problemsOf(() =>
      compile(lines('rules:', '  - id: a', '    on: room_started', '    actions:', '      - plugin: stauts')),
    );
    expect(problems).toEqual([
      { file: 'rules.yaml', line: 5, column: 17, ruleId: 'a', message: 'unknown plugin "stauts" (known plugins: notify, status)' },
    ]);
  });

  it("checks params against the plugin's schema, pointing at the offending value", () => {
    const problems = problemsOf(() =>
      compile(
        lines(
          'rules:',
          '  - id: a',
          '    on: room_started',
          '    actions:',
          '      - plugin: status',
          '        with:',
          '          key: k',
          '          status: 5',
          '          colour: red',
          '      - plugin: status',
          '        with: { key: k }',
        ),
      ),
    );
    expect(problems.map((problem) => [problem.line, problem.column, problem.message])).toEqual([
      [8, 19, 'plugin "status": actions[0].with.status must be a string'],
      [9, 11, 'plugin "status": unknown key "colour" in actions[0].with (expected one of: key, status, from)'],
      [11, 15, 'plugin "status": actions[1].with is missing required key "status"'],
    ]);
  });

  it('names an unknown json-logic operator where it is written, however deep', () => {
    const problems = problemsOf(() =>
      compile(
        lines(
          'rules:',
          '  - id: a',
          '    on: room_started',
          '    when:',
          '      and:',
          '        - { "==": [{ var: room.name }, session-42] }',
          '        - { like: [{ var: room.name }, "session%"] }',
          '    actions: [{ plugin: status, with: { key: k, status: live } }]',
        ),
      ),
    );
    expect(problems).toEqual([
      { file: 'rules.yaml', line: 7, column: 13, ruleId: 'a', message: 'unknown json-logic operator "like"' },
    ]);
  });

  it('rejects a json-logic object with more than one operator, and an empty when', () => {
    const problems = problemsOf(() =>
      compile(
        lines(
          'rules:',
          '  - id: a',
          '    on: room_started',
          '    when: { "==": [1, 1], "!=": [1, 2] }',
          '    actions: [{ plugin: status, with: { key: k, status: live } }]',
          '  - id: b',
          '    on: room_started',
          '    when:',
          '    actions: [{ plugin: status, with: { key: k, status: live } }]',
        ),
      ),
    );
    expect(problems.map((problem) => [problem.line, problem.column, problem.ruleId, problem.message])).toEqual([
      [4, 11, 'a', 'a json-logic operation is an object with exactly one key, the operator; found 2 keys'],
      [8, 10, 'b', 'when is empty: give a json-logic expression or remove it'],
    ]);
  });

  it('names an invalid glob in on and in a filter', () => {
    const problems = problemsOf(() =>
      compile(
        lines(
          'rules:',
          '  - id: a',
          '    on: [room_started, "{room_finished,egress_ended"]',
          '    filter:',
          '      room.name: "session-(a"',
          '    actions: [{ plugin: status, with: { key: k, status: live } }]',
        ),
      ),
    );
    expect(problems.map((problem) => [problem.line, problem.column, problem.message.split(':')[0]])).toEqual([
      [3, 24, 'invalid glob "{room_finished,egress_ended"'],
      [5, 18, 'invalid glob "session-(a"'],
    ]);
  });

  it('names an invalid path in a filter or a template', () => {
    const problems = problemsOf(() =>
      compile(
        lines(
          'rules:',
          '  - id: a',
          '    on: room_started',
          '    filter: { "room..name": x }',
          '    actions: [{ plugin: status, with: { key: "{{ room name }}", status: "{{ room.name" } }]',
        ),
      ),
    );
    expect(problems.map((problem) => [problem.line, problem.column, problem.message])).toEqual([
      [4, 15, 'invalid path "room..name": use dotted names such as room.name or egressInfo.fileResults.0.filename'],
      [5, 46, 'invalid path "{{ room name }}": use dotted names such as room.name'],
      [5, 73, 'unclosed "{{" in template "{{ room.name"'],
    ]);
  });

  it('names a missing environment variable where it is referenced', () => {
    const problems = problemsOf(() =>
      compile(
        lines(
          'rules:',
          '  - id: a',
          '    on: room_started',
          '    actions:',
          '      - plugin: notify',
          '        with: { url: "${env:HOOK_URL}/rooms" }',
        ),
        { env: { OTHER: 'x' } },
      ),
    );
    expect(problems).toEqual([
      {
        file: 'rules.yaml',
        line: 6,
        column: 22,
        ruleId: 'a',
        message: 'environment variable HOOK_URL is not set (referenced as ${env:HOOK_URL})',
      },
    ]);
  });

  it('reports a missing variable once per file, however often it is referenced', () => {
    const problems = problemsOf(() =>
      compile(
        lines(
          'rules:',
          '  - id: a',
          '    on: room_started',
          '    actions:',
          '      - plugin: notify',
          '        with: { url: "${env:HOOK_URL}/rooms", body: { hook: "${env:HOOK_URL}" } }',
        ),
        { env: {} },
      ),
    );
    expect(problems.map((problem) => problem.message)).toEqual(['environment variable HOOK_URL is not set (referenced as ${env:HOOK_URL})']);
  });

  it('collects every problem of every file into one error, one line each', () => {
    const error = (() => {
      try {
        compileRuleSources({
          sources: [
            { file: 'a.yaml', text: lines('rules:', '  - id: a', '    on: room_started', '    actions: [{ plugin: nope }]') },
            { file: 'b.yaml', text: lines('rules: [', '') },
            { file: 'c.yaml', text: lines('rulez: []') },
          ],
          plugins,
          env: {},
        });
      } catch (error) {
        return error;
      }
    })();
    expect(isSwitchboardError(error, 'E_RULES_INVALID')).toBe(true);
    const message = (error as Error).message.split('\n');
    expect(message).toHaveLength(3);
    expect(message[0]).toBe('a.yaml:4:25: [a] unknown plugin "nope" (known plugins: notify, status)');
    expect(message[1]).toMatch(/^b\.yaml:\d+:\d+: invalid YAML: /);
    expect(message[2]).toBe('c.yaml:1:1: unknown key "rulez" in the file (expected one of: rules)');
  });

  it('accepts an empty rule list', () => {
    const ruleSet = compileRuleSources({ sources: [{ file: 'none.yaml', text: 'rules: []\n' }], plugins, env: {} });
    expect(ruleSet.rules).toEqual([]);
  });

  // An empty file is more often a save or a deploy cut short than a wish for no rules.
  it.each(['', '# nothing here yet\n', '---\n'])('refuses an empty file: %j', (text) => {
    expect(() => compileRuleSources({ sources: [{ file: 'empty.yaml', text }], plugins, env: {} })).toThrow(
      /^empty\.yaml:1:\d+: the file is empty; write "rules: \[\]" if it is meant to hold no rules$/,
    );
  });
});
