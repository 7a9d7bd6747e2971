/**
 * Generated rules: per event name a tracking rule and per family an activity rule hold for the `session-*` rooms the
 * benchmarks send; the rest are tenant rules that are candidates for an event but mostly do not match.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { KNOWN_EVENT_NAMES } from '../src/livekit/event-types.ts';

/** A json-logic condition. */
type Condition = Record<string, unknown>;
type Rule = Record<string, unknown>;

const FAMILIES = ['room', 'participant', 'track', 'egress', 'ingress'] as const;
type Family = (typeof FAMILIES)[number];

const familyOf = (eventName: string): Family => eventName.slice(0, eventName.indexOf('_')) as Family;
const namesOf = (family: Family): string[] => KNOWN_EVENT_NAMES.filter((name) => familyOf(name) === family);
/** Ingress events carry no `room` object: their room is named in `ingressInfo.roomName`. */
const roomPathOf = (family: Family): string => (family === 'ingress' ? 'ingressInfo.roomName' : 'room.name');

/** Conditions that hold for the benchmark events most of the time (the events vary them on purpose). */
const ACTIVITY_CONDITIONS: Record<Family, Condition> = {
  room: { '==': [{ var: 'room.metadataJson.plan' }, 'pro'] },
  participant: { '==': [{ var: 'participant.metadataJson.role' }, 'host'] },
  track: { '==': [{ var: 'track.source' }, 'CAMERA'] },
  egress: { in: ['session-', { var: 'egressInfo.roomName' }] },
  ingress: { '==': [{ var: 'ingressInfo.name' }, 'obs-stream'] },
};

/** A rule as its YAML reads: `on` exact names or `<family>_*` globs, `filter` exact strings or `<prefix>*` globs. */
function rule(id: string, on: string[], filter: Record<string, string>, when: Condition | undefined, status: { key: string; status: string }): Rule {
  return { id, on: on.length === 1 ? on[0] : on, filter, ...(when === undefined ? {} : { when }), actions: [{ plugin: 'status', mode: 'inline', with: status }] };
}

/** `count` rules, deterministic: the same count always gives the same rules. */
export function generateRules(count: number): Rule[] {
  const rules: Rule[] = [];
  for (const name of KNOWN_EVENT_NAMES) {
    const roomPath = roomPathOf(familyOf(name));
    rules.push(rule(`track-${name.replaceAll('_', '-')}`, [name], { [roomPath]: 'session-*' }, undefined, { key: `{{ ${roomPath} }}/${familyOf(name)}`, status: name }));
  }
  for (const family of FAMILIES) {
    const roomPath = roomPathOf(family);
    const status = { key: `{{ ${roomPath} }}/${family}/activity`, status: 'active' };
    rules.push(rule(`${family}-activity`, [`${family}_*`], { [roomPath]: 'session-*' }, ACTIVITY_CONDITIONS[family], status));
  }
  for (let n = 0; rules.length < count; n++) rules.push(tenantRule(n));
  return rules.slice(0, count);
}

const MATCHING_RULES = KNOWN_EVENT_NAMES.length + FAMILIES.length;

/**
 * A room of a tenant that one of the first `ruleCount` rules listens to for `eventName`, picked by `seed`: such an
 * event passes that tenant rule's room filter (its other conditions may still fail).
 */
export function tenantRoom(eventName: string, seed: number, ruleCount: number): string {
  const tenantsPerName = Math.floor((ruleCount - MATCHING_RULES) / KNOWN_EVENT_NAMES.length);
  const index = KNOWN_EVENT_NAMES.indexOf(eventName as (typeof KNOWN_EVENT_NAMES)[number]);
  if (tenantsPerName < 1 || index === -1) return `session-${seed}`;
  return `tenant-${KNOWN_EVENT_NAMES.length * (seed % tenantsPerName) + index}-room-${seed}`;
}

function tenantRule(n: number): Rule {
  const name = KNOWN_EVENT_NAMES[n % KNOWN_EVENT_NAMES.length];
  const family = familyOf(name);
  const siblings = namesOf(family);
  const on = [[name], [`${family}_*`], siblings.length > 1 ? [name, siblings.find((other) => other !== name)!] : [name], [name]][n % 4];
  const roomPath = roomPathOf(family);
  // One in ten passes the room filter, so its json-logic runs (and fails): the costlier non-match.
  const filter: Record<string, string> = { [roomPath]: n % 10 === 9 ? 'session-*' : `tenant-${n}-*` };
  if (n % 7 === 3) filter['participant.identity'] = `agent-${n}`;
  let when: Condition | undefined;
  if (n % 10 === 9) when = { '>': [{ var: 'room.numParticipants' }, 1000 + n] };
  else if (n % 5 === 2) when = { '==': [{ var: 'room.metadataJson.plan' }, 'enterprise'] };
  else if (n % 11 === 5) when = { and: [{ in: ['agent', { var: 'participant.identity' }] }, { '>': [{ var: 'room.numParticipants' }, 1] }] };
  return rule(`tenant-${n}-${name.replaceAll('_', '-')}`, on, filter, when, { key: `{{ ${roomPath} }}/tenant`, status: `seen-${n}` });
}

/** Writes the rules as YAML files of at most 50 rules each, as an operator would split them. */
export function writeRuleFiles(dir: string, rules: readonly Rule[]): void {
  mkdirSync(dir, { recursive: true });
  for (let start = 0; start < rules.length; start += 50) {
    const file = join(dir, `generated-${String(start / 50).padStart(3, '0')}.yaml`);
    writeFileSync(file, stringify({ rules: rules.slice(start, start + 50) }, { lineWidth: 0 }));
  }
}
