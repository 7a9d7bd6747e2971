import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { encodePost, KeepAliveClient } from '../keep-alive-client.ts';

interface Answer {
  error: Error | null;
  status: number;
  body: string;
}

let server: Server | undefined;
let client: KeepAliveClient | undefined;

afterEach(async () => {
  client?.destroy();
  client = undefined;
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve) ?? resolve(undefined));
  server = undefined;
});

/** A loopback server answering with `handle`; counts the connections it accepted. */
async function serve(handle: (req: IncomingMessage, body: string, res: ServerResponse) => void): Promise<{ url: URL; connections: () => number }> {
  let connections = 0;
  server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => handle(req, body, res));
  });
  server.on('connection', () => connections++);
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: new URL(`http://127.0.0.1:${port}/hook?x=1`), connections: () => connections };
}

function send(url: URL, body: string, headers: Record<string, string> = {}): Promise<Answer> {
  client ??= new KeepAliveClient(url);
  return new Promise((resolve) => client!.send(encodePost(url, headers, body), (error, status, answer) => resolve({ error, status, body: answer })));
}

describe('KeepAliveClient', () => {
  it('posts the encoded request and reads a sized answer, reusing one connection', async () => {
    const seen: Array<{ url?: string; method?: string; type?: string; length?: string; body: string }> = [];
    const { url, connections } = await serve((req, body, res) => {
      seen.push({ url: req.url, method: req.method, type: req.headers['content-type'], length: req.headers['content-length'], body });
      res.writeHead(201, { 'content-type': 'application/json', 'content-length': 11 }).end('{"ok":"é"}');
    });

    const first = await send(url, '{"id":"EV_1"}', { 'content-type': 'application/webhook+json' });
    const second = await send(url, 'ü', { 'content-type': 'application/webhook+json' });

    expect(first).toEqual({ error: null, status: 201, body: '{"ok":"é"}' });
    expect(second.status).toBe(201);
    expect(seen).toEqual([
      { url: '/hook?x=1', method: 'POST', type: 'application/webhook+json', length: '13', body: '{"id":"EV_1"}' },
      { url: '/hook?x=1', method: 'POST', type: 'application/webhook+json', length: '2', body: 'ü' },
    ]);
    expect(connections()).toBe(1);
  });

  it('reads a chunked answer, and one that arrives in pieces', async () => {
    const { url } = await serve((req, _body, res) => {
      if (req.url?.includes('chunked')) {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('first ');
        setTimeout(() => res.end('second'), 20);
      } else {
        res.writeHead(200, { 'content-length': 10 });
        res.write('hello');
        setTimeout(() => res.end('world'), 20);
      }
    });

    expect(await send(new URL('/chunked', url), 'x')).toEqual({ error: null, status: 200, body: 'first second' });
    expect(await send(new URL('/sized', url), 'x')).toEqual({ error: null, status: 200, body: 'helloworld' });
  });

  it('opens another connection when every open one is waiting for its answer', async () => {
    const { url, connections } = await serve((_req, body, res) => setTimeout(() => res.end(body), 30));

    const answers = await Promise.all(['a', 'b', 'c'].map((body) => send(url, body)));

    expect(answers.map((answer) => answer.body)).toEqual(['a', 'b', 'c']);
    expect(connections()).toBe(3);
    await send(url, 'd');
    expect(connections()).toBe(3);
  });

  it('reports non-2xx statuses as answers', async () => {
    const { url } = await serve((_req, _body, res) => res.writeHead(401, { 'content-length': 2 }).end('no'));

    expect(await send(url, 'x')).toEqual({ error: null, status: 401, body: 'no' });
  });

  it('opens a new connection after the server closes one with its answer', async () => {
    const { url, connections } = await serve((_req, _body, res) => res.writeHead(200, { connection: 'close', 'content-length': 2 }).end('ok'));

    expect((await send(url, 'x')).body).toBe('ok');
    expect((await send(url, 'y')).body).toBe('ok');
    expect(connections()).toBe(2);
  });

  it('does not reuse a connection the server is about to close for being idle', async () => {
    const { url, connections } = await serve((_req, _body, res) => res.end('ok'));
    server!.keepAliveTimeout = 2000; // sent to the client as `keep-alive: timeout=2`

    await send(url, 'a');
    await send(url, 'b');
    expect(connections()).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const late = await send(url, 'c');

    expect(late).toEqual({ error: null, status: 200, body: 'ok' });
    expect(connections()).toBe(2);
  });

  it('reports a connection lost before the answer as an error, once', async () => {
    let calls = 0;
    const { url } = await serve((req) => (req.socket as Socket).destroy());
    client = new KeepAliveClient(url);

    const answer = await new Promise<Answer>((resolve) =>
      client!.send(encodePost(url, {}, 'x'), (error, status, body) => {
        calls++;
        resolve({ error, status, body });
      }),
    );
    await new Promise((resolve) => setTimeout(resolve, 50));

    expect(answer.error?.message).toMatch(/closed the connection/);
    expect(calls).toBe(1);
  });
});
