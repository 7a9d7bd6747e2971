/**
 * CPU time of the local PostgreSQL server (Linux /proc): its postmaster and every backend, including backends that
 * came and went during the run, whose time the kernel adds to the postmaster's children's time when it reaps them.
 * A benchmark on PostgreSQL uses it to count the database as its own work rather than as a disturbance; work other
 * clients gave the same server is counted too. NaN without /proc or without a local PostgreSQL.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { startTickMeter, type CpuMeter } from './cpu-usage.ts';

interface ProcessStat {
  pid: number;
  command: string;
  parent: number;
  /** utime + stime. */
  ownTicks: number;
  /** cutime + cstime: children that exited and were reaped. */
  reapedChildrenTicks: number;
}

export function startPostgresCpuMeter(): CpuMeter {
  return startTickMeter(postgresTicks);
}

function postgresTicks(): number {
  const processes = allProcesses();
  const postgres = processes.filter((process) => process.command === 'postgres');
  const isPostgres = new Set(postgres.map((process) => process.pid));
  const postmasters = postgres.filter((process) => !isPostgres.has(process.parent));
  if (postmasters.length === 0) return NaN;
  return postgres.reduce((sum, process) => sum + process.ownTicks, 0) + postmasters.reduce((sum, process) => sum + process.reapedChildrenTicks, 0);
}

function allProcesses(): ProcessStat[] {
  let entries: string[];
  try {
    entries = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    return [];
  }
  return entries.flatMap((pid) => {
    try {
      const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
      // The command sits in parentheses and may itself hold spaces and parentheses.
      const command = text.slice(text.indexOf('(') + 1, text.lastIndexOf(')'));
      const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
      return [
        {
          pid: Number(pid),
          command,
          parent: Number(fields[1]),
          ownTicks: Number(fields[11]) + Number(fields[12]),
          reapedChildrenTicks: Number(fields[13]) + Number(fields[14]),
        },
      ];
    } catch {
      // The process exited while we looked.
      return [];
    }
  });
}
