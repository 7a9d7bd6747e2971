/** The compiled form of the rule files: what the engine matches events against. */
import type { ActionMode, JsonSchema } from '../plugins/contract.ts';
import type { EventContext } from '../livekit/event-types.ts';

/** What the rule loader needs to know of a plugin: its params schema and default mode. */
export interface PluginSpec {
  name: string;
  params: JsonSchema;
  inline: boolean;
}

export type PluginSpecs = ReadonlyMap<string, PluginSpec>;

/** Where a rule or value was written, for error messages. */
export interface SourceLocation {
  file: string;
  line: number;
  column: number;
}

export interface CompiledAction {
  plugin: string;
  mode: ActionMode;
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
