import { describe, expect, it } from 'vitest';
import { circuitSeries, type TargetCircuit } from '../../src/telemetry/metrics.ts';

describe('the circuit gauge series', () => {
  it('name every target while they are few', () => {
    const circuits: TargetCircuit[] = [
      { target: 'https://a.example.com', circuit: 'closed', admitted: 3 },
      { target: 'https://b.example.com', circuit: 'open', admitted: 1 },
    ];
    expect(circuitSeries(circuits, 5)).toEqual([
      { target: 'https://b.example.com', value: 2 },
      { target: 'https://a.example.com', value: 0 },
    ]);
  });

  it('keep the circuits not closed and the busiest targets, and the rest as one "other" with their worst state', () => {
    const circuits: TargetCircuit[] = Array.from({ length: 4_000 }, (_, i) => ({ target: `https://hooks.example.com:${i}`, circuit: 'closed', admitted: i }));
    circuits[7].circuit = 'half-open';
    const series = circuitSeries(circuits, 50);
    expect(series).toHaveLength(51);
    expect(series[0]).toEqual({ target: 'https://hooks.example.com:7', value: 1 });
    expect(series[1]).toEqual({ target: 'https://hooks.example.com:3999', value: 0 });
    expect(series.at(-1)).toEqual({ target: 'other', value: 0 });
    circuits[5].circuit = 'open';
    expect(circuitSeries(circuits, 1).at(-1)).toEqual({ target: 'other', value: 1 });
  });
});
