import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, type TestSwitchboard } from '../helpers/switchboard.ts';
import { deliveryWhen, emit, probe, resetProbe, startDeliverySwitchboard } from './fixtures/deliveries.ts';

describe('admin API: audit log', () => {
  let sb: TestSwitchboard;
  beforeEach(async () => {
    resetProbe();
    sb = await startDeliverySwitchboard();
  });
  afterEach(() => sb.stop());

  it('keeps an entry for every change, naming the caller without revealing the token', async () => {
    probe.answers.set('room-b', 'permanent');
    const dead = await emit(sb, 'room-b');
    await deliveryWhen(sb, dead);
    probe.answers.clear();
    await sb.adminPost(`/api/v1/deliveries/${dead}/replay`);
    await deliveryWhen(sb, dead);
    await sb.adminPost('/api/v1/deliveries/replay', { rule: 'notify', force: true });
    await sb.adminPost('/api/v1/targets/room-c/disable', { reason: 'maintenance' });
    const waiting = await emit(sb, 'room-c');
    await sb.adminPost(`/api/v1/deliveries/${waiting}/cancel`);
    await sb.adminPost('/api/v1/targets/room-c/enable');

    const { status, json } = await sb.admin('/api/v1/audit');
    expect(status).toBe(200);
    const entries = json.results.entries;
    expect(entries.map((entry: any) => [entry.action, entry.subject]).sort()).toEqual([
      ['deliveries.replay', 'deliveries?rule=notify'],
      ['delivery.cancel', `delivery/${waiting}`],
      ['delivery.replay', `delivery/${dead}`],
      ['target.disable', 'room-c'],
      ['target.enable', 'room-c'],
    ]);
    const byAction = Object.fromEntries(entries.map((entry: any) => [entry.action, entry]));
    expect(byAction['delivery.replay'].details).toMatchObject({ ids: [dead], force: false });
    expect(byAction['deliveries.replay'].details).toMatchObject({ filter: { rule: 'notify' }, force: true, ids: [dead] });
    expect(byAction['delivery.cancel'].details).toMatchObject({ ids: [waiting] });
    expect(byAction['target.disable'].details).toMatchObject({ reason: 'maintenance' });
    for (const entry of entries) {
      expect(Date.parse(entry.at)).not.toBeNaN();
      expect(entry.details.actor).toEqual({ id: expect.stringMatching(/^admin:[0-9a-f]{8}$/), ip: expect.stringMatching(/127\.0\.0\.1/) });
    }
    expect(JSON.stringify(json)).not.toContain(ADMIN_TOKEN);
  });

  it('writes nothing for a change that was refused', async () => {
    const id = await emit(sb, 'room-a');
    await deliveryWhen(sb, id);
    expect((await sb.adminPost(`/api/v1/deliveries/${id}/replay`)).status).toBe(409);
    expect((await sb.adminPost(`/api/v1/deliveries/${id}/cancel`)).status).toBe(409);
    expect((await sb.adminPost('/api/v1/deliveries/replay', {})).status).toBe(400);
    expect((await sb.admin('/api/v1/audit')).json.results.entries).toEqual([]);
  });

  it('pages through the entries with limit and cursor', async () => {
    for (const target of ['t1', 't2', 't3']) await sb.adminPost(`/api/v1/targets/${target}/disable`);
    const first = (await sb.admin('/api/v1/audit?limit=2')).json.results;
    expect(first.entries).toHaveLength(2);
    const second = (await sb.admin(`/api/v1/audit?limit=2&cursor=${encodeURIComponent(first.next_cursor)}`)).json.results;
    expect(second.entries).toHaveLength(1);
    expect(second.next_cursor).toBeNull();
    expect([...first.entries, ...second.entries].map((entry: any) => entry.subject).sort()).toEqual(['t1', 't2', 't3']);
  });
});
