import { resolve } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { usageIdentifier } from '../../../src/engine/ingest/usage-ledger.ts';
import { definePlugin } from '../../../src/plugins/contract.ts';
import { registryFromDefinitions } from '../../../src/plugins/registry.ts';
import { sampleBody, startTestSwitchboard, type TestSwitchboard } from '../../helpers/switchboard.ts';

/** A plugin's `prepare`: run in the event's transaction, its usage committed with the event or not at all. */
function tallyRules(actions: string): Record<string, string> {
  return {
    'tally.yaml': `rules:
  - id: tally
    on: room_started
    actions:
${actions}`,
  };
}

describe('prepare', () => {
  let sb: TestSwitchboard;
  afterEach(() => sb?.stop());

  async function start(actions: string, settings: Record<string, string> = {}) {
    sb = await startTestSwitchboard({
      rules: tallyRules(actions),
      settings: { PLUGINS_DIR: resolve('test/engine/fixtures/plugins'), WORKER_POLL_INTERVAL: '20ms', ...settings },
    });
  }

  const ledger = async () => (await sb.store.listUsage({}, { limit: 50 })).items;

  it('hands what it returns to the delivery, its target and run, with the usage in the ledger', async () => {
    await start(`      - plugin: tally
        mode: async
        with: { customer: acme, count: 3 }
`);
    const { json } = await sb.deliver(sampleBody('room_started'));
    const deliveryId = json.results.actions[0].result.delivery_id;
    const identifier = usageIdentifier('tally', json.results.event_id, 'tallies');
    const prepared = { tally: { customer: 'acme', count: 3, identifier, event: 'room_started' } };
    expect(await sb.store.getDelivery(deliveryId)).toMatchObject({ params: prepared, target: 'tally:acme' });
    expect(await ledger()).toEqual([
      expect.objectContaining({ identifier, customer: 'acme', meter: 'tallies', quantity: 3, ruleId: 'tally', actionIndex: 0 }),
    ]);
    await vi.waitFor(async () => expect((await sb.store.getDelivery(deliveryId))?.state).toBe('succeeded'), { interval: 20 });
    // Logged once the outcome is durable, a moment after a reader can see it committed.
    await vi.waitFor(() =>
      expect(sb.logs.find((line) => line.msg === 'delivery attempt' && line.delivery_id === deliveryId)).toMatchObject({
        state: 'succeeded',
        target: 'tally:acme',
      }),
    );
  });

  it('runs before an inline action, which receives what it returned', async () => {
    await start(`      - plugin: tally
        mode: inline
        with: { customer: acme, count: 2 }
`);
    const { json } = await sb.deliver(sampleBody('room_started'));
    expect(json.results.actions).toEqual([
      { rule: 'tally', plugin: 'tally', status: 'succeeded', result: { tally: expect.objectContaining({ customer: 'acme', count: 2 }) } },
    ]);
    expect(await ledger()).toEqual([expect.objectContaining({ quantity: 2, delivery: null })]);
  });

  it('fails the action when it throws, keeping nothing it recorded, the event and the other actions', async () => {
    await start(`      - plugin: tally
        with: { customer: acme, count: 1, prepare: fail-after-recording }
      - plugin: tally
        with: { customer: globex, count: 5 }
`);
    const { json } = await sb.deliver(sampleBody('room_started'));
    expect(json.results.actions).toEqual([
      { rule: 'tally', plugin: 'tally', status: 'failed', error: { code: 'E_TALLY', message: 'changed its mind' } },
      { rule: 'tally', plugin: 'tally', status: 'queued', result: { delivery_id: expect.any(Number) } },
    ]);
    expect((await ledger()).map((entry) => entry.customer)).toEqual(['globex']);
    expect((await sb.store.listDeliveries({}, { limit: 10 })).items).toHaveLength(1);
  });

  it('fails the action when it returns no params', async () => {
    await start(`      - plugin: tally
        with: { customer: acme, count: 1, prepare: return-nothing }
`);
    const { json } = await sb.deliver(sampleBody('room_started'));
    expect(json.results.actions[0]).toMatchObject({
      status: 'failed',
      error: { code: 'E_PLUGIN_INVALID', message: 'plugin "tally": prepare must return the params for run (an object)' },
    });
    expect(await ledger()).toEqual([]);
  });

  it('has INLINE_ACTION_TIMEOUT to finish, even for an async action', async () => {
    await start(`      - plugin: tally
        timeout: 1m
        with: { customer: acme, count: 1, prepare: hang }
`, { INLINE_ACTION_TIMEOUT: '100ms' });
    const { json } = await sb.deliver(sampleBody('room_started'));
    expect(json.results.actions[0]).toMatchObject({ status: 'failed', error: { code: 'E_PLUGIN_TIMEOUT' } });
  });

  it('refuses usage that is not a whole number of units', async () => {
    await start(`      - plugin: tally
        with: { customer: acme, count: 1.5 }
      - plugin: tally
        with: { customer: "", count: 1 }
`);
    const { json } = await sb.deliver(sampleBody('room_started'));
    expect(json.results.actions.map((action: { error?: unknown }) => action.error)).toEqual([
      { code: 'E_USAGE_INVALID', message: 'invalid usage record: quantity must be a whole number of at least 0, not 1.5' },
      { code: 'E_USAGE_INVALID', message: 'invalid usage record: customer must be a non-empty string' },
    ]);
  });
});

describe('usageIdentifier', () => {
  it('is the same for the same rule, event and meter, and differs when any of them does', () => {
    const identifier = usageIdentifier('bill', 'EV_1', 'participant_minutes');
    expect(identifier).toMatch(/^usage_[A-Za-z0-9_-]{32}$/);
    expect(usageIdentifier('bill', 'EV_1', 'participant_minutes')).toBe(identifier);
    const others = [
      usageIdentifier('bill-2', 'EV_1', 'participant_minutes'),
      usageIdentifier('bill', 'EV_2', 'participant_minutes'),
      usageIdentifier('bill', 'EV_1', 'room_minutes'),
      // The parts cannot run into each other.
      usageIdentifier('bil', 'lEV_1', 'participant_minutes'),
    ];
    expect(new Set([identifier, ...others]).size).toBe(5);
  });
});

describe('the plugin contract', () => {
  const plugin = { name: 'p', description: 'd', params: { type: 'object' }, run: () => null };

  it('accepts prepare and modes that include the default mode', () => {
    expect(() => registryFromDefinitions([definePlugin({ ...plugin, modes: ['async'], prepare: (params) => params })])).not.toThrow();
    expect(() => registryFromDefinitions([definePlugin({ ...plugin, inline: true, modes: ['inline'] })])).not.toThrow();
  });

  it.each([
    [{ prepare: 'yes' }, '"prepare" must be a function'],
    [{ modes: [] }, '"modes" must be a non-empty list of "inline" and "async"'],
    [{ modes: ['sometimes'] }, '"modes" must be a non-empty list'],
    [{ modes: ['inline'] }, '"modes" must include the default mode, async'],
  ])('refuses %j', (extra, message) => {
    expect(() => registryFromDefinitions([{ ...plugin, ...extra } as never])).toThrow(message);
  });
});
