/** The usage ledger: totals by customer, meter and unit over a filter, and its rows, newest first. */
import type { Router } from 'express';
import type { DeliveryState } from '../../store/delivery-state.ts';
import type { Store, UsageEntry, UsageFilter } from '../../store/store.ts';
import { ISO_TIME, PAGE_QUERY, queryTime, route, type PageQuery, type RouteContext } from './request.ts';
import type { AdminRouteOptions } from './route-options.ts';

interface UsageQuery extends PageQuery {
  customer?: string;
  meter?: string;
  from?: string;
  to?: string;
}

/** Where the delivery that reports a usage stands, as the usage's report status. */
const REPORT_STATUS: Record<DeliveryState, 'pending' | 'reported' | 'failed' | 'cancelled'> = {
  pending: 'pending',
  running: 'pending',
  'failed-waiting-retry': 'pending',
  succeeded: 'reported',
  dead: 'failed',
  cancelled: 'cancelled',
};

export function usageRoutes(router: Router, context: RouteContext, { store }: AdminRouteOptions): void {
  route<Record<string, never>, UsageQuery>(router, context, 'get', '/api/v1/usage', {
    query: {
      type: 'object',
      additionalProperties: false,
      properties: {
        customer: { type: 'string', minLength: 1 },
        meter: { type: 'string', minLength: 1 },
        from: ISO_TIME,
        to: ISO_TIME,
        ...PAGE_QUERY,
      },
    },
  }, async ({ query: { limit, cursor, ...filter } }) => usageReport(store, filter, { limit, cursor }));
}

/** Totals by customer, meter and unit over the filter, and one page of its ledger rows. */
export async function usageReport(store: Store, query: Omit<UsageQuery, keyof PageQuery>, page: PageQuery) {
  const filter: UsageFilter = {
    customer: query.customer,
    meter: query.meter,
    from: queryTime('from', query.from),
    to: queryTime('to', query.to),
  };
  const [totals, records] = await Promise.all([store.sumUsage(filter), store.listUsage(filter, page)]);
  return { totals, records: records.items.map(usageView), next_cursor: records.nextCursor };
}

function usageView(entry: UsageEntry) {
  return {
    id: entry.id,
    identifier: entry.identifier,
    customer: entry.customer,
    meter: entry.meter,
    quantity: entry.quantity,
    unit: entry.unit,
    occurred_at: entry.occurredAt.toISOString(),
    recorded_at: entry.recordedAt.toISOString(),
    event_id: entry.eventId,
    event_type: entry.eventName,
    rule: entry.ruleId,
    action_index: entry.actionIndex,
    report: entry.delivery === null ? null : REPORT_STATUS[entry.delivery.state],
    delivery_id: entry.delivery?.id ?? null,
  };
}
