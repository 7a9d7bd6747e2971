import { EgressInfo, EgressStatus, ParticipantInfo, Room } from 'livekit-server-sdk';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS, FIRST_PASS, type ReconcileState } from '../../../src/engine/reconcile/decide.ts';
import { reconcilePass, type PassOptions } from '../../../src/engine/reconcile/pass.ts';
import type { LivePicture, LivePictureSource, LiveRoom } from '../../../src/engine/reconcile/picture.ts';
import { createLiveKitApi, type LiveKitApi } from '../../../src/livekit/api.ts';
import { createMetrics, type Metrics } from '../../../src/telemetry/metrics.ts';
import { startLiveKitApiServer, type LiveKitApiServer } from '../../helpers/livekit-api-server.ts';

const apiKey = 'APIreconcile';
const apiSecret = 'reconcile-secret-of-enough-length';
const at = new Date('2025-11-23T00:20:00Z');

/** The store's side, as a plain picture: the store's implementation comes with its live-picture tables. */
function pictureSource(picture: LivePicture, recorded: string[] = []): LivePictureSource {
  return {
    livePicture: async () => picture,
    recordedRoomSids: async (sids) => new Set(sids.filter((sid) => recorded.includes(sid))),
  };
}

function liveRoom(sid: string, name: string, participants: Array<[sid: string, identity: string]> = []): LiveRoom {
  return { sid, name, info: { sid, name }, participants: participants.map(([sid, identity]) => ({ sid, identity })) };
}

let livekit: LiveKitApiServer;
let metrics: Metrics;
let api: LiveKitApi;
beforeEach(async () => {
  livekit = await startLiveKitApiServer({ apiKey, apiSecret });
  const startUp = { at: new Date(), reason: 'start-up', outcome: 'success' as const, problems: [] };
  metrics = createMetrics({
    deliveryCounts: async () => ({}),
    oldestDueAt: async () => null,
    circuits: () => [],
    targetSwitches: async () => [],
    rulesStatus: () => ({ loads: { success: 1, failure: 0 }, lastSuccess: startUp }),
    log: pino({ level: 'silent' }),
  });
  api = createLiveKitApi(
    { url: livekit.url, apiKey, apiSecret },
    { timeoutMs: 500, onCall: (method, outcome) => metrics.liveKitApiCall(method, outcome) },
  );
});
afterEach(() => livekit.close());

async function run(count: number, store: LivePictureSource, options: PassOptions = {}, state: ReconcileState = FIRST_PASS) {
  const events: string[][] = [];
  for (let index = 0; index < count; index += 1) {
    const outcome = await reconcilePass(api, store, state, { at, ...options });
    events.push(outcome.events.map((event) => event.id!));
    state = outcome.state;
  }
  return { events, state };
}

async function apiCallCounts(): Promise<string[]> {
  const text = await metrics.render();
  return text
    .split('\n')
    .filter((line) => line.startsWith('switchboard_livekit_api_calls_total{'))
    .sort();
}

