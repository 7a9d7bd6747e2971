import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { sampleBody, startTestSwitchboard, type TestSwitchboard } from '../helpers/switchboard.ts';
import { deliveryWhen, emit, probe, resetProbe, startDeliverySwitchboard } from './fixtures/deliveries.ts';

describe('admin API: event search and session list', () => {
  let sb: TestSwitchboard;
  const sent: Record<string, string> = {};
  beforeAll(async () => {
    sb = await startTestSwitchboard();
    const send = async (name: string, type: string, patch: Record<string, unknown>) => {
      sent[name] = `EV_${randomUUID()}`;
      const { status } = await sb.deliver(sampleBody(type, { id: sent[name], ...patch }));
      expect(status).toBe(200);
    };
    await send('started', 'room_started', { room: { name: 'room-a' } });
    await send('ana', 'participant_joined', { room: { name: 'room-a' }, participant: { identity: 'ana' } });
    await send('bo', 'participant_joined', { room: { name: 'room-b' }, participant: { identity: 'bo' } });
    await send('finished', 'room_finished', { room: { name: 'room-b' } });
    // An egress names its room in egressInfo (the sample names it in room too: the patch drops that).
    const egress = JSON.parse(sampleBody('egress_ended', { egressInfo: { roomName: 'room-b' } }));
    delete egress.room;
    sent.egress = egress.id = `EV_${randomUUID()}`;
    expect((await sb.deliver(JSON.stringify(egress))).status).toBe(200);
  });
  afterAll(() => sb.stop());

  const eventIds = async (query: string) => {
    const { status, json } = await sb.admin(`/api/v1/events?${query}`);
    expect(status).toBe(200);
    return json.results.events.map((event: { event_id: string }) => event.event_id);
  };

  it('finds events by room, participant identity and type, newest first, as the webhook recorded them', async () => {
    expect(await eventIds('room=room-a')).toEqual([sent.ana, sent.started]);
    expect(await eventIds('room=room-b')).toEqual([sent.egress, sent.finished, sent.bo]);
    expect(await eventIds('participant=ana')).toEqual([sent.ana]);
    expect(await eventIds('type=participant_joined')).toEqual([sent.bo, sent.ana]);
    expect(await eventIds('room=room-a&type=room_finished')).toEqual([]);
    const { json } = await sb.admin('/api/v1/events?participant=bo');
    expect(json.results).toEqual({
      events: [{
        event_id: sent.bo,
        event_type: 'participant_joined',
        seq: expect.any(Number),
        created_at: expect.any(Number),
        received_at: expect.stringMatching(/Z$/),
        room: 'room-b',
        participant: 'bo',
      }],
      next_cursor: null,
    });
  });

  it('finds events by time range and pages them with the cursor', async () => {
    const hourAgo = new Date(Date.now() - 3_600_000).toISOString();
    expect(await eventIds(`since=${hourAgo}`)).toHaveLength(5);
    expect(await eventIds(`until=${hourAgo}`)).toEqual([]);
    const first = (await sb.admin('/api/v1/events?limit=3')).json.results;
    expect(first.events).toHaveLength(3);
    const second = (await sb.admin(`/api/v1/events?limit=3&cursor=${first.next_cursor}`)).json.results;
    expect([...first.events, ...second.events].map((event: { event_id: string }) => event.event_id)).toEqual(
      [sent.egress, sent.finished, sent.bo, sent.ana, sent.started],
    );
    expect(second.next_cursor).toBeNull();
  });

  it('answers 400 for a time that is not ISO 8601 and for an unknown filter', async () => {
    const yesterday = await sb.admin('/api/v1/events?since=yesterday');
    expect(yesterday.status).toBe(400);
    expect(yesterday.json.errmesg).toMatch(/^query\.since "yesterday" must match/);
    expect((await sb.admin('/api/v1/events?roomname=a')).json.errmesg).toMatch(/unknown key "roomname"/);
    expect((await sb.admin('/api/v1/sessions?state=live')).status).toBe(400);
  });

  it('lists sessions by key, of one status when asked', async () => {
    const all = (await sb.admin('/api/v1/sessions')).json.results;
    expect(all.sessions).toEqual([
      { key: 'room-a', status: 'live', updated_at: expect.stringMatching(/Z$/), event_id: sent.started },
      { key: 'room-b', status: 'stopped', updated_at: expect.stringMatching(/Z$/), event_id: sent.finished },
    ]);
    const live = (await sb.admin('/api/v1/sessions?status=live&limit=1')).json.results;
    expect(live).toEqual({ sessions: [expect.objectContaining({ key: 'room-a' })], next_cursor: null });
    const paged = (await sb.admin('/api/v1/sessions?limit=1')).json.results;
    expect(paged.next_cursor).toBe('room-a');
    const next = (await sb.admin(`/api/v1/sessions?limit=1&cursor=${paged.next_cursor}`)).json.results;
    expect(next.sessions.map((session: { key: string }) => session.key)).toEqual(['room-b']);
  });
});

