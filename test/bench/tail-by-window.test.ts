import { describe, expect, it } from 'vitest';
import { tailByWindow } from '../../bench/load.ts';

describe('tailByWindow', () => {
  it('finds the windows that hold the slowest 1% of answers', () => {
    // 1,000 answers due 1 ms apart, 1 ms each, but for a stall 600 ms in that held ten of them.
    const dueOffsets = Array.from({ length: 1000 }, (_, i) => i);
    const latencies = dueOffsets.map((at) => (at >= 600 && at < 610 ? 50 - (at - 600) : 1));

    expect(tailByWindow(dueOffsets, latencies)).toEqual({
      count: 10,
      windows: 4,
      windowsWithTail: 1,
      busiest: [{ atMs: 500, count: 10 }],
    });
  });

  it('lists at most three windows, the fullest first, earlier first among equals', () => {
    const dueOffsets = [0, 10, 300, 310, 320, 600, 900, 1200, ...Array.from({ length: 792 }, (_, i) => 1300 + i)];
    const latencies = dueOffsets.map((_, i) => (i < 8 ? 40 : 1));

    const tail = tailByWindow(dueOffsets, latencies);

    expect(tail.count).toBe(8);
    expect(tail.windowsWithTail).toBe(5);
    expect(tail.busiest).toEqual([
      { atMs: 250, count: 3 },
      { atMs: 0, count: 2 },
      { atMs: 500, count: 1 },
    ]);
  });
});
