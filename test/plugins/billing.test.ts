import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import billing, { type BillingParams, type UsageReport } from '../../plugins/billing.ts';
import type { ReportedUsage } from '../../plugins/billing/providers.ts';
import { registryFromDefinitions } from '../../src/plugins/registry.ts';
import type { LiveKitEvent } from '../../src/livekit/event-types.ts';
import {
  PermanentError,
  RetryableError,
  type AttemptResponse,
  type PluginContext,
  type PrepareContext,
  type UsageRecord,
} from '../../src/plugins/contract.ts';
import { always, inTurn, startBillingReceiver, type BillingReceiver } from '../helpers/billing-receiver.ts';
import { refusingUrl } from '../helpers/receivers.ts';
import { sampleBody, startTestSwitchboard, type TestSwitchboard } from '../helpers/switchboard.ts';
import { problemsOf } from '../rules/helpers.ts';
import { compileRuleSources } from '../../src/rules/compile.ts';
import { deliveryWhen } from '../server/fixtures/deliveries.ts';

/**
 * The billing plugin: its load-time checks, `prepare` with a ledger, `run` against a billing receiver on loopback,
 * and the whole path through a running Switchboard.
 */
const SECRET = 'sk_test_billing';
const LEFT = JSON.parse(sampleBody('participant_left')) as LiveKitEvent;
const ignore = () => {};
const log = { debug: ignore, info: ignore, warn: ignore, error: ignore };

const USAGE: ReportedUsage = {
  identifier: 'usage_abc',
  customer: 'cus_123',
  meter: 'participant_minutes',
  quantity: 10,
  unit: 'minutes',
  occurredAt: '2025-11-23T00:10:05.000Z',
  eventId: 'EV_xplcpdse8jax',
  eventName: 'participant_left',
  ruleId: 'bill',
};

function prepareContext(event: LiveKitEvent = LEFT): { ctx: PrepareContext; recorded: UsageRecord[] } {
  const recorded: UsageRecord[] = [];
  const ctx: PrepareContext = {
    event,
    eventId: event.id!,
    eventName: event.event,
    rule: { id: 'bill' },
    mode: 'async',
    idempotencyKey: `${event.id}/bill/0`,
    signal: new AbortController().signal,
    log,
    usage: {
      async record(usage) {
        recorded.push(usage);
        return { identifier: `usage_${recorded.length}` };
      },
    },
  };
  return { ctx, recorded };
}

function runContext(): { ctx: PluginContext; responses: AttemptResponse[] } {
  const responses: AttemptResponse[] = [];
  const ctx: PluginContext = {
    ...prepareContext().ctx,
    attempt: 1,
    recordResponse: (response) => responses.push(response),
    sessions: { transition: () => Promise.reject(new Error('billing has no business with sessions')) },
  };
  return { ctx, responses };
}

const stripe = (receiver: BillingReceiver): UsageReport => ({
  provider: { provider: 'stripe', secretKey: SECRET, baseUrl: receiver.url },
  usage: USAGE,
});

