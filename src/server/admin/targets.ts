/**
 * The systems actions call, each with its stored on/off switch and this process's circuit and rate limit.
 * `:target` is the target URL-encoded (`https%3A%2F%2Fhooks.example.com`).
 */
import type { Router } from 'express';
import type { TargetSnapshot } from '../../engine/delivery/target-guards.ts';
import type { TargetRecord } from '../../store/store.ts';
import type { Actor } from './auth.ts';
import { route, type RouteContext } from './request.ts';
import type { AdminRouteOptions } from './route-options.ts';

const TARGET = { type: 'object', required: ['target'], properties: { target: { type: 'string', minLength: 1 } } };
const SWITCH_BODY = { type: 'object', additionalProperties: false, properties: { reason: { type: 'string', minLength: 1, maxLength: 500 } } };

type TargetOptions = Pick<AdminRouteOptions, 'store' | 'guards' | 'worker'>;

export function targetRoutes(router: Router, context: RouteContext, options: AdminRouteOptions): void {
  route(router, context, 'get', '/api/v1/targets', {}, async () => ({ targets: await targetViews(options) }));

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
export async function targetViews({ store, guards }: Pick<AdminRouteOptions, 'store' | 'guards'>) {
  const records = new Map((await store.listTargets()).map((record) => [record.target, record]));
  const snapshots = new Map(guards.snapshot().map((snapshot) => [snapshot.target, snapshot]));
  const names = [...new Set([...records.keys(), ...snapshots.keys()])].sort();
  return names.map((target) => targetView(target, records.get(target), snapshots.get(target)));
}

function targetView(target: string, record: TargetRecord | undefined, snapshot: TargetSnapshot | undefined) {
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
  };
}
