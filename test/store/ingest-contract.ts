/**
 * What every Store must do with an event's ingest as planned (Store.recordIngest): the event, its picture change, its
 * actions in order and its outcome, written together; a redelivery or a second start of a resource runs nothing.
 * Part of the store contract suite.
 */
import { expect, it } from 'vitest';
import type { PictureChange } from '../../src/store/live-picture.ts';
import type { ActionOutcome, IngestPlan, QueuedAction, Store } from '../../src/store/store.ts';
import { eventRecord } from './store-contract.ts';

const AT = new Date('2030-01-01T00:00:00.000Z');
const STARTED: PictureChange = { kind: 'room', id: 'RM_a', edge: 'start', once: true, status: 'live', at: AT, room: { sid: 'RM_a', name: 'standup' } };
const FAILED: ActionOutcome = { rule: 'forward', plugin: 'http', status: 'failed', error: { code: 'E_RULE_RENDER', message: 'no such field' } };

/** An async action's delivery for `eventId`, queued with it. */
export function queued(overrides: Partial<QueuedAction['delivery']> & { eventId: string }): QueuedAction {
  return {
    delivery: {
      eventName: 'room_started',
      ruleId: 'forward',
      actionIndex: 0,
      plugin: 'http',
      params: { url: 'https://hooks.example.test/' },
      target: 'hooks.example.test',
      orderingKey: null,
      maxAttempts: 3,
      retrySchedule: [1_000],
      timeoutMs: 10_000,
      dueAt: AT,
      ...overrides,
    },
  };
}

function plan(id: string, actions: IngestPlan['actions'], change: PictureChange | null = STARTED): IngestPlan {
  return { event: eventRecord(id, { room: 'standup' }), change, matched: ['forward'], actions };
}

export function describeIngestContract(current: () => Store): void {
  it('records the event, its picture change, its deliveries and its outcome naming each delivery', async () => {
    const store = current();
    const written = await store.recordIngest(plan('EV_1', [FAILED, queued({ eventId: 'EV_1', actionIndex: 1, orderingKey: 'standup' }), queued({ eventId: 'EV_1', actionIndex: 2 })]));
    if (!written.recorded || written.duplicateOf !== null) throw new Error('expected the event recorded with its actions');
    const [first, second] = written.queued.map(({ enqueued }) => enqueued);
    expect(written.actions).toEqual([
      FAILED,
      { rule: 'forward', plugin: 'http', status: 'queued', result: { delivery_id: first.id } },
      { rule: 'forward', plugin: 'http', status: 'queued', result: { delivery_id: second.id } },
    ]);
    expect(await store.getEvent('EV_1')).toMatchObject({ seq: written.seq, matched: ['forward'], actions: written.actions });
    expect(await store.getDelivery(first.id)).toMatchObject({ state: 'pending', eventSeq: written.seq, actionIndex: 1, orderingKey: 'standup' });
    expect(second.id).toBeGreaterThan(first.id);
    expect(await store.getRoom('standup')).toMatchObject({ sid: 'RM_a', status: 'live' });
  });

  it('runs its steps in order in the event’s transaction, queueing what a step returns', async () => {
    const store = current();
    const seen: string[] = [];
    const written = await store.recordIngest(
      plan('EV_1', [
        queued({ eventId: 'EV_1' }),
        {
          run: async (tx, event) => {
            seen.push(`${event.id} ${(await tx.transitionSession({ key: 'standup', status: 'live' }, event)).new_status}`);
            return { rule: 'forward', plugin: 'status', status: 'succeeded' };
          },
        },
        { run: async () => queued({ eventId: 'EV_1', actionIndex: 2 }) },
      ]),
    );
    expect(seen).toEqual(['EV_1 live']);
    expect(written).toMatchObject({ recorded: true, duplicateOf: null, actions: [{ status: 'queued' }, { status: 'succeeded' }, { status: 'queued' }] });
    expect((await store.listDeliveries({}, { limit: 10 })).items.map((delivery) => delivery.actionIndex)).toEqual([2, 0]);
    expect(await store.getSession('standup')).toMatchObject({ status: 'live', eventId: 'EV_1' });
  });

  it('writes nothing for a redelivery, and no action for a second start of the same resource', async () => {
    const store = current();
    await store.recordIngest(plan('EV_1', [queued({ eventId: 'EV_1' })]));
    expect(await store.recordIngest(plan('EV_1', [queued({ eventId: 'EV_1' })]))).toEqual({ recorded: false });
    const again = await store.recordIngest(plan('EV_2', [queued({ eventId: 'EV_2' })]));
    expect(again).toEqual({ recorded: true, seq: expect.any(Number), duplicateOf: 'EV_1' });
    expect(await store.getEvent('EV_2')).toMatchObject({ matched: [], actions: [] });
    expect((await store.listDeliveries({}, { limit: 10 })).items).toHaveLength(1);
  });
}
