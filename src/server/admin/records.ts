/** What Switchboard has seen and runs: sessions, recorded events (one, or a search), the rules in force. */
import type { Router } from 'express';
import { SwitchboardError } from '../../errors.ts';
import type { RulesLoad } from '../../engine/rules-holder.ts';
import type { RuleSet } from '../../rules/types.ts';
import type { EventSummary, SessionStatus, SessionSummary, Store, StoredEvent } from '../../store/store.ts';
import { ISO_TIME, PAGE_QUERY, queryTime, route, type PageQuery, type RouteContext } from './request.ts';
import { nestsDeeperThan } from '../../plain-object.ts';
import { VIEW_MAX_DEPTH } from './redact.ts';
import type { AdminRouteOptions } from './route-options.ts';

export interface EventQuery {
  room?: string;
  participant?: string;
  type?: string;
  since?: string;
  until?: string;
}

const TEXT = { type: 'string', minLength: 1 } as const;

export function recordRoutes(router: Router, context: RouteContext, { store, currentRules, rulesStatus }: AdminRouteOptions): void {
  route<Record<string, never>, EventQuery & PageQuery>(router, context, 'get', '/api/v1/events', {
    query: {
      type: 'object',
      additionalProperties: false,
      properties: { room: TEXT, participant: TEXT, type: TEXT, since: ISO_TIME, until: ISO_TIME, ...PAGE_QUERY },
    },
  }, async ({ query: { limit, cursor, ...search } }) => eventPage(store, search, { limit, cursor }));
  route<Record<string, never>, { status?: string } & PageQuery>(router, context, 'get', '/api/v1/sessions', {
    query: { type: 'object', additionalProperties: false, properties: { status: TEXT, ...PAGE_QUERY } },
  }, async ({ query: { limit, cursor, ...filter } }) => sessionPage(store, filter, { limit, cursor }));
  route<{ key: string }>(router, context, 'get', '/api/v1/sessions/:key', {}, async ({ params }) => findSession(store, params.key));
  route<{ id: string }>(router, context, 'get', '/api/v1/events/:id', {}, async ({ params }) => findEvent(store, params.id));
  route(router, context, 'get', '/api/v1/rules', {}, async () => rulesReport({ currentRules, rulesStatus }));
}

/** The rules in force, when they were loaded, and the latest load (a reload that failed keeps the rules in force). */
export function rulesReport({ currentRules, rulesStatus }: Pick<AdminRouteOptions, 'currentRules' | 'rulesStatus'>) {
  const status = rulesStatus();
  return { rules: rulesInForce(currentRules()), loaded_at: status.lastSuccess.at.toISOString(), last_reload: loadView(status.last) };
}

/** Recorded events matching the search, newest first, without their payloads. */
export async function eventPage(store: Store, query: EventQuery, page: PageQuery) {
  const search = { ...query, since: queryTime('since', query.since), until: queryTime('until', query.until) };
  const { items, nextCursor } = await store.searchEvents(search, page);
  return { events: items.map(eventSummaryView), next_cursor: nextCursor };
}

/** Sessions by key, of one status when asked. */
export async function sessionPage(store: Store, filter: { status?: string }, page: PageQuery) {
  const { items, nextCursor } = await store.listSessions(filter, page);
  return { sessions: items.map(sessionSummaryView), next_cursor: nextCursor };
}

export async function findSession(store: Store, key: string) {
  const session = await store.getSession(key);
  if (!session) throw new SwitchboardError('E_NOT_FOUND', `no session "${key}" has been seen`);
  return sessionView(session);
}

export async function findEvent(store: Store, id: string) {
  const event = await store.getEvent(id);
  if (!event) throw new SwitchboardError('E_NOT_FOUND', `no event "${id}" has been recorded`);
  return eventView(event);
}

function rulesInForce(rules: RuleSet) {
  return rules.rules.map((rule) => ({
    id: rule.id,
    description: rule.description,
    enabled: rule.enabled,
    on: rule.on,
    file: rule.location.file,
    line: rule.location.line,
    actions: rule.actions.map((action) => ({ plugin: action.plugin, mode: action.mode })),
  }));
}

function loadView(load: RulesLoad) {
  return {
    at: load.at.toISOString(),
    reason: load.reason,
    outcome: load.outcome,
    problems: load.problems.map((problem) => ({
      file: problem.file ?? null,
      line: problem.line ?? null,
      column: problem.column ?? null,
      rule_id: problem.ruleId ?? null,
      message: problem.message,
    })),
  };
}

function sessionSummaryView(session: SessionSummary) {
  return { key: session.key, status: session.status, updated_at: session.updatedAt.toISOString(), event_id: session.eventId };
}

function sessionView(session: SessionStatus) {
  return {
    ...sessionSummaryView(session),
    history: session.history.map((entry) => ({
      status: entry.status,
      old_status: entry.oldStatus,
      event_id: entry.eventId,
      event_type: entry.eventName,
      event_created_at: entry.eventCreatedAt,
      at: entry.at.toISOString(),
    })),
  };
}

function eventSummaryView(event: EventSummary) {
  return {
    event_id: event.id,
    event_type: event.name,
    seq: event.seq,
    created_at: event.createdAt,
    received_at: event.receivedAt.toISOString(),
    room: event.room,
    participant: event.participant,
  };
}

function eventView(event: StoredEvent) {
  return {
    event_id: event.id,
    event_type: event.name,
    seq: event.seq,
    created_at: event.createdAt,
    received_at: event.receivedAt.toISOString(),
    api_key: event.apiKey,
    matched: event.matched,
    actions: event.actions,
    // Past RETENTION_EVENTS an event younger than the dedupe window keeps only its id: its body is gone.
    payload: event.body === '' ? null : viewablePayload(event.body),
  };
}

/** The body parsed, or as the text received when it nests too deep to be serialised again. */
function viewablePayload(body: string): unknown {
  const payload: unknown = JSON.parse(body);
  return nestsDeeperThan(payload, VIEW_MAX_DEPTH) ? body : payload;
}
