import { createHmac, randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import http, { UNPARSEABLE_URL_TARGET, type HttpParams } from '../../plugins/http.ts';
import type { LiveKitEvent } from '../../src/livekit/event-types.ts';
import {
  PermanentError,
  RetryableError,
  type AttemptResponse,
  type PluginContext,
} from '../../src/plugins/contract.ts';
import { hostAllowed, originAllowed } from '../../src/plugins/http-client/url-policy.ts';
import {
  failTimes,
  hang,
  refusingUrl,
  resetConnection,
  startReceiver,
  status,
  type Behaviour,
  type Receiver,
} from '../helpers/receivers.ts';

/**
 * The http plugin, called the way the engine calls it (rendered params and a context), against real receivers on
 * loopback.
 */
const EVENT: LiveKitEvent = {
  event: 'room_started',
  id: 'EV_http_1',
  createdAt: '1700000000',
  room: { sid: 'RM_1', name: 'session-42', metadata: '{"tier":"pro"}' },
};

function context(overrides: Partial<PluginContext> = {}): { ctx: PluginContext; responses: AttemptResponse[] } {
  const responses: AttemptResponse[] = [];
  const ignore = () => {};
  const ctx: PluginContext = {
    event: EVENT,
    eventId: 'EV_http_1',
    eventName: 'room_started',
    rule: { id: 'forward' },
    mode: 'async',
    idempotencyKey: 'EV_http_1:forward:0',
    attempt: 1,
    recordResponse: (response) => responses.push(response),
    signal: new AbortController().signal,
    log: { debug: ignore, info: ignore, warn: ignore, error: ignore },
    sessions: {
      transition: () => Promise.reject(new Error('the http plugin has no business with sessions')),
    },
    ...overrides,
  };
  return { ctx, responses };
}

const run = async (params: HttpParams, ctx = context().ctx) => http.run(params, ctx);
const check = (params: Record<string, unknown>) => http.check!(params);
const whsec = () => `whsec_${randomBytes(24).toString('base64')}`;

let receiver: Receiver;
beforeEach(async () => {
  receiver = await startReceiver();
});
afterEach(async () => {
  await receiver.close();
});

describe('what the http plugin sends', () => {
  it('posts the event exactly as received as JSON when no body is given', async () => {
    await run({ url: `${receiver.url}/hooks/livekit` });
    const [request] = receiver.requests;
    expect(request.method).toBe('POST');
    expect(request.path).toBe('/hooks/livekit');
    expect(request.headers['content-type']).toBe('application/json');
    expect(request.body).toBe(JSON.stringify(EVENT));
  });

  it('sends the rendered body as JSON, whatever JSON value it is', async () => {
    await run({ url: receiver.url, body: { room: 'session-42', tags: ['a', 'b'], live: true } });
    await run({ url: receiver.url, body: null });
    expect(receiver.requests.map((request) => request.body)).toEqual(['{"room":"session-42","tags":["a","b"],"live":true}', 'null']);
  });

  it('sends a form body urlencoded, with nested values as their JSON text', async () => {
    await run({
      url: receiver.url,
      contentType: 'form',
      body: { room: 'session 42 & co', count: 2, live: true, note: null, meta: { tier: 'pro' } },
    });
    const [request] = receiver.requests;
    expect(request.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(Object.fromEntries(new URLSearchParams(request.body))).toEqual({
      room: 'session 42 & co',
      count: '2',
      live: 'true',
      note: '',
      meta: '{"tier":"pro"}',
    });
  });

  it('refuses a form body that is not an object, without sending anything', async () => {
    const sent = run({ url: receiver.url, contentType: 'form', body: ['a', 'b'] });
    await expect(sent).rejects.toBeInstanceOf(PermanentError);
    await expect(sent).rejects.toMatchObject({ code: 'E_HTTP_INVALID_BODY' });
    expect(receiver.count).toBe(0);
  });

  it('sends the rule’s headers with its own User-Agent and the delivery’s Idempotency-Key', async () => {
    await run({ url: receiver.url, method: 'PUT', headers: { Authorization: 'Bearer t0ken', 'X-Room': 'session-42' } });
    const [request] = receiver.requests;
    expect(request.method).toBe('PUT');
    expect(request.headers).toMatchObject({
      authorization: 'Bearer t0ken',
      'x-room': 'session-42',
      'user-agent': 'livekit-switchboard',
      'idempotency-key': 'EV_http_1:forward:0',
    });
  });

  it('sends a GET without a body or Content-Type', async () => {
    await run({ url: `${receiver.url}/ping?room=session-42`, method: 'GET' });
    const [request] = receiver.requests;
    expect(request).toMatchObject({ method: 'GET', path: '/ping?room=session-42', body: '' });
    expect(request.headers['content-type']).toBeUndefined();
  });

  it('names the URL’s origin as its target', () => {
    expect(http.target!({ url: 'https://hooks.example.com:8443/a/b?c=d' })).toBe('https://hooks.example.com:8443');
    expect(http.target!({ url: 'https://hooks.example.com/a' })).toBe('https://hooks.example.com');
  });

  it('gives every URL that does not parse one target, and fails it for good naming the rule, not the URL', async () => {
    for (const url of ['http://exa mple.com:1/x', 'http://[::1/y', 'not a url']) expect(http.target!({ url })).toBe(UNPARSEABLE_URL_TARGET);
    const failure = await run({ url: 'http://exa mple.com:99/hook' }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(PermanentError);
    expect(failure).toMatchObject({ code: 'E_HTTP_INVALID_URL', message: 'rule "forward" rendered a url that is not a valid URL' });
    expect(receiver.count).toBe(0);
  });
});

describe('how the http plugin classifies answers', () => {
  it('succeeds on 2xx with the status and duration, and records the answer', async () => {
    receiver.behave(status(202, {}, 'queued'));
    const { ctx, responses } = context();
    const result = await run({ url: receiver.url }, ctx);
    expect(result).toEqual({ status: 202, durationMs: expect.any(Number) });
    expect(responses).toEqual([{ status: 202, body: 'queued' }]);
  });

  it('leaves no timer behind once the answer is in, however long its timeout', async () => {
    receiver.behave(status(200, {}, 'ok'));
    const timers = () => process.getActiveResourcesInfo().filter((resource) => resource === 'Timeout').length;
    const before = timers();
    for (let request = 0; request < 5; request += 1) await run({ url: receiver.url, timeout: '10m' });
    expect(timers()).toBeLessThanOrEqual(before);
  });

  it('keeps only the first KiB of a long answer', async () => {
    receiver.behave(status(500, {}, 'é'.repeat(5000)));
    const { ctx, responses } = context();
    const failure = (await run({ url: receiver.url }, ctx).catch((error: Error) => error)) as Error;
    expect(responses[0].status).toBe(500);
    expect(Buffer.byteLength(responses[0].body!)).toBeLessThanOrEqual(1024);
    expect(responses[0].body).toBe('é'.repeat(512));
    expect(failure.message.length).toBeLessThan(300);
  });

  it('stops reading an endless answer instead of holding it in memory', async () => {
    const endless: Behaviour = (_request, response) => {
      response.writeHead(200);
      const chunk = 'x'.repeat(16 * 1024);
      const timer = setInterval(() => response.write(chunk), 1);
      response.on('close', () => clearInterval(timer));
    };
    receiver.behave(endless);
    const { ctx, responses } = context();
    const started = performance.now();
    await expect(run({ url: receiver.url, timeout: '5s' }, ctx)).resolves.toMatchObject({ status: 200 });
    expect(performance.now() - started).toBeLessThan(2000);
    expect(responses[0].body).toBe('x'.repeat(1024));
  });

  it('retries 429 after the seconds Retry-After gives', async () => {
    receiver.behave(status(429, { 'retry-after': '7' }, 'slow down'));
    const failure = run({ url: receiver.url });
    await expect(failure).rejects.toBeInstanceOf(RetryableError);
    await expect(failure).rejects.toMatchObject({ code: 'E_HTTP_429', retryAfterMs: 7000 });
  });

  it('retries 503 after the HTTP-date Retry-After gives', async () => {
    receiver.behave(status(503, { 'retry-after': new Date(Date.now() + 120_000).toUTCString() }));
    const failure = (await run({ url: receiver.url }).catch((error) => error)) as RetryableError;
    expect(failure).toMatchObject({ code: 'E_HTTP_503', retryable: true });
    expect(failure.retryAfterMs).toBeGreaterThan(118_000);
    expect(failure.retryAfterMs).toBeLessThanOrEqual(120_000);
  });

  it.each([500, 502, 408, 425])('retries %i, with no Retry-After hint when none is given', async (code) => {
    receiver.behave(status(code));
    const failure = run({ url: receiver.url });
    await expect(failure).rejects.toBeInstanceOf(RetryableError);
    await expect(failure).rejects.toMatchObject({ code: `E_HTTP_${code}`, retryAfterMs: undefined });
  });

  it('disables the target on 410', async () => {
    receiver.behave(status(410, {}, 'this hook was deleted'));
    const failure = run({ url: receiver.url });
    await expect(failure).rejects.toBeInstanceOf(PermanentError);
    await expect(failure).rejects.toMatchObject({ code: 'E_HTTP_410', disableTarget: true });
  });

  it('fails for good on other 4xx, naming the status and what the target said', async () => {
    receiver.behave(status(404, { 'content-type': 'application/json' }, '{"error":"no such hook"}'));
    const failure = run({ url: receiver.url });
    await expect(failure).rejects.toBeInstanceOf(PermanentError);
    await expect(failure).rejects.toMatchObject({
      code: 'E_HTTP_404',
      disableTarget: false,
      message: expect.stringMatching(/answered 404: \{"error":"no such hook"\}/),
    });
  });

  it('does not follow a redirect and fails for good', async () => {
    const elsewhere = await startReceiver();
    try {
      receiver.behave(status(301, { location: `${elsewhere.url}/moved` }));
      const failure = run({ url: receiver.url });
      await expect(failure).rejects.toBeInstanceOf(PermanentError);
      await expect(failure).rejects.toMatchObject({ code: 'E_HTTP_301', message: expect.stringContaining('/moved') });
      expect(elsewhere.count).toBe(0);
    } finally {
      await elsewhere.close();
    }
  });

  it('gives up at its timeout and says so as retryable', async () => {
    receiver.behave(hang);
    const started = performance.now();
    const failure = run({ url: receiver.url, timeout: '200ms' });
    await expect(failure).rejects.toBeInstanceOf(RetryableError);
    await expect(failure).rejects.toMatchObject({ code: 'E_HTTP_TIMEOUT' });
    expect(performance.now() - started).toBeLessThan(2000);
  });

  it('stops when the engine aborts the attempt', async () => {
    receiver.behave(hang);
    const controller = new AbortController();
    const { ctx } = context({ signal: controller.signal });
    setTimeout(() => controller.abort(new Error('shutting down')), 50);
    const failure = run({ url: receiver.url }, ctx);
    await expect(failure).rejects.toBeInstanceOf(RetryableError);
    await expect(failure).rejects.toMatchObject({ code: 'E_HTTP_ABORTED', message: expect.stringContaining('shutting down') });
  });

  it('tries a refused connection three times within the attempt, then fails as retryable', async () => {
    const failure = run({ url: await refusingUrl() });
    await expect(failure).rejects.toBeInstanceOf(RetryableError);
    await expect(failure).rejects.toMatchObject({ code: 'E_HTTP_NETWORK', message: expect.stringMatching(/after 3 tries: ECONNREFUSED/) });
  });

  it('sends again within the attempt when the connection is reset, and succeeds', async () => {
    receiver.behave(failTimes(2, resetConnection));
    await expect(run({ url: receiver.url })).resolves.toMatchObject({ status: 200 });
    expect(receiver.count).toBe(3);
    const keys = receiver.requests.map((request) => request.headers['idempotency-key']);
    expect(new Set(keys)).toEqual(new Set(['EV_http_1:forward:0']));
  });

  it('fails as retryable when every connection of the attempt is reset', async () => {
    receiver.behave(resetConnection);
    await expect(run({ url: receiver.url })).rejects.toMatchObject({ code: 'E_HTTP_NETWORK' });
    expect(receiver.count).toBe(3);
  });

  it('fails for good when a rendered header value is not valid HTTP', async () => {
    await expect(run({ url: receiver.url, headers: { 'X-Room': 'a\r\nInjected: yes' } })).rejects.toMatchObject({
      code: 'E_HTTP_INVALID_REQUEST',
    });
    expect(receiver.count).toBe(0);
  });
});

describe('where the http plugin may send', () => {
  it('accepts a literal host with a templated path and query at load', () => {
    expect(check({ url: 'https://hooks.example.com/rooms/{{ room.name }}?sid={{ room.sid }}' })).toEqual([]);
    expect(check({ url: 'https://hooks.example.com:8443?room={{ room.name }}' })).toEqual([]);
  });

  it.each([
    'https://{{ room.name }}.example.com/hook',
    '{{ room.metadataJson.webhook }}',
    'https://hooks.example.com:{{ room.metadataJson.port }}/hook',
    'https://hooks.example.com{{ room.metadataJson.path }}',
    'https://user{{ room.name }}@hooks.example.com/',
  ])('refuses a template that can reach the host at load: %s', (url) => {
    expect(check({ url })).toEqual([expect.stringContaining('event data cannot choose where requests go')]);
  });

  it('refuses a computed url at load', () => {
    expect(check({ url: { $logic: { var: 'room.metadataJson.webhook' } } })).toHaveLength(1);
  });

  it('accepts a templated host at load when allowHosts lists where it may go', () => {
    expect(check({ url: 'https://{{ room.name }}.example.com/hook', allowHosts: ['*.example.com'] })).toEqual([]);
  });

  it('refuses an allow list written by event data, or one that is not hostnames', () => {
    expect(check({ url: 'https://{{ room.name }}/', allowHosts: '{{ room.metadataJson.hosts }}' })).toEqual([
      expect.stringContaining('allowHosts must be written literally'),
    ]);
    expect(check({ url: 'https://{{ room.name }}/', allowHosts: ['ok.example.com', '*', 'evil.com/x', '*.*.com'] })).toHaveLength(3);
  });

  it('refuses at load a literal url that could never be called', () => {
    expect(check({ url: 'ftp://files.example.com/{{ room.name }}' })).toEqual([expect.stringContaining('only http: and https:')]);
    expect(check({ url: 'https://me:pw@hooks.example.com/' })).toEqual([expect.stringContaining('credentials')]);
    expect(check({ url: 'https://hooks.example.com/', allowHosts: ['other.example.com'] })).toEqual([
      expect.stringContaining('not in allowHosts'),
    ]);
  });

  it('refuses at run a rendered host outside allowHosts, sending nothing', async () => {
    const failure = run({ url: `${receiver.url.replace('127.0.0.1', 'localhost')}/hook`, allowHosts: ['127.0.0.1'] });
    await expect(failure).rejects.toBeInstanceOf(PermanentError);
    await expect(failure).rejects.toMatchObject({ code: 'E_HTTP_HOST_NOT_ALLOWED' });
    expect(receiver.count).toBe(0);
    await expect(run({ url: `${receiver.url}/hook`, allowHosts: [receiver.url.slice('http://'.length)] })).resolves.toMatchObject({
      status: 200,
    });
  });

  it('allows only the default port of an entry without one, and the scheme and port an entry pins', () => {
    const allowed = (url: string, entries: string[]) => originAllowed(new URL(url), entries);
    expect(allowed('https://a.example.com/', ['*.example.com'])).toBe(true);
    expect(allowed('http://a.example.com/', ['*.example.com'])).toBe(true);
    expect(allowed('http://a.example.com:6379/', ['*.example.com'])).toBe(false);
    expect(allowed('https://a.example.com:8443/', ['https://*.example.com:8443'])).toBe(true);
    expect(allowed('http://a.example.com:8443/', ['https://*.example.com:8443'])).toBe(false);
    expect(allowed('https://a.example.com/', ['https://*.example.com:8443'])).toBe(false);
    expect(allowed('https://hooks.example.com/', ['http://hooks.example.com'])).toBe(false);
    expect(allowed('https://hooks.example.com/', ['hooks.example.com:443'])).toBe(true);
    expect(allowed('http://[::1]:8080/', ['[::1]:8080'])).toBe(true);
    expect(check({ url: 'https://{{ room.name }}/', allowHosts: ['https://*.example.com:8443', 'ftp://x.com', 'x.com:99999'] })).toHaveLength(2);
  });

  it('matches a wildcard entry to subdomains only', () => {
    expect(hostAllowed('a.example.com', ['*.example.com'])).toBe(true);
    expect(hostAllowed('a.b.example.com', ['*.EXAMPLE.com'])).toBe(true);
    expect(hostAllowed('example.com', ['*.example.com'])).toBe(false);
    expect(hostAllowed('badexample.com', ['*.example.com'])).toBe(false);
    expect(hostAllowed('example.com', ['example.com'])).toBe(true);
  });

  it('refuses at load headers the plugin writes itself, and a body on GET', () => {
    expect(check({ url: 'https://h.example.com/', headers: { 'Content-Type': 'text/plain', 'X-Ok': 'y' } })).toEqual([
      expect.stringContaining('headers.Content-Type'),
    ]);
    expect(check({ url: 'https://h.example.com/', method: 'GET', body: { a: 1 } })).toEqual([expect.stringContaining('GET')]);
    expect(check({ url: 'https://h.example.com/', contentType: 'form', body: 'text' })).toEqual([expect.stringContaining('form')]);
    expect(check({ url: 'https://h.example.com/', timeout: '0ms' })).toEqual(['timeout must be longer than 0']);
  });
});

describe('how the http plugin signs', () => {
  it('signs with Standard Webhooks over the exact bytes sent', async () => {
    const secret = whsec();
    await run({ url: receiver.url, body: { room: 'séance 42' }, sign: { scheme: 'standard-webhooks', secret } });
    const [request] = receiver.requests;
    expect(new Webhook(secret).verify(request.body, request.headers as Record<string, string>)).toEqual({ room: 'séance 42' });
    expect(request.headers['webhook-id']).toMatch(/^msg_/);
  });

  it('keeps webhook-id stable across runs of one delivery, and distinct between deliveries', async () => {
    const sign = { scheme: 'standard-webhooks' as const, secret: whsec() };
    await run({ url: receiver.url, sign }, context({ attempt: 1 }).ctx);
    await run({ url: receiver.url, sign }, context({ attempt: 2 }).ctx);
    await run({ url: receiver.url, sign }, context({ idempotencyKey: 'EV_http_2:forward:0' }).ctx);
    const ids = receiver.requests.map((request) => request.headers['webhook-id']);
    expect(ids[0]).toBe(ids[1]);
    expect(ids[2]).not.toBe(ids[0]);
  });

  it('signs with every secret during a rotation, so the old and the new both verify', async () => {
    const [oldSecret, newSecret] = [whsec(), whsec()];
    await run({ url: receiver.url, sign: { scheme: 'standard-webhooks', secret: [oldSecret, newSecret] } });
    const [request] = receiver.requests;
    expect(String(request.headers['webhook-signature']).split(' ')).toHaveLength(2);
    for (const secret of [oldSecret, newSecret]) {
      expect(new Webhook(secret).verify(request.body, request.headers as Record<string, string>)).toEqual(EVENT);
    }
    expect(() => new Webhook(whsec()).verify(request.body, request.headers as Record<string, string>)).toThrow();
  });

  it('puts a hex HMAC-SHA256 of the body in the named header', async () => {
    await run({
      url: receiver.url,
      contentType: 'form',
      body: { room: 'session-42' },
      sign: { scheme: 'hmac-sha256', header: 'X-Hub-Signature', secret: 's3cret' },
    });
    await run({ url: receiver.url, sign: { scheme: 'hmac-sha256', secret: 's3cret' } });
    const [form, json] = receiver.requests;
    expect(form.headers['x-hub-signature']).toBe(createHmac('sha256', 's3cret').update(form.body).digest('hex'));
    expect(json.headers['x-signature']).toBe(createHmac('sha256', 's3cret').update(json.body).digest('hex'));
  });

  it('checks signing at load without repeating the secret', () => {
    const problems = check({ url: 'https://h.example.com/', sign: { scheme: 'standard-webhooks', secret: ['whsec_%%%', 'plain-secret'] } });
    expect(problems).toHaveLength(2);
    expect(problems.join(' ')).not.toMatch(/%%%|plain-secret/);
    expect(check({ url: 'https://h.example.com/', sign: { scheme: 'hmac-sha256', secret: '{{ room.metadata }}' } })).toEqual([
      expect.stringContaining('sign must be written literally'),
    ]);
    expect(check({ url: 'https://h.example.com/', headers: { 'Webhook-Id': 'x' }, sign: { scheme: 'standard-webhooks', secret: whsec() } })).toEqual([
      expect.stringContaining('written by sign'),
    ]);
    expect(check({ url: 'https://h.example.com/', sign: { scheme: 'standard-webhooks', secret: whsec(), header: 'X-Sig' } })).toEqual([
      expect.stringContaining('sign.header is for hmac-sha256'),
    ]);
  });
});