describe('admin API: the per-minute rollup', () => {
  let sb: TestSwitchboard;
  beforeAll(async () => {
    sb = await startTestSwitchboard();
  });
  afterAll(() => sb.stop());

  it('counts webhooks by outcome, rejected ones by reason, and rule matches, a few seconds behind', async () => {
    const body = sampleBody('room_started', { id: `EV_${randomUUID()}`, room: { name: 'rollup-room' } });
    await sb.deliver(body);
    await sb.deliver(body);
    expect((await sb.deliver(body, { token: 'Bearer not-a-token' })).status).toBe(401);
    const from = new Date(Date.now() - 120_000).toISOString();
    const totals = async () => {
      const { json } = await sb.admin(`/api/v1/stats/minutes?from=${from}`);
      const sums: Record<string, number> = {};
      for (const { name, count } of json.results.minutes) sums[name] = (sums[name] ?? 0) + count;
      return sums;
    };
    const deadline = Date.now() + 15_000;
    let seen = await totals();
    while (!seen['webhook.E_WEBHOOK_INVALID_SIGNATURE'] && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      seen = await totals();
    }
    expect(seen).toMatchObject({
      'webhook.accepted': 1,
      'webhook.duplicate': 1,
      'webhook.E_WEBHOOK_INVALID_SIGNATURE': 1,
      'rule.session-live': 1,
    });
    expect((await sb.admin('/api/v1/stats/minutes')).status).toBe(400);
    expect((await sb.admin('/api/v1/stats/minutes?from=2020-01-01')).json.errmesg).toMatch(/longer than 7 days/);
  });
});

describe('admin API: deliveries by event and time, counted and cancelled in bulk', () => {
  let sb: TestSwitchboard;
  beforeEach(async () => {
    resetProbe();
    sb = await startDeliverySwitchboard();
  });
  afterEach(() => sb.stop());

  /** Queues deliveries to a disabled target, so they wait. */
  async function waiting(target: string, count: number): Promise<number[]> {
    await sb.adminPost(`/api/v1/targets/${target}/disable`);
    const ids: number[] = [];
    for (let index = 0; index < count; index += 1) ids.push(await emit(sb, target));
    return ids;
  }

  it('lists the deliveries of one event, and of a time range', async () => {
    const id = await emit(sb, 'room-a');
    const delivery = await deliveryWhen(sb, id);
    const byEvent = (await sb.admin(`/api/v1/deliveries?event=${delivery.event_id}`)).json.results.deliveries;
    expect(byEvent.map((d: { id: number }) => d.id)).toEqual([id]);
    const later = new Date(Date.now() + 60_000).toISOString();
    expect((await sb.admin(`/api/v1/deliveries?since=${later}`)).json.results.deliveries).toEqual([]);
    expect((await sb.admin(`/api/v1/deliveries?until=${later}`)).json.results.deliveries).toHaveLength(1);
  });

  it('counts what a filter matches, by state', async () => {
    await waiting('room-d', 2);
    const { status, json } = await sb.admin('/api/v1/deliveries/count?target=room-d');
    expect(status).toBe(200);
    expect(json.results.total).toBe(2);
    expect(json.results.by_state).toMatchObject({ pending: 2, dead: 0 });
  });

  it('cancels every waiting delivery a filter matches, audited, and refuses a filter that names nothing', async () => {
    const ids = await waiting('room-d', 3);
    const other = await waiting('room-e', 1);
    const { status, json } = await sb.adminPost('/api/v1/deliveries/cancel', { target: 'room-d' });
    expect(status).toBe(200);
    expect(json.results).toEqual({ cancelled: ids, count: 3 });
    for (const id of ids) expect((await sb.admin(`/api/v1/deliveries/${id}`)).json.results.state).toBe('cancelled');
    expect((await sb.admin(`/api/v1/deliveries/${other[0]}`)).json.results.state).toBe('pending');
    const [entry] = (await sb.admin('/api/v1/audit')).json.results.entries;
    expect(entry).toMatchObject({ action: 'deliveries.cancel', subject: 'deliveries?target=room-d', details: { ids } });

    const everything = await sb.adminPost('/api/v1/deliveries/cancel', {});
    expect(everything.status).toBe(400);
    expect(everything.json.errmesg).toMatch(/needs at least one of: status, rule, target, event, since, until/);
    expect((await sb.adminPost('/api/v1/deliveries/cancel', { status: 'dead' })).status).toBe(400);
    expect(probe.calls).not.toContain('room-d');
  });

  it('replays the deliveries of one event', async () => {
    probe.answers.set('room-b', 'permanent');
    const id = await emit(sb, 'room-b');
    const dead = await deliveryWhen(sb, id);
    probe.answers.clear();
    const { json } = await sb.adminPost('/api/v1/deliveries/replay', { event: dead.event_id });
    expect(json.results).toEqual({ replayed: [id], count: 1 });
    expect(await deliveryWhen(sb, id, (d) => d.state === 'succeeded')).toMatchObject({ state: 'succeeded' });
  });
});
