import { describe, expect, it } from 'vitest';
import type { EventContext } from '../../src/livekit/event-types.ts';
import { compileFilter } from '../../src/rules/compile/filter.ts';
import { roomStarted } from './helpers.ts';

const passes = (filter: Record<string, unknown>, context: EventContext) => compileFilter(filter)(context);

describe('filter', () => {
  it('matches a glob against the value', () => {
    expect(passes({ 'room.name': 'session-*' }, roomStarted({ name: 'session-42' }))).toBe(true);
    expect(passes({ 'room.name': 'session-*' }, roomStarted({ name: 'lobby' }))).toBe(false);
    expect(passes({ 'room.name': 'session-{7,42}' }, roomStarted({ name: 'session-42' }))).toBe(true);
    expect(passes({ 'room.name': 'session-[0-9]?' }, roomStarted({ name: 'session-42' }))).toBe(true);
  });

  it('lets * cross slashes, since values are URLs and paths', () => {
    const context = roomStarted({}, { egressInfo: { fileResults: [{ location: 'https://storage.example.com/a/b.mp4' }] } });
    expect(passes({ 'egressInfo.fileResults.0.location': 'https://storage.example.com/*' }, context)).toBe(true);
  });

  it('compares a string without glob characters exactly', () => {
    expect(passes({ 'room.name': 'session-42' }, roomStarted({ name: 'session-42' }))).toBe(true);
    expect(passes({ 'room.name': 'session-4' }, roomStarted({ name: 'session-42' }))).toBe(false);
  });

  it('takes escaped glob characters literally', () => {
    expect(passes({ 'room.name': 'vip\\*' }, roomStarted({ name: 'vip*' }))).toBe(true);
    expect(passes({ 'room.name': 'vip\\*' }, roomStarted({ name: 'vip-room' }))).toBe(false);
  });

  it('holds when any pattern of a list matches', () => {
    const filter = { 'room.name': ['lobby', 'session-*'] };
    expect(passes(filter, roomStarted({ name: 'session-1' }))).toBe(true);
    expect(passes(filter, roomStarted({ name: 'lobby' }))).toBe(true);
    expect(passes(filter, roomStarted({ name: 'green-room' }))).toBe(false);
  });

  it('requires every entry to hold', () => {
    const filter = { 'room.name': 'session-*', 'room.metadataJson.plan': 'pro' };
    expect(passes(filter, roomStarted({ metadataJson: { plan: 'pro' } }))).toBe(true);
    expect(passes(filter, roomStarted({ metadataJson: { plan: 'free' } }))).toBe(false);
  });

  it('matches a number against the int64 string LiveKit sends, and against a number', () => {
    expect(passes({ 'room.creationTime': 1763856000 }, roomStarted({ creationTime: '1763856000' }))).toBe(true);
    expect(passes({ 'room.emptyTimeout': 300 }, roomStarted({ emptyTimeout: 300 }))).toBe(true);
    expect(passes({ 'room.emptyTimeout': 300 }, roomStarted({ emptyTimeout: 301 }))).toBe(false);
    expect(passes({ 'room.emptyTimeout': '300' }, roomStarted({ emptyTimeout: 300 }))).toBe(true);
  });

  it('matches a boolean against true/false and their string forms', () => {
    const context = roomStarted({}, { participant: { permission: { canPublish: true }, isPublisher: 'true' } });
    expect(passes({ 'participant.permission.canPublish': true }, context)).toBe(true);
    expect(passes({ 'participant.isPublisher': true }, context)).toBe(true);
    expect(passes({ 'participant.permission.canPublish': false }, context)).toBe(false);
  });

  it('treats null as "absent or null", and a missing path as failing every other pattern', () => {
    expect(passes({ 'room.metadata': null }, roomStarted())).toBe(true);
    expect(passes({ 'room.metadata': null }, roomStarted({ metadata: null }))).toBe(true);
    expect(passes({ 'room.metadata': null }, roomStarted({ metadata: '{}' }))).toBe(false);
    expect(passes({ 'participant.identity': '*' }, roomStarted())).toBe(false);
    expect(passes({ 'participant.identity': ['alice', null] }, roomStarted())).toBe(true);
  });

  it('indexes arrays with numeric segments', () => {
    const context = roomStarted({}, { egressInfo: { fileResults: [{ filename: 'a.mp4' }, { filename: 'b.ogg' }] } });
    expect(passes({ 'egressInfo.fileResults.1.filename': '*.ogg' }, context)).toBe(true);
    expect(passes({ 'egressInfo.fileResults.2.filename': null }, context)).toBe(true);
  });

  it('never matches a string pattern against an object', () => {
    expect(passes({ room: '*' }, roomStarted())).toBe(false);
  });

  it('does not read inherited properties', () => {
    expect(passes({ 'room.constructor': null }, roomStarted())).toBe(true);
    expect(passes({ 'room.name.length': 10 }, roomStarted())).toBe(false);
  });
});
