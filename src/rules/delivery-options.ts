/** An action's delivery options (`retry`, `timeout`, `rateLimit`, `ordering`), checked and compiled at load. */
import type { ActionMode } from '../plugins/contract.ts';
import { durationMs } from '../duration.ts';
import type { ReportIssue } from './issues.ts';
import { compileOrdering } from './ordering.ts';
import type { CompiledAction, RateLimit, RetryPolicy } from './types.ts';
import { formatNodePath, type NodePath } from '../schema-issues.ts';

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
