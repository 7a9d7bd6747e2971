import { EgressInfo, Room } from 'livekit-server-sdk';
import { describe, expect, it } from 'vitest';
import {
  syntheticEgressEnded,
  syntheticEventId,
  syntheticParticipantLeft,
  syntheticRoomFinished,
  syntheticRoomStarted,
} from '../../../src/engine/reconcile/synthetic-event.ts';
import { buildContext, parseEvent } from '../../../src/livekit/event.ts';
import { sampleEvent } from '../../../src/livekit/samples.ts';

const at = new Date('2025-11-23T00:20:00.250Z');
const sample = (name: string) => sampleEvent(name)!;
/** A sample's object as the protocol's JSON reader takes it. */
const json = (value: unknown) => value as Parameters<typeof Room.fromJson>[0];

describe('synthetic events', () => {
  it('carry an id derived from their kind and the resource, the pass time as createdAt, synthetic and reconciledAt', () => {
    const room = { sid: 'RM_hycBMAjmt6Ub', name: 'session-42', participants: [] };
    const event = syntheticRoomFinished(room, at);
    expect(event).toMatchObject({
      event: 'room_finished',
      id: 'EV_synthetic_room_finished_RM_hycBMAjmt6Ub',
      createdAt: '1763857200',
      synthetic: true,
      reconciledAt: '2025-11-23T00:20:00.250Z',
    });
    expect(syntheticRoomFinished(room, new Date(at.getTime() + 60_000)).id).toBe(event.id);
    expect(syntheticEventId('participant_left', 'PA_1')).toBe('EV_synthetic_participant_left_PA_1');
  });

  it('read as webhook bodies do: parsed by the ingest edge, metadata exposed to rules', () => {
    const { room, participant } = sample('participant_left');
    const event = syntheticParticipantLeft(
      { sid: room!.sid!, name: room!.name!, info: room, participants: [] },
      { sid: participant!.sid!, identity: participant!.identity!, info: participant },
      at,
    );
    const parsed = parseEvent(Buffer.from(JSON.stringify(event)));
    expect(buildContext(parsed)).toMatchObject({
      synthetic: true,
      room: { metadataJson: { customer: 'cus_123' } },
      participant: { metadataJson: { role: 'host' }, state: 'DISCONNECTED' },
    });
  });

  it('shape a participant_left like LiveKit does, with LiveKit\'s room when it still lists it', () => {
    const real = sample('participant_left');
    const joined = sample('participant_joined');
    const event = syntheticParticipantLeft(
      Room.fromJson(json(real.room)),
      { sid: joined.participant!.sid!, identity: joined.participant!.identity!, info: joined.participant },
      at,
    );
    expect(event.room).toEqual(real.room);
    expect(event.participant).toEqual({ ...joined.participant, state: 'DISCONNECTED' });
    expect(Object.keys(event)).toEqual(['event', 'room', 'participant', 'id', 'createdAt', 'synthetic', 'reconciledAt']);
  });

  it('give a room_started the room exactly as LiveKit lists it', () => {
    const real = sample('room_started');
    expect(syntheticRoomStarted(Room.fromJson(json(real.room)), at)).toMatchObject({
      event: 'room_started',
      id: `EV_synthetic_room_started_${real.room!.sid}`,
      room: real.room,
    });
  });

  it('give an egress_ended LiveKit\'s own egressInfo, and its room as LiveKit names it', () => {
    const real = sample('egress_ended');
    const event = syntheticEgressEnded(EgressInfo.fromJson(json(real.egressInfo)), at);
    expect(event).toMatchObject({ id: 'EV_synthetic_egress_ended_EG_pJTG6WdSWj4H', room: real.room });
    expect(event.egressInfo).toEqual(real.egressInfo);
  });
});