describe('reconcilePass against LiveKit\'s API', () => {
  it('finishes a room whose room_finished was lost after two passes, asking with the roomList grant', async () => {
    const store = pictureSource({ rooms: [liveRoom('RM_1', 'session-42')], egress: [] });
    const first = await reconcilePass(api, store, FIRST_PASS, { at });
    const second = await reconcilePass(api, store, first.state, { at });

    expect(first.events).toEqual([]);
    expect(second.events).toEqual([
      expect.objectContaining({ event: 'room_finished', id: 'EV_synthetic_room_finished_RM_1', synthetic: true }),
    ]);
    expect(livekit.calls.map((call) => [call.method, call.grant, call.answer])).toEqual([
      ['ListRooms', { roomList: true }, 200],
      ['ListRooms', { roomList: true }, 200],
    ]);
  });

  it('asks ListParticipants with roomAdmin for that room, and lets only the old sid of a reconnected participant leave', async () => {
    livekit.rooms.push(new Room({ sid: 'RM_1', name: 'session-42', numParticipants: 1 }));
    livekit.participants.set('session-42', [new ParticipantInfo({ sid: 'PA_new', identity: 'alice' })]);
    // alice reconnected: her participant_joined for PA_new arrived, her participant_left for PA_old was lost.
    const picture = { rooms: [liveRoom('RM_1', 'session-42', [['PA_old', 'alice'], ['PA_new', 'alice']])], egress: [] };
    const { events, state } = await run(2, pictureSource(picture));
    expect(events).toEqual([[], ['EV_synthetic_participant_left_PA_old']]);

    // The store applied it by sid: alice stays present with PA_new, and the counts agree again.
    const applied = { rooms: [liveRoom('RM_1', 'session-42', [['PA_new', 'alice']])], egress: [] };
    expect((await run(1, pictureSource(applied), {}, state)).events).toEqual([[]]);
    expect(livekit.calls.filter((call) => call.method === 'ListParticipants').map((call) => call.grant)).toEqual([
      { roomAdmin: true, room: 'session-42' },
      { roomAdmin: true, room: 'session-42' },
    ]);
  });

  it('ends an egress LiveKit reports complete with LiveKit\'s own egressInfo, asking with roomRecord', async () => {
    livekit.egress.push(
      new EgressInfo({ egressId: 'EG_1', roomId: 'RM_1', roomName: 'session-42', status: EgressStatus.EGRESS_COMPLETE }),
      new EgressInfo({ egressId: 'EG_2', roomId: 'RM_1', roomName: 'session-42', status: EgressStatus.EGRESS_ACTIVE }),
    );
    const store = pictureSource({ rooms: [], egress: [{ egressId: 'EG_1' }, { egressId: 'EG_2' }] });

    const { events } = await reconcilePass(api, store, FIRST_PASS, { at });
    expect(events).toMatchObject([
      { event: 'egress_ended', id: 'EV_synthetic_egress_ended_EG_1', egressInfo: { egressId: 'EG_1', status: 'EGRESS_COMPLETE' } },
    ]);
    expect(livekit.calls.filter((call) => call.method === 'ListEgress').map((call) => [call.request, call.grant])).toEqual([
      [{ active: true }, { roomRecord: true }],
      [{ egressId: 'EG_1' }, { roomRecord: true }],
    ]);
  });

  it('starts a room LiveKit lists that the store has no record of, unless the store has recorded it', async () => {
    livekit.rooms.push(new Room({ sid: 'RM_new', name: 'late' }), new Room({ sid: 'RM_done', name: 'done' }));
    const { events } = await run(2, pictureSource({ rooms: [], egress: [] }, ['RM_done']));
    expect(events).toEqual([[], ['EV_synthetic_room_started_RM_new']]);
  });

  it('keeps calls bounded: ListParticipants only where the counts disagree once the first full check is done', async () => {
    const rooms = Array.from({ length: 30 }, (_, index) => liveRoom(`RM_${index}`, `room-${index}`, [[`PA_${index}`, `user-${index}`]]));
    for (const [index, room] of rooms.entries()) {
      livekit.rooms.push(new Room({ sid: room.sid, name: room.name, numParticipants: index === 7 ? 2 : 1 }));
      livekit.participants.set(room.name, [new ParticipantInfo({ sid: `PA_${index}`, identity: `user-${index}` })]);
    }
    const limits = { ...DEFAULT_LIMITS, maxParticipantLists: 20 };
    const { events } = await run(3, pictureSource({ rooms, egress: [] }), { limits });

    expect(events.flat()).toEqual([]);
    const perPass = [0, 1, 2].map((pass) => {
      const listRooms = livekit.calls.flatMap((call, index) => (call.method === 'ListRooms' ? [index] : []));
      const end = listRooms[pass + 1] ?? livekit.calls.length;
      return livekit.calls.slice(listRooms[pass], end).filter((call) => call.method === 'ListParticipants').length;
    });
    expect(perPass).toEqual([20, 11, 1]);
    expect(await apiCallCounts()).toEqual([
      'switchboard_livekit_api_calls_total{method="ListParticipants",outcome="ok"} 32',
      'switchboard_livekit_api_calls_total{method="ListRooms",outcome="ok"} 3',
    ]);
  });

  it('changes nothing when LiveKit is unreachable, and counts the failed call', async () => {
    const store = pictureSource({ rooms: [liveRoom('RM_1', 'session-42')], egress: [] });
    const first = await reconcilePass(api, store, FIRST_PASS, { at });
    await livekit.close();

    const unreachable = await reconcilePass(api, store, first.state, { at });
    expect(unreachable.events).toEqual([]);
    expect(unreachable.state).toBe(first.state);
    expect(unreachable.failures).toMatchObject([{ method: 'ListRooms' }]);
    expect(await apiCallCounts()).toEqual([
      'switchboard_livekit_api_calls_total{method="ListRooms",outcome="ok"} 1',
      'switchboard_livekit_api_calls_total{method="ListRooms",outcome="unreachable"} 1',
    ]);
  });

  it('decides nothing on a failed, dropped or late ListRooms answer, and resumes where it was', async () => {
    const store = pictureSource({ rooms: [liveRoom('RM_1', 'session-42')], egress: [] });
    livekit.misbehave('ListRooms', { kind: 'fail' }, 1);
    livekit.misbehave('ListRooms', { kind: 'drop' }, 1);
    livekit.misbehave('ListRooms', { kind: 'delay', ms: 2_000 }, 1);
    const first = await reconcilePass(api, store, FIRST_PASS, { at });
    const { events } = await run(4, store, {}, first.state);

    expect(events).toEqual([[], [], [], ['EV_synthetic_room_finished_RM_1']]);
    expect(await apiCallCounts()).toEqual([
      'switchboard_livekit_api_calls_total{method="ListRooms",outcome="ok"} 2',
      'switchboard_livekit_api_calls_total{method="ListRooms",outcome="timeout"} 1',
      'switchboard_livekit_api_calls_total{method="ListRooms",outcome="unavailable"} 1',
      'switchboard_livekit_api_calls_total{method="ListRooms",outcome="unreachable"} 1',
    ]);
  });

  it('keeps a participant\'s miss through a pass whose ListParticipants answer was dropped', async () => {
    livekit.rooms.push(new Room({ sid: 'RM_1', name: 'session-42', numParticipants: 0 }));
    const store = pictureSource({ rooms: [liveRoom('RM_1', 'session-42', [['PA_a', 'alice']])], egress: [] });
    const first = await reconcilePass(api, store, FIRST_PASS, { at });
    livekit.misbehave('ListParticipants', { kind: 'drop' });
    const dropped = await reconcilePass(api, store, first.state, { at });
    const third = await reconcilePass(api, store, dropped.state, { at });

    expect([first.events, dropped.events, third.events].map((events) => events.map((event) => event.id))).toEqual([
      [],
      [],
      ['EV_synthetic_participant_left_PA_a'],
    ]);
    expect(dropped.failures).toMatchObject([{ method: 'ListParticipants' }]);
  });
});