describe('billing params as written in a rule', () => {
  const check = (params: Record<string, unknown>) => billing.check!(params);
  const base = { measure: 'participant_minutes', customer: '{{ room.metadataJson.customer }}', provider: 'stripe', secretKey: SECRET };

  it('accepts a measure billed to a templated customer', () => {
    expect(check(base)).toEqual([]);
    expect(check({ ...base, unit: 'seconds', round: 'nearest', meter: 'video_minutes' })).toEqual([]);
  });

  it('wants either a measure or a quantity', () => {
    const { measure: _, ...neither } = base;
    expect(check(neither)).toContainEqual(expect.stringMatching(/^give either measure .* or quantity .*, not neither$/));
    expect(check({ ...base, quantity: 3 })).toContainEqual(expect.stringMatching(/not both$/));
  });

  it('wants a meter and a unit for a quantity', () => {
    const { measure: _, ...rest } = base;
    expect(check({ ...rest, quantity: { $logic: { '+': [1, 2] } } })).toEqual([
      'meter is required with quantity: it names what is billed',
      'unit is required with quantity: it labels the number in the ledger',
    ]);
    expect(check({ ...rest, quantity: { $logic: { '+': [1, 2] } }, meter: 'recordings', unit: 'files' })).toEqual([]);
  });

  it('measures durations in seconds or minutes only', () => {
    expect(check({ ...base, unit: 'hours' })).toEqual(['unit of a measure must be seconds or minutes, not "hours"']);
  });

  it('wants to know who is billed', () => {
    const { customer: _, ...rest } = base;
    expect(check(rest)).toEqual(['customer is required: who is billed, e.g. "{{ room.metadataJson.customer }}"']);
  });

  it('refuses templates where event data would choose what is billed, where, or with which key', () => {
    expect(check({ ...base, secretKey: '{{ room.metadata }}', meter: '{{ room.name }}' })).toEqual([
      'meter must be written literally: event data cannot choose what is billed where',
      'secretKey must be written literally: event data cannot choose what is billed where',
    ]);
    expect(check({ provider: 'http', url: 'https://billing.example.com/{{ room.name }}', measure: 'room_minutes', customer: 'c' })).toEqual([
      'url must be written literally: event data cannot choose what is billed where',
    ]);
  });

  it('refuses the settings of the other provider', () => {
    expect(check({ ...base, url: 'https://billing.example.com', cloudevents: true })).toEqual([
      'url is not a setting of provider stripe',
      'cloudevents is not a setting of provider stripe',
    ]);
    expect(check({ measure: 'room_minutes', customer: 'c', provider: 'http', url: 'https://b.example.com', secretKey: 'x' })).toEqual([
      'secretKey is not a setting of provider http',
    ]);
  });

  it('refuses URLs that cannot be called, headers it writes itself, and CloudEvents attributes without CloudEvents', () => {
    const http = { measure: 'room_minutes', customer: 'c', provider: 'http' };
    expect(check({ ...http, url: 'ftp://billing.example.com' })).toEqual(['url: only http: and https: URLs can be called, not ftp:']);
    expect(check({ ...base, baseUrl: 'https://user:pw@api.example.com' })[0]).toMatch(/^baseUrl: a URL must not carry credentials/);
    expect(check({ ...http, url: 'https://b.example.com', headers: { 'Idempotency-Key': 'x', Authorization: 'Bearer t' } })).toEqual([
      'headers.Idempotency-Key cannot be set: the billing plugin writes it',
    ]);
    expect(check({ ...http, url: 'https://b.example.com', source: 'me' })).toEqual(['source and type are CloudEvents attributes: set cloudevents: true']);
  });

  it('runs async only: a rule asking for inline is refused at load', () => {
    const problems = problemsOf(() =>
      compileRuleSources({
        sources: [
          {
            file: 'billing.yaml',
            text: `rules:
  - id: bill
    on: participant_left
    actions:
      - plugin: billing
        mode: inline
        with: { measure: participant_minutes, customer: c, provider: stripe, secretKey: sk }
`,
          },
        ],
        plugins: registryFromDefinitions([billing]).specs(),
        env: {},
      }),
    );
    expect(problems).toEqual([expect.objectContaining({ line: 6, message: 'plugin "billing" runs only async, not inline' })]);
  });
});

describe('billing prepare', () => {
  const params: BillingParams = { measure: 'participant_minutes', customer: ' cus_123 ', provider: 'stripe', secretKey: SECRET };

  it('measures the event, records the usage, and returns what the delivery reports', async () => {
    const { ctx, recorded } = prepareContext();
    const report = await billing.prepare!(params, ctx);
    expect(recorded).toEqual([
      { customer: 'cus_123', meter: 'participant_minutes', quantity: 10, unit: 'minutes', occurredAt: new Date('2025-11-23T00:10:05.000Z') },
    ]);
    expect(report).toEqual({ provider: { provider: 'stripe', secretKey: SECRET }, usage: { ...USAGE, identifier: 'usage_1' } });
  });

  it('takes a quantity the rule computed, rounded, under its own meter and unit', async () => {
    const { ctx, recorded } = prepareContext();
    const { measure: _, ...rest } = params;
    await billing.prepare!({ ...rest, quantity: 2.2, meter: 'recordings', unit: 'files', round: 'down' }, ctx);
    expect(recorded).toEqual([expect.objectContaining({ meter: 'recordings', quantity: 2, unit: 'files' })]);
  });

  it('records nothing for an event without a customer', async () => {
    const { ctx, recorded } = prepareContext();
    for (const customer of [undefined, '', '   ']) {
      await expect(billing.prepare!({ ...params, customer }, ctx)).rejects.toMatchObject({
        code: 'E_BILLING_CUSTOMER',
        message: 'customer rendered empty: the event does not say who to bill',
      });
    }
    expect(recorded).toEqual([]);
  });

  it('records nothing when the event cannot be measured, and says why', async () => {
    const { ctx, recorded } = prepareContext({ ...LEFT, participant: { identity: 'alice' } });
    const failure = billing.prepare!(params, ctx);
    await expect(failure).rejects.toBeInstanceOf(PermanentError);
    await expect(failure).rejects.toMatchObject({ code: 'E_BILLING_MEASURE', message: 'the event has no participant.joinedAt' });
    expect(recorded).toEqual([]);
  });
});

