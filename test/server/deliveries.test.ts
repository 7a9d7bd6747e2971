import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DELIVERY_STATES } from '../../src/store/delivery-state.ts';
import type { TestSwitchboard } from '../helpers/switchboard.ts';
import { deliveryWhen, emit, emitInTurn, probe, resetProbe, startDeliverySwitchboard } from './fixtures/deliveries.ts';

describe('admin API: deliveries', () => {
  let sb: TestSwitchboard;
  beforeEach(async () => {
    resetProbe();
    sb = await startDeliverySwitchboard();
  });
  afterEach(() => sb.stop());

  async function deadDelivery(target: string): Promise<number> {
    probe.answers.set(target, 'permanent');
    const id = await emit(sb, target);
    await deliveryWhen(sb, id, (delivery) => delivery.state === 'dead');
    return id;
  }

  it('lists deliveries by status, rule and target, a page at a time', async () => {
    const delivered = await emit(sb, 'room-a');
    const farewell = await emit(sb, 'room-a', 'room_finished');
    const deadB = await deadDelivery('room-b');
    const deadC = await deadDelivery('room-c');
    await deliveryWhen(sb, delivered);
    await deliveryWhen(sb, farewell);

    const ids = async (query: string) => (await sb.admin(`/api/v1/deliveries?${query}`)).json.results.deliveries.map((d: any) => d.id).sort();
    expect(await ids('status=dead')).toEqual([deadB, deadC].sort());
    expect(await ids('status=succeeded')).toEqual([delivered, farewell].sort());
    expect(await ids('rule=farewell')).toEqual([farewell]);
    expect(await ids('target=room-b')).toEqual([deadB]);
    expect(await ids('status=dead&target=room-c')).toEqual([deadC]);
    expect(await ids('rule=nope')).toEqual([]);

    const first = (await sb.admin('/api/v1/deliveries?limit=3')).json.results;
    expect(first.deliveries).toHaveLength(3);
    expect(first.next_cursor).toEqual(expect.any(String));
    const second = (await sb.admin(`/api/v1/deliveries?limit=3&cursor=${encodeURIComponent(first.next_cursor)}`)).json.results;
    expect(second.deliveries).toHaveLength(1);
    expect(second.next_cursor).toBeNull();
    expect(new Set([...first.deliveries, ...second.deliveries].map((d: any) => d.id))).toEqual(new Set([delivered, farewell, deadB, deadC]));
  });

  it('answers 400 E_INVALID_REQUEST for an unknown status, listing the states, and for a limit over 500', async () => {
    const unknown = await sb.admin('/api/v1/deliveries?status=lost');
    expect(unknown.status).toBe(400);
    expect(unknown.json.errcode).toBe('E_INVALID_REQUEST');
    expect(unknown.json.errmesg).toContain(DELIVERY_STATES.join(', '));
    const tooMany = await sb.admin('/api/v1/deliveries?limit=501');
    expect(tooMany.status).toBe(400);
    expect(tooMany.json.errmesg).toMatch(/limit must be <= 500/);
    expect((await sb.admin('/api/v1/deliveries?stauts=dead')).json.errmesg).toMatch(/unknown key "stauts"/);
  });

  it('shows a delivery with every attempt it took', async () => {
    const id = await deadDelivery('room-b');
    const { status, json } = await sb.admin(`/api/v1/deliveries/${id}`);
    expect(status).toBe(200);
    expect(json.results).toMatchObject({
      id,
      state: 'dead',
      event_type: 'room_started',
      rule: 'notify',
      action_index: 0,
      plugin: 'probe',
      target: 'room-b',
      ordering_key: null,
      attempts: 1,
      max_attempts: 1,
      last_error: { code: 'E_PLUGIN_PERMANENT', message: 'room-b refused the call' },
      params: { target: 'room-b' },
    });
    expect(json.results.event_id).toMatch(/^EV_/);
    for (const field of ['due_at', 'created_at', 'updated_at']) expect(Date.parse(json.results[field])).not.toBeNaN();
    expect(json.results.attempts_log).toEqual([
      {
        number: 1,
        started_at: expect.any(String),
        duration_ms: expect.any(Number),
        status_code: 503,
        error: { code: 'E_PLUGIN_PERMANENT', message: 'room-b refused the call' },
        response: 'permanent from room-b',
        succeeded: false,
      },
    ]);
  });

  it('answers 404 for an unknown delivery and 400 for an id that is not one', async () => {
    expect(await sb.admin('/api/v1/deliveries/999999')).toMatchObject({ status: 404, json: { errcode: 'E_NOT_FOUND' } });
    expect(await sb.adminPost('/api/v1/deliveries/999999/replay')).toMatchObject({ status: 404, json: { errcode: 'E_NOT_FOUND' } });
    expect(await sb.adminPost('/api/v1/deliveries/999999/cancel')).toMatchObject({ status: 404, json: { errcode: 'E_NOT_FOUND' } });
    const bad = await sb.admin('/api/v1/deliveries/abc');
    expect(bad).toMatchObject({ status: 400, json: { errcode: 'E_INVALID_REQUEST' } });
    expect(bad.json.errmesg).toMatch(/params\.id must be an integer/);
  });

  it('replays a dead delivery with fresh attempts until it is delivered', async () => {
    const id = await deadDelivery('room-b');
    probe.answers.set('room-b', 'ok');
    const { status, json } = await sb.adminPost(`/api/v1/deliveries/${id}/replay`);
    expect(status).toBe(200);
    expect(json).toEqual({ success: true, results: { replayed: [id] } });
    const delivery = await deliveryWhen(sb, id);
    expect(delivery).toMatchObject({ state: 'succeeded', attempts: 1, last_error: null });
    expect(delivery.attempts_log.at(-1)).toMatchObject({ succeeded: true, status_code: 200, response: 'ok from room-b' });
    expect(probe.calls).toEqual(['room-b', 'room-b']);
  });

  it('refuses to replay a succeeded delivery without force, and runs it again with force', async () => {
    const id = await emit(sb, 'room-a');
    await deliveryWhen(sb, id, (delivery) => delivery.state === 'succeeded');

    const refused = await sb.adminPost(`/api/v1/deliveries/${id}/replay`, {});
    expect(refused.status).toBe(409);
    expect(refused.json).toMatchObject({ success: false, errcode: 'E_DELIVERY_SUCCEEDED' });
    expect(refused.json.errmesg).toMatch(/force/);
    expect(probe.calls).toEqual(['room-a']);

    const forced = await sb.adminPost(`/api/v1/deliveries/${id}/replay`, { force: true });
    expect(forced.json.results).toEqual({ replayed: [id] });
    await deliveryWhen(sb, id, () => probe.calls.length === 2);
    expect(await deliveryWhen(sb, id)).toMatchObject({ state: 'succeeded' });
  });

  it('replays every dead delivery of a status at once', async () => {
    const deadB = await deadDelivery('room-b');
    const deadC = await deadDelivery('room-c');
    const fine = await emit(sb, 'room-a');
    await deliveryWhen(sb, fine);
    probe.answers.clear();

    const { status, json } = await sb.adminPost('/api/v1/deliveries/replay', { status: 'dead' });
    expect(status).toBe(200);
    expect(json.results.count).toBe(2);
    expect([...json.results.replayed].sort()).toEqual([deadB, deadC].sort());
    expect(await deliveryWhen(sb, deadB)).toMatchObject({ state: 'succeeded' });
    expect(await deliveryWhen(sb, deadC)).toMatchObject({ state: 'succeeded' });
    expect(probe.calls.filter((target) => target === 'room-a')).toHaveLength(1);
  });

  it('refuses a bulk replay that names no filter, so nothing is replayed by accident', async () => {
    const id = await deadDelivery('room-b');
    for (const body of [undefined, {}, { force: true }]) {
      const { status, json } = await sb.adminPost('/api/v1/deliveries/replay', body);
      expect(status).toBe(400);
      expect(json).toMatchObject({ success: false, errcode: 'E_INVALID_REQUEST' });
      expect(json.errmesg).toBe('body needs at least one of: status, rule, target, event, since, until');
    }
    expect((await sb.admin(`/api/v1/deliveries/${id}`)).json.results.state).toBe('dead');
  });

  it('answers 400 with a readable message for a body that is not JSON or breaks the schema', async () => {
    const notJson = await sb.adminPost('/api/v1/deliveries/replay', '{"status": ');
    expect(notJson).toMatchObject({ status: 400, json: { errcode: 'E_INVALID_REQUEST' } });
    expect(notJson.json.errmesg).toMatch(/^the body is not valid JSON/);
    const unknownKey = await sb.adminPost('/api/v1/deliveries/replay', { status: 'dead', forse: true });
    expect(unknownKey.json.errmesg).toBe('unknown key "forse" in body (expected one of: status, rule, target, event, since, until, force)');
    const notBoolean = await sb.adminPost('/api/v1/deliveries/1/replay', { force: 'yes' });
    expect(notBoolean.json.errmesg).toBe('body.force must be true or false');
    const running = await sb.adminPost('/api/v1/deliveries/replay', { status: 'running' });
    expect(running.status).toBe(400);
    expect(running.json.errmesg).toMatch(/body\.status must be one of: dead, cancelled, failed-waiting-retry, succeeded/);
  });

  it('cancels a delivery still waiting to run and refuses to cancel a finished one', async () => {
    await sb.adminPost(`/api/v1/targets/${encodeURIComponent('room-d')}/disable`);
    const waiting = await emit(sb, 'room-d');
    const { status, json } = await sb.adminPost(`/api/v1/deliveries/${waiting}/cancel`);
    expect(status).toBe(200);
    expect(json.results).toEqual({ cancelled: [waiting] });
    expect((await sb.admin(`/api/v1/deliveries/${waiting}`)).json.results.state).toBe('cancelled');

    const again = await sb.adminPost(`/api/v1/deliveries/${waiting}/cancel`);
    expect(again.status).toBe(409);
    expect(again.json.errcode).toBe('E_DELIVERY_NOT_CANCELLABLE');
    expect(again.json.errmesg).toMatch(/is cancelled/);

    await sb.adminPost(`/api/v1/targets/${encodeURIComponent('room-d')}/enable`);
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(probe.calls).not.toContain('room-d');
  });

  it('answers 401 on every delivery route without the bearer token', async () => {
    expect((await fetch(`${sb.url}/api/v1/deliveries`)).status).toBe(401);
    expect((await sb.admin('/api/v1/deliveries/1', 'wrong')).status).toBe(401);
    expect((await sb.adminPost('/api/v1/deliveries/replay', { status: 'dead' }, 'wrong')).status).toBe(401);
    expect((await fetch(`${sb.url}/api/v1/deliveries/1/cancel`, { method: 'POST' })).status).toBe(401);
  });
});

