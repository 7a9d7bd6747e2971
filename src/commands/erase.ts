/** `switchboard erase`: a participant's or a room's data erased through a running Switchboard's admin API. */
import { callAdmin, type AdminClient } from './admin-client.ts';
import { UsageError } from './command.ts';
import { table } from './table.ts';

export interface EraseOptions {
  participant?: string;
  room?: string;
  json: boolean;
}

export async function erase(client: AdminClient, options: EraseOptions): Promise<number> {
  if ((options.participant === undefined) === (options.room === undefined)) {
    throw new UsageError('needs one of --participant IDENTITY or --room NAME', 'erase');
  }
  const body = options.participant !== undefined ? { participant_identity: options.participant } : { room: options.room };
  const results = await callAdmin<{ erased: Record<string, number> }>(client, 'POST', '/api/v1/erase', body);
  if (options.json) {
    console.log(JSON.stringify(results, null, 2));
    return 0;
  }
  console.log(table([['ROWS', 'COUNT'], ...Object.entries(results.erased).map(([name, count]) => [name, String(count)])]));
  return 0;
}
