import { describe, expect, it } from 'vitest';
import { usageRequest, type ReportedUsage } from '../../../plugins/billing/providers.ts';

const usage: ReportedUsage = {
  identifier: 'usage_1',
  customer: 'cus_1',
  meter: 'participant_minutes',
  quantity: 12,
  unit: 'minutes',
  occurredAt: '2026-01-01T00:10:00.000Z',
  eventId: 'EV_synthetic_participant_left_PA_1',
  eventName: 'participant_left',
  ruleId: 'bill',
};

describe('a usage measured from a synthetic event', () => {
  it('says it ends at the reconciliation pass', () => {
    const provider = { provider: 'http', url: 'https://billing.example.test/usage' } as const;
    const reconciled = JSON.parse(usageRequest(provider, { ...usage, reconciledAt: usage.occurredAt }).body);
    expect(reconciled).toMatchObject({ ends: 'reconciled', reconciled_at: '2026-01-01T00:10:00.000Z', occurred_at: usage.occurredAt });
    expect(JSON.parse(usageRequest(provider, usage).body)).not.toHaveProperty('ends');
  });
});
