/** `switchboard usage`: the usage ledger of a running Switchboard, totals then rows, through its admin API. */
import { callAdmin, type AdminClient } from './admin-client.ts';
import { clip, shortTime, table } from './table.ts';

interface UsageOptions {
  customer?: string;
  meter?: string;
  from?: string;
  to?: string;
  limit?: string;
  cursor?: string;
  json: boolean;
}

interface UsageTotal {
  customer: string;
  meter: string;
  unit: string;
  quantity: number;
  records: number;
}

interface UsageRow {
  id: number;
  customer: string;
  meter: string;
  quantity: number;
  unit: string;
  occurred_at: string;
  event_id: string;
  rule: string;
  report: string | null;
}

export async function listUsage(client: AdminClient, options: UsageOptions): Promise<number> {
  const query = new URLSearchParams();
  for (const key of ['customer', 'meter', 'from', 'to', 'limit', 'cursor'] as const) {
    const value = options[key];
    if (value !== undefined) query.set(key, value);
  }
  const results = await callAdmin<{ totals: UsageTotal[]; records: UsageRow[]; next_cursor: string | null }>(client, 'GET', `/api/v1/usage?${query}`);
  if (options.json) {
    console.log(JSON.stringify(results, null, 2));
    return 0;
  }
  if (results.totals.length === 0) {
    console.log('no usage');
    return 0;
  }
  console.log(
    table([
      ['CUSTOMER', 'METER', 'QUANTITY', 'UNIT', 'RECORDS'],
      ...results.totals.map((total) => [total.customer, total.meter, String(total.quantity), total.unit, String(total.records)]),
    ]),
  );
  console.log(`\n${options.cursor === undefined ? 'newest records' : 'records'}:`);
  console.log(
    table([
      ['ID', 'OCCURRED', 'CUSTOMER', 'METER', 'QUANTITY', 'REPORT', 'RULE', 'EVENT'],
      ...results.records.map((row) => [
        String(row.id),
        shortTime(row.occurred_at),
        clip(row.customer, 32),
        row.meter,
        `${row.quantity} ${row.unit}`,
        row.report ?? '-',
        row.rule,
        row.event_id,
      ]),
    ]),
  );
  if (results.next_cursor) console.log(`\nmore: --cursor ${results.next_cursor}`);
  return 0;
}
