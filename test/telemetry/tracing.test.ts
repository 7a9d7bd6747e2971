import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { startTracing, type Tracing } from '../../src/telemetry/tracing.ts';
import { failTimes, startReceiver, type Receiver } from '../helpers/receivers.ts';
import { sampleBody, startTestSwitchboard, type TestSwitchboard } from '../helpers/switchboard.ts';

const WEBHOOK_SPAN = 'POST /api/v1/webhooks/livekit';

function rules(url: string) {
  return {
    'status.yaml': `rules:
  - id: session-live
    on: room_started
    actions:
      - plugin: status
        with: { key: "{{ room.name }}", status: live }
  - id: broken-status
    on: room_finished
    actions:
      - plugin: status
        with: { key: "{{ room.name }}", status: "{{ room.nothingHere }}" }
`,
    'forward.yaml': `rules:
  - id: forward
    on: room_started
    actions:
      - plugin: http
        mode: async
        retry: { attempts: 3, schedule: [0, 50ms] }
        with: { url: "${url}/hook" }
`,
  };
}

describe('tracing', () => {
  const exporter = new InMemorySpanExporter();
  let tracing: Tracing;
  let sb: TestSwitchboard;
  let receiver: Receiver;

  beforeAll(() => {
    tracing = startTracing({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  });
  afterAll(async () => {
    await tracing.shutdown();
  });
  beforeEach(async () => {
    receiver = await startReceiver(failTimes(1, 503));
    sb = await startTestSwitchboard({ rules: rules(receiver.url), settings: { WORKER_POLL_INTERVAL: '20ms' } });
    exporter.reset();
  });
  afterEach(async () => {
    await sb.stop();
    await receiver.close();
  });

  const spans = () => exporter.getFinishedSpans();
  const named = (name: string) => spans().filter((span) => span.name === name);
  const parentOf = (span: ReadableSpan) => span.parentSpanContext?.spanId;
  const idOf = (span: ReadableSpan) => span.spanContext().spanId;
  const traceOf = (span: ReadableSpan) => span.spanContext().traceId;

  it('follows a webhook from its server span through matching, an inline action and a retried delivery to the receiver', async () => {
    const { json } = await sb.deliver(sampleBody('room_started'));
    const deliveryId = json.results.actions.find((action: { status: string }) => action.status === 'queued').result.delivery_id;
    await vi.waitFor(async () => expect((await sb.store.getDelivery(deliveryId))?.state).toBe('succeeded'), { timeout: 10_000, interval: 20 });
    await vi.waitFor(() => expect(named('deliver http')).toHaveLength(2));

    const [server] = named(WEBHOOK_SPAN);
    expect(server.kind).toBe(SpanKind.SERVER);
    expect(server.parentSpanContext).toBeUndefined();
    expect(server.attributes).toMatchObject({
      'http.request.method': 'POST',
      'http.route': '/api/v1/webhooks/livekit',
      'url.path': '/api/v1/webhooks/livekit',
      'url.scheme': 'http',
      'server.address': '127.0.0.1',
      'http.response.status_code': 200,
      'livekit.event.name': 'room_started',
      'livekit.event.id': json.results.event_id,
      'livekit.room.name': 'session-42',
      'switchboard.verification': 'ok',
      'switchboard.duplicate': false,
    });
    const traceId = traceOf(server);

    const [match] = named('match rules');
    expect(parentOf(match)).toBe(idOf(server));
    expect(match.attributes['switchboard.rules.matched']).toEqual(['forward', 'session-live']);

    const [inline] = named('action status');
    expect(parentOf(inline)).toBe(idOf(server));
    expect(inline.attributes).toMatchObject({
      'switchboard.rule.id': 'session-live',
      'switchboard.action.mode': 'inline',
      'switchboard.action.status': 'succeeded',
    });

    const attempts = named('deliver http').sort((a, b) => Number(a.attributes['switchboard.delivery.attempt']) - Number(b.attributes['switchboard.delivery.attempt']));
    for (const attempt of attempts) {
      expect(traceOf(attempt)).toBe(traceId);
      expect(parentOf(attempt)).toBe(idOf(server));
    }
    expect(attempts.map((attempt) => attempt.attributes)).toEqual([
      expect.objectContaining({ 'switchboard.delivery.id': deliveryId, 'switchboard.delivery.attempt': 1, 'switchboard.delivery.outcome': 'failed-waiting-retry', 'switchboard.delivery.target': receiver.url, 'error.type': 'E_HTTP_503' }),
      expect.objectContaining({ 'switchboard.delivery.id': deliveryId, 'switchboard.delivery.attempt': 2, 'switchboard.delivery.outcome': 'succeeded' }),
    ]);
    expect(attempts.map((attempt) => attempt.status.code)).toEqual([SpanStatusCode.ERROR, SpanStatusCode.UNSET]);
    expect(attempts[0].events.map((event) => event.name)).toEqual(['exception']);

    const requests = named('POST').sort((a, b) => (parentOf(a) === idOf(attempts[0]) ? -1 : parentOf(b) === idOf(attempts[0]) ? 1 : 0));
    expect(requests.map((request) => [request.kind, parentOf(request), request.attributes['http.response.status_code']])).toEqual([
      [SpanKind.CLIENT, idOf(attempts[0]), 503],
      [SpanKind.CLIENT, idOf(attempts[1]), 200],
    ]);
    expect(requests[0].attributes).toMatchObject({ 'http.request.method': 'POST', 'server.address': '127.0.0.1', 'url.full': `${receiver.url}/hook`, 'error.type': '503' });

    // The receiver joins the same trace: each request carries its client span as the parent.
    expect(receiver.requests.map((request) => request.headers.traceparent)).toEqual(
      requests.map((request) => `00-${traceId}-${idOf(request)}-01`),
    );

    const webhookLine = sb.logs.find((line) => line.msg === 'webhook');
    expect(webhookLine).toMatchObject({ trace_id: traceId, span_id: idOf(server), outcome: 'accepted' });
    const attemptLines = sb.logs.filter((line) => line.msg === 'delivery attempt');
    expect(attemptLines.map((line) => [line.trace_id, line.span_id])).toEqual(attempts.map((attempt) => [traceId, idOf(attempt)]));
  });

  it('marks a failed inline action as an error with the exception recorded, and names a redelivery a duplicate', async () => {
    const body = sampleBody('room_finished');
    await sb.deliver(body);
    const [action] = named('action status');
    expect(action.status.code).toBe(SpanStatusCode.ERROR);
    expect(action.attributes).toMatchObject({ 'switchboard.rule.id': 'broken-status', 'switchboard.action.status': 'failed', 'error.type': 'E_PLUGIN_PARAMS_INVALID' });
    expect(action.events[0]).toMatchObject({ name: 'exception', attributes: expect.objectContaining({ 'exception.type': 'E_PLUGIN_PARAMS_INVALID' }) });

    await sb.deliver(body);
    expect(named(WEBHOOK_SPAN).map((span) => span.attributes['switchboard.duplicate'])).toEqual([false, true]);
  });

  it('records a refused signature with its reason on the server span, which a 4xx leaves unset', async () => {
    await sb.deliver(sampleBody('room_started'), { token: 'not-a-jwt' });
    const [server] = named(WEBHOOK_SPAN);
    expect(server.attributes).toMatchObject({ 'http.response.status_code': 401, 'switchboard.verification': 'malformed_token' });
    expect(server.attributes['switchboard.erresid']).toEqual(expect.any(String));
    expect(server.status.code).toBe(SpanStatusCode.UNSET);
    expect(server.events.map((event) => event.name)).toEqual(['exception']);
    expect(named('match rules')).toEqual([]);
  });

  it('matches a dead delivery’s switchboard.delivery_dead under the attempt that made it dead, in the same trace', async () => {
    await sb.stop();
    sb = await startTestSwitchboard({
      rules: {
        'forward.yaml': `rules:
  - id: forward-once
    on: room_started
    actions:
      - plugin: http
        retry: { attempts: 1, schedule: [0] }
        with: { url: "${receiver.url}/hook" }
  - id: on-dead
    on: switchboard.delivery_dead
    actions:
      - plugin: status
        with: { key: "dead/{{ delivery.ruleId }}", status: dead }
`,
      },
      settings: { WORKER_POLL_INTERVAL: '20ms' },
    });
    exporter.reset();
    await sb.deliver(sampleBody('room_started'));
    // The alert's span ends inside the attempt's, so the attempt's may still be open when the alert's is exported.
    await vi.waitFor(
      () => {
        expect(named('action status')).toHaveLength(1);
        expect(named('deliver http')).toHaveLength(1);
      },
      { timeout: 10_000, interval: 20 },
    );
    const [server] = named(WEBHOOK_SPAN);
    const [attempt] = named('deliver http');
    const [alert] = named('action status');
    expect(attempt.attributes['switchboard.delivery.outcome']).toBe('dead');
    expect(parentOf(alert)).toBe(idOf(attempt));
    expect(alert.attributes['switchboard.rule.id']).toBe('on-dead');
    expect(new Set([server, attempt, alert].map(traceOf)).size).toBe(1);
  });

  it('joins the trace of a caller that sends a traceparent', async () => {
    const callerTrace = '4bf92f3577b34da6a3ce929d0e0e4736';
    await sb.deliver(sampleBody('room_started'), { headers: { traceparent: `00-${callerTrace}-00f067aa0ba902b7-01` } });
    const [server] = named(WEBHOOK_SPAN);
    expect(traceOf(server)).toBe(callerTrace);
    expect(parentOf(server)).toBe('00f067aa0ba902b7');
  });
});
