import { describe, expect, it } from 'vitest';
import type { EventContext } from '../../src/livekit/event-types.ts';
import { compile } from './helpers.ts';

// Filters on room.name of every kind the index treats differently: starts it can index (globs, plain strings,
// lists of them), patterns it cannot (a leading glob character, a number, null), other paths, and no filter.
const ROOM_FILTERS = [
  '"tenant-1-*"', '"tenant-12-*"', '"tenant-123-*"', 'tenant-1-room', '"session-*"', '"session-4?"', '"s*"',
  '["lobby", "tenant-2-*"]', '["tenant-3-*", "*-vip"]', '"*-vip"', '"{a,b}-room"', '42', 'null', '"4*"', '"t*"',
];

function ruleSetText(): string {
  const rules: string[] = [];
  let n = 0;
  const add = (filter: string) =>
    rules.push(`  - id: rule-${n++}\n    on: room_started\n${filter}    actions: [{ plugin: status, with: { key: k, status: live } }]\n`);
  for (const room of ROOM_FILTERS) add(`    filter: { room.name: ${room} }\n`);
  for (const room of ROOM_FILTERS) add(`    filter: { room.name: ${room}, room.metadata: "pro*" }\n`);
  add(`    filter: { room.metadata: "pro*" }\n`);
  add('');
  add(`    when: { "==": [{ var: "room.numParticipants" }, 2] }\n`);
  return `rules:\n${rules.join('')}`;
}

const ROOM_NAMES: unknown[] = [
  'tenant-1-room', 'tenant-1-other', 'tenant-12-room', 'tenant-123-x', 'tenant-2-a', 'tenant-3-b', 'tenant-4-c',
  'session-42', 'session-4', 'session-', 's', '', 'lobby', 'big-vip', 'a-room', 'b-room', 't', 42, 4, 420, true,
  null, undefined, { name: 'x' },
];

describe('matching through the start index', () => {
  const ruleSet = compile(ruleSetText());

  it('gives exactly what trying every candidate gives, in declaration order', () => {
    const candidates = ruleSet.candidates('room_started');
    expect(candidates.length).toBeGreaterThan(30);
    for (const name of ROOM_NAMES) {
      for (const metadata of ['pro', 'free', undefined]) {
        for (const numParticipants of [2, 3]) {
          const context = { event: 'room_started', room: { name, metadata, numParticipants } } as unknown as EventContext;
          const expected = candidates.filter((rule) => rule.matches(context)).map((rule) => rule.id);
          expect(ruleSet.match(context).map((rule) => rule.id), JSON.stringify(context.room)).toEqual(expected);
        }
      }
    }
  });

  it('still finds rules when the room lacks the indexed path', () => {
    const matched = ruleSet.match({ event: 'room_started', room: { metadata: 'pro', numParticipants: 2 } } as unknown as EventContext);
    expect(matched.map((rule) => rule.id)).toContain(`rule-${2 * ROOM_FILTERS.length + 1}`);
    expect(matched.some((rule) => rule.id === 'rule-12')).toBe(true);
  });
});
