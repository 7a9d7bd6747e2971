/** `switchboard events ls|show`, `sessions ls|show` and `audit`: what a running Switchboard has seen and changed. */
import { callAdmin, type AdminClient } from './admin-client.ts';
import { printListing, printResult, queryOf } from './listing.ts';
import { clip, shortTime, table } from './table.ts';

interface PageOptions {
  limit?: string;
  cursor?: string;
  json: boolean;
}

interface EventRow {
  event_id: string;
  event_type: string;
  received_at: string;
  room: string | null;
  participant: string | null;
}

export async function listEvents(
  client: AdminClient,
  options: PageOptions & { room?: string; participant?: string; type?: string; since?: string; until?: string },
): Promise<number> {
  const { json, ...query } = options;
  const results = await callAdmin<{ events: EventRow[]; next_cursor: string | null }>(client, 'GET', `/api/v1/events?${queryOf(query)}`);
  return printListing({
    results,
    rows: results.events,
    json,
    empty: 'no events',
    header: ['RECEIVED', 'TYPE', 'ROOM', 'PARTICIPANT', 'EVENT'],
    row: (e) => [shortTime(e.received_at), e.event_type, clip(e.room ?? '-', 32), clip(e.participant ?? '-', 32), e.event_id],
  });
}

interface ActionRow {
  rule: string;
  plugin: string;
  status: string;
  result?: { delivery_id?: number };
  error?: { code: string; message: string };
}

/** One event: what it was, the rules it matched, each action's outcome; its payload with --json. */
export async function showEvent(client: AdminClient, options: { id: string; json: boolean }): Promise<number> {
  const event = await callAdmin<EventRow & { api_key: string; matched: string[]; actions: ActionRow[]; payload: unknown }>(
    client, 'GET', `/api/v1/events/${encodeURIComponent(options.id)}`);
  return printResult(event, options.json, (e) => {
    const facts = table([
      ['event', e.event_id],
      ['type', e.event_type],
      ['received', shortTime(e.received_at)],
      ['signed with', e.api_key],
      ['matched', e.matched.length === 0 ? '-' : e.matched.join(', ')],
    ]);
    const actions = e.actions.length === 0
      ? 'no action ran'
      : table([
          ['RULE', 'PLUGIN', 'OUTCOME', 'DELIVERY', 'ERROR'],
          ...e.actions.map((a) => [
            a.rule,
            a.plugin,
            a.status,
            a.result?.delivery_id === undefined ? '-' : String(a.result.delivery_id),
            a.error ? clip(`${a.error.code}: ${a.error.message}`, 80) : '',
          ]),
        ]);
    return `${facts}\n\n${actions}\n\npayload:\n${JSON.stringify(e.payload, null, 2)}`;
  });
}

interface SessionRow {
  key: string;
  status: string;
  updated_at: string;
  event_id: string;
}

export async function listSessions(client: AdminClient, options: PageOptions & { status?: string }): Promise<number> {
  const { json, ...query } = options;
  const results = await callAdmin<{ sessions: SessionRow[]; next_cursor: string | null }>(client, 'GET', `/api/v1/sessions?${queryOf(query)}`);
  return printListing({
    results,
    rows: results.sessions,
    json,
    empty: 'no sessions',
    header: ['KEY', 'STATUS', 'UPDATED', 'BY EVENT'],
    row: (s) => [clip(s.key, 48), s.status, shortTime(s.updated_at), s.event_id],
  });
}

interface HistoryRow {
  status: string;
  old_status: string;
  event_id: string;
  event_type: string;
  at: string;
}

/** One session with its history, newest first. */
export async function showSession(client: AdminClient, options: { key: string; json: boolean }): Promise<number> {
  const session = await callAdmin<SessionRow & { history: HistoryRow[] }>(client, 'GET', `/api/v1/sessions/${encodeURIComponent(options.key)}`);
  return printResult(session, options.json, (s) => {
    const facts = table([['session', s.key], ['status', s.status], ['updated', shortTime(s.updated_at)], ['by event', s.event_id]]);
    const history = s.history.length === 0
      ? 'no history'
      : table([['AT', 'FROM', 'TO', 'EVENT'], ...s.history.map((h) => [shortTime(h.at), h.old_status, h.status, `${h.event_type} ${h.event_id}`])]);
    return `${facts}\n\n${history}`;
  });
}

interface AuditRow {
  id: number;
  at: string;
  action: string;
  subject: string;
  details: { actor?: { id: string } } & Record<string, unknown>;
}

/** The audit log of changes, newest first. */
export async function listAudit(client: AdminClient, options: PageOptions): Promise<number> {
  const { json, ...query } = options;
  const results = await callAdmin<{ entries: AuditRow[]; next_cursor: string | null }>(client, 'GET', `/api/v1/audit?${queryOf(query)}`);
  return printListing({
    results,
    rows: results.entries,
    json,
    empty: 'no changes',
    header: ['ID', 'AT', 'ACTION', 'SUBJECT', 'BY', 'DETAILS'],
    row: ({ id, at, action, subject, details: { actor, ...rest } }) => [
      String(id), shortTime(at), action, clip(subject, 48), actor?.id ?? '-', clip(JSON.stringify(rest), 80),
    ],
  });
}
