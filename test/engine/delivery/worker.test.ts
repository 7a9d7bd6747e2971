import { Webhook } from 'standardwebhooks';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { openStore } from '../../../src/store/open.ts';
import type { Delivery } from '../../../src/store/store.ts';
import { failTimes, hang, ok, startReceiver, status, type Receiver } from '../../helpers/receivers.ts';
import { sampleBody, startTestSwitchboard, type TestSwitchboard } from '../../helpers/switchboard.ts';

const FAST = {
  WORKER_POLL_INTERVAL: '20ms',
  CIRCUIT_FAILURES: '1000',
  CIRCUIT_MIN_ATTEMPTS: '1000',
};

function forwardRule(url: string, extra = '', id = 'forward') {
  return `rules:
  - id: ${id}
    on: "*"
    actions:
      - plugin: http
        mode: async
        retry: { attempts: 3, schedule: [0, 50ms] }
${extra}
        with: { url: "${url}/hook" }
`;
}

const DEAD_LETTER_RULE = `rules:
  - id: on-dead
    on: switchboard.delivery_dead
    actions:
      - plugin: status
        with: { key: "dead/{{ delivery.ruleId }}/{{ room.name }}", status: "{{ delivery.lastError.code }}" }
`;

describe('async delivery', () => {
  let sb: TestSwitchboard;
  let receiver: Receiver;
  afterEach(async () => {
    await sb?.stop();
    await receiver?.close();
  });

  async function start(behaviour: Parameters<typeof startReceiver>[0], rules: (url: string) => Record<string, string>, settings = {}) {
    receiver = await startReceiver(behaviour);
    sb = await startTestSwitchboard({ rules: rules(receiver.url), settings: { ...FAST, ...settings } });
  }

  async function queued(body: string): Promise<number> {
    const { json } = await sb.deliver(body);
    const action = json.results.actions.find((a: { status: string }) => a.status === 'queued');
    return action.result.delivery_id;
  }

  async function settled(id: number, state: Delivery['state']) {
    return vi.waitFor(
      async () => {
        const delivery = await sb.store.getDelivery(id);
        expect(delivery?.state).toBe(state);
        return delivery!;
      },
      { timeout: 10_000, interval: 20 },
    );
  }

  it('answers the webhook with the action queued, then delivers the event as received', async () => {
    await start(ok(), (url) => ({ 'forward.yaml': forwardRule(url) }));
    const body = sampleBody('room_started');
    const { json } = await sb.deliver(body);
    expect(json.results.actions).toEqual([
      { rule: 'forward', plugin: 'http', status: 'queued', result: { delivery_id: expect.any(Number) } },
    ]);
    const delivery = await settled(json.results.actions[0].result.delivery_id, 'succeeded');
    expect(delivery.attempts).toBe(1);
    expect(receiver.requests.map((r) => r.body)).toEqual([body]);
  });

  it('retries a failing target until it succeeds, keeping one webhook-id across attempts', async () => {
    await start(failTimes(2, 503), (url) => ({ 'forward.yaml': forwardRule(url) }));
    const delivery = await settled(await queued(sampleBody('room_started')), 'succeeded');
    expect(delivery.attempts).toBe(3);
    expect(delivery.attemptLog.map((a) => [a.number, a.statusCode, a.succeeded])).toEqual([
      [1, 503, false],
      [2, 503, false],
      [3, 200, true],
    ]);
    expect(new Set(receiver.requests.map((r) => r.headers['idempotency-key'])).size).toBe(1);
  });

  it('makes a delivery dead after its last attempt and emits switchboard.delivery_dead to the rules', async () => {
    await start(status(500), (url) => ({ 'forward.yaml': forwardRule(url), 'dead.yaml': DEAD_LETTER_RULE }));
    const delivery = await settled(await queued(sampleBody('room_started')), 'dead');
    expect(delivery.attempts).toBe(3);
    expect(delivery.lastError).toMatchObject({ code: 'E_HTTP_500' });
    expect(receiver.count).toBe(3);
    const session = await vi.waitFor(async () => {
      const found = await sb.store.getSession('dead/forward/session-42');
      expect(found).not.toBeNull();
      return found!;
    });
    expect(session.status).toBe('E_HTTP_500');
  });

  it('makes a delivery dead at once on a permanent failure, with the reason', async () => {
    await start(status(404), (url) => ({ 'forward.yaml': forwardRule(url) }));
    const delivery = await settled(await queued(sampleBody('room_started')), 'dead');
    expect(delivery.attempts).toBe(1);
    expect(delivery.lastError?.code).toBe('E_HTTP_404');
  });

  it('disables a target that answers 410 and sends it nothing more until it is enabled', async () => {
    await start(status(410), (url) => ({ 'forward.yaml': forwardRule(url) }));
    const first = await settled(await queued(sampleBody('room_started')), 'dead');
    expect(first.lastError?.code).toBe('E_HTTP_410');
    const targets = await sb.store.listTargets();
    expect(targets).toEqual([expect.objectContaining({ target: receiver.url, disabled: true })]);

    receiver.behave(ok());
    const second = await queued(sampleBody('room_finished'));
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect((await sb.store.getDelivery(second))?.state).toBe('pending');
    expect(receiver.count).toBe(1);

    await sb.store.transaction((tx) => tx.setTargetDisabled(receiver.url, false, null));
    sb.worker.wake();
    await settled(second, 'succeeded');
  });

  it('honours Retry-After within the schedule', async () => {
    await start(failTimes(1, status(429, { 'Retry-After': '2' })), (url) => ({
      'forward.yaml': forwardRule(url, '        retry: { attempts: 3, schedule: [0, 1s, 10s] }').replace(
        '        retry: { attempts: 3, schedule: [0, 50ms] }\n',
        '',
      ),
    }));
    const id = await queued(sampleBody('room_started'));
    const waiting = await settled(id, 'failed-waiting-retry');
    const [attempt] = waiting.attemptLog;
    expect(attempt.statusCode).toBe(429);
    const wait = waiting.dueAt.getTime() - attempt.startedAt.getTime() - attempt.durationMs;
    expect(wait).toBeGreaterThanOrEqual(1900);
    expect(wait).toBeLessThanOrEqual(2100);
  });

  it('opens the circuit and sends the target nothing while it is open, without consuming attempts', async () => {
    await start(status(503), (url) => ({ 'forward.yaml': forwardRule(url, '        ordering: none') }), {
      CIRCUIT_FAILURES: '2',
      CIRCUIT_RESET: '60s',
    });
    for (let i = 0; i < 2; i++) await queued(sampleBody('room_started', { id: `EV_trip${i}`, room: { sid: `RM_trip${i}` } }));
    await vi.waitFor(() => expect(sb.guards.snapshot()[0]?.circuit).toBe('open'), { timeout: 5000, interval: 20 });
    const callsWhenOpened = receiver.count;

    const held = [];
    for (let i = 0; i < 3; i++) held.push(await queued(sampleBody('room_started', { id: `EV_held${i}`, room: { sid: `RM_held${i}` } })));
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(receiver.count).toBe(callsWhenOpened);
    for (const id of held) expect(await sb.store.getDelivery(id)).toMatchObject({ state: 'pending', attempts: 0 });
  });

  it('runs the deliveries of one room in event order, even when the first needs retries', async () => {
    let failuresLeft = 2;
    await start(
      (request, response) => {
        if (JSON.parse(request.body).id === 'EV_order0' && failuresLeft-- > 0) response.writeHead(500).end();
        else response.writeHead(200).end('{}');
      },
      (url) => ({ 'forward.yaml': forwardRule(url) }),
    );
    const ids = [];
    for (let i = 0; i < 4; i++) ids.push(await queued(sampleBody('participant_joined', { id: `EV_order${i}`, participant: { sid: `PA_order${i}` } })));
    for (const id of ids) await settled(id, 'succeeded');
    const delivered = receiver.requests.map((r) => JSON.parse(r.body).id);
    expect(delivered).toEqual(['EV_order0', 'EV_order0', 'EV_order0', 'EV_order1', 'EV_order2', 'EV_order3']);
  });

  it('never lets a failing room hold up another room', async () => {
    await start(
      (request, response) => {
        if (JSON.parse(request.body).room?.name === 'stuck-room') response.writeHead(500).end();
        else response.writeHead(200).end('{}');
      },
      (url) => ({
        'forward.yaml': forwardRule(url, '').replace('schedule: [0, 50ms]', 'schedule: [0, 60s]'),
      }),
    );
    const stuck = await queued(sampleBody('room_started', { id: 'EV_stuck0', room: { name: 'stuck-room', sid: 'RM_stuck' } }));
    const stuckNext = await queued(sampleBody('room_finished', { id: 'EV_stuck1', room: { name: 'stuck-room', sid: 'RM_stuck' } }));
    await settled(stuck, 'failed-waiting-retry');
    const others = [];
    for (let i = 0; i < 3; i++) others.push(await queued(sampleBody('room_started', { id: `EV_free${i}`, room: { name: `free-${i}`, sid: `RM_free${i}` } })));
    for (const id of others) await settled(id, 'succeeded');
    expect((await sb.store.getDelivery(stuckNext))?.state).toBe('pending');
  });

  it('signs with Standard Webhooks so the official verifier accepts what arrives', async () => {
    const secret = `whsec_${Buffer.from('switchboard-test-signing-key-0123456789').toString('base64')}`;
    await start(failTimes(1, 500), (url) => ({
      'forward.yaml': forwardRule(url).replace(
        `with: { url: "${url}/hook" }`,
        `with: { url: "${url}/hook", sign: { scheme: standard-webhooks, secret: "${secret}" } }`,
      ),
    }));
    await settled(await queued(sampleBody('room_started')), 'succeeded');
    const verifier = new Webhook(secret);
    for (const request of receiver.requests) {
      expect(() => verifier.verify(request.body, request.headers as Record<string, string>)).not.toThrow();
    }
    expect(new Set(receiver.requests.map((r) => r.headers['webhook-id'])).size).toBe(1);
  });

  it('on shutdown lets a running attempt go at the deadline and gives its delivery back unconsumed', async () => {
    await start(hang, (url) => ({ 'forward.yaml': forwardRule(url, '        timeout: 60s') }), { SHUTDOWN_TIMEOUT: '200ms' });
    const id = await queued(sampleBody('room_started'));
    await vi.waitFor(() => expect(receiver.count).toBe(1), { timeout: 5000, interval: 20 });
    await sb.close();
    const reopened = await openStore(sb.databaseUrl);
    try {
      const delivery = await reopened.getDelivery(id);
      expect(delivery).toMatchObject({ state: 'pending', attempts: 0, leaseOwner: null });
    } finally {
      await reopened.close();
    }
  });

  it('answers webhooks with 503 while it drains on shutdown, so LiveKit retries them', async () => {
    await start(hang, (url) => ({ 'forward.yaml': forwardRule(url, '        timeout: 60s') }), { SHUTDOWN_TIMEOUT: '1s' });
    await queued(sampleBody('room_started'));
    await vi.waitFor(() => expect(receiver.count).toBe(1), { timeout: 5000, interval: 20 });
    const closing = sb.close();
    const { status: code, json } = await sb.deliver(sampleBody('room_finished'));
    await closing;
    expect(code).toBe(503);
    expect(json.errcode).toBe('E_SHUTTING_DOWN');
  });
});
