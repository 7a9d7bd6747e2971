/**
 * Poison events: end users choose participant metadata, identities and room names, so no value in an event may
 * keep that event from being recorded. A failure to prepare or queue one action fails that action alone.
 */
import { createHash, randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { createTestSchema, requirePostgres, SKIP_POSTGRES, type TestSchema } from '../helpers/postgres.ts';
import { sampleBody, startTestSwitchboard, type TestSwitchboard } from '../helpers/switchboard.ts';

const RULES = {
  'poison.yaml': `rules:
  - id: forward
    on: participant_joined
    actions:
      - plugin: http
        mode: async
        ordering: "{{ room.name }}"
        with: { url: "http://127.0.0.1:9/hooks", body: { meta: "{{ participant.metadataJson }}", room: "{{ room.name }}" } }
  - id: forward-room
    on: room_started
    actions:
      - plugin: http
        mode: async
        with: { url: "http://127.0.0.1:9/hooks", body: "{{ room }}" }
      - plugin: status
        with: { key: "{{ room.name }}", status: live }
  - id: mark-live
    on: participant_joined
    actions:
      - plugin: status
        with: { key: "{{ room.name }}", status: live }
`,
};

/** A participant_joined whose room and participant carry what a hostile client chose. */
function joined(change: { metadata?: string; room?: string; id?: string; identity?: string }): string {
  const body = JSON.parse(sampleBody('participant_joined'));
  if (change.metadata !== undefined) body.participant.metadata = change.metadata;
  if (change.identity !== undefined) body.participant.identity = change.identity;
  if (change.room !== undefined) body.room.name = change.room;
  if (change.id !== undefined) {
    body.id = change.id;
    // A participant of its own: one join per participant sid runs its rules.
    body.participant.sid = `PA_${createHash('sha256').update(change.id).digest('hex').slice(0, 12)}`;
  }
  return JSON.stringify(body);
}

const deepArrays = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);

const backends: [string, boolean][] = [
  ['SQLite', false],
  ['PostgreSQL', true],
];

describe.each(backends)('poison events on %s', (_name, postgres) => {
  let sb: TestSwitchboard | undefined;
  let schema: TestSchema | undefined;
  afterEach(async () => {
    await sb?.stop();
    await schema?.drop();
    sb = undefined;
    schema = undefined;
  });

  async function start() {
    const settings: Record<string, string> = { WORKER_CONCURRENCY: '0' };
    if (postgres) {
      await requirePostgres();
      schema = await createTestSchema();
      settings.DATABASE_URL = schema.url;
    }
    sb = await startTestSwitchboard({ rules: RULES, settings });
    return sb;
  }

  it.skipIf(postgres && SKIP_POSTGRES)('records an event whose participant metadata nests 4,500 arrays, and runs its other rules', async () => {
    const sb = await start();
    const { status, json } = await sb.deliver(joined({ metadata: deepArrays(4_500) }));
    expect(status).toBe(200);
    expect(json.results.duplicate).toBe(false);
    const byRule = Object.fromEntries(json.results.actions.map((action: { rule: string }) => [action.rule, action]));
    expect(byRule['mark-live']).toMatchObject({ status: 'succeeded' });
    // Too deep to be parsed for rules: metadataJson is absent, so the action is queued without it.
    expect(byRule.forward).toMatchObject({ status: 'queued' });
    const stored = await sb.admin(`/api/v1/events/${encodeURIComponent(json.results.event_id)}`);
    expect(stored.status).toBe(200);
    const deliveries = await sb.admin('/api/v1/deliveries');
    expect(deliveries.status).toBe(200);
  });

  it.skipIf(postgres && SKIP_POSTGRES)('records an event whose room name, used as ordering and session key, holds a NUL', async () => {
    const sb = await start();
    const { status, json } = await sb.deliver(joined({ room: 'session-\u0000-7' }));
    expect(status).toBe(200);
    expect(json.results.actions.map((action: { status: string }) => action.status).sort()).toEqual(['queued', 'succeeded']);
    const again = await sb.deliver(joined({ room: 'session-\u0000-7' }));
    expect(again.json.results.duplicate).toBe(true);
  });

  it.skipIf(postgres && SKIP_POSTGRES)('records an event whose id holds a NUL, and knows it again', async () => {
    const sb = await start();
    const { status, json } = await sb.deliver(joined({ id: 'EV_\u0000x' }));
    expect(status).toBe(200);
    expect(json.results.duplicate).toBe(false);
    const again = await sb.deliver(joined({ id: 'EV_\u0000x' }));
    expect(again.json.results.duplicate).toBe(true);
  });

  it.skipIf(postgres && SKIP_POSTGRES)('fails only the action whose params nest too deep, records the event and shows it', async () => {
    const sb = await start();
    // Spliced in as text: JSON.stringify itself overflows on such a value.
    const body = sampleBody('room_started').replace(/"room":\s*\{/, `"room":{"extra":${deepArrays(4_500)},`);
    const { status, json } = await sb.deliver(body);
    expect(status).toBe(200);
    expect(json.results.actions).toEqual([
      { rule: 'forward-room', plugin: 'http', status: 'failed', error: { code: 'E_ACTION_PARAMS_INVALID', message: expect.stringContaining('deep') } },
      expect.objectContaining({ rule: 'forward-room', plugin: 'status', status: 'succeeded' }),
    ]);
    const stored = await sb.admin(`/api/v1/events/${encodeURIComponent(json.results.event_id)}`);
    expect(stored.status).toBe(200);
    expect(stored.json.results.actions[0].error.code).toBe('E_ACTION_PARAMS_INVALID');
    expect(stored.json.results.payload).toBe(body);
  });

  it.skipIf(postgres && SKIP_POSTGRES)('queues a delivery whose ordering key, a room name, is longer than an index entry holds', async () => {
    const sb = await start();
    const long = randomBytes(5_000).toString('hex');
    const first = await sb.deliver(joined({ room: long, id: 'EV_long_1' }));
    const second = await sb.deliver(joined({ room: long, id: 'EV_long_2' }));
    for (const { status, json } of [first, second]) {
      expect(status).toBe(200);
      expect(json.results.actions.find((action: { rule: string }) => action.rule === 'forward').status).toBe('queued');
    }
    const ids = [first, second].map(({ json }) => json.results.actions.find((action: { rule: string }) => action.rule === 'forward').result.delivery_id);
    const [a, b] = await Promise.all(ids.map((id: number) => sb.store.getDelivery(id)));
    expect(a?.orderingKey).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(b?.orderingKey).toBe(a?.orderingKey);
  });
});
