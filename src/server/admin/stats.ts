/** The per-minute rollup as the overview and the rules page read it: series of counts per minute, and totals. */
import type { Router } from 'express';
import { SwitchboardError } from '../../errors.ts';
import type { MinuteStat, Store } from '../../store/store.ts';
import { ISO_TIME, queryTime, route, type RouteContext } from './request.ts';
import type { AdminRouteOptions } from './route-options.ts';

const MINUTE_MS = 60_000;
/** The most minutes one request reads: a week. */
const MAX_MINUTES = 7 * 24 * 60;

export function statsRoutes(router: Router, context: RouteContext, { store }: AdminRouteOptions): void {
  route<Record<string, never>, { from: string; to?: string }>(router, context, 'get', '/api/v1/stats/minutes', {
    query: { type: 'object', additionalProperties: false, required: ['from'], properties: { from: ISO_TIME, to: ISO_TIME } },
  }, async ({ query }) => {
    const from = queryTime('from', query.from) as Date;
    const to = queryTime('to', query.to) ?? new Date();
    if (to.getTime() - from.getTime() > MAX_MINUTES * MINUTE_MS) {
      throw new SwitchboardError('E_INVALID_REQUEST', `the range from..to is longer than ${MAX_MINUTES / 1440} days`);
    }
    const stats = await store.listMinuteStats({ from, to });
    return { minutes: stats.map((stat) => ({ minute: stat.minute.toISOString(), name: stat.name, count: stat.count })) };
  });
}

/** Counts per minute of each name, over the `minutes` minutes that end with the current one. */
export interface MinuteSeries {
  /** The first minute's start. */
  from: Date;
  minutes: number;
  /** By name: a count for each minute, oldest first. */
  series: Map<string, number[]>;
}

/** The last `minutes` minutes of the rollup, up to and including the current minute. */
export async function recentMinutes(store: Store, minutes: number, now: number = Date.now()): Promise<MinuteSeries> {
  const range = recentRange(minutes, now);
  return toSeries(await store.listMinuteStats(range), range.from, minutes);
}

/** The range of the last `minutes` minutes, up to and including the current minute. */
export function recentRange(minutes: number, now: number = Date.now()): { from: Date; to: Date } {
  const end = now - (now % MINUTE_MS) + MINUTE_MS;
  return { from: new Date(end - minutes * MINUTE_MS), to: new Date(end) };
}

export function toSeries(stats: readonly MinuteStat[], from: Date, minutes: number): MinuteSeries {
  const series = new Map<string, number[]>();
  for (const stat of stats) {
    const index = Math.floor((stat.minute.getTime() - from.getTime()) / MINUTE_MS);
    if (index < 0 || index >= minutes) continue;
    let counts = series.get(stat.name);
    if (!counts) series.set(stat.name, (counts = new Array<number>(minutes).fill(0)));
    counts[index] += stat.count;
  }
  return { from, minutes, series };
}

/** The total of each name under `prefix` (the prefix dropped), largest first. */
export function totalsUnder(series: MinuteSeries, prefix: string): Array<[string, number]> {
  return [...series.series]
    .filter(([name]) => name.startsWith(prefix))
    .map(([name, counts]): [string, number] => [name.slice(prefix.length), counts.reduce((sum, count) => sum + count, 0)])
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
}
