import { describe, expect, it } from 'vitest';
import { KNOWN_EVENT_NAMES } from '../../src/livekit/event-types.ts';
import { parseEvent } from '../../src/livekit/event.ts';
import { sampleEvent, sampleEventNames } from '../../src/livekit/samples.ts';
import { measuredDuration } from '../../plugins/billing/measure.ts';

describe('sampleEventNames', () => {
  it('lists a sample for every event LiveKit sends today', () => {
    expect(sampleEventNames()).toEqual([...KNOWN_EVENT_NAMES].sort());
  });
});

describe('sampleEvent', () => {
  it('returns undefined for an event without a sample, and for paths outside the samples folder', () => {
    expect(sampleEvent('agent_job_started')).toBeUndefined();
    expect(sampleEvent('../samples/room_started')).toBeUndefined();
  });

  it('gives every copy a fresh EV_ id and createdAt of now', () => {
    const before = Math.floor(Date.now() / 1000);
    const events = Array.from({ length: 50 }, () => sampleEvent('room_started')!);
    for (const event of events) {
      expect(event.id).toMatch(/^EV_[A-Za-z0-9]{12}$/);
      expect(Number(event.createdAt)).toBeGreaterThanOrEqual(before);
      expect(Number(event.createdAt)).toBeLessThanOrEqual(Math.floor(Date.now() / 1000));
    }
    expect(new Set(events.map((event) => event.id)).size).toBe(events.length);
  });

  it('moves every time of the sample with its createdAt, so a participant_left bills its ten minutes, not the months since', () => {
    const left = sampleEvent('participant_left') as any;
    const createdAt = BigInt(left.createdAt);
    expect(Number(createdAt)).toBeGreaterThanOrEqual(Math.floor(Date.now() / 1000) - 1);
    expect(BigInt(left.participant.joinedAt!)).toBe(createdAt - 600n);
    expect(BigInt(left.participant.joinedAtMs!)).toBe((createdAt - 600n) * 1000n + 210n);
    expect(BigInt(left.room.creationTimeMs!)).toBe((createdAt - 605n) * 1000n + 123n);
    expect(measuredDuration('participant_minutes', left)).toBe(599_790_000_000n);

    const egress = sampleEvent('egress_ended') as any;
    expect(measuredDuration('egress_minutes', egress)).toBe(600_000_000_000n);
    expect(BigInt(egress.egressInfo.endedAt)).toBe((BigInt(egress.createdAt) - 1n) * 1_000_000_000n);
    expect(egress.egressInfo.fileResults[0].duration).toBe('600000000000');
  });

  it('is the same every time for a given now and id: createdAt is now, the other times move with it', () => {
    const now = new Date('2030-05-01T12:00:00.750Z');
    const left = sampleEvent('participant_left', { now, id: 'EV_fixed' }) as any;
    expect(sampleEvent('participant_left', { now, id: 'EV_fixed' })).toEqual(left);
    expect(left.id).toBe('EV_fixed');
    expect(left.createdAt).toBe(String(Date.parse('2030-05-01T12:00:00Z') / 1000));
    expect(BigInt(left.participant.joinedAtMs)).toBe((BigInt(left.createdAt) - 600n) * 1000n + 210n);
  });

  it('returns independent copies', () => {
    sampleEvent('room_started')!.room!.name = 'changed';
    expect(sampleEvent('room_started')!.room!.name).toBe('session-42');
  });

  it('replaces the room name wherever the event names its room', () => {
    expect(sampleEvent('room_started', { room: 'standup' })!.room!.name).toBe('standup');
    const egress = sampleEvent('egress_ended', { room: 'standup' })!;
    expect(egress.room!.name).toBe('standup');
    expect(egress.egressInfo!.roomName).toBe('standup');
    expect(sampleEvent('ingress_started', { room: 'standup' })!.ingressInfo!.roomName).toBe('standup');
  });

  it('gives a named room and participant sids of their own, the same for the same names', () => {
    const sidOf = (room: string, participant: string) => {
      const event = sampleEvent('participant_joined', { room, participant })!;
      return [event.room!.sid, event.participant!.sid];
    };
    expect(sidOf('standup', 'bob')).toEqual(sidOf('standup', 'bob'));
    expect(sidOf('standup', 'bob')[0]).not.toBe(sidOf('retro', 'bob')[0]);
    expect(sidOf('standup', 'bob')[1]).not.toBe(sidOf('standup', 'ann')[1]);
    expect(sidOf('standup', 'bob')[1]).not.toBe(sidOf('retro', 'bob')[1]);
  });

  it('replaces the participant identity wherever the event names its participant', () => {
    expect(sampleEvent('participant_joined', { participant: 'bob' })!.participant!.identity).toBe('bob');
    expect(sampleEvent('ingress_ended', { participant: 'bob' })!.ingressInfo!.participantIdentity).toBe('bob');
  });

  it('leaves events without a room or participant without one', () => {
    const ingress = sampleEvent('ingress_started', { room: 'standup', participant: 'bob' })!;
    expect(ingress).not.toHaveProperty('room');
    expect(ingress).not.toHaveProperty('participant');
  });

  it.each(sampleEventNames())('produces a %s body that parses', (name) => {
    const event = sampleEvent(name, { room: 'standup', participant: 'bob' })!;
    expect(parseEvent(Buffer.from(JSON.stringify(event)))).toEqual(event);
  });
});
