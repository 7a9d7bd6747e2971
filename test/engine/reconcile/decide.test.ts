import { EgressInfo, EgressStatus, ParticipantInfo, ParticipantInfo_State, Room } from 'livekit-server-sdk';
import { describe, expect, it } from 'vitest';
import {
  decidePass,
  DEFAULT_LIMITS,
  FIRST_PASS,
  planEgressLookups,
  planParticipantLists,
  type ReconcileLimits,
  type ReconcileState,
} from '../../../src/engine/reconcile/decide.ts';
import type { LivePicture, LiveRoom, PresentParticipant } from '../../../src/engine/reconcile/picture.ts';

const at = new Date('2025-11-23T00:20:00Z');

function present(sid: string, identity = sid.toLowerCase()): PresentParticipant {
  return { sid, identity, info: { sid, identity, joinedAt: '1763856005' } };
}

function liveRoom(sid: string, participants: PresentParticipant[] = []): LiveRoom {
  return { sid, name: `name-of-${sid}`, info: { sid, name: `name-of-${sid}`, metadata: '{"customer":"cus_1"}' }, participants };
}

function listed(room: LiveRoom, numParticipants = room.participants.length): Room {
  return new Room({ sid: room.sid, name: room.name, numParticipants });
}

interface LiveKitSide {
  rooms: Room[];
  /** ListParticipants' answer by room name; a room missing here was not asked or did not answer. */
  participants?: Record<string, ParticipantInfo[]>;
  egress?: EgressInfo[];
  recorded?: string[];
}

/** One pass as reconcilePass runs it, without the I/O: plan, then decide on what LiveKit answered. */
function pass(picture: LivePicture, liveKit: LiveKitSide, state: ReconcileState, limits: ReconcileLimits = DEFAULT_LIMITS) {
  const plan = planParticipantLists(picture, liveKit.rooms, state, limits);
  const answers = new Map(
    plan.rooms.flatMap((room) => {
      const answer = liveKit.participants?.[room.name];
      return answer === undefined ? [] : [[room.sid, answer] as const];
    }),
  );
  const decision = decidePass(
    {
      at,
      picture,
      liveKitRooms: liveKit.rooms,
      participants: answers,
      recordedRoomSids: new Set(liveKit.recorded),
      egressLookedUp: liveKit.egress ?? [],
      fullCheckLeft: plan.fullCheckLeft,
    },
    state,
  );
  return { ...decision, asked: plan.rooms.map((room) => room.sid) };
}

/** The same picture and answers, pass after pass: the events of each. */
function passes(count: number, picture: LivePicture, liveKit: LiveKitSide, limits?: ReconcileLimits) {
  let state = FIRST_PASS;
  const events: string[][] = [];
  for (let index = 0; index < count; index += 1) {
    const decision = pass(picture, liveKit, state, limits);
    events.push(decision.events.map((event) => event.id!));
    state = decision.state;
  }
  return events;
}

const participant = (sid: string, identity = sid.toLowerCase(), state = ParticipantInfo_State.ACTIVE) =>
  new ParticipantInfo({ sid, identity, state });

describe('rooms the store has live', () => {
  it('finish when LiveKit has not listed them in two consecutive passes', () => {
    const room = liveRoom('RM_1');
    const first = pass({ rooms: [room], egress: [] }, { rooms: [] }, FIRST_PASS);
    expect(first.events).toEqual([]);

    const second = pass({ rooms: [room], egress: [] }, { rooms: [] }, first.state);
    expect(second.events).toEqual([
      {
        event: 'room_finished',
        room: room.info,
        id: 'EV_synthetic_room_finished_RM_1',
        createdAt: String(at.getTime() / 1000),
        synthetic: true,
        reconciledAt: at.toISOString(),
      },
    ]);
    expect(pass({ rooms: [], egress: [] }, { rooms: [] }, second.state).events).toEqual([]);
  });

  it('stay live when LiveKit lists them again in between (a room just started may not be listed yet)', () => {
    const room = liveRoom('RM_1');
    const first = pass({ rooms: [room], egress: [] }, { rooms: [] }, FIRST_PASS);
    const second = pass({ rooms: [room], egress: [] }, { rooms: [listed(room)] }, first.state);
    const third = pass({ rooms: [room], egress: [] }, { rooms: [] }, second.state);
    expect([first, second, third].flatMap((decision) => decision.events)).toEqual([]);
  });

  it('let their present participants leave before they finish, as LiveKit would have told', () => {
    const room = liveRoom('RM_1', [present('PA_a'), present('PA_b')]);
    expect(passes(2, { rooms: [room], egress: [] }, { rooms: [] })).toEqual([
      [],
      ['EV_synthetic_participant_left_PA_a', 'EV_synthetic_participant_left_PA_b', 'EV_synthetic_room_finished_RM_1'],
    ]);
  });

  it('are compared by sid: a room re-created under the same name finishes, and the new one starts', () => {
    const old = liveRoom('RM_old');
    const recreated = new Room({ sid: 'RM_new', name: old.name });
    expect(passes(2, { rooms: [old], egress: [] }, { rooms: [recreated] })).toEqual([
      [],
      ['EV_synthetic_room_started_RM_new', 'EV_synthetic_room_finished_RM_old'],
    ]);
  });
});

