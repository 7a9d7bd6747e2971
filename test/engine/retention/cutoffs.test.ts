import { describe, expect, it } from 'vitest';
import { loadConfig, type RetentionSettings } from '../../../src/config.ts';
import { DEDUPE_WINDOW_MS, pruneCutoffs, ROLLUP_KEPT_MS } from '../../../src/engine/retention/cutoffs.ts';

const NOW = new Date('2030-01-01T00:00:00.000Z');
const DAY = 86_400_000;
const ago = (ms: number) => new Date(NOW.getTime() - ms);

function cutoffs(retention: Partial<RetentionSettings>) {
  const settings = { eventsMs: 0, deadMs: 0, sessionsMs: 0, usageMs: 0, ...retention };
  return Object.fromEntries(pruneCutoffs(settings, NOW).map(({ step, cutoff }) => [step, cutoff]));
}

describe('prune cutoffs', () => {
  it('prunes nothing when every retention is 0', () => {
    expect(cutoffs({})).toEqual({});
  });

  it('gives each step the age of its setting, and tombstones the dedupe window', () => {
    expect(cutoffs({ eventsMs: 30 * DAY, deadMs: 90 * DAY, sessionsMs: 7 * DAY, usageMs: 365 * DAY })).toEqual({
      'deliveries.finished': ago(30 * DAY),
      'deliveries.dead': ago(90 * DAY),
      events: ago(30 * DAY),
      event_tombstones: ago(DEDUPE_WINDOW_MS),
      session_history: ago(7 * DAY),
      usage_ledger: ago(365 * DAY),
      rooms: ago(30 * DAY),
      minute_stats: ago(30 * DAY),
      minute_latency: ago(30 * DAY),
    });
  });

  it('takes events whole at RETENTION_EVENTS when it is shorter than the dedupe window; their tombstones go at its end', () => {
    expect(cutoffs({ eventsMs: 2 * 60_000 })).toEqual({
      'deliveries.finished': ago(2 * 60_000),
      events: ago(2 * 60_000),
      event_tombstones: ago(DEDUPE_WINDOW_MS),
      rooms: ago(2 * 60_000),
      minute_stats: ago(ROLLUP_KEPT_MS),
      minute_latency: ago(ROLLUP_KEPT_MS),
    });
    expect(DEDUPE_WINDOW_MS).toBe(DAY);
  });

  it('keeps the per-minute rollup for the 7 days its API answers and a day more, or as long as events when that is longer', () => {
    expect(ROLLUP_KEPT_MS).toBe(8 * DAY);
    expect(cutoffs({ eventsMs: 0 }).minute_stats).toBeUndefined();
  });

  it('reads the settings with their defaults: 30d, 90d, 90d, kept forever, every minute', () => {
    const config = loadConfig({ env: {}, dev: true });
    expect(config.retention).toEqual({ eventsMs: 30 * DAY, deadMs: 90 * DAY, sessionsMs: 90 * DAY, usageMs: 0 });
    expect(config.pruneIntervalMs).toBe(60_000);
    expect(loadConfig({ env: { RETENTION_EVENTS: '1s', PRUNE_INTERVAL: '1s' }, dev: true })).toMatchObject({
      retention: { eventsMs: 1000 },
      pruneIntervalMs: 1000,
    });
    expect(() => loadConfig({ env: { RETENTION_DEAD: '500ms' }, dev: true })).toThrow(/RETENTION_DEAD/);
    expect(() => loadConfig({ env: { PRUNE_INTERVAL: 'soon' }, dev: true })).toThrow(/PRUNE_INTERVAL/);
  });
});
