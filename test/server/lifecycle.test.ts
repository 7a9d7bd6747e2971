import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { sampleBody, startTestSwitchboard, type TestSwitchboard } from '../helpers/switchboard.ts';

/** Polls `check` until it holds (a background loop's work shows up), for up to 15 s. */
async function eventually(check: () => Promise<boolean>): Promise<void> {
  for (let tries = 0; tries < 150; tries += 1) {
    if (await check()) return;
    await sleep(100);
  }
  throw new Error('never happened');
}

describe('data lifecycle on a running Switchboard', () => {
  let sb: TestSwitchboard | undefined;
  afterEach(async () => {
    await sb?.stop();
    sb = undefined;
  });

  it("POST /api/v1/erase erases a participant's data and audits it without naming them", async () => {
    sb = await startTestSwitchboard();
    const joined = sampleBody('participant_joined', { id: 'EV_erase_joined', participant: { identity: 'alice', name: 'Alice Liddell' } });
    const other = sampleBody('participant_joined', { id: 'EV_erase_other', participant: { identity: 'bob', name: 'Bob' } });
    expect((await sb.deliver(joined)).status).toBe(200);
    expect((await sb.deliver(other)).status).toBe(200);

    const { status, json } = await sb.adminPost('/api/v1/erase', { participant_identity: 'alice' });
    expect(status).toBe(200);
    expect(json.results.erased).toMatchObject({ events: 1, cancelled: 0 });

    const payload = (await sb.admin('/api/v1/events/EV_erase_joined')).json.results.payload;
    expect(payload.participant).toMatchObject({ identity: '[erased]', name: '[erased]', metadata: '[erased]' });
    expect(JSON.stringify(payload)).not.toMatch(/alice|Liddell/);
    expect((await sb.admin('/api/v1/events/EV_erase_other')).json.results.payload.participant.identity).toBe('bob');

    const [entry] = (await sb.admin('/api/v1/audit')).json.results.entries;
    const digest = createHash('sha256').update('alice').digest('hex');
    expect(entry).toMatchObject({ action: 'erase', subject: `participant/sha256:${digest}`, details: { kind: 'participant', erased: json.results.erased } });
    expect(JSON.stringify(entry)).not.toContain('alice');
  });

  it('POST /api/v1/erase takes exactly one of participant_identity and room', async () => {
    sb = await startTestSwitchboard();
    expect((await sb.adminPost('/api/v1/erase', {})).status).toBe(400);
    expect((await sb.adminPost('/api/v1/erase', { participant_identity: 'a', room: 'r' })).status).toBe(400);
    expect((await sb.adminPost('/api/v1/erase', { room: '' })).status).toBe(400);
    expect((await sb.adminPost('/api/v1/erase', { room: 'r' })).status).toBe(200);
  });

  it('prunes every PRUNE_INTERVAL: events past RETENTION_EVENTS go whole, the id stays for dedupe, and metrics say so', async () => {
    sb = await startTestSwitchboard({ settings: { RETENTION_EVENTS: '1s', RETENTION_SESSIONS: '1s', PRUNE_INTERVAL: '1s' } });
    const body = sampleBody('room_started', { id: 'EV_pruned' });
    expect((await sb.deliver(body)).status).toBe(200);
    await eventually(async () => (await sb!.admin('/api/v1/events/EV_pruned')).status === 404);
    // A redelivery inside the dedupe window is still known, from the id the pruned event left behind.
    expect((await sb.deliver(body)).json.results).toMatchObject({ event_id: 'EV_pruned', duplicate: true });
    expect((await sb.admin('/api/v1/events/EV_pruned')).status).toBe(404);
    const metrics = await (await fetch(`${sb.url}/metrics`)).text();
    expect(metrics).toMatch(/switchboard_pruned_rows_total\{table="events"\} [1-9]/);
    expect(metrics).toMatch(/switchboard_prune_last_run_timestamp_seconds [1-9]/);
    expect(metrics).toMatch(/switchboard_oldest_event_age_seconds \d/);
  });
});