describe('rooms LiveKit lists that the store does not have live', () => {
  it('start when the store still has no record of them in the second pass, with the room as LiveKit lists it', () => {
    const room = new Room({ sid: 'RM_new', name: 'late', metadata: '{"customer":"cus_2"}', numParticipants: 2 });
    const first = pass({ rooms: [], egress: [] }, { rooms: [room] }, FIRST_PASS);
    const second = pass({ rooms: [], egress: [] }, { rooms: [room] }, first.state);
    expect(first.events).toEqual([]);
    expect(second.events).toMatchObject([
      {
        event: 'room_started',
        id: 'EV_synthetic_room_started_RM_new',
        room: { sid: 'RM_new', name: 'late', metadata: '{"customer":"cus_2"}', numParticipants: 2 },
        synthetic: true,
      },
    ]);
  });

  it('do not start when their webhook arrives in between', () => {
    const room = liveRoom('RM_new');
    const first = pass({ rooms: [], egress: [] }, { rooms: [listed(room)] }, FIRST_PASS);
    const second = pass({ rooms: [room], egress: [] }, { rooms: [listed(room)] }, first.state);
    const third = pass({ rooms: [], egress: [] }, { rooms: [listed(room)] }, second.state);
    expect([first, second, third].flatMap((decision) => decision.events)).toEqual([]);
  });

  it('never start again once the store has recorded them, e.g. finished', () => {
    const room = new Room({ sid: 'RM_done', name: 'done' });
    expect(passes(3, { rooms: [], egress: [] }, { rooms: [room], recorded: ['RM_done'] })).toEqual([[], [], []]);
  });
});

describe('participants the store has present', () => {
  it('leave when ListParticipants has not listed them in two consecutive passes, in LiveKit\'s room', () => {
    const room = liveRoom('RM_1', [present('PA_a', 'alice'), present('PA_b', 'bob')]);
    const liveKit = { rooms: [listed(room, 1)], participants: { [room.name]: [participant('PA_b', 'bob')] } };
    const first = pass({ rooms: [room], egress: [] }, liveKit, FIRST_PASS);
    const second = pass({ rooms: [room], egress: [] }, liveKit, first.state);
    expect(first.events).toEqual([]);
    expect(second.events).toEqual([
      {
        event: 'participant_left',
        room: { sid: 'RM_1', name: room.name, numParticipants: 1 },
        participant: { sid: 'PA_a', identity: 'alice', joinedAt: '1763856005', state: 'DISCONNECTED' },
        id: 'EV_synthetic_participant_left_PA_a',
        createdAt: String(at.getTime() / 1000),
        synthetic: true,
        reconciledAt: at.toISOString(),
      },
    ]);
  });

  it('stay present when they reconnect with a new sid: only the old sid leaves', () => {
    // alice's participant_left for PA_old was lost; her participant_joined for PA_new arrived.
    const room = liveRoom('RM_1', [present('PA_old', 'alice'), present('PA_new', 'alice')]);
    const liveKit = { rooms: [listed(room, 1)], participants: { [room.name]: [participant('PA_new', 'alice')] } };
    expect(passes(3, { rooms: [room], egress: [] }, liveKit)).toEqual([[], ['EV_synthetic_participant_left_PA_old'], []]);
  });

  it('stay present when a late participant_left for an old sid already passed and LiveKit lists the new one', () => {
    const room = liveRoom('RM_1', [present('PA_new', 'alice')]);
    const liveKit = {
      rooms: [listed(room, 1)],
      participants: { [room.name]: [participant('PA_new', 'alice'), participant('PA_old', 'alice', ParticipantInfo_State.DISCONNECTED)] },
    };
    expect(passes(12, { rooms: [room], egress: [] }, liveKit).flat()).toEqual([]);
  });

  it('count as absent when LiveKit lists them disconnected', () => {
    const room = liveRoom('RM_1', [present('PA_a')]);
    const liveKit = {
      rooms: [listed(room, 1)],
      participants: { [room.name]: [participant('PA_a', 'pa_a', ParticipantInfo_State.DISCONNECTED)] },
    };
    expect(passes(2, { rooms: [room], egress: [] }, liveKit)).toEqual([[], ['EV_synthetic_participant_left_PA_a']]);
  });

  it('keep a miss through a pass whose ListParticipants failed, and leave at the next observation', () => {
    const room = liveRoom('RM_1', [present('PA_a')]);
    const picture = { rooms: [room], egress: [] };
    const answered = { rooms: [listed(room, 0)], participants: { [room.name]: [] } };
    const failed = { rooms: [listed(room, 0)] };
    const first = pass(picture, answered, FIRST_PASS);
    const second = pass(picture, failed, first.state);
    const third = pass(picture, answered, second.state);
    expect([first.events, second.events, third.events].map((events) => events.map((event) => event.id))).toEqual([
      [],
      [],
      ['EV_synthetic_participant_left_PA_a'],
    ]);
    expect(second.state.participantsAbsent).toEqual(new Set(['PA_a']));
  });
});

