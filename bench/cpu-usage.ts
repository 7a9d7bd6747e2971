/**
 * CPU time from /proc (Linux): what the server and the load generator each used during a run (is the load
 * generator the bottleneck?), and what other processes used meanwhile: on a 2-core machine a test run elsewhere
 * shows up in the percentiles, and the report should say so rather than hide it. NaN where /proc is missing.
 */
import { readFileSync } from 'node:fs';

// USER_HZ, 100 on every Linux that Node.js supports.
const TICKS_PER_SECOND = 100;

/** Above this many cores, other work on the machine visibly moves the figures. */
const NOISY_FOREIGN_CORES = 0.1;

export interface CpuMeter {
  /** Average cores used since the meter started. */
  read(): number;
}

/** Cores used by the processes `pids` (which must still be running at `read()`). */
export function startProcessCpuMeter(pids: readonly number[]): CpuMeter {
  return startTickMeter(() => pids.reduce((sum, pid) => sum + processTicks(pid), 0));
}

/**
 * Cores used by the main thread of `pid`, the one running its event loop (on Linux its thread id is the process
 * id). Beside the whole process's figure it tells a server saturated on its event loop (near 1) from one waiting
 * for something else, e.g. the disk.
 */
export function startMainThreadCpuMeter(pid: number): CpuMeter {
  return startTickMeter(() => statTicks(`/proc/${pid}/task/${pid}/stat`));
}

/** Cores used by every process but `pids`, the benchmark's own (which must still be running at `read()`). */
export function startForeignCpuMeter(pids: readonly number[]): CpuMeter {
  return startTickMeter(() => machineBusyTicks() - pids.reduce((sum, pid) => sum + processTicks(pid), 0));
}

/** A sentence for the report: how busy the rest of the machine was, with a warning when that spoils the figures. */
export function describeForeignCpu(cores: number, during: string): string {
  const used = `other processes used ${Math.max(0, cores).toFixed(2)} cores ${during}`;
  return cores > NOISY_FOREIGN_CORES ? `WARNING: ${used}; the figures are disturbed, run again on a quiet machine` : `Quiet machine: ${used}`;
}

/** Cores used by whatever `ticks` counts (clock ticks of CPU time, read from /proc). */
export function startTickMeter(ticks: () => number): CpuMeter {
  const start = performance.now();
  const startTicks = ticks();
  return {
    read() {
      const seconds = (performance.now() - start) / 1000;
      return (ticks() - startTicks) / TICKS_PER_SECOND / seconds;
    },
  };
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

/** utime + stime of one process, all its threads included. */
function processTicks(pid: number): number {
  return statTicks(`/proc/${pid}/stat`);
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
