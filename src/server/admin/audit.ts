/** The audit log of admin changes, newest first as the store pages it. */
import type { Router } from 'express';
import type { AuditRecord, Store } from '../../store/store.ts';
import { PAGE_QUERY, route, type PageQuery, type RouteContext } from './request.ts';
import type { AdminRouteOptions } from './route-options.ts';

export function auditRoutes(router: Router, context: RouteContext, { store }: AdminRouteOptions): void {
  route<Record<string, never>, PageQuery>(router, context, 'get', '/api/v1/audit', {
    query: { type: 'object', additionalProperties: false, properties: PAGE_QUERY },
  }, async ({ query }) => auditPage(store, query));
}

export async function auditPage(store: Store, page: PageQuery) {
  const { items, nextCursor } = await store.listAudit(page);
  return { entries: items.map(auditView), next_cursor: nextCursor };
}

function auditView(entry: AuditRecord) {
  return { id: entry.id, at: entry.at.toISOString(), action: entry.action, subject: entry.subject, details: entry.details };
}
