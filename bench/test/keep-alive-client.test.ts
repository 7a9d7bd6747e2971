import type { Socket } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { startReceiver, status, type Behaviour, type Receiver } from '../../test/helpers/receivers.ts';
import { encodePost, KeepAliveClient } from '../keep-alive-client.ts';

type Answer = { error: Error | null; status: number; body: string };

let receiver: Receiver | undefined;
let client: KeepAliveClient | undefined;
let connections = new Set<Socket>();

afterEach(async () => {
  client?.destroy();
  await receiver?.close();
});

/** A loopback receiver answering with `behaviour` (counting the connections its requests came on), and a client. */
async function serve(behaviour: Behaviour): Promise<URL> {
  connections = new Set();
  receiver = await startReceiver((request, response, incoming) => {
    connections.add(incoming.socket);
    behaviour(request, response, incoming);
  });
  client = new KeepAliveClient(new URL(receiver.url));
  return new URL(`${receiver.url}/hook?x=1`);
}

function send(url: URL, body: string, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve) => client!.send(encodePost(url, headers, body), (error, status, answer) => resolve({ error, status, body: answer })));
}

describe('KeepAliveClient', () => {
  it('posts the encoded request and reads a sized answer, reusing one connection', async () => {
    const url = await serve(status(201, { 'content-type': 'application/json', 'content-length': '11' }, '{"ok":"é"}'));

    const first = await send(url, '{"id":"EV_1"}', { 'content-type': 'application/webhook+json' });
    const second = await send(url, 'ü', { 'content-type': 'application/webhook+json' });

    expect(first).toEqual({ error: null, status: 201, body: '{"ok":"é"}' });
    expect(second.status).toBe(201);
    expect(receiver!.requests.map(({ method, path, headers, body }) => [method, path, headers['content-type'], headers['content-length'], body])).toEqual([
      ['POST', '/hook?x=1', 'application/webhook+json', '13', '{"id":"EV_1"}'],
      ['POST', '/hook?x=1', 'application/webhook+json', '2', 'ü'],
    ]);
    expect(connections.size).toBe(1);
  });

  it('reads a chunked answer, and one that arrives in pieces', async () => {
    const url = await serve((request, response) => {
      response.writeHead(200, request.path === '/chunked' ? { 'content-type': 'text/plain' } : { 'content-length': 10 });
      response.write(request.path === '/chunked' ? 'first ' : 'hello');
      setTimeout(() => response.end(request.path === '/chunked' ? 'second' : 'world'), 20);
    });

    expect(await send(new URL('/chunked', url), 'x')).toEqual({ error: null, status: 200, body: 'first second' });
    expect(await send(new URL('/sized', url), 'x')).toEqual({ error: null, status: 200, body: 'helloworld' });
  });

  it('opens another connection when every open one is waiting for its answer', async () => {
    const url = await serve((request, response) => setTimeout(() => response.end(request.body), 30));

    const answers = await Promise.all(['a', 'b', 'c'].map((body) => send(url, body)));

    expect(answers.map((answer) => answer.body)).toEqual(['a', 'b', 'c']);
    expect(connections.size).toBe(3);
    await send(url, 'd');
    expect(connections.size).toBe(3);
  });

  it('reports non-2xx statuses as answers', async () => {
    const url = await serve(status(401, { 'content-length': '2' }, 'no'));

    expect(await send(url, 'x')).toEqual({ error: null, status: 401, body: 'no' });
  });

  it('opens a new connection after the server closes one with its answer', async () => {
    const url = await serve(status(200, { connection: 'close', 'content-length': '2' }, 'ok'));

    expect((await send(url, 'x')).body).toBe('ok');
    expect((await send(url, 'y')).body).toBe('ok');
    expect(connections.size).toBe(2);
  });

  it('does not reuse a connection the server is about to close for being idle', async () => {
    // The server says it keeps an idle connection 2 s; the client, with its margin, reuses one for 1 s.
    const url = await serve(status(200, { 'keep-alive': 'timeout=2' }, 'ok'));

    await send(url, 'a');
    await send(url, 'b');
    expect(connections.size).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const late = await send(url, 'c');

    expect(late).toEqual({ error: null, status: 200, body: 'ok' });
    expect(connections.size).toBe(2);
  });

  it('reports a connection lost before the answer as an error, once', async () => {
    const url = await serve((_request, _response, incoming) => incoming.socket.destroy());
    const answers: Answer[] = [];

    client!.send(encodePost(url, {}, 'x'), (error, status, body) => answers.push({ error, status, body }));
    await vi.waitFor(() => expect(answers).toHaveLength(1));
    await new Promise((resolve) => setTimeout(resolve, 50));

    expect(answers).toHaveLength(1);
    expect(answers[0].error?.message).toMatch(/closed the connection/);
  });
});
