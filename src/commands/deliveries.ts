/** `switchboard deliveries ls|replay`: the delivery queue of a running Switchboard, through its admin API. */
import { SwitchboardError } from '../errors.ts';
import { callAdmin, type AdminClient } from './admin-client.ts';
import { clip, shortTime, table } from './table.ts';

interface DeliveryFilterOptions {
  status?: string;
  rule?: string;
  target?: string;
}

interface DeliveryRow {
  id: number;
  state: string;
  rule: string;
  target: string;
  attempts: number;
  max_attempts: number;
  due_at: string;
  updated_at: string;
  last_error: { code: string; message: string } | null;
}

/** States in which the due time is what matters; otherwise when it last changed. */
const WAITING = new Set(['pending', 'failed-waiting-retry']);

export async function listDeliveries(
  client: AdminClient,
  options: DeliveryFilterOptions & { limit?: string; cursor?: string; json: boolean },
): Promise<number> {
  const query = new URLSearchParams();
  for (const key of ['status', 'rule', 'target', 'limit', 'cursor'] as const) {
    const value = options[key];
    if (value !== undefined) query.set(key, value);
  }
  const results = await callAdmin<{ deliveries: DeliveryRow[]; next_cursor: string | null }>(client, 'GET', `/api/v1/deliveries?${query}`);
  if (options.json) {
    console.log(JSON.stringify(results, null, 2));
    return 0;
  }
  if (results.deliveries.length === 0) {
    console.log('no deliveries');
    return 0;
  }
  console.log(
    table([
      ['ID', 'STATE', 'RULE', 'TARGET', 'ATTEMPTS', 'DUE/UPDATED', 'LAST ERROR'],
      ...results.deliveries.map((delivery) => [
        String(delivery.id),
        delivery.state,
        delivery.rule,
        clip(delivery.target, 40),
        `${delivery.attempts}/${delivery.max_attempts}`,
        WAITING.has(delivery.state) ? `due ${shortTime(delivery.due_at)}` : shortTime(delivery.updated_at),
        delivery.last_error ? clip(`${delivery.last_error.code}: ${delivery.last_error.message}`, 80) : '',
      ]),
    ]),
  );
  if (results.next_cursor) console.log(`\nmore: --cursor ${results.next_cursor}`);
  return 0;
}

/** One delivery by id, or every one matching the filter (at least one filter: never everything by accident). */
export async function replayDeliveries(
  client: AdminClient,
  options: DeliveryFilterOptions & { id?: string; force: boolean; json: boolean },
): Promise<number> {
  const { id, force, json, ...filter } = options;
  const filtered = Object.values(filter).some((value) => value !== undefined);
  if ((id === undefined) === !filtered) {
    throw new SwitchboardError('E_INVALID_REQUEST', 'deliveries replay takes a delivery id, or --status/--rule/--target to replay every delivery they match');
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
  if (json) console.log(JSON.stringify({ replayed, count: replayed.length }, null, 2));
  else if (replayed.length === 0) console.log('nothing to replay');
  else console.log(`replayed ${replayed.length} ${replayed.length === 1 ? 'delivery' : 'deliveries'}: ${replayed.join(', ')}`);
  return 0;
}
