/**
 * The systems actions call, each with its stored on/off switch, this process's circuit and rate limit, and its
 * attempts' latency over the last hour (from the per-minute rollup). `:target` is the target URL-encoded
 * (`https%3A%2F%2Fhooks.example.com`).
 */
import type { Router } from 'express';
import type { TargetSnapshot } from '../../engine/delivery/target-guards.ts';
import { summarizeLatency, type LatencyBucket } from '../../engine/rollup/latency-histogram.ts';
import { OTHER_TARGETS } from '../../telemetry/metrics.ts';
import type { Store, TargetRecord } from '../../store/store.ts';
import type { Actor } from './auth.ts';
import { route, type RouteContext } from './request.ts';
import type { AdminRouteOptions } from './route-options.ts';
import { recentRange } from './stats.ts';

const TARGET = { type: 'object', required: ['target'], properties: { target: { type: 'string', minLength: 1 } } };
const SWITCH_BODY = { type: 'object', additionalProperties: false, properties: { reason: { type: 'string', minLength: 1, maxLength: 500 } } };

type TargetOptions = Pick<AdminRouteOptions, 'store' | 'guards' | 'worker'>;

export function targetRoutes(router: Router, context: RouteContext, options: AdminRouteOptions): void {
  route(router, context, 'get', '/api/v1/targets', {}, async () => targetReport(options));

  for (const disabled of [true, false]) {
    route<{ target: string }, Record<string, never>, { reason?: string }>(
      router, context, 'post', `/api/v1/targets/:target/${disabled ? 'disable' : 'enable'}`,
      { params: TARGET, body: SWITCH_BODY },
      async ({ params: { target }, body: { reason }, actor }) => switchTarget(options, target, { disabled, reason }, actor),
    );
  }
}

/** Disables or enables a target, audited; returns the target as it stands now. */
export async function switchTarget(
  options: TargetOptions,
  target: string,
  { disabled, reason }: { disabled: boolean; reason?: string },
  actor: Actor,
) {
  const { store, guards, worker } = options;
  await store.transaction(async (tx) => {
    await tx.setTargetDisabled(target, disabled, reason ?? null);
    await tx.appendAudit({ action: disabled ? 'target.disable' : 'target.enable', subject: target, details: { reason: reason ?? null, actor } });
  });
  if (!disabled) {
    // An operator enabling a target vouches for it: start from a closed circuit, not the old failures.
    guards.reset(target);
    worker.wake();
  }
  return (await targetViews(options)).find((view) => view.target === target);
}

/** Every target the store knows (deliveries or a switch) or this process has guarded, by name. */
export async function targetViews(sources: Pick<AdminRouteOptions, 'store' | 'guards'>) {
  return (await targetReport(sources)).targets;
}

/**
 * The targets, and the latency of those past the rollup's cap on targets per minute, counted together as `other`
 * (null when there were none).
 */
export async function targetReport({ store, guards }: Pick<AdminRouteOptions, 'store' | 'guards'>) {
  const [stored, latencies] = await Promise.all([store.listTargets(), lastHourLatencies(store)]);
  const records = new Map(stored.map((record) => [record.target, record]));
  const snapshots = new Map(guards.snapshot().map((snapshot) => [snapshot.target, snapshot]));
  const names = [...new Set([...records.keys(), ...snapshots.keys()])].sort();
  return {
    targets: names.map((target) => targetView(target, records.get(target), snapshots.get(target), latencies.get(target))),
    other_targets_latency: latencyView(latencies.get(OTHER_TARGETS)),
  };
}

/** Each target's latency buckets summed over the last hour's minutes, the current one included. */
async function lastHourLatencies(store: Store): Promise<Map<string, LatencyBucket[]>> {
  const byTarget = new Map<string, LatencyBucket[]>();
  for (const { target, leMs, count } of await store.sumLatencies(recentRange(60))) {
    let buckets = byTarget.get(target);
    if (!buckets) byTarget.set(target, (buckets = []));
    buckets.push({ leMs, count });
  }
  return byTarget;
}

/** Attempts over the last hour with their p50 and p95 in ms (to a tenth), or null when there were none. */
function latencyView(buckets: LatencyBucket[] | undefined) {
  const summary = buckets && summarizeLatency(buckets);
  if (!summary) return null;
  const tenth = (ms: number) => Math.round(ms * 10) / 10;
  return { attempts: summary.attempts, p50_ms: tenth(summary.p50Ms), p95_ms: tenth(summary.p95Ms) };
}

function targetView(target: string, record: TargetRecord | undefined, snapshot: TargetSnapshot | undefined, latency: LatencyBucket[] | undefined) {
  return {
    target,
    disabled: record?.disabled ?? false,
    reason: record?.reason ?? null,
    changed_at: record?.changedAt?.toISOString() ?? null,
    circuit: snapshot?.circuit ?? 'closed',
    consecutive_failures: snapshot?.consecutiveFailures ?? 0,
    probe_at: snapshot?.probeAt?.toISOString() ?? null,
    rate_limit: snapshot?.rateLimit ? { per_second: snapshot.rateLimit.perSecond ?? null, concurrency: snapshot.rateLimit.concurrency ?? null } : null,
    running: snapshot?.running ?? 0,
    latency: latencyView(latency),
  };
}
