/**
 * Reconciliation end to end: a real Switchboard asks a loopback LiveKit API what is live, and the synthetic events
 * it concludes go through ingest like webhooks (rules, statuses), once per resource whoever comes first.
 */
import { ParticipantInfo, Room } from 'livekit-server-sdk';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { startLiveKitApiServer, type LiveKitApiServer } from '../../helpers/livekit-api-server.ts';
import { createTestSchema, requirePostgres, SKIP_POSTGRES, type TestSchema } from '../../helpers/postgres.ts';
import { sampleBody, SHIPPED_STATUS_RULES, startTestSwitchboard, type TestSwitchboard } from '../../helpers/switchboard.ts';
import { TEST_KEY, TEST_SECRET } from '../../helpers/tokens.ts';

const ROOM_SID = 'RM_hycBMAjmt6Ub';
const ROOM_NAME = 'session-42';
const SYNTHETIC_FINISH = `EV_synthetic_room_finished_${ROOM_SID}`;

const RULES = `${SHIPPED_STATUS_RULES}
  - id: tell-operator
    on: room_finished
    filter: { synthetic: true }
    actions:
      - plugin: status
        mode: inline
        with: { key: "reconciled:{{ room.name }}", status: reconciled }
  - id: silence
    on: "switchboard.source_*"
    actions:
      - plugin: status
        mode: inline
        with: { key: silence, status: "{{ event }}" }
`;

let livekit: LiveKitApiServer | undefined;
const started: TestSwitchboard[] = [];
let schema: TestSchema | undefined;

afterEach(async () => {
  for (const switchboard of started.splice(0)) await switchboard.stop();
  await livekit?.close();
  livekit = undefined;
  await schema?.drop();
  schema = undefined;
});

async function start(settings: Record<string, string> = {}): Promise<TestSwitchboard> {
  livekit ??= await startLiveKitApiServer({ apiKey: TEST_KEY, apiSecret: TEST_SECRET });
  const switchboard = await startTestSwitchboard({
    rules: { 'rules.yaml': RULES },
    // Passes are run by the test, one at a time: the interval never comes.
    settings: { LIVEKIT_URL: livekit.url, RECONCILE_INTERVAL: '1h', SILENCE_ALERT: '0', ...settings },
  });
  started.push(switchboard);
  return switchboard;
}

function liveInLiveKit(participants: ParticipantInfo[] = []): void {
  livekit!.rooms.push(new Room({ sid: ROOM_SID, name: ROOM_NAME, numParticipants: participants.length }));
  livekit!.participants.set(ROOM_NAME, participants);
}

function participantBody(name: 'participant_joined' | 'participant_left', sid: string, id: string, createdAt: number): string {
  return sampleBody(name, { id, createdAt: String(createdAt), participant: { sid, identity: 'alice' } });
}

async function pass(switchboard: TestSwitchboard, times = 1): Promise<void> {
  for (let index = 0; index < times; index += 1) await switchboard.reconcile!.runOnce();
}

