import { describe, expect, it } from 'vitest';
import { BATCH_ROWS, nextBatchSize } from '../../../src/engine/retention/pruner.ts';

const BUDGET_MS = 25;

describe('prune batch size', () => {
  it('keeps the largest batch while batches hold the database well within the budget', () => {
    expect(nextBatchSize(BATCH_ROWS, BUDGET_MS / 10, BATCH_ROWS, BUDGET_MS)).toBe(BATCH_ROWS);
  });

  it('shrinks the next batch in proportion when one held the database past half the budget', () => {
    expect(nextBatchSize(400, BUDGET_MS, BATCH_ROWS, BUDGET_MS)).toBe(200);
    expect(nextBatchSize(400, BUDGET_MS * 4, BATCH_ROWS, BUDGET_MS)).toBe(50);
  });

  it('never goes under 10 rows, nor over the most it was given', () => {
    expect(nextBatchSize(20, BUDGET_MS * 100, BATCH_ROWS, BUDGET_MS)).toBe(10);
    expect(nextBatchSize(50, 0, 40, BUDGET_MS)).toBe(40);
  });

  it('grows back at most twice as large per batch', () => {
    expect(nextBatchSize(10, 0, BATCH_ROWS, BUDGET_MS)).toBe(20);
    expect(nextBatchSize(100, BUDGET_MS / 8, BATCH_ROWS, BUDGET_MS)).toBe(200);
  });
});
