/** The WHERE conditions of the admin API's filters, with `$n` placeholders numbered after the values already bound. */
import { indexedText } from './indexed-text.ts';
import type { DeliveryFilter, EventSearch, UsageFilter } from '../store.ts';
import type { Dialect } from './dialect.ts';

/** Adds conditions to `conditions`, each with its value appended to `values`. */
function conditionAdder(conditions: string[], values: unknown[]) {
  return (condition: (placeholder: string) => string, value: unknown) => {
    values.push(value);
    conditions.push(condition(`$${values.length}`));
  };
}

/** The conditions a usage filter puts on the usage ledger (as `usage`). */
export function usageConditions(filter: UsageFilter, values: unknown[]): string[] {
  const conditions: string[] = [];
  const add = conditionAdder(conditions, values);
  if (filter.customer !== undefined) add((value) => `usage.customer = ${value}`, filter.customer);
  if (filter.meter !== undefined) add((value) => `usage.meter = ${value}`, filter.meter);
  if (filter.from !== undefined) add((value) => `usage.occurred_at >= ${value}`, filter.from);
  if (filter.to !== undefined) add((value) => `usage.occurred_at < ${value}`, filter.to);
  return conditions;
}

/** The conditions a delivery filter puts on the deliveries table. */
export function deliveryConditions(
  dialect: Dialect,
  filter: DeliveryFilter & { ids?: readonly number[] },
  values: unknown[],
): string[] {
  const conditions: string[] = [];
  const add = conditionAdder(conditions, values);
  if (filter.state !== undefined) add((value) => `state = ${value}`, filter.state);
  if (filter.rule !== undefined) add((value) => `rule_id = ${value}`, filter.rule);
  if (filter.target !== undefined) add((value) => `target = ${value}`, filter.target);
  if (filter.eventId !== undefined) add((value) => `event_id = ${value}`, filter.eventId);
  if (filter.since !== undefined) add((value) => `created_at >= ${value}`, filter.since);
  if (filter.until !== undefined) add((value) => `created_at < ${value}`, filter.until);
  if (filter.ids !== undefined) add((value) => dialect.inList('id', value, 'bigint'), filter.ids);
  return conditions;
}

/** The conditions an event search puts on the events table. */
export function eventConditions(search: EventSearch, values: unknown[]): string[] {
  const conditions: string[] = [];
  const add = conditionAdder(conditions, values);
  if (search.room !== undefined) add((value) => `room = ${value}`, indexedText(search.room));
  if (search.participant !== undefined) add((value) => `participant = ${value}`, indexedText(search.participant));
  if (search.type !== undefined) add((value) => `name = ${value}`, search.type);
  if (search.since !== undefined) add((value) => `received_at >= ${value}`, search.since);
  if (search.until !== undefined) add((value) => `received_at < ${value}`, search.until);
  return conditions;
}
