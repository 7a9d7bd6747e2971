/** CPU time from /proc (Linux; NaN elsewhere): the servers', the load generator's, other processes'. */
import { readFileSync } from 'node:fs';

// USER_HZ, 100 on every Linux that Node.js supports.
const TICKS_PER_SECOND = 100;
/** Above this many cores, other work on the machine visibly moves the figures. */
const NOISY_FOREIGN_CORES = 0.1;

/** `read()`: the average cores used since the meter started. */
export type CpuMeter = { read(): number };

/** Cores used by the processes `pids` (which must still be running at `read()`). */
export function startProcessCpuMeter(pids: readonly number[]): CpuMeter {
  return startTickMeter(() => processTicks(pids));
}

/** Cores used by the thread running `pid`'s event loop (its thread id is the process id): near 1, it is saturated. */
export function startMainThreadCpuMeter(pid: number): CpuMeter {
  return startTickMeter(() => statTicks(`/proc/${pid}/task/${pid}/stat`));
}

/** Cores used by every process but `pids`, the benchmark's own. */
export function startForeignCpuMeter(pids: readonly number[]): CpuMeter {
  return startTickMeter(() => machineBusyTicks() - processTicks(pids));
}

/** A sentence for the report: how busy the rest of the machine was, with a warning when that spoils the figures. */
export function describeForeignCpu(cores: number, during: string): string {
  const used = `other processes used ${Math.max(0, cores).toFixed(2)} cores ${during}`;
  return cores > NOISY_FOREIGN_CORES ? `WARNING: ${used}; the figures are disturbed, run again on a quiet machine` : `Quiet machine: ${used}`;
}

function startTickMeter(ticks: () => number): CpuMeter {
  const start = performance.now();
  const startTicks = ticks();
  return { read: () => (ticks() - startTicks) / TICKS_PER_SECOND / ((performance.now() - start) / 1000) };
}

/** Busy time of all cores: user, nice, system, irq, softirq, steal. */
function machineBusyTicks(): number {
  try {
    const [user, nice, system, , , irq, softirq, steal] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    return user + nice + system + irq + softirq + steal;
  } catch {
    return NaN;
  }
}

function processTicks(pids: readonly number[]): number {
  return pids.reduce((sum, pid) => sum + statTicks(`/proc/${pid}/stat`), 0);
}

/** utime + stime from a process's or a thread's stat file. */
function statTicks(path: string): number {
  try {
    const text = readFileSync(path, 'utf8');
    // The fields after the command name, which may itself hold spaces and parentheses.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return NaN;
  }
}