describe('billing run against a billing receiver', () => {
  let receiver: BillingReceiver;
  beforeEach(async () => {
    receiver = await startBillingReceiver({ secretKey: SECRET });
  });
  afterEach(() => receiver.close());

  it('posts a Stripe meter event, form-encoded, with the identifier as idempotency key', async () => {
    const { ctx, responses } = runContext();
    expect(await billing.run(stripe(receiver), ctx)).toMatchObject({ status: 200, identifier: 'usage_abc' });
    const [request] = receiver.requests;
    expect(request.path).toBe('/v1/billing/meter_events');
    expect(request.headers).toMatchObject({
      authorization: `Bearer ${SECRET}`,
      'content-type': 'application/x-www-form-urlencoded',
      'idempotency-key': 'usage_abc',
      'user-agent': 'livekit-switchboard',
    });
    expect(Object.fromEntries(new URLSearchParams(request.body))).toEqual({
      event_name: 'participant_minutes',
      'payload[stripe_customer_id]': 'cus_123',
      'payload[value]': '10',
      identifier: 'usage_abc',
      timestamp: '1763856605',
    });
    expect(responses).toEqual([{ status: 200, body: expect.stringContaining('usage_abc') }]);
  });

  it('keeps a base URL’s path, with or without a trailing slash', async () => {
    for (const baseUrl of [`${receiver.url}/stripe`, `${receiver.url}/stripe/`]) {
      await billing.run({ ...stripe(receiver), provider: { provider: 'stripe', secretKey: SECRET, baseUrl } }, runContext().ctx);
    }
    expect(receiver.requests.map((request) => request.path)).toEqual(['/stripe/v1/billing/meter_events', '/stripe/v1/billing/meter_events']);
  });

  it('posts JSON to an http provider, with its headers and the Idempotency-Key', async () => {
    const report: UsageReport = { provider: { provider: 'http', url: `${receiver.url}/usage`, headers: { authorization: 'Bearer t' } }, usage: USAGE };
    await billing.run(report, runContext().ctx);
    const [request] = receiver.requests;
    expect(request.headers).toMatchObject({ authorization: 'Bearer t', 'content-type': 'application/json', 'idempotency-key': 'usage_abc' });
    expect(JSON.parse(request.body)).toEqual({
      identifier: 'usage_abc',
      customer: 'cus_123',
      meter: 'participant_minutes',
      quantity: 10,
      unit: 'minutes',
      occurred_at: '2025-11-23T00:10:05.000Z',
      event: { id: 'EV_xplcpdse8jax', type: 'participant_left' },
      rule: 'bill',
    });
  });

  it('posts a CloudEvents 1.0 structured event when asked', async () => {
    const provider = { provider: 'http' as const, url: `${receiver.url}/usage`, cloudevents: true };
    await billing.run({ provider, usage: USAGE }, runContext().ctx);
    await billing.run({ provider: { ...provider, source: '/video/eu', type: 'com.example.usage' }, usage: USAGE }, runContext().ctx);
    const [plain, custom] = receiver.requests;
    expect(plain.headers['content-type']).toBe('application/cloudevents+json; charset=utf-8');
    expect(JSON.parse(plain.body)).toEqual({
      specversion: '1.0',
      id: 'usage_abc',
      source: 'livekit-switchboard',
      type: 'switchboard.usage',
      subject: 'cus_123',
      time: '2025-11-23T00:10:05.000Z',
      datacontenttype: 'application/json',
      data: expect.objectContaining({ identifier: 'usage_abc', quantity: 10 }),
    });
    expect(JSON.parse(custom.body)).toMatchObject({ source: '/video/eu', type: 'com.example.usage' });
  });

  it('fails retryably on 5xx and timeouts, permanently on other 4xx', async () => {
    receiver.behave(always('fail'));
    await expect(billing.run(stripe(receiver), runContext().ctx)).rejects.toBeInstanceOf(RetryableError);
    receiver.behave(always('hang-after-apply'));
    const timedOut = billing.run({ ...stripe(receiver), timeout: '100ms' }, runContext().ctx);
    await expect(timedOut).rejects.toMatchObject({ retryable: true, code: 'E_HTTP_TIMEOUT' });
    const wrongKey = billing.run({ ...stripe(receiver), provider: { provider: 'stripe', secretKey: 'sk_wrong', baseUrl: receiver.url } }, runContext().ctx);
    await expect(wrongKey).rejects.toBeInstanceOf(PermanentError);
    await expect(wrongKey).rejects.toMatchObject({ code: 'E_HTTP_400' });
    const refused = billing.run({ provider: { provider: 'http', url: await refusingUrl() }, usage: USAGE }, runContext().ctx);
    await expect(refused).rejects.toMatchObject({ retryable: true, code: 'E_HTTP_NETWORK' });
  });

  it('names the provider’s origin as its target', () => {
    expect(billing.target!({ provider: { provider: 'stripe', secretKey: SECRET }, usage: USAGE })).toBe('https://api.stripe.com');
    expect(billing.target!(stripe(receiver))).toBe(receiver.url);
    expect(billing.target!({ provider: { provider: 'http', url: 'https://billing.example.com/v2/usage?x=1' }, usage: USAGE })).toBe(
      'https://billing.example.com',
    );
  });
});

