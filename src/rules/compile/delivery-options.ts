/**
 * An action's delivery options (`retry`, `timeout`, `rateLimit`, `ordering`), checked and compiled at load. The
 * ordering key: deliveries that share one run in event order; by default the thing the event is about (the egress
 * for egress events, the ingress for ingress events, else the room).
 */
import { durationMs } from '../../duration.ts';
import type { EventContext } from '../../livekit/event-types.ts';
import type { ActionMode } from '../../plugins/contract.ts';
import { formatNodePath, type NodePath } from '../../schema-issues.ts';
import type { ReportIssue } from '../problems.ts';
import type { CompiledAction, RateLimit, RetryPolicy } from '../types.ts';
import { compileTemplate } from './template.ts';

/** A number of seconds or a string such as "5s", as the schema admits it. */
type Duration = number | string;

/** The delivery keys of an action as the schema admits them: each value is well-typed, their combination is not yet checked. */
export interface DeliveryDocument {
  retry?: RetryDocument;
  timeout?: Duration;
  rateLimit?: RateLimit;
  ordering?: string;
}

interface RetryDocument {
  attempts: number;
  schedule?: Duration[];
  backoff?: 'exponential';
  initial?: Duration;
  max?: Duration;
}

type DeliveryOptions = Pick<CompiledAction, 'retry' | 'timeoutMs' | 'rateLimit' | 'orderingKey'>;

interface DeliveryCompilation {
  /** The mode the action runs in, written or defaulted. */
  mode: ActionMode;
  /** Set when the action names no mode: the plugin whose default it takes, for messages. */
  modeDefaultOf?: string;
  report: ReportIssue;
  /** The action's path in the rule. */
  at: NodePath;
}

// An attempt keeps its claim on the delivery (and a worker) for its whole timeout: work longer than this belongs
// in a system the plugin starts and then leaves alone.
const MAX_TIMEOUT_MS = 10 * 60_000;
const ASYNC_ONLY_KEYS = ['retry', 'rateLimit', 'ordering'] as const;

export function compileDeliveryOptions(action: DeliveryDocument, { mode, modeDefaultOf, report, at }: DeliveryCompilation): DeliveryOptions {
  if (mode === 'inline') {
    const why = modeDefaultOf === undefined ? '' : ` (plugin "${modeDefaultOf}" runs inline unless the action says mode: async)`;
    for (const key of ASYNC_ONLY_KEYS) {
      if (action[key] !== undefined) report([...at, key], `${key} applies to async actions; this action runs inline${why}`, true);
    }
  }
  return {
    retry: action.retry === undefined ? undefined : compileRetry(action.retry, report, [...at, 'retry']),
    timeoutMs: action.timeout === undefined ? undefined : compileTimeout(action.timeout, report, [...at, 'timeout']),
    rateLimit: action.rateLimit === undefined ? undefined : { ...action.rateLimit },
    orderingKey: compileOrdering(action.ordering, report, [...at, 'ordering']),
  };
}

function compileTimeout(timeout: Duration, report: ReportIssue, at: NodePath): number {
  const ms = durationMs(timeout);
  if (ms === 0) report(at, `${formatNodePath(at)} must be more than 0`);
  else if (ms > MAX_TIMEOUT_MS) report(at, `${formatNodePath(at)} must be at most 10m`);
  return ms;
}

/** At most one of `schedule` and `backoff: exponential`, the latter with `initial` ≤ `max`; neither keeps the default delays. */
function compileRetry(retry: RetryDocument, report: ReportIssue, at: NodePath): RetryPolicy {
  const name = (key?: string) => formatNodePath(key === undefined ? at : [...at, key]);
  const { attempts, schedule, backoff } = retry;
  if (backoff === undefined) {
    for (const key of ['initial', 'max'] as const) {
      if (retry[key] !== undefined) report([...at, key], `${name(key)} applies only with backoff: exponential`, true);
    }
    return schedule === undefined ? { attempts } : { attempts, schedule: schedule.map(durationMs) };
  }
  if (schedule !== undefined) {
    report([...at, 'backoff'], `${name()} takes schedule or backoff, not both`, true);
    return { attempts, schedule: schedule.map(durationMs) };
  }
  const missing = (['initial', 'max'] as const).filter((key) => retry[key] === undefined);
  if (missing.length > 0) report(at, `${name()} with backoff: exponential needs ${missing.join(' and ')}`);
  const initialMs = retry.initial === undefined ? 0 : durationMs(retry.initial);
  const maxMs = retry.max === undefined ? initialMs : durationMs(retry.max);
  // A zero first delay would stay zero however often it doubles: every retry at once.
  if (retry.initial !== undefined && initialMs === 0) report([...at, 'initial'], `${name('initial')} must be more than 0`);
  else if (retry.max !== undefined && initialMs > maxMs) report([...at, 'initial'], `${name('initial')} must not be more than ${name('max')}`);
  return { attempts, backoff, initialMs, maxMs };
}

type OrderingKey = (context: EventContext) => string | null;

/** What `ordering:` says for "no ordering at all". */
const UNORDERED = 'none';

/** Absent: the default key; `none`: never ordered; anything else: a template rendered to the key. */
function compileOrdering(ordering: string | undefined, report: ReportIssue, at: NodePath): OrderingKey {
  if (ordering === undefined) return defaultOrderingKey;
  if (ordering === UNORDERED) return () => null;
  const template = compileTemplate(ordering, report, at);
  return (context) => asKey(template.render(context));
}

/** egressInfo.egressId for `egress_*` events, ingressInfo.ingressId for `ingress_*` events, else room.name. */
function defaultOrderingKey(context: EventContext): string | null {
  if (context.event.startsWith('egress_')) return asKey(context.egressInfo?.egressId);
  if (context.event.startsWith('ingress_')) return asKey(context.ingressInfo?.ingressId);
  return asKey(context.room?.name);
}

/** An empty or missing value leaves the delivery unordered rather than ordering it behind every other such one. */
function asKey(value: unknown): string | null {
  if (value === undefined || value === null || value === '') return null;
  return typeof value === 'object' ? JSON.stringify(value) : String(value);
}
