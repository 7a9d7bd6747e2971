/** What Switchboard has seen and runs: sessions, recorded events, the rules in force. */
import type { Router } from 'express';
import { SwitchboardError } from '../../errors.ts';
import { nestsDeeperThan } from '../../livekit/json-object.ts';
import type { RuleSet } from '../../rules/types.ts';
import type { SessionStatus, Store, StoredEvent } from '../../store/store.ts';
import { VIEW_MAX_DEPTH } from './redact.ts';
import { route, type RouteContext } from './request.ts';
import type { AdminRouteOptions } from './route-options.ts';

export function recordRoutes(router: Router, context: RouteContext, { store, currentRules }: AdminRouteOptions): void {
  route<{ key: string }>(router, context, 'get', '/api/v1/sessions/:key', {}, async ({ params }) => findSession(store, params.key));
  route<{ id: string }>(router, context, 'get', '/api/v1/events/:id', {}, async ({ params }) => findEvent(store, params.id));
  route(router, context, 'get', '/api/v1/rules', {}, async () => ({ rules: rulesInForce(currentRules()) }));
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

export function rulesInForce(rules: RuleSet) {
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

function sessionView(session: SessionStatus) {
  return {
    key: session.key,
    status: session.status,
    updated_at: session.updatedAt.toISOString(),
    event_id: session.eventId,
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
    payload: viewablePayload(event.body),
  };
}

/** The body parsed, or as the text received when it nests too deep to be serialised again. */
function viewablePayload(body: string): unknown {
  const payload: unknown = JSON.parse(body);
  return nestsDeeperThan(payload, VIEW_MAX_DEPTH) ? body : payload;
}
