/**
 * How fast the disk makes a small write durable: on SQLite every acknowledged event waits for one such flush (shared
 * by its batch), so a disk that stalls on fdatasync shows up in the latency figures whatever the code does. The
 * benchmarks measure it before and after their runs and say when it was slow.
 */
import { execFileSync } from 'node:child_process';
import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { formatNumber } from './report.ts';

export interface FlushLatency {
  flushes: number;
  p50: number;
  p99: number;
  max: number;
}

/** A flush that takes longer than this is a stall the figures will show. */
const SLOW_FLUSH_MS = 10;

/** Appends 16 KiB and fdatasyncs it, about 500 times a second for `seconds`, in `dir`. */
export async function measureFlushLatency(dir: string, seconds = 2): Promise<FlushLatency> {
  const path = join(dir, 'flush-latency.probe');
  const file = await open(path, 'w');
  const block = Buffer.alloc(16 * 1024, 1);
  const times: number[] = [];
  try {
    const end = performance.now() + seconds * 1000;
    for (let offset = 0; performance.now() < end; offset += block.length) {
      await file.write(block, 0, block.length, offset);
      const started = performance.now();
      await file.datasync();
      times.push(performance.now() - started);
      await sleep(1);
    }
  } finally {
    await file.close();
    await rm(path, { force: true });
  }
  times.sort((a, b) => a - b);
  const at = (share: number) => times[Math.min(times.length - 1, Math.floor(times.length * share))];
  return { flushes: times.length, p50: at(0.5), p99: at(0.99), max: times[times.length - 1] };
}

/**
 * Writes back every dirty page on the machine (sync(1)) and waits for it: a run that follows one that wrote hundreds
 * of megabytes (Switchboard's log and checkpoints) would otherwise share the disk with the kernel's writeback of them.
 */
export function writeBackDirtyPages(): void {
  execFileSync('sync');
}

export function describeFlushLatency(before: FlushLatency, after: FlushLatency): string {
  const one = (result: FlushLatency) =>
    `p50 ${formatNumber(result.p50, 2)} ms, p99 ${formatNumber(result.p99, 2)} ms, max ${formatNumber(result.max, 2)} ms`;
  const text = `fdatasync of a 16 KiB append (${formatNumber(before.flushes)} in 2 s) before the runs: ${one(before)}; after: ${one(after)}`;
  const slow = Math.max(before.max, after.max) > SLOW_FLUSH_MS;
  return slow
    ? `WARNING: slow disk: ${text}; every acknowledged event waits for a flush, so latencies are disturbed, run again when the disk is quiet`
    : `Quiet disk: ${text}`;
}
