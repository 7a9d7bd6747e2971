/**
 * The usage ledger as a plugin's `prepare` sees it: each usage checked, named by an identifier derived from the rule,
 * the event and the meter, and written in the event's transaction. The store's unique identifier keeps one row per
 * usage whatever is redelivered, retried, replayed or crashed.
 */
import { createHash } from 'node:crypto';
import { PermanentError, type RecordedUsage, type UsageLedger, type UsageRecord } from '../../plugins/contract.ts';
import type { NewUsage, StoreTx } from '../../store/store.ts';
import type { Cancellation } from '../action-deadline.ts';

/** The action a usage comes from. */
interface UsageOrigin {
  eventId: string;
  eventName: string;
  ruleId: string;
  actionIndex: number;
}

/**
 * The name of one usage, for the ledger and for providers' idempotency: the same rule, event and meter always give
 * the same identifier. A digest keeps it short (Stripe allows 100 characters) and free of characters providers refuse.
 */
export function usageIdentifier(ruleId: string, eventId: string, meter: string): string {
  const digest = createHash('sha256').update(JSON.stringify([ruleId, eventId, meter])).digest('base64url');
  return `usage_${digest.slice(0, 32)}`;
}

/** Where the ledger writes: the event's transaction, or a dry run's memory (src/engine/dry-run.ts). */
export type UsageWriter = Pick<StoreTx, 'recordUsage'>;

export function usageLedger(tx: UsageWriter, origin: UsageOrigin, cancel: Cancellation): UsageLedger {
  return {
    async record(usage: UsageRecord): Promise<RecordedUsage> {
      cancel.throwIfAborted();
      const problem = usageProblem(usage);
      if (problem !== undefined) throw new PermanentError(`invalid usage record: ${problem}`, { code: 'E_USAGE_INVALID' });
      const entry: NewUsage = {
        identifier: usageIdentifier(origin.ruleId, origin.eventId, usage.meter),
        ...origin,
        customer: usage.customer,
        meter: usage.meter,
        quantity: usage.quantity,
        unit: usage.unit,
        occurredAt: usage.occurredAt,
      };
      const recorded = await tx.recordUsage(entry);
      if (recorded.duplicate && !sameUsage(recorded.existing, entry)) {
        const { existing } = recorded;
        throw new PermanentError(
          `rule "${origin.ruleId}" already recorded ${existing.quantity} ${existing.unit} of ${existing.meter} for ` +
            `customer "${existing.customer}" on this event; another action of the rule measures the same meter ` +
            `differently (${entry.quantity} ${entry.unit} for "${entry.customer}"): give it a meter of its own`,
          { code: 'E_USAGE_CONFLICT' },
        );
      }
      return { identifier: entry.identifier };
    },
  };
}

function usageProblem(usage: UsageRecord): string | undefined {
  for (const field of ['customer', 'meter', 'unit'] as const) {
    if (typeof usage[field] !== 'string' || usage[field] === '') return `${field} must be a non-empty string`;
  }
  if (!Number.isSafeInteger(usage.quantity) || usage.quantity < 0) {
    return `quantity must be a whole number of at least 0, not ${usage.quantity}`;
  }
  if (!(usage.occurredAt instanceof Date) || Number.isNaN(usage.occurredAt.getTime())) return 'occurredAt must be a valid Date';
  return undefined;
}

function sameUsage(a: NewUsage, b: NewUsage): boolean {
  return a.customer === b.customer && a.quantity === b.quantity && a.unit === b.unit;
}
