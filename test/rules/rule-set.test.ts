import { describe, expect, it } from 'vitest';
import { compile, roomStarted } from './helpers.ts';

const rule = (id: string, on: string, extra = '') =>
  `  - id: ${id}\n    on: ${on}\n${extra}    actions: [{ plugin: status, with: { key: k, status: live } }]\n`;

const ids = (rules: readonly { id: string }[]) => rules.map((r) => r.id);

describe('rule set', () => {
  const ruleSet = compile(
    `rules:\n${[
      rule('started', 'room_started'),
      rule('any-egress', '"egress_*"'),
      rule('everything', '"*"'),
      rule('room-lifecycle', '[room_started, room_finished]'),
      rule('room-braces', '"room_{started,finished}"'),
      rule('disabled', 'room_started', '    enabled: false\n'),
      rule('lobby-only', 'room_started', '    filter: { room.name: lobby }\n'),
    ].join('')}`,
  );

  it('keeps every rule, disabled ones included, in declaration order', () => {
    expect(ids(ruleSet.rules)).toEqual(['started', 'any-egress', 'everything', 'room-lifecycle', 'room-braces', 'disabled', 'lobby-only']);
    expect(ruleSet.rules.find((r) => r.id === 'disabled')?.enabled).toBe(false);
  });

  it('finds candidates by exact name and by glob, in declaration order, never disabled ones', () => {
    expect(ids(ruleSet.candidates('room_started'))).toEqual(['started', 'everything', 'room-lifecycle', 'room-braces', 'lobby-only']);
    expect(ids(ruleSet.candidates('egress_ended'))).toEqual(['any-egress', 'everything']);
    expect(ids(ruleSet.candidates('room_finished'))).toEqual(['everything', 'room-lifecycle', 'room-braces']);
    expect(ids(ruleSet.candidates('something_new'))).toEqual(['everything']);
  });

  it('works the candidates out once per event name', () => {
    expect(ruleSet.candidates('track_published')).toBe(ruleSet.candidates('track_published'));
  });

  it('matches the candidates whose filter and when hold', () => {
    expect(ids(ruleSet.match(roomStarted()))).toEqual(['started', 'everything', 'room-lifecycle', 'room-braces']);
    expect(ids(ruleSet.match(roomStarted({ name: 'lobby' })))).toEqual(['started', 'everything', 'room-lifecycle', 'room-braces', 'lobby-only']);
  });

  it("matches Switchboard's own events by exact name, by switchboard.* and by **, never by a bare *", () => {
    const internal = compile(
      `rules:\n${[
        rule('dead-exact', 'switchboard.delivery_dead'),
        rule('dead-namespace', '"switchboard.*"'),
        rule('dead-braces', '"{room_finished,switchboard.delivery_dead}"'),
        rule('livekit-only', '"*"'),
        rule('everything', '"**"'),
      ].join('')}`,
    );
    expect(ids(internal.candidates('switchboard.delivery_dead'))).toEqual(['dead-exact', 'dead-namespace', 'dead-braces', 'everything']);
    expect(ids(internal.candidates('room_finished'))).toEqual(['dead-braces', 'livekit-only', 'everything']);
    expect(ids(internal.match({ event: 'switchboard.delivery_dead' }))).toEqual(['dead-exact', 'dead-namespace', 'dead-braces', 'everything']);
  });

  it('records where each rule was written and its on: patterns as a list', () => {
    const [first, second] = ruleSet.rules;
    expect(first.location).toEqual({ file: 'rules.yaml', line: 2, column: 5 });
    expect(second.location).toEqual({ file: 'rules.yaml', line: 5, column: 5 });
    expect(second.on).toEqual(['egress_*']);
  });
});
