import { describe, expect, it } from 'vitest';
import { Cancellation } from '../../src/engine/action-deadline.ts';
import { pluginContext, prepareContext, type ActionParts } from '../../src/engine/run-action.ts';
import { sampleEvent } from '../../src/livekit/samples.ts';
import { createLogger } from '../../src/telemetry/logger.ts';
import type { UsageLedger } from '../../src/plugins/contract.ts';

function partsWithLogLines(): { parts: ActionParts; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const log = createLogger({ level: 'info', destination: { write: (line: string) => lines.push(JSON.parse(line)) } });
  const event = sampleEvent('room_started', { room: 'session-1' })!;
  const parts: ActionParts = {
    event,
    eventId: event.id!,
    ruleId: 'session-live',
    actionIndex: 0,
    mode: 'inline',
    log,
    logFields: { trace_id: 'abc' },
  };
  return { parts, lines };
}

const transition = () => Promise.reject(new Error('not used'));

describe('the context a plugin call gets', () => {
  it('names the action and its event', () => {
    const { parts } = partsWithLogLines();
    const ctx = pluginContext({ ...parts, attempt: 2, transition }, new Cancellation());
    expect(ctx).toMatchObject({
      eventId: parts.eventId,
      eventName: 'room_started',
      rule: { id: 'session-live' },
      mode: 'inline',
      attempt: 2,
      idempotencyKey: `${parts.eventId}/session-live/0`,
    });
    expect(ctx.event).toBe(parts.event);
  });

  it('logs through one child logger naming the rule, the event and the trace', () => {
    const { parts, lines } = partsWithLogLines();
    const ctx = pluginContext({ ...parts, attempt: 1, transition }, new Cancellation());
    expect(ctx.log).toBe(ctx.log);
    ctx.log.info({ step: 1 }, 'hello');
    expect(lines).toEqual([expect.objectContaining({ msg: 'hello', step: 1, rule: 'session-live', event_id: parts.eventId, trace_id: 'abc' })]);
  });

  it('gives a signal that aborts with the call, also when asked for after the call ended', () => {
    const { parts } = partsWithLogLines();
    const running = new Cancellation();
    const ctx = pluginContext({ ...parts, attempt: 1, transition }, running);
    const signal = ctx.signal;
    expect(signal.aborted).toBe(false);
    running.abort(new Error('time is up'));
    expect(signal.aborted).toBe(true);

    const ended = new Cancellation();
    ended.abort(new Error('finished'));
    expect(pluginContext({ ...parts, attempt: 1, transition }, ended).signal.aborted).toBe(true);
  });

  it('refuses a session transition once the call was cancelled', async () => {
    const { parts } = partsWithLogLines();
    const cancel = new Cancellation();
    const applied = { key: 'k', old_status: 'ready', new_status: 'live', applied: true } as const;
    const ctx = pluginContext({ ...parts, attempt: 1, transition: () => Promise.resolve(applied) }, cancel);
    await expect(ctx.sessions.transition({ key: 'k', status: 'live' })).resolves.toEqual(applied);
    cancel.abort(new Error('time is up'));
    expect(() => ctx.sessions.transition({ key: 'k', status: 'live' })).toThrow('time is up');
  });

  it('passes recorded responses on, even when called detached from the context', () => {
    const { parts } = partsWithLogLines();
    const recorded: unknown[] = [];
    const { recordResponse } = pluginContext({ ...parts, attempt: 1, transition, recordResponse: (response) => recorded.push(response) }, new Cancellation());
    recordResponse({ status: 200, body: 'ok' });
    expect(recorded).toEqual([{ status: 200, body: 'ok' }]);
  });

  it('has no accessors of its own, which would give every context a hidden class of its own (docs/decisions/0006-plugin-context-shared-prototype.md)', () => {
    const { parts } = partsWithLogLines();
    const contexts = [
      pluginContext({ ...parts, attempt: 1, transition }, new Cancellation()),
      pluginContext({ ...parts, attempt: 2, transition }, new Cancellation()),
      prepareContext(parts, new Cancellation(), {} as UsageLedger),
    ];
    for (const ctx of contexts) {
      const accessors = Object.entries(Object.getOwnPropertyDescriptors(ctx)).filter(([, descriptor]) => 'get' in descriptor);
      expect(accessors).toEqual([]);
    }
    expect(Object.getPrototypeOf(contexts[0])).toBe(Object.getPrototypeOf(contexts[2]));
  });

  it('offers prepare the usage ledger beside the same action fields', () => {
    const { parts } = partsWithLogLines();
    const usage: UsageLedger = { record: () => Promise.resolve() } as unknown as UsageLedger;
    const ctx = prepareContext(parts, new Cancellation(), usage);
    expect(ctx.usage).toBe(usage);
    expect(ctx.idempotencyKey).toBe(`${parts.eventId}/session-live/0`);
    expect(ctx.log).toBe(ctx.log);
  });
});