describe('reconciliation', () => {
  it('finishes a room whose room_finished was lost after two passes, once; the real one later is a duplicate', async () => {
    const switchboard = await start();
    expect((await switchboard.deliver(sampleBody('room_started'))).status).toBe(200);
    expect((await switchboard.store.getSession(ROOM_NAME))?.status).toBe('live');

    await pass(switchboard);
    expect((await switchboard.store.getSession(ROOM_NAME))?.status).toBe('live');
    await pass(switchboard);
    const session = await switchboard.store.getSession(ROOM_NAME);
    expect(session).toMatchObject({ status: 'stopped', eventId: SYNTHETIC_FINISH });

    const synthetic = await switchboard.store.getEvent(SYNTHETIC_FINISH);
    expect(synthetic?.matched).toEqual(['session-stopped', 'tell-operator']);
    expect(JSON.parse(synthetic!.body)).toMatchObject({ synthetic: true, room: { sid: ROOM_SID, name: ROOM_NAME } });
    expect((await switchboard.store.getSession(`reconciled:${ROOM_NAME}`))?.history).toHaveLength(1);

    const real = await switchboard.deliver(sampleBody('room_finished', { id: 'EV_real_finish' }));
    expect(real.json.results).toMatchObject({ duplicate: true, duplicate_of: SYNTHETIC_FINISH, matched: [] });
    expect((await switchboard.store.getSession(ROOM_NAME))?.history).toHaveLength(2);

    const rooms = await switchboard.admin('/api/v1/rooms?status=finished');
    expect(rooms.json.results.rooms).toMatchObject([{ sid: ROOM_SID, name: ROOM_NAME, status: 'finished' }]);
  });

  it('keeps a participant who reconnected present when the old sid leaves late', async () => {
    const switchboard = await start();
    liveInLiveKit([new ParticipantInfo({ sid: 'PA_new', identity: 'alice' })]);
    await switchboard.deliver(sampleBody('room_started'));
    await switchboard.deliver(participantBody('participant_joined', 'PA_old', 'EV_join_old', 1763856005));
    await switchboard.deliver(participantBody('participant_joined', 'PA_new', 'EV_join_new', 1763856010));
    await switchboard.deliver(participantBody('participant_left', 'PA_old', 'EV_left_old', 1763856009));

    await pass(switchboard, 3);
    const room = await switchboard.admin(`/api/v1/rooms/${ROOM_NAME}`);
    expect(room.status).toBe(200);
    expect(room.json.results).toMatchObject({ status: 'live', participants: [{ sid: 'PA_new', identity: 'alice' }] });
    expect(await switchboard.store.getEvent('EV_synthetic_participant_left_PA_new')).toBeNull();
    expect(await switchboard.metrics.render()).toMatch(/^switchboard_participants_present 1$/m);
  });

  it('changes nothing while LiveKit is unreachable, and counts the failed calls', async () => {
    const switchboard = await start();
    await switchboard.deliver(sampleBody('room_started'));
    livekit!.misbehave('ListRooms', { kind: 'fail' }, 3);
    await pass(switchboard, 3);
    expect((await switchboard.store.getSession(ROOM_NAME))?.status).toBe('live');
    expect(await switchboard.store.getEvent(SYNTHETIC_FINISH)).toBeNull();
    expect(await switchboard.metrics.render()).toMatch(
      /^switchboard_livekit_api_calls_total\{method="ListRooms",outcome="unavailable"\} 3$/m,
    );
    expect(await switchboard.metrics.render()).toMatch(/^switchboard_rooms_live 1$/m);
  });

  it('announces silence once, and its end once', async () => {
    const switchboard = await start({ SILENCE_ALERT: '1s' });
    liveInLiveKit();
    await switchboard.deliver(sampleBody('room_started'));
    await pass(switchboard);
    expect(await switchboard.store.getSession('silence')).toBeNull();
    await sleep(1_100);
    await pass(switchboard, 2);
    expect((await switchboard.store.getSession('silence'))?.history.map((entry) => entry.status)).toEqual([
      'switchboard.source_silent',
    ]);
    await switchboard.deliver(participantBody('participant_joined', 'PA_1', 'EV_join', 1763856005));
    livekit!.participants.set(ROOM_NAME, [new ParticipantInfo({ sid: 'PA_1', identity: 'alice' })]);
    await pass(switchboard, 2);
    expect((await switchboard.store.getSession('silence'))?.history.map((entry) => entry.status)).toEqual([
      'switchboard.source_resumed',
      'switchboard.source_silent',
    ]);
  });

  describe.skipIf(SKIP_POSTGRES)('on PostgreSQL replicas', () => {
    it('one replica reconciles: one synthetic event; another takes over when it stops', async () => {
      await requirePostgres();
      schema = await createTestSchema();
      const settings = { DATABASE_URL: `${schema.url}&pool_size=2` };
      const first = await start(settings);
      const second = await start(settings);
      await first.deliver(sampleBody('room_started'));

      for (let round = 0; round < 2; round += 1) await Promise.all([pass(first), pass(second)]);
      expect((await first.store.getSession(ROOM_NAME))?.status).toBe('stopped');
      expect((await first.store.getSession(`reconciled:${ROOM_NAME}`))?.history).toHaveLength(1);
      const listRooms = livekit!.calls.filter((call) => call.method === 'ListRooms').length;
      expect(listRooms).toBe(2);

      // The leader is the one that asked LiveKit; when it stops, the other takes over at its next pass.
      const asked = async (switchboard: TestSwitchboard) =>
        /switchboard_livekit_api_calls_total\{method="ListRooms",outcome="ok"\} 2$/m.test(await switchboard.metrics.render());
      const [leader, follower] = (await asked(first)) ? [first, second] : [second, first];
      expect(await asked(follower)).toBe(false);
      await started.splice(started.indexOf(leader), 1)[0].stop();
      await pass(follower);
      expect(livekit!.calls.filter((call) => call.method === 'ListRooms').length).toBe(3);
    });
  });
});
