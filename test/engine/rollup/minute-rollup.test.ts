import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { countingInto, MinuteRollup, ROLLUP_NAMES } from '../../../src/engine/rollup/minute-rollup.ts';
import { toSeries, totalsUnder } from '../../../src/server/admin/stats.ts';
import { SqliteStore } from '../../../src/store/sqlite/store.ts';
import { createLogger } from '../../../src/telemetry/logger.ts';
import type { Metrics } from '../../../src/telemetry/metrics.ts';

const T0 = Date.parse('2030-01-01T00:00:00.000Z');
const log = createLogger({ level: 'silent' });

describe('the per-minute rollup', () => {
  let dir: string;
  let store: SqliteStore;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'switchboard-rollup-'));
    store = new SqliteStore(join(dir, 'switchboard.db'));
    await store.migrate();
  });
  afterEach(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('counts per minute in memory and adds the counts to the store when it flushes', async () => {
    const rollup = new MinuteRollup(store, log);
    rollup.count('webhook.accepted', T0 + 1_000);
    rollup.count('webhook.accepted', T0 + 59_999);
    rollup.count('webhook.accepted', T0 + 60_000);
    const range = { from: new Date(T0), to: new Date(T0 + 120_000) };
    expect(await store.listMinuteStats(range)).toEqual([]);
    await rollup.flush();
    rollup.count('webhook.accepted', T0 + 2_000);
    await rollup.stop();
    expect(await store.listMinuteStats(range)).toEqual([
      { minute: new Date(T0), name: 'webhook.accepted', count: 3 },
      { minute: new Date(T0 + 60_000), name: 'webhook.accepted', count: 1 },
    ]);
  });

  it("keeps each target's attempt durations per minute as a histogram, flushed with the counts", async () => {
    const rollup = new MinuteRollup(store, log);
    rollup.latency('hooks.example.com', 12, T0 + 1_000);
    rollup.latency('hooks.example.com', 14, T0 + 2_000);
    rollup.latency('hooks.example.com', 250, T0 + 3_000);
    rollup.latency('crm.example.com', 0, T0 + 61_000);
    await rollup.flush();
    rollup.latency('hooks.example.com', 11, T0 + 4_000);
    await rollup.stop();
    expect(await store.sumLatencies({ from: new Date(T0), to: new Date(T0 + 120_000) })).toEqual([
      { target: 'crm.example.com', leMs: 1, count: 1 },
      { target: 'hooks.example.com', leMs: 15, count: 3 },
      { target: 'hooks.example.com', leMs: 300, count: 1 },
    ]);
    expect(await store.sumLatencies({ from: new Date(T0 + 60_000), to: new Date(T0 + 120_000) })).toEqual([
      { target: 'crm.example.com', leMs: 1, count: 1 },
    ]);
  });

  it('gives the busiest targets of a minute rows of their own, up to the cap, and counts the rest as other', async () => {
    const rollup = new MinuteRollup(store, log, 2);
    const attempts = (target: string, times: number, at: number) => {
      for (let i = 0; i < times; i++) rollup.latency(target, 40, at);
    };
    attempts('a.example.com', 3, T0);
    attempts('b.example.com', 2, T0);
    attempts('c.example.com', 1, T0);
    await rollup.flush();
    // Later in the same minute: the busier newcomer finds the minute's rows taken; the first two keep theirs.
    attempts('d.example.com', 5, T0 + 30_000);
    attempts('c.example.com', 1, T0 + 30_000);
    attempts('b.example.com', 1, T0 + 30_000);
    await rollup.flush();
    // A new minute starts over.
    attempts('d.example.com', 1, T0 + 60_000);
    await rollup.flush();
    const byTarget = async (from: number) =>
      Object.fromEntries((await store.sumLatencies({ from: new Date(from), to: new Date(from + 60_000) })).map((row) => [row.target, row.count]));
    expect(await byTarget(T0)).toEqual({ 'a.example.com': 3, 'b.example.com': 3, other: 7 });
    expect(await byTarget(T0 + 60_000)).toEqual({ 'd.example.com': 1 });
  });

  it('counts what the metrics see: webhooks by outcome, attempts by verdict and latency by target, rule matches', () => {
    const counted: string[] = [];
    const seen: string[] = [];
    const latencies: Array<[string, number]> = [];
    const rollup = {
      count: (name: string) => counted.push(name),
      latency: (target: string, ms: number) => latencies.push([target, ms]),
    } as unknown as MinuteRollup;
    const metrics = {
      webhook: (_event: string | undefined, outcome: string) => seen.push(outcome),
      ruleMatched: (rule: string) => seen.push(rule),
      attempt: (_rule: string, _plugin: string, outcome: string) => seen.push(outcome),
    } as unknown as Metrics;
    const counting = countingInto(rollup, metrics);
    counting.webhook('room_started', 'accepted', 0.001);
    counting.webhook(undefined, 'E_WEBHOOK_INVALID_SIGNATURE', 0.001);
    counting.ruleMatched('notify');
    counting.attempt('notify', 'http', 'dead', 0.25, 'hooks.example.com');
    expect(counted).toEqual(['webhook.accepted', 'webhook.E_WEBHOOK_INVALID_SIGNATURE', 'rule.notify', 'attempt.dead']);
    expect(latencies).toEqual([['hooks.example.com', 250]]);
    expect(seen).toEqual(['accepted', 'E_WEBHOOK_INVALID_SIGNATURE', 'notify', 'dead']);
  });

  it('logs a flush the store refuses and carries on', async () => {
    const warnings: unknown[] = [];
    const refusing = { transaction: async () => { throw new Error('disk full'); } } as unknown as SqliteStore;
    const rollup = new MinuteRollup(refusing, { ...log, warn: (...args: unknown[]) => warnings.push(args) } as typeof log);
    rollup.count('webhook.accepted');
    await rollup.flush();
    expect(warnings).toHaveLength(1);
  });

  it('reads the rollup back as a count per minute of each name, and totals under a prefix', () => {
    const minute = (n: number) => new Date(T0 + n * 60_000);
    const series = toSeries([
      { minute: minute(0), name: ROLLUP_NAMES.rule('a'), count: 2 },
      { minute: minute(2), name: ROLLUP_NAMES.rule('a'), count: 1 },
      { minute: minute(2), name: ROLLUP_NAMES.rule('b'), count: 5 },
      { minute: minute(3), name: ROLLUP_NAMES.rule('b'), count: 9 },
      { minute: minute(1), name: ROLLUP_NAMES.webhook('accepted'), count: 4 },
    ], minute(0), 3);
    expect(series.series.get('rule.a')).toEqual([2, 0, 1]);
    expect(series.series.get('rule.b')).toEqual([0, 0, 5]);
    expect(totalsUnder(series, 'rule.')).toEqual([['b', 5], ['a', 3]]);
  });
});
