/** The rules indexed by event name: each name's candidates and their matcher are worked out once, then reused. */
import type { EventContext } from '../../livekit/event-types.ts';
import { isGlob } from '../compile/glob.ts';
import type { IndexedRule } from '../compile/rule.ts';
import type { CompiledRule, RuleSet } from '../types.ts';
import { candidateMatcher, type CandidateMatcher } from './start-index.ts';

interface EventNameRules {
  candidates: readonly CompiledRule[];
  match: CandidateMatcher;
}

export function createRuleSet(rules: readonly IndexedRule[]): RuleSet {
  const enabled = rules.filter((rule) => rule.enabled);
  const byEventName = new Map<string, EventNameRules>();

  const rulesFor = (eventName: string): EventNameRules => {
    let found = byEventName.get(eventName);
    if (found === undefined) {
      const candidates = Object.freeze(enabled.filter((rule) => rule.covers(eventName)));
      found = { candidates, match: candidateMatcher(candidates) };
      byEventName.set(eventName, found);
    }
    return found;
  };

  for (const rule of enabled) {
    for (const pattern of rule.on) if (!isGlob(pattern)) rulesFor(pattern);
  }

  return {
    rules: Object.freeze([...rules]),
    candidates: (eventName) => rulesFor(eventName).candidates,
    match: (context: EventContext) => rulesFor(context.event).match(context),
  };
}
