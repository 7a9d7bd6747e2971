import { describe, expect, it } from 'vitest';
import { validateRenderedParams } from '../../src/plugins/params.ts';
import { compile, notifyPlugin, problemsOf, roomStarted, statusPlugin } from './helpers.ts';

describe('plugin params', () => {
  it('defaults the mode to the plugin\'s: inline for an inline plugin, async otherwise', () => {
    const ruleSet = compile(
      'rules:\n  - id: r\n    on: room_started\n    actions:\n      - plugin: status\n        with: { key: k, status: live }\n      - plugin: notify\n        with: { url: u }\n      - plugin: status\n        mode: async\n        with: { key: k, status: live }\n',
    );
    expect(ruleSet.rules[0].actions.map((action) => action.mode)).toEqual(['inline', 'async', 'async']);
  });

  it('accepts templates where the schema wants another type, and checks them once rendered', () => {
    const ruleSet = compile(
      'rules:\n  - id: r\n    on: room_started\n    actions:\n      - plugin: status\n        with: { key: "{{ room.numParticipants }}", status: { $logic: { var: room.metadataJson.status } } }\n',
    );
    const params = ruleSet.rules[0].actions[0].render(roomStarted({ numParticipants: 2 }));
    expect(params).toEqual({ key: 2, status: null });
    expect(validateRenderedParams(statusPlugin, params)).toBe(
      'invalid params for plugin "status": params.key must be a string; params.status must be a string',
    );
  });

  it('still checks the static values next to a template', () => {
    const problems = problemsOf(() =>
      compile('rules:\n  - id: r\n    on: room_started\n    actions:\n      - plugin: notify\n        with: { url: "{{ room.name }}", attempts: 0 }\n'),
    );
    expect(problems.map((problem) => [problem.line, problem.column, problem.message])).toEqual([
      [6, 51, 'plugin "notify": actions[0].with.attempts must be >= 1'],
    ]);
  });

  it('reports rendered params that are missing a required key', () => {
    expect(validateRenderedParams(statusPlugin, { key: 'session-42' })).toBe(
      'invalid params for plugin "status": params is missing required key "status"',
    );
    expect(validateRenderedParams(notifyPlugin, { url: 'https://x', body: { a: [1] } })).toBeNull();
  });

  it('accepts a list of templates where the schema wants a list of strings', () => {
    const ruleSet = compile(
      'rules:\n  - id: r\n    on: room_started\n    actions:\n      - plugin: status\n        with: { key: k, status: live, from: ["{{ room.metadataJson.previous }}", created] }\n',
    );
    const params = ruleSet.rules[0].actions[0].render(roomStarted());
    expect(params).toEqual({ key: 'k', status: 'live', from: ['created'] });
    expect(validateRenderedParams(statusPlugin, params)).toBeNull();
  });
});