describe('admin API: a delivery held by its ordering group', () => {
  let sb: TestSwitchboard;
  beforeEach(async () => {
    resetProbe();
    sb = await startDeliverySwitchboard({ CIRCUIT_FAILURES: '5' }, { inTurn: true });
  });
  afterEach(() => sb.stop());

  it('says held: ordering while an earlier delivery of its group is unfinished, in the list and in the delivery', async () => {
    probe.answers.set('room-q', 'retryable');
    const first = await emitInTurn(sb, 'room-q');
    await deliveryWhen(sb, first, (delivery) => delivery.state === 'failed-waiting-retry');
    const second = await emitInTurn(sb, 'room-q');
    const third = await emitInTurn(sb, 'room-q');
    const elsewhere = await deliveryWhen(sb, await emitInTurn(sb, 'room-r'));

    const listed = (await sb.admin('/api/v1/deliveries?rule=in-turn')).json.results.deliveries;
    expect(listed.map((delivery: any) => [delivery.id, delivery.state, delivery.held])).toEqual([
      [elsewhere.id, 'succeeded', null],
      [third, 'pending', 'ordering'],
      [second, 'pending', 'ordering'],
      [first, 'failed-waiting-retry', null],
    ]);
    expect((await sb.admin(`/api/v1/deliveries/${second}`)).json.results).toMatchObject({ state: 'pending', held: 'ordering' });
    expect((await sb.admin(`/api/v1/deliveries/${first}`)).json.results).toMatchObject({ held: null });

    // The target's switch is said first: an operator's word, and it holds the whole group.
    await sb.adminPost('/api/v1/targets/room-q/disable');
    expect((await sb.admin(`/api/v1/deliveries/${second}`)).json.results).toMatchObject({ held: 'target-disabled' });
    await sb.adminPost('/api/v1/targets/room-q/enable');

    // Once the earlier one is finished, the next runs.
    probe.answers.delete('room-q');
    await sb.adminPost(`/api/v1/deliveries/${first}/cancel`);
    expect(await deliveryWhen(sb, second)).toMatchObject({ state: 'succeeded', held: null });
    expect(await deliveryWhen(sb, third)).toMatchObject({ state: 'succeeded', held: null });
  });
});
