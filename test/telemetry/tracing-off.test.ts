/** Tracing off (no SDK registered in this process): nothing of a trace is made, stored, sent or logged. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { startReceiver, type Receiver } from '../helpers/receivers.ts';
import { sampleBody, startTestSwitchboard, type TestSwitchboard } from '../helpers/switchboard.ts';

const forward = (url: string) => ({
  'forward.yaml': `rules:
  - id: forward
    on: room_started
    actions:
      - plugin: http
        with: { url: "${url}/hook" }
`,
});

describe('without tracing', () => {
  let sb: TestSwitchboard;
  let receiver: Receiver;
  afterEach(async () => {
    await sb?.stop();
    await receiver?.close();
  });

  it('sends no traceparent and writes no trace ids', async () => {
    receiver = await startReceiver();
    sb = await startTestSwitchboard({ rules: forward(receiver.url), settings: { WORKER_POLL_INTERVAL: '20ms' } });
    await sb.deliver(sampleBody('room_started'));
    await vi.waitFor(() => expect(receiver.count).toBe(1), { timeout: 10_000, interval: 20 });
    expect(receiver.requests[0].headers.traceparent).toBeUndefined();
    await vi.waitFor(() => expect(sb.logs.some((line) => line.msg === 'delivery attempt')).toBe(true));
    expect(sb.logs.filter((line) => 'trace_id' in line)).toEqual([]);
    const [delivery] = (await sb.store.listDeliveries({}, { limit: 1 })).items;
    expect(delivery.traceContext).toBeUndefined();
  });
});
