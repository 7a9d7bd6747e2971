/**
 * Pure: when each prune step's rows are old enough to go, from the retention settings. An event goes whole at
 * RETENTION_EVENTS; its id is remembered for DEDUPE_WINDOW_MS whatever RETENTION_EVENTS says, because LiveKit
 * redelivers for that long: an event pruned sooner leaves a tombstone, which goes once the window ends.
 */
import type { RetentionSettings } from '../../config.ts';
import type { RetentionKind } from '../../store/sql/retention.ts';
import { DEDUPE_WINDOW_MS, PRUNE_STEP_NAMES, PRUNE_STEP_RETENTION } from '../../store/sql/retention.ts';
import type { PruneStepName } from '../../store/store.ts';

export { DEDUPE_WINDOW_MS };

/** The per-minute rollup outlives the longest range its API answers (7 days) by a day, or lives as long as events do. */
export const ROLLUP_KEPT_MS = 8 * 24 * 60 * 60 * 1000;

/** Each step that prunes under these settings, with its cutoff, in the order a run takes them. */
export function pruneCutoffs(settings: RetentionSettings, now: Date): Array<{ step: PruneStepName; cutoff: Date }> {
  const ages: Record<RetentionKind, number> = {
    events: settings.eventsMs,
    // 0 keeps events forever, and so leaves no tombstones.
    dedupe: settings.eventsMs === 0 ? 0 : DEDUPE_WINDOW_MS,
    dead: settings.deadMs,
    sessions: settings.sessionsMs,
    usage: settings.usageMs,
    rollup: settings.eventsMs === 0 ? 0 : Math.max(settings.eventsMs, ROLLUP_KEPT_MS),
  };
  return PRUNE_STEP_NAMES.flatMap((step) => {
    const age = ages[PRUNE_STEP_RETENTION[step]];
    return age === 0 ? [] : [{ step, cutoff: new Date(now.getTime() - age) }];
  });
}
