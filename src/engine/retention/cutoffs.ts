/**
 * Pure: when each prune step's rows are old enough to go, from the retention settings. An event's id is remembered
 * for DEDUPE_WINDOW_MS whatever RETENTION_EVENTS says, because LiveKit redelivers for that long: past
 * RETENTION_EVENTS its body goes (`events.bodies`), past both the row.
 */
import type { RetentionSettings } from '../../config.ts';
import type { RetentionKind } from '../../store/sql/retention.ts';
import { PRUNE_STEP_NAMES, PRUNE_STEP_RETENTION } from '../../store/sql/retention.ts';
import type { PruneStepName } from '../../store/store.ts';

/** LiveKit's redelivery window: an event id is remembered at least this long. */
export const DEDUPE_WINDOW_MS = 24 * 60 * 60 * 1000;

/** The per-minute rollup outlives the longest range its API answers (7 days) by a day, or lives as long as events do. */
export const ROLLUP_KEPT_MS = 8 * 24 * 60 * 60 * 1000;

/** Each step that prunes under these settings, with its cutoff, in the order a run takes them. */
export function pruneCutoffs(settings: RetentionSettings, now: Date): Array<{ step: PruneStepName; cutoff: Date }> {
  const ages: Record<RetentionKind, number> = {
    events: settings.eventsMs,
    // 0 keeps events forever; otherwise never under the dedupe window.
    dedupe: settings.eventsMs === 0 ? 0 : Math.max(settings.eventsMs, DEDUPE_WINDOW_MS),
    dead: settings.deadMs,
    sessions: settings.sessionsMs,
    usage: settings.usageMs,
    rollup: settings.eventsMs === 0 ? 0 : Math.max(settings.eventsMs, ROLLUP_KEPT_MS),
  };
  return PRUNE_STEP_NAMES.flatMap((step) => {
    const age = ages[PRUNE_STEP_RETENTION[step]];
    // Bodies are stripped apart only when events outlive them for dedupe; otherwise the rows go whole.
    if (age === 0 || (step === 'events.bodies' && age >= ages.dedupe)) return [];
    return [{ step, cutoff: new Date(now.getTime() - age) }];
  });
}
