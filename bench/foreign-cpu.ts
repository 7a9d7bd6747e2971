/**
 * How much CPU processes other than the benchmark used while it ran, from /proc (Linux): on a 2-core machine, a
 * test run elsewhere shows up in the latency percentiles, and the report should say so rather than hide it.
 */
import { readFileSync } from 'node:fs';

export interface ForeignCpuMeter {
  /** Average cores used by other processes since the meter started; NaN where /proc is not available. */
  read(): number;
}

/** Above this, other work on the machine visibly moves the figures. */
export const NOISY_FOREIGN_CORES = 0.1;

/** A sentence for the report: how busy the rest of the machine was, with a warning when that spoils the figures. */
export function describeForeignCpu(cores: number, during: string): string {
  const used = `other processes used ${cores.toFixed(2)} cores ${during}`;
  return cores > NOISY_FOREIGN_CORES ? `WARNING: ${used}; the figures are disturbed, run again on a quiet machine` : `Quiet machine: ${used}`;
}

/** `pids` are the benchmark's own processes (this one and its servers); they must still be running at `read()`. */
export function startForeignCpuMeter(pids: readonly number[]): ForeignCpuMeter {
  const ticks = () => machineBusyTicks() - pids.reduce((sum, pid) => sum + processTicks(pid), 0);
  const start = performance.now();
  const startTicks = ticks();
  return {
    read() {
      const seconds = (performance.now() - start) / 1000;
      return (ticks() - startTicks) / TICKS_PER_SECOND / seconds;
    },
  };
}

// USER_HZ, 100 on every Linux that Node.js supports.
const TICKS_PER_SECOND = 100;

/** Busy time of all cores: user, nice, system, irq, softirq, steal. */
function machineBusyTicks(): number {
  try {
    const [user, nice, system, , , irq, softirq, steal] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    return user + nice + system + irq + softirq + steal;
  } catch {
    return NaN;
  }
}

/** utime + stime of one process. */
function processTicks(pid: number): number {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which may itself contain spaces and parentheses.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return NaN;
  }
}
