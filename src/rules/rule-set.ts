/** The rules indexed by event name: each name's candidates are worked out once, then matching is a short loop. */
import type { EventContext } from '../livekit/event-types.ts';
import type { IndexedRule } from './compile-rule.ts';
import { isGlob } from './glob.ts';
import type { CompiledRule, RuleSet } from './types.ts';

export function createRuleSet(rules: readonly IndexedRule[]): RuleSet {
  const enabled = rules.filter((rule) => rule.enabled);
  const byEventName = new Map<string, readonly CompiledRule[]>();

  const candidates = (eventName: string): readonly CompiledRule[] => {
    let found = byEventName.get(eventName);
    if (found === undefined) {
      found = Object.freeze(enabled.filter((rule) => rule.covers(eventName)));
      byEventName.set(eventName, found);
    }
    return found;
  };

  for (const rule of enabled) {
    for (const pattern of rule.on) if (!isGlob(pattern)) candidates(pattern);
  }

  return {
    rules: Object.freeze([...rules]),
    candidates,
    match(context: EventContext) {
      const matched: CompiledRule[] = [];
      const list = candidates(context.event);
      for (let i = 0; i < list.length; i++) {
        if (list[i].matches(context)) matched.push(list[i]);
      }
      return matched;
    },
  };
}
