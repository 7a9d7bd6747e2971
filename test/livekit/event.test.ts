import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { isSwitchboardError } from '../../src/errors.ts';
import { buildContext, dedupeKey, eventCreatedAt, METADATA_JSON_MAX_CHARS, METADATA_JSON_MAX_DEPTH, parseEvent } from '../../src/livekit/event.ts';
import { sampleEventNames } from '../../src/livekit/samples.ts';
import { readFileSync } from 'node:fs';

const bytes = (text: string) => Buffer.from(text);

function rejection(body: Uint8Array): string {
  try {
    parseEvent(body);
  } catch (error) {
    expect(isSwitchboardError(error, 'E_WEBHOOK_INVALID_PAYLOAD')).toBe(true);
    return (error as Error).message;
  }
  throw new Error('expected E_WEBHOOK_INVALID_PAYLOAD');
}

describe('parseEvent', () => {
  it.each(sampleEventNames())('parses the %s sample as LiveKit encodes it', (name) => {
    const body = readFileSync(new URL(`../../src/livekit/samples/${name}.json`, import.meta.url));
    const event = parseEvent(body);
    expect(event.event).toBe(name);
    expect(event.id).toMatch(/^EV_/);
    expect(event.createdAt).toMatch(/^\d+$/);
  });

  it('accepts event names and fields LiveKit adds later, keeping them as sent', () => {
    const body = '{"event":"agent_job_started", "id":"EV_x","job":{"id":"AJ_1","createdAt":"1763856000000000000"},"newField":[1]}';
    expect(parseEvent(bytes(body))).toEqual(JSON.parse(body));
  });

  it('keeps int64 values as strings', () => {
    const event = parseEvent(bytes('{"event":"egress_ended","egressInfo":{"startedAt":"1763856010000000000"}}'));
    expect(event.egressInfo?.startedAt).toBe('1763856010000000000');
  });

  it('stores a numeric createdAt as LiveKit\'s usual string', () => {
    expect(parseEvent(bytes('{"event":"room_started","createdAt":1763856000}')).createdAt).toBe('1763856000');
  });

  it.each([
    ['invalid JSON', '{"event":', /not valid JSON/],
    ['a JSON array', '[{"event":"room_started"}]', /must be a JSON object/],
    ['JSON null', 'null', /must be a JSON object/],
    ['no event name', '{"room":{}}', /no "event" name/],
    ['an empty event name', '{"event":""}', /no "event" name/],
    ['a numeric event name', '{"event":7}', /no "event" name/],
    ['a numeric id', '{"event":"room_started","id":7}', /"id" must be a string/],
    ['a createdAt that is not seconds', '{"event":"room_started","createdAt":"soon"}', /"createdAt"/],
    ['a fractional createdAt', '{"event":"room_started","createdAt":1.5}', /"createdAt"/],
    ['a room that is not an object', '{"event":"room_started","room":"demo"}', /"room" must be an object/],
    ['a participant that is null', '{"event":"participant_joined","participant":null}', /"participant" must be an object/],
  ])('rejects a body with %s', (_, body, message) => {
    expect(rejection(bytes(body))).toMatch(message);
  });

  it('rejects a body that is not valid UTF-8', () => {
    const body = Buffer.concat([bytes('{"event":"room_started","room":{"name":"'), Buffer.from([0xff, 0xfe]), bytes('"}}')]);
    expect(rejection(body)).toMatch(/UTF-8/);
  });
});

describe('eventCreatedAt', () => {
  it('reads createdAt as seconds, or null when absent', () => {
    expect(eventCreatedAt({ event: 'room_started', createdAt: '1763856000' })).toBe(1763856000);
    expect(eventCreatedAt({ event: 'room_started' })).toBeNull();
  });
});

describe('dedupeKey', () => {
  it('uses LiveKit\'s event id', () => {
    expect(dedupeKey({ event: 'room_started', id: 'EV_abc' }, bytes('{}'))).toBe('EV_abc');
  });

  it('falls back to the body digest when the event has no id', () => {
    const body = bytes('{"event":"room_started"}');
    const hex = createHash('sha256').update(body).digest('hex');
    expect(dedupeKey({ event: 'room_started' }, body)).toBe(`sha256:${hex}`);
  });
});

describe('buildContext', () => {
  const event = parseEvent(
    bytes(
      JSON.stringify({
        event: 'participant_joined',
        room: { name: 'session-42', metadata: '{"customer":"cus_123"}' },
        participant: { identity: 'alice', metadata: '{"role":"host"}' },
      }),
    ),
  );

  it('adds metadataJson to room and participant when their metadata is JSON', () => {
    const context = buildContext(event);
    expect(context.room).toEqual({ name: 'session-42', metadata: '{"customer":"cus_123"}', metadataJson: { customer: 'cus_123' } });
    expect(context.participant?.metadataJson).toEqual({ role: 'host' });
  });

  it('does not change the event it was given', () => {
    const before = structuredClone(event);
    const context = buildContext(event);
    expect(event).toEqual(before);
    expect(context.room).not.toBe(event.room);
    expect(context.participant).not.toBe(event.participant);
  });

  it('adds no metadataJson for free-form or empty metadata', () => {
    const context = buildContext({
      event: 'participant_joined',
      room: { name: 'r', metadata: 'not json' },
      participant: { identity: 'p', metadata: '' },
    });
    expect(context.room).not.toHaveProperty('metadataJson');
    expect(context.participant).not.toHaveProperty('metadataJson');
  });

  it('does not let a body field named metadataJson pass for parsed metadata', () => {
    const context = buildContext({ event: 'room_started', room: { name: 'r', metadataJson: { forged: true } } });
    expect(context.room).not.toHaveProperty('metadataJson');
  });

  it('offers no metadataJson for metadata nested deeper than the cap or longer than the size cap', () => {
    const nested = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);
    const at = (metadata: string) => buildContext({ event: 'participant_joined', participant: { identity: 'a', metadata } }).participant;
    expect(at(nested(METADATA_JSON_MAX_DEPTH))?.metadataJson).toBeDefined();
    expect(at(nested(METADATA_JSON_MAX_DEPTH + 1))).not.toHaveProperty('metadataJson');
    expect(at(nested(4_500))).not.toHaveProperty('metadataJson');
    const long = JSON.stringify({ note: 'x'.repeat(METADATA_JSON_MAX_CHARS) });
    expect(at(long)).not.toHaveProperty('metadataJson');
  });
});
