/**
 * Generated rule sets for the benchmarks: realistic rules over every LiveKit event name, described once as data so
 * the same rules can be written as Switchboard YAML and translated for json-rules-engine.
 *
 * Per event name a tracking rule and per family (room, participant, …) an activity rule with a `when:` hold for the
 * `session-*` rooms the benchmarks send; the remaining rules are tenant rules (`room.name: tenant-<n>-*`) that
 * are candidates for an event but mostly do not match, as in a multi-tenant deployment.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { KNOWN_EVENT_NAMES } from '../src/livekit/event-types.ts';

/** The json-logic shapes the generator writes; each has a json-rules-engine equivalent. */
export type Condition =
  | { '==': [{ var: string }, string] }
  | { '>': [{ var: string }, number] }
  | { in: [string, { var: string }] }
  | { and: Condition[] };

export interface RuleSpec {
  id: string;
  /** Exact event names, or `<family>_*` globs. */
  on: string[];
  /** Dotted path → exact string, or a prefix glob `<prefix>*`. */
  filter: Record<string, string>;
  when?: Condition;
  status: { key: string; status: string };
}

const FAMILIES = ['room', 'participant', 'track', 'egress', 'ingress'] as const;
type Family = (typeof FAMILIES)[number];

const familyOf = (eventName: string): Family => eventName.slice(0, eventName.indexOf('_')) as Family;
const namesOf = (family: Family): string[] => KNOWN_EVENT_NAMES.filter((name) => familyOf(name) === family);

/** Ingress events carry no `room` object: their room is named in `ingressInfo.roomName`. */
export const roomPathOf = (family: Family): string => (family === 'ingress' ? 'ingressInfo.roomName' : 'room.name');

/** Conditions that hold for the benchmark events most of the time (the events vary them on purpose). */
const ACTIVITY_CONDITIONS: Record<Family, Condition> = {
  room: { '==': [{ var: 'room.metadataJson.plan' }, 'pro'] },
  participant: { '==': [{ var: 'participant.metadataJson.role' }, 'host'] },
  track: { '==': [{ var: 'track.source' }, 'CAMERA'] },
  egress: { in: ['session-', { var: 'egressInfo.roomName' }] },
  ingress: { '==': [{ var: 'ingressInfo.name' }, 'obs-stream'] },
};

/** `count` rules, deterministic: the same count always gives the same rules. */
export function generateRules(count: number): RuleSpec[] {
  const rules: RuleSpec[] = [];
  for (const name of KNOWN_EVENT_NAMES) {
    const roomPath = roomPathOf(familyOf(name));
    rules.push({
      id: `track-${name.replaceAll('_', '-')}`,
      on: [name],
      filter: { [roomPath]: 'session-*' },
      status: { key: `{{ ${roomPath} }}/${familyOf(name)}`, status: name },
    });
  }
  for (const family of FAMILIES) {
    const roomPath = roomPathOf(family);
    rules.push({
      id: `${family}-activity`,
      on: [`${family}_*`],
      filter: { [roomPath]: 'session-*' },
      when: ACTIVITY_CONDITIONS[family],
      status: { key: `{{ ${roomPath} }}/${family}/activity`, status: 'active' },
    });
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

function tenantRule(n: number): RuleSpec {
  const name = KNOWN_EVENT_NAMES[n % KNOWN_EVENT_NAMES.length];
  const family = familyOf(name);
  const siblings = namesOf(family);
  const on = [
    [name],
    [`${family}_*`],
    siblings.length > 1 ? [name, siblings.find((other) => other !== name)!] : [name],
    [name],
  ][n % 4];
  const roomPath = roomPathOf(family);
  // One in ten passes the room filter, so its json-logic runs (and fails): the costlier non-match.
  const filter: Record<string, string> = { [roomPath]: n % 10 === 9 ? 'session-*' : `tenant-${n}-*` };
  if (n % 7 === 3) filter['participant.identity'] = `agent-${n}`;
  let when: Condition | undefined;
  if (n % 10 === 9) when = { '>': [{ var: 'room.numParticipants' }, 1000 + n] };
  else if (n % 5 === 2) when = { '==': [{ var: 'room.metadataJson.plan' }, 'enterprise'] };
  else if (n % 11 === 5) {
    when = { and: [{ in: ['agent', { var: 'participant.identity' }] }, { '>': [{ var: 'room.numParticipants' }, 1] }] };
  }
  return {
    id: `tenant-${n}-${name.replaceAll('_', '-')}`,
    on,
    filter,
    ...(when === undefined ? {} : { when }),
    status: { key: `{{ ${roomPath} }}/tenant`, status: `seen-${n}` },
  };
}

/** Writes the rules as YAML files of at most 50 rules each, as an operator would split them. */
export function writeRuleFiles(dir: string, rules: readonly RuleSpec[]): void {
  mkdirSync(dir, { recursive: true });
  for (let start = 0; start < rules.length; start += 50) {
    const document = { rules: rules.slice(start, start + 50).map(toYamlRule) };
    const file = join(dir, `generated-${String(start / 50).padStart(3, '0')}.yaml`);
    writeFileSync(file, stringify(document, { lineWidth: 0 }));
  }
}

function toYamlRule(rule: RuleSpec): Record<string, unknown> {
  return {
    id: rule.id,
    on: rule.on.length === 1 ? rule.on[0] : rule.on,
    filter: rule.filter,
    ...(rule.when === undefined ? {} : { when: rule.when }),
    actions: [{ plugin: 'status', mode: 'inline', with: rule.status }],
  };
}
