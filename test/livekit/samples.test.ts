import { describe, expect, it } from 'vitest';
import { KNOWN_EVENT_NAMES } from '../../src/livekit/event-types.ts';
import { parseEvent } from '../../src/livekit/event.ts';
import { sampleEvent, sampleEventNames } from '../../src/livekit/samples.ts';

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
