import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, sampleBody, startTestSwitchboard, type TestSwitchboard } from '../helpers/switchboard.ts';

describe('admin read API', () => {
  let sb: TestSwitchboard;
  beforeEach(async () => {
    sb = await startTestSwitchboard();
  });
  afterEach(() => sb.stop());

  it('answers 401 without the bearer token and 401 with a wrong one', async () => {
    const bare = await fetch(`${sb.url}/api/v1/rules`);
    expect(bare.status).toBe(401);
    expect(bare.headers.get('www-authenticate')).toBe('Bearer');
    expect(await bare.json()).toMatchObject({ success: false, errcode: 'E_ADMIN_UNAUTHORIZED' });
    expect((await sb.admin('/api/v1/rules', `${ADMIN_TOKEN}x`)).status).toBe(401);
  });

  it('shows a session with its status, updated_at and history, newest first', async () => {
    await sb.deliver(sampleBody('room_started'));
    await sb.deliver(sampleBody('room_finished'));
    const { status, json } = await sb.admin('/api/v1/sessions/session-42');
    expect(status).toBe(200);
    expect(json.results).toMatchObject({ key: 'session-42', status: 'stopped' });
    expect(Date.parse(json.results.updated_at)).not.toBeNaN();
    expect(json.results.history.map((h: any) => [h.old_status, h.status, h.event_type])).toEqual([
      ['live', 'stopped', 'room_finished'],
      ['ready', 'live', 'room_started'],
    ]);
  });

  it('shows a recorded event with what matched and each action outcome', async () => {
    const body = sampleBody('room_started');
    await sb.deliver(body);
    const id = JSON.parse(body).id;
    const { status, json } = await sb.admin(`/api/v1/events/${id}`);
    expect(status).toBe(200);
    expect(json.results).toMatchObject({
      event_id: id,
      event_type: 'room_started',
      matched: ['session-live'],
      actions: [{ rule: 'session-live', plugin: 'status', status: 'succeeded' }],
      payload: JSON.parse(body),
    });
  });

  it('lists the rules in force', async () => {
    const { json } = await sb.admin('/api/v1/rules');
    expect(json.results.rules.map((r: any) => [r.id, r.on, r.actions])).toEqual([
      ['session-live', ['room_started'], [{ plugin: 'status', mode: 'inline' }]],
      ['session-stopped', ['room_finished'], [{ plugin: 'status', mode: 'inline' }]],
    ]);
  });

  it('answers 404 E_NOT_FOUND for an unknown session or event', async () => {
    expect((await sb.admin('/api/v1/sessions/nope')).json.errcode).toBe('E_NOT_FOUND');
    expect((await sb.admin('/api/v1/events/EV_nope')).status).toBe(404);
  });
});

describe('admin API without ADMIN_TOKEN', () => {
  it('answers 503 saying how to enable it', async () => {
    const sb = await startTestSwitchboard({ settings: { ADMIN_TOKEN: '' } });
    try {
      const response = await fetch(`${sb.url}/api/v1/sessions/session-42`);
      expect(response.status).toBe(503);
      const json = (await response.json()) as { errcode: string; errmesg: string };
      expect(json.errcode).toBe('E_ADMIN_DISABLED');
      expect(json.errmesg).toMatch(/ADMIN_TOKEN/);
    } finally {
      await sb.stop();
    }
  });
});
