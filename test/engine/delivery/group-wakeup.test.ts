/**
 * The deliveries of one ordering group run back to back: when one finishes, the group's next is claimed at once, in
 * this process and on another replica, not at the worker's next poll. The poll here is a minute: every delivery
 * arriving within the test's timeout can only have been woken.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createTestSchema, requirePostgres, SKIP_POSTGRES, type TestSchema } from '../../helpers/postgres.ts';
import { ok, startReceiver, type Behaviour, type Receiver } from '../../helpers/receivers.ts';
import { sampleBody, startTestSwitchboard, type TestSwitchboard } from '../../helpers/switchboard.ts';

const EVENTS = 12;
const SLOW_POLL = { WORKER_POLL_INTERVAL: '60s', CIRCUIT_FAILURES: '1000', CIRCUIT_MIN_ATTEMPTS: '1000' };

function forwardRule(url: string): string {
  return `rules:
  - id: forward
    on: participant_joined
    actions:
      - plugin: http
        mode: async
        with: { url: "${url}/hook" }
`;
}

const joinOf = (i: number) => sampleBody('participant_joined', { id: `EV_join${i}`, participant: { identity: `attendee-${i}`, sid: `PA_attendee${i}` } });
const joinIds = Array.from({ length: EVENTS }, (_, i) => `EV_join${i}`);

function deliveredIds(receiver: Receiver): string[] {
  return receiver.requests.map((request) => JSON.parse(request.body).id as string);
}

function latch(): { queued: Promise<void>; allQueued: () => void } {
  let allQueued!: () => void;
  const queued = new Promise<void>((resolve) => (allQueued = resolve));
  return { queued, allQueued };
}

/** Answers every delivery at once, but the first only once `queued` resolves, after calling `before`. */
function answerFirstOnce(queued: Promise<void>, before: () => void): Behaviour {
  return (request, response, incoming) => {
    if (JSON.parse(request.body).id !== 'EV_join0') return ok()(request, response, incoming);
    void queued.then(() => {
      before();
      response.writeHead(200).end('{}');
    });
  };
}

describe('deliveries of one room', () => {
  let receiver: Receiver | undefined;
  let replicas: TestSwitchboard[] = [];
  let schema: TestSchema | undefined;
  afterEach(async () => {
    await Promise.all(replicas.map((replica) => replica.stop()));
    replicas = [];
    await receiver?.close();
    await schema?.drop();
    schema = undefined;
  });

  it('run one after another without waiting for the poll (SQLite, one process)', async () => {
    const { queued, allQueued } = latch();
    // The first is answered once all are queued, so that none of the others can be handed to the worker at ingest.
    receiver = await startReceiver(answerFirstOnce(queued, () => undefined));
    const sb = await startTestSwitchboard({ rules: { 'forward.yaml': forwardRule(receiver.url) }, settings: SLOW_POLL });
    replicas.push(sb);
    for (let i = 0; i < EVENTS; i++) expect((await sb.deliver(joinOf(i))).status).toBe(200);
    allQueued();
    await vi.waitFor(() => expect(receiver!.count).toBe(EVENTS), { timeout: 15_000, interval: 20 });
    expect(deliveredIds(receiver)).toEqual(joinIds);
  });

  it.skipIf(SKIP_POSTGRES)('wake the other replica when one finishes a delivery of the group (PostgreSQL)', async () => {
    await requirePostgres();
    schema = await createTestSchema();
    const { queued, allQueued } = latch();
    let first: TestSwitchboard;
    // The first delivery runs on the replica that took the webhooks, whose worker then stops: every later one can
    // only run on the other replica, woken by the first's completion.
    receiver = await startReceiver(answerFirstOnce(queued, () => void first.worker.stop(10_000)));
    const settings = { ...SLOW_POLL, DATABASE_URL: `${schema.url}&pool_size=4` };
    const rules = { 'forward.yaml': forwardRule(receiver.url) };
    const second = await startTestSwitchboard({ rules, settings });
    replicas.push(second);
    first = await startTestSwitchboard({ rules, settings });
    replicas.push(first);
    for (let i = 0; i < EVENTS; i++) expect((await first.deliver(joinOf(i))).status).toBe(200);
    allQueued();
    await vi.waitFor(() => expect(receiver!.count).toBe(EVENTS), { timeout: 15_000, interval: 20 });
    expect(deliveredIds(receiver)).toEqual(joinIds);
    expect(first.worker.running).toBe(false);
  });
});
