/** Rendering an action's params failed for one event (a `$logic` value threw). */
export class RuleRenderError extends Error {
  readonly ruleId: string;
  readonly plugin: string;

  constructor(ruleId: string, plugin: string, cause: unknown) {
    super(`rule "${ruleId}": rendering params for plugin "${plugin}" failed: ${(cause as Error)?.message ?? String(cause)}`, { cause });
    this.name = 'RuleRenderError';
    this.ruleId = ruleId;
    this.plugin = plugin;
  }
}
