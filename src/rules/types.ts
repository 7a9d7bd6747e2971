/** The compiled form of the rule files: what the engine matches events against. */
import type { EventContext } from '../livekit/event-types.ts';
import type { ActionMode } from '../plugins/contract.ts';
import type { ActionSecrets } from './compile/action-secrets.ts';

/** Where a rule or value was written, for error messages. */
export interface SourceLocation {
  file: string;
  line: number;
  column: number;
}

/** When to try an async action again: delays before each attempt, in milliseconds (the first is usually 0). */
export type RetryPolicy =
  /** Only the number of attempts: the default schedule's delays. */
  | { attempts: number }
  | { attempts: number; schedule: number[] }
  | { attempts: number; backoff: 'exponential'; initialMs: number; maxMs: number };

export interface RateLimit {
  /** Attempts started per second, at most. */
  perSecond?: number;
  /** Attempts running at once, at most. */
  concurrency?: number;
}

export interface CompiledAction {
  /** The action's position in its rule: with the rule id and the event id it names one piece of work. */
  index: number;
  /** From `id:`: names the action within its rule whatever its position. */
  id?: string;
  /** The `${env:NAME}` references of its `with:` as written: each name with the value it had at load. */
  secrets: ActionSecrets;
  plugin: string;
  mode: ActionMode;
  /** From `retry:`; undefined means the default schedule. */
  retry?: RetryPolicy;
  /** From `timeout:`: the deadline of one attempt. */
  timeoutMs?: number;
  /** From `rateLimit:`: applies to the action's target. */
  rateLimit?: RateLimit;
  /**
   * The key whose deliveries run in event order (`ordering:`): by default the room name, or the egress id for
   * egress events and the ingress id for ingress events; null when the action is unordered (`ordering: none`) or
   * the event has no such key.
   */
  orderingKey(context: EventContext): string | null;
  /** The `with:` block as written (after `${env:…}` substitution). */
  with: Record<string, unknown>;
  /** Renders `with:` against an event; throws RuleRenderError when a `$logic` value fails. */
  render(context: EventContext): Record<string, unknown>;
}

export interface CompiledRule {
  id: string;
  description?: string;
  enabled: boolean;
  /** The `on:` patterns as written. */
  on: string[];
  location: SourceLocation;
  /** True when `filter` and `when` both hold for the event. */
  matches(context: EventContext): boolean;
  actions: CompiledAction[];
}

export interface RuleSet {
  /** Every rule, enabled or not, in file then declaration order. */
  readonly rules: readonly CompiledRule[];
  /** Enabled rules whose `on:` covers this event name, in declaration order. */
  candidates(eventName: string): readonly CompiledRule[];
  /** Enabled rules that match the event, in declaration order. */
  match(context: EventContext): CompiledRule[];
}

/** One problem found while loading rules: always with file, line and column; with the rule id when known. */
export interface RuleProblem extends SourceLocation {
  ruleId?: string;
  message: string;
}
