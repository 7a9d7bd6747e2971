/** `switchboard targets ls|enable|disable`: the systems actions call, their circuits and switches. */
import { callAdmin, type AdminClient } from './admin-client.ts';
import { printListing, printResult } from './listing.ts';
import { clip, shortTime } from './table.ts';

interface TargetRow {
  target: string;
  disabled: boolean;
  reason: string | null;
  changed_at: string | null;
  circuit: string;
  consecutive_failures: number;
  running: number;
}

export async function listTargets(client: AdminClient, options: { json: boolean }): Promise<number> {
  const results = await callAdmin<{ targets: TargetRow[] }>(client, 'GET', '/api/v1/targets');
  return printListing({
    results: { ...results, next_cursor: null },
    rows: results.targets,
    json: options.json,
    empty: 'no targets',
    header: ['TARGET', 'SWITCH', 'CIRCUIT', 'FAILURES', 'RUNNING', 'WHY'],
    row: (t) => [
      clip(t.target, 60),
      t.disabled ? `disabled ${t.changed_at ? shortTime(t.changed_at) : ''}`.trim() : 'enabled',
      t.circuit,
      String(t.consecutive_failures),
      String(t.running),
      t.disabled ? clip(t.reason ?? '', 60) : '',
    ],
  });
}

/** Disables or enables a target, with the reason the audit log keeps. */
export async function switchTarget(
  client: AdminClient,
  options: { target: string; disabled: boolean; reason?: string; json: boolean },
): Promise<number> {
  const action = options.disabled ? 'disable' : 'enable';
  const body = options.reason === undefined ? {} : { reason: options.reason };
  const target = await callAdmin<TargetRow>(client, 'POST', `/api/v1/targets/${encodeURIComponent(options.target)}/${action}`, body);
  return printResult(target, options.json, (t) => `${t.target}: ${t.disabled ? 'disabled' : 'enabled'}`);
}
