import { describe, expect, it } from 'vitest';
import { RuleRenderError } from '../../src/rules/compile/rule.ts';
import { compileTemplate } from '../../src/rules/compile/template.ts';
import { compile, roomStarted } from './helpers.ts';

const context = roomStarted(
  { numParticipants: 3, metadata: '{"plan":"pro"}', metadataJson: { plan: 'pro', seats: [1, 2] } },
  { participant: { identity: 'alice', metadata: null } },
);
const render = (template: unknown) => compileTemplate(template).render(context);

describe('templates in with:', () => {
  it('keeps the type of a value that is exactly one placeholder', () => {
    expect(render({ count: '{{ room.numParticipants }}' })).toEqual({ count: 3 });
    expect(render({ meta: '{{room.metadataJson}}' })).toEqual({ meta: { plan: 'pro', seats: [1, 2] } });
    expect(render({ nothing: '{{ participant.metadata }}' })).toEqual({ nothing: null });
  });

  it('omits a key whose whole-value placeholder names a missing path', () => {
    expect(render({ key: 'k', sid: '{{ participant.sid }}' })).toEqual({ key: 'k' });
    expect(render('{{ track.sid }}')).toBeUndefined();
  });

  it('interpolates placeholders inside a string', () => {
    expect(render('room {{ room.name }} has {{ room.numParticipants }} people')).toBe('room session-42 has 3 people');
    expect(render('plan={{ room.metadataJson }}')).toBe('plan={"plan":"pro","seats":[1,2]}');
  });

  it('interpolates a missing or null value as the empty string', () => {
    expect(render('[{{ track.sid }}][{{ participant.metadata }}]')).toBe('[][]');
  });

  it('renders nested objects and lists, and array indexes in paths', () => {
    expect(render({ body: { who: ['{{ participant.identity }}', 'x-{{ room.metadataJson.seats.1 }}', '{{ track.sid }}'] } })).toEqual({
      body: { who: ['alice', 'x-2'] },
    });
  });

  it('computes a { $logic } value against the event', () => {
    expect(render({ big: { $logic: { '>': [{ var: 'room.numParticipants' }, 2] } } })).toEqual({ big: true });
    expect(render({ label: { $logic: { cat: ['#', { var: 'room.name' }] } } })).toEqual({ label: '#session-42' });
  });

  it('leaves static values as written', () => {
    expect(render({ n: 1, on: true, none: null, text: 'a } b {' })).toEqual({ n: 1, on: true, none: null, text: 'a } b {' });
  });

  it('renders fresh objects every time, so a plugin cannot change the next render', () => {
    const template = compileTemplate({ nested: { a: 1 } });
    const first = template.render(context) as { nested: { a: number } };
    first.nested.a = 2;
    expect(template.render(context)).toEqual({ nested: { a: 1 } });
  });

  it('lists what is known only after render', () => {
    const template = compileTemplate({ a: 'x', b: 'x{{ room.name }}', c: { $logic: 1 }, d: ['{{ room.sid }}', 'y'], 'e/f': '{{ x }}' });
    expect(template.dynamicPointers).toEqual(['/b', '/c', '/d/0', '/e~1f']);
  });

  it('rejects a $logic object with other keys', () => {
    expect(() => compileTemplate({ v: { $logic: 1, extra: 2 } })).toThrow('v.extra: "$logic" must be the only key of its object; found "extra"');
  });

  it('wraps a failing $logic in a RuleRenderError naming the rule', () => {
    const ruleSet = compile(
      'rules:\n  - id: r\n    on: room_started\n    actions:\n      - plugin: notify\n        with: { url: u, body: { $logic: { missing_some: [1, { var: nothing }] } } }\n',
    );
    const [rule] = ruleSet.match(roomStarted());
    expect(() => rule.actions[0].render(roomStarted())).toThrow(RuleRenderError);
    expect(() => rule.actions[0].render(roomStarted())).toThrow(/^rule "r": rendering params for plugin "notify" failed: /);
  });
});

describe('${env:NAME}', () => {
  it('is replaced at load in any string, rendered params included', () => {
    const ruleSet = compile(
      'rules:\n  - id: "${env:PREFIX}-live"\n    on: room_started\n    filter: { room.name: "${env:PREFIX}-*" }\n    actions:\n      - plugin: notify\n        with: { url: "${env:BASE}/rooms/{{ room.name }}" }\n',
      { env: { PREFIX: 'session', BASE: 'https://hooks.example.com' } },
    );
    const [rule] = ruleSet.match(roomStarted());
    expect(rule.id).toBe('session-live');
    expect(rule.actions[0].with).toEqual({ url: 'https://hooks.example.com/rooms/{{ room.name }}' });
    expect(rule.actions[0].render(roomStarted())).toEqual({ url: 'https://hooks.example.com/rooms/session-42' });
  });

  it('accepts a variable set to the empty string', () => {
    const ruleSet = compile(
      'rules:\n  - id: r\n    on: room_started\n    actions: [{ plugin: notify, with: { url: "x${env:EMPTY}" } }]\n',
      { env: { EMPTY: '' } },
    );
    expect(ruleSet.rules[0].actions[0].with).toEqual({ url: 'x' });
  });
});