describe('which rooms ListParticipants is asked about', () => {
  const agreeing = liveRoom('RM_agree', [present('PA_1')]);
  const disagreeing = liveRoom('RM_disagree', [present('PA_2'), present('PA_3')]);
  const empty = liveRoom('RM_empty');
  const picture = { rooms: [agreeing, disagreeing, empty], egress: [] };
  const rooms = [listed(agreeing), listed(disagreeing, 1), listed(empty, 3)];
  const noFullCheck: ReconcileState = { ...FIRST_PASS, passes: 1 };

  it('asks only where LiveKit\'s participant count disagrees with the store\'s, between full checks', () => {
    expect(planParticipantLists(picture, rooms, noFullCheck, DEFAULT_LIMITS).rooms.map((room) => room.sid)).toEqual([
      'RM_disagree',
    ]);
  });

  it('asks about every room with someone present every fullCheckEvery passes, starting with the first', () => {
    const limits = { ...DEFAULT_LIMITS, fullCheckEvery: 3 };
    const asked = [0, 1, 2, 3].map(
      (passes) => planParticipantLists(picture, rooms, { ...FIRST_PASS, passes }, limits).rooms.map((room) => room.sid),
    );
    expect(asked).toEqual([['RM_disagree', 'RM_agree'], ['RM_disagree'], ['RM_disagree'], ['RM_disagree', 'RM_agree']]);
  });

  it('asks about rooms with a pending miss first, and again even when the counts now agree', () => {
    const state = { ...noFullCheck, participantsAbsent: new Set(['PA_1']) };
    expect(planParticipantLists(picture, rooms, state, DEFAULT_LIMITS).rooms.map((room) => room.sid)).toEqual([
      'RM_agree',
      'RM_disagree',
    ]);
  });

  it('stays within maxParticipantLists per pass, carrying the rest of a full check to the next passes', () => {
    const many = Array.from({ length: 5 }, (_, index) => liveRoom(`RM_${index}`, [present(`PA_${index}`)]));
    const limits = { ...DEFAULT_LIMITS, maxParticipantLists: 2, fullCheckEvery: 100 };
    const liveKit = {
      rooms: many.map((room) => listed(room)),
      participants: Object.fromEntries(many.map((room, index) => [room.name, [participant(`PA_${index}`)]])),
    };
    let state = FIRST_PASS;
    const asked: string[][] = [];
    for (let index = 0; index < 4; index += 1) {
      const decision = pass({ rooms: many, egress: [] }, liveKit, state, limits);
      asked.push(decision.asked);
      state = decision.state;
    }
    expect(asked).toEqual([['RM_0', 'RM_1'], ['RM_2', 'RM_3'], ['RM_4'], []]);
  });
});

describe('egress the store has active', () => {
  const egress = (egressId: string, status: EgressStatus) =>
    new EgressInfo({ egressId, roomId: 'RM_1', roomName: 'session', status, endedAt: 1763856610000000000n });

  it('are looked up one by one only when LiveKit no longer lists them as active, at most maxEgressLookups', () => {
    const active = ['EG_1', 'EG_2', 'EG_3', 'EG_4'].map((egressId) => ({ egressId }));
    const limits = { ...DEFAULT_LIMITS, maxEgressLookups: 2 };
    expect(planEgressLookups(active, [egress('EG_2', EgressStatus.EGRESS_ACTIVE)], limits)).toEqual(['EG_1', 'EG_3']);
  });

  it('end when LiveKit reports them complete, failed, aborted or at their limit, with LiveKit\'s egressInfo', () => {
    const statuses = [
      EgressStatus.EGRESS_COMPLETE,
      EgressStatus.EGRESS_FAILED,
      EgressStatus.EGRESS_ABORTED,
      EgressStatus.EGRESS_LIMIT_REACHED,
      EgressStatus.EGRESS_STARTING,
      EgressStatus.EGRESS_ENDING,
    ];
    const infos = statuses.map((status, index) => egress(`EG_${index}`, status));
    const picture = { rooms: [], egress: infos.map((info) => ({ egressId: info.egressId })) };
    const { events } = pass(picture, { rooms: [], egress: [...infos, egress('EG_unknown', EgressStatus.EGRESS_COMPLETE)] }, FIRST_PASS);
    expect(events.map((event) => event.id)).toEqual([0, 1, 2, 3].map((index) => `EV_synthetic_egress_ended_EG_${index}`));
    expect(events[1]).toMatchObject({
      event: 'egress_ended',
      room: { sid: 'RM_1', name: 'session' },
      egressInfo: { egressId: 'EG_1', status: 'EGRESS_FAILED', endedAt: '1763856610000000000' },
      synthetic: true,
    });
  });
});