describe('billing through Switchboard', () => {
  let receiver: BillingReceiver;
  let sb: TestSwitchboard;
  let events = 0;

  beforeAll(async () => {
    receiver = await startBillingReceiver({ secretKey: SECRET });
    sb = await startTestSwitchboard({
      rules: {
        'billing.yaml': `rules:
  - id: bill-participants
    on: [participant_left, participant_connection_aborted]
    actions:
      - plugin: billing
        retry: { attempts: 10, schedule: [0, 20ms] }
        timeout: 2s
        with:
          measure: participant_minutes
          customer: "{{ room.metadataJson.customer }}"
          provider: stripe
          secretKey: "\${env:STRIPE_KEY}"
          baseUrl: ${receiver.url}
          timeout: 200ms
  - id: bill-rooms
    on: room_finished
    actions:
      - plugin: billing
        retry: { attempts: 10, schedule: [0, 20ms] }
        with: { measure: room_minutes, unit: seconds, customer: "{{ room.metadataJson.customer }}", provider: http, url: "${receiver.url}/usage", cloudevents: true }
      - plugin: billing
        with: { measure: room_minutes, unit: minutes, customer: "{{ room.metadataJson.customer }}", provider: http, url: "${receiver.url}/mirror" }
`,
      },
      settings: { WORKER_POLL_INTERVAL: '20ms' },
      env: { STRIPE_KEY: SECRET },
    });
  });
  afterAll(async () => {
    await sb.stop();
    await receiver.close();
  });

  // Each a participant of its own: a participant leaves once (a second participant_left of its sid is a duplicate).
  const participantLeft = (patch: Record<string, unknown> = {}) => {
    const n = ++events;
    return sampleBody('participant_left', { id: `EV_bill_${n}`, ...patch, participant: { sid: `PA_bill_${n}`, ...(patch.participant as object) } });
  };
  const usage = async (query = '') => (await sb.admin(`/api/v1/usage${query}`)).json;
  const ledgerOf = async (eventId: string) => (await usage()).results.records.filter((record: { event_id: string }) => record.event_id === eventId);

  it('writes the usage to the ledger with the event, before the provider has it', async () => {
    receiver.behave(always('fail'));
    const body = participantLeft();
    const { json } = await sb.deliver(body);
    const [queued] = json.results.actions;
    expect(queued).toMatchObject({ rule: 'bill-participants', plugin: 'billing', status: 'queued' });
    const [record] = await ledgerOf(JSON.parse(body).id);
    expect(record).toMatchObject({ customer: 'cus_123', meter: 'participant_minutes', quantity: 10, unit: 'minutes', report: 'pending', delivery_id: queued.result.delivery_id });
    expect(record.identifier).toMatch(/^usage_[\w-]{32}$/);

    receiver.behave(always('ok'));
    await deliveryWhen(sb, queued.result.delivery_id);
    expect((await ledgerOf(JSON.parse(body).id))[0]).toMatchObject({ report: 'reported' });
    expect(receiver.applied.get(record.identifier)).toMatchObject({ customer: 'cus_123', quantity: 10, format: 'stripe' });
  });

  it('bills once through a timeout after the charge, a 500 after it, a redelivery and a forced replay', async () => {
    receiver.behave(inTurn('hang-after-apply', 'fail-after-apply'));
    const body = participantLeft();
    const { json } = await sb.deliver(body);
    const deliveryId = json.results.actions[0].result.delivery_id;
    expect(await deliveryWhen(sb, deliveryId)).toMatchObject({ state: 'succeeded', attempts: 3 });
    expect((await sb.deliver(body)).json.results).toMatchObject({ duplicate: true, actions: [] });
    expect((await sb.adminPost(`/api/v1/deliveries/${deliveryId}/replay`, { force: true })).status).toBe(200);
    await deliveryWhen(sb, deliveryId, (delivery) => delivery.attempts_log.length === 4);

    const [record] = await ledgerOf(JSON.parse(body).id);
    const sent = receiver.requests.filter((request) => 'identifier' in request.usage && request.usage.identifier === record.identifier);
    expect(sent).toHaveLength(4);
    expect([...receiver.applied.values()].filter((applied) => applied.identifier === record.identifier)).toHaveLength(1);
    expect(await ledgerOf(JSON.parse(body).id)).toHaveLength(1);
  });

  it('fails the action with the reason, recording nothing, when the event lacks the customer or a time', async () => {
    const noCustomer = await sb.deliver(participantLeft({ room: { metadata: '{"plan":"pro"}' } }));
    expect(noCustomer.json.results.actions).toEqual([
      {
        rule: 'bill-participants',
        plugin: 'billing',
        status: 'failed',
        error: { code: 'E_BILLING_CUSTOMER', message: 'customer rendered empty: the event does not say who to bill' },
      },
    ]);
    const noJoin = await sb.deliver(participantLeft({ participant: { joinedAt: null, joinedAtMs: null } }));
    expect(noJoin.json.results.actions).toEqual([
      expect.objectContaining({ status: 'failed', error: { code: 'E_BILLING_MEASURE', message: 'the event has no participant.joinedAt' } }),
    ]);
    for (const result of [noCustomer, noJoin]) {
      expect(await ledgerOf(result.json.results.event_id)).toEqual([]);
      expect((await sb.admin(`/api/v1/events/${result.json.results.event_id}`)).json.results.actions[0].status).toBe('failed');
    }
  });

  it('refuses a second action of a rule that measures the same meter differently', async () => {
    const { json } = await sb.deliver(sampleBody('room_finished', { id: `EV_bill_${++events}` }));
    expect(json.results.actions).toEqual([
      expect.objectContaining({ status: 'queued' }),
      expect.objectContaining({ status: 'failed', error: { code: 'E_USAGE_CONFLICT', message: expect.stringMatching(/already recorded 900 seconds of room_minutes/) } }),
    ]);
    expect(await ledgerOf(json.results.event_id)).toEqual([expect.objectContaining({ quantity: 900, unit: 'seconds', meter: 'room_minutes' })]);
  });

  it('sums and lists the ledger by customer, meter and time', async () => {
    await sb.deliver(participantLeft({ room: { metadata: '{"customer":"cus_other"}' }, createdAt: '1763860000' }));
    const all = await usage();
    expect(all.results.totals).toEqual(
      expect.arrayContaining([
        { customer: 'cus_other', meter: 'participant_minutes', unit: 'minutes', quantity: 67, records: 1 },
        expect.objectContaining({ customer: 'cus_123', meter: 'participant_minutes', unit: 'minutes' }),
      ]),
    );
    const filtered = await usage('?customer=cus_other&meter=participant_minutes&from=2025-11-23T00:56:40Z&to=2025-11-24');
    expect(filtered.results).toMatchObject({ totals: [{ customer: 'cus_other', quantity: 67 }], records: [{ customer: 'cus_other' }], next_cursor: null });
    expect((await usage('?customer=cus_other&to=2025-11-23T00:56:40Z')).results).toEqual({ totals: [], records: [], next_cursor: null });
    const paged = await usage('?limit=1');
    expect(paged.results.records).toHaveLength(1);
    expect(paged.results.next_cursor).toEqual(expect.any(String));
  });

  it('refuses a time that is not ISO 8601', async () => {
    const answer = await sb.admin('/api/v1/usage?from=yesterday');
    expect(answer.status).toBe(400);
    expect(answer.json).toMatchObject({ errcode: 'E_INVALID_REQUEST', errmesg: expect.stringContaining('query.from') });
    expect((await sb.admin('/api/v1/usage?to=2025-13-45')).json).toMatchObject({ errcode: 'E_INVALID_REQUEST', errmesg: 'query.to "2025-13-45" is not a valid time' });
  });
});
