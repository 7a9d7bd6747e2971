import { describe, expect, it } from 'vitest';
import billing from '../../plugins/billing.ts';
import status from '../../plugins/status.ts';
import { previewActions } from '../../src/engine/dry-run.ts';
import { usageIdentifier } from '../../src/engine/ingest/usage-ledger.ts';
import { buildContext } from '../../src/livekit/event.ts';
import { sampleEvent } from '../../src/livekit/samples.ts';
import { definePlugin } from '../../src/plugins/contract.ts';
import { registryFromDefinitions } from '../../src/plugins/registry.ts';
import { compileRuleSources } from '../../src/rules/compile.ts';
import { createLogger } from '../../src/telemetry/logger.ts';

const NOW = new Date('2025-11-24T16:00:00Z');

/** A plugin whose prepare records what it is told to: to see what a failed prepare leaves behind. */
const metered = definePlugin<{ quantity: number; fail?: boolean }>({
  name: 'metered',
  modes: ['async'],
  params: { type: 'object', required: ['quantity'], properties: { quantity: { type: 'integer' }, fail: { type: 'boolean' } } },
  async prepare(params, ctx) {
    await ctx.usage.record({ customer: 'cus_1', meter: 'things', quantity: params.quantity, unit: 'things', occurredAt: NOW });
    if (params.fail) throw new Error('failed after recording');
    return params;
  },
  run: () => ({}),
});

const plugins = registryFromDefinitions([billing, status, metered]);
const options = { plugins, prepareTimeoutMs: 5_000, log: createLogger({ level: 'silent' }) };

function preview(rulesYaml: string, eventName = 'participant_left') {
  const rules = compileRuleSources({ sources: [{ file: 'rules.yaml', text: rulesYaml }], plugins: plugins.specs(), env: {} });
  const event = sampleEvent(eventName, { now: NOW, id: 'EV_dry' })!;
  const context = buildContext(event);
  return previewActions(rules.match(context), { event, eventId: event.id!, context }, options);
}

const BILL = (extra = '') => `rules:
  - id: bill
    on: participant_left
    actions:
      - plugin: billing
        with:
          measure: participant_minutes
          customer: "{{ room.metadataJson.customer }}"
          provider: stripe
          secretKey: sk_live_secret${extra}
`;

describe('previewActions: what the engine would do with an event, doing none of it', () => {
  it("runs the plugin's prepare with a ledger in memory: the usage it would record, and what a delivery would carry", async () => {
    const [action] = await preview(BILL());
    const usage = {
      identifier: usageIdentifier('bill', 'EV_dry', 'participant_minutes'),
      customer: 'cus_123',
      meter: 'participant_minutes',
      quantity: 10,
      unit: 'minutes',
      occurred_at: '2025-11-24T16:00:00.000Z',
    };
    expect(action).toEqual({
      rule: 'bill',
      index: 0,
      plugin: 'billing',
      mode: 'async',
      params: { measure: 'participant_minutes', customer: 'cus_123', provider: 'stripe', secretKey: 'sk_live_secret' },
      prepared: {
        provider: { provider: 'stripe', secretKey: 'sk_live_secret' },
        usage: expect.objectContaining({ identifier: usage.identifier, customer: 'cus_123', quantity: 10, eventId: 'EV_dry', ruleId: 'bill' }),
      },
      usage: [usage],
    });
  });

  it('gives an action without prepare its rendered params only', async () => {
    const [action] = await preview(`rules:
  - id: live
    on: participant_left
    actions:
      - plugin: status
        with: { key: "{{ room.name }}", status: quiet }
`);
    expect(action).toEqual({ rule: 'live', index: 0, plugin: 'status', mode: 'inline', params: { key: 'session-42', status: 'quiet' }, usage: [] });
  });

  it('says why an action would fail: its prepare, or params its plugin refuses (shown as rendered)', async () => {
    const [noCustomer] = await preview(BILL().replace('{{ room.metadataJson.customer }}', '{{ room.metadataJson.nobody }}'));
    expect(noCustomer).toMatchObject({ usage: [], error: { code: 'E_BILLING_CUSTOMER' } });
    expect(noCustomer.params).toEqual({ measure: 'participant_minutes', provider: 'stripe', secretKey: 'sk_live_secret' });
    expect(noCustomer.prepared).toBeUndefined();

    const [refused] = await preview(`rules:
  - id: count
    on: participant_left
    actions:
      - plugin: metered
        with: { quantity: "{{ room.name }}" }
`);
    expect(refused).toMatchObject({ params: { quantity: 'session-42' }, usage: [], error: { code: 'E_PLUGIN_PARAMS_INVALID' } });
  });

  it('keeps one ledger per event: the same usage twice is one usage, measured otherwise a conflict', async () => {
    const twice = `rules:
  - id: count
    on: participant_left
    actions:
      - { plugin: metered, with: { quantity: 3 } }
      - { plugin: metered, with: { quantity: 3 } }
      - { plugin: metered, with: { quantity: 4 } }
`;
    const [first, second, third] = await preview(twice);
    expect(second.usage).toEqual(first.usage);
    expect(third).toMatchObject({ usage: [], error: { code: 'E_USAGE_CONFLICT' } });
  });

  it('keeps nothing a failed prepare recorded, as the savepoint around it would', async () => {
    const [failed, after] = await preview(`rules:
  - id: count
    on: participant_left
    actions:
      - { plugin: metered, with: { quantity: 3, fail: true } }
      - { plugin: metered, with: { quantity: 4 } }
`);
    expect(failed).toMatchObject({ usage: [], error: { code: 'E_PLUGIN_FAILED', message: 'failed after recording' } });
    expect(after).toMatchObject({ usage: [{ quantity: 4 }] });
    expect(after.error).toBeUndefined();
  });
});
