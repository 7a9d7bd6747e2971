/** `switchboard deliveries ls|show|replay|cancel`: the delivery queue of a running Switchboard, through its admin API. */
import { SwitchboardError } from '../errors.ts';
import { callAdmin, type AdminClient } from './admin-client.ts';
import { printListing, printResult, queryOf } from './listing.ts';
import { clip, shortTime, table } from './table.ts';

interface DeliveryFilterOptions {
  status?: string;
  rule?: string;
  target?: string;
  event?: string;
  /** ISO 8601 times (relative ones already turned into times). */
  since?: string;
  until?: string;
}

type ApiError = { code: string; message: string } | null;

interface DeliveryRow {
  id: number;
  state: string;
  /** Why a waiting delivery is not run now (target-disabled, circuit-open, ordering); null when nothing holds it. */
  held: string | null;
  event_id: string;
  event_type: string;
  rule: string;
  action_index: number;
  plugin: string;
  target: string;
  ordering_key: string | null;
  attempts: number;
  max_attempts: number;
  due_at: string;
  created_at: string;
  updated_at: string;
  last_error: ApiError;
}

interface AttemptRow {
  number: number;
  started_at: string;
  duration_ms: number;
  status_code: number | null;
  error: ApiError;
  response: string | null;
  succeeded: boolean;
}

/** States in which the due time is what matters; otherwise when it last changed. */
const WAITING = new Set(['pending', 'failed-waiting-retry']);

const errorText = (error: ApiError) => (error ? `${error.code}: ${error.message}` : '');

export async function listDeliveries(
  client: AdminClient,
  options: DeliveryFilterOptions & { limit?: string; cursor?: string; json: boolean },
): Promise<number> {
  const { json, ...query } = options;
  const results = await callAdmin<{ deliveries: DeliveryRow[]; next_cursor: string | null }>(client, 'GET', `/api/v1/deliveries?${queryOf(query)}`);
  return printListing({
    results,
    rows: results.deliveries,
    json,
    empty: 'no deliveries',
    header: ['ID', 'STATE', 'HELD', 'RULE', 'TARGET', 'ATTEMPTS', 'DUE/UPDATED', 'LAST ERROR'],
    row: (delivery) => [
      String(delivery.id),
      delivery.state,
      delivery.held ?? '-',
      delivery.rule,
      clip(delivery.target, 40),
      `${delivery.attempts}/${delivery.max_attempts}`,
      WAITING.has(delivery.state) ? `due ${shortTime(delivery.due_at)}` : shortTime(delivery.updated_at),
      clip(errorText(delivery.last_error), 80),
    ],
  });
}

/** One delivery with every attempt it took. */
export async function showDelivery(client: AdminClient, options: { id: string; json: boolean }): Promise<number> {
  const delivery = await callAdmin<DeliveryRow & { attempts_log: AttemptRow[] }>(client, 'GET', `/api/v1/deliveries/${encodeURIComponent(options.id)}`);
  return printResult(delivery, options.json, (d) => {
    const facts = table([
      ['delivery', String(d.id)],
      ['state', d.state],
      ['held', d.held ?? '-'],
      ['event', `${d.event_id} (${d.event_type})`],
      ['rule', `${d.rule} #${d.action_index} (${d.plugin})`],
      ['target', d.target],
      ['ordering key', d.ordering_key ?? '-'],
      ['attempts', `${d.attempts}/${d.max_attempts}`],
      ['due', shortTime(d.due_at)],
      ['created', shortTime(d.created_at)],
      ['updated', shortTime(d.updated_at)],
      ['last error', errorText(d.last_error) || '-'],
    ]);
    const attempts = d.attempts_log.length === 0
      ? 'no attempt yet'
      : table([
          ['#', 'STARTED', 'DURATION', 'STATUS', 'OUTCOME', 'ERROR', 'ANSWER'],
          ...d.attempts_log.map((a) => [
            String(a.number),
            shortTime(a.started_at),
            `${a.duration_ms} ms`,
            a.status_code === null ? '-' : String(a.status_code),
            a.succeeded ? 'succeeded' : 'failed',
            clip(errorText(a.error), 60),
            clip(a.response ?? '', 60),
          ]),
        ]);
    return `${facts}\n\n${attempts}`;
  });
}

/** One delivery by id, or every one matching the filter (at least one filter: never everything by accident). */
export async function replayDeliveries(
  client: AdminClient,
  options: DeliveryFilterOptions & { id?: string; force: boolean; json: boolean },
): Promise<number> {
  const { id, force, json, ...filter } = options;
  const filtered = Object.values(filter).some((value) => value !== undefined);
  if ((id === undefined) === !filtered) {
    throw new SwitchboardError(
      'E_INVALID_REQUEST',
      'deliveries replay takes a delivery id, or --status/--rule/--target/--event/--since/--until to replay every delivery they match',
    );
  }
  let replayed: number[];
  try {
    replayed = id === undefined
      ? (await callAdmin<{ replayed: number[] }>(client, 'POST', '/api/v1/deliveries/replay', { ...filter, force })).replayed
      : (await callAdmin<{ replayed: number[] }>(client, 'POST', `/api/v1/deliveries/${encodeURIComponent(id)}/replay`, { force })).replayed;
  } catch (error) {
    if (error instanceof SwitchboardError && error.code === 'E_DELIVERY_SUCCEEDED') {
      throw new SwitchboardError(error.code, `${error.message} (here: --force)`);
    }
    throw error;
  }
  return printResult({ replayed, count: replayed.length }, json, () =>
    replayed.length === 0 ? 'nothing to replay' : `replayed ${countOf(replayed)}: ${replayed.join(', ')}`);
}

/** Cancels a delivery that has not run yet. */
export async function cancelDelivery(client: AdminClient, options: { id: string; json: boolean }): Promise<number> {
  const results = await callAdmin<{ cancelled: number[] }>(client, 'POST', `/api/v1/deliveries/${encodeURIComponent(options.id)}/cancel`);
  return printResult(results, options.json, ({ cancelled }) => `cancelled ${countOf(cancelled)}: ${cancelled.join(', ')}`);
}

function countOf(ids: number[]): string {
  return `${ids.length} ${ids.length === 1 ? 'delivery' : 'deliveries'}`;
}
