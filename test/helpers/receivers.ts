/**
 * Real HTTP receivers on loopback for tests of outbound deliveries: each records every request it gets and answers
 * as its current behaviour says.
 *
 * ```ts
 * const receiver = await startReceiver(failTimes(2));     // 500, 500, then 200
 * receiver.behave(status(429, { 'retry-after': '5' }));   // switch at any time
 * expect(receiver.requests[0].body).toBe('{"event":"room_started"}');
 * await receiver.close();
 * ```
 */
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedRequest {
  method: string;
  /** Path and query, as sent. */
  path: string;
  /** Lowercase names, as Node parses them. */
  headers: IncomingHttpHeaders;
  /** The raw body, decoded as UTF-8. */
  body: string;
}

/** Answers one request; it has been read in full and recorded already. */
export type Behaviour = (request: ReceivedRequest, response: ServerResponse, incoming: IncomingMessage) => void;

export interface Receiver {
  /** `http://127.0.0.1:<port>`, without a trailing slash. */
  url: string;
  requests: ReceivedRequest[];
  readonly count: number;
  behave(behaviour: Behaviour): void;
  close(): Promise<void>;
}

/** 200 with a small JSON body (or the one given). */
export const ok =
  (body = '{"ok":true}'): Behaviour =>
  (_request, response) => {
    response.writeHead(200, { 'content-type': 'application/json' }).end(body);
  };

/** Answers `code` with the headers and body given. */
export const status =
  (code: number, headers: Record<string, string> = {}, body = ''): Behaviour =>
  (_request, response) => {
    response.writeHead(code, headers).end(body);
  };

/** Never answers: for timeouts. The connection stays open until the client gives up or the receiver closes. */
export const hang: Behaviour = () => {};

/** Destroys the connection without an answer, as a crashing or restarting server does. */
export const resetConnection: Behaviour = (_request, _response, incoming) => {
  incoming.socket.destroy();
};

/** The first `times` requests fail (with a status, or any behaviour such as `resetConnection`), the rest get `then`. */
export function failTimes(times: number, failure: number | Behaviour = 500, then: Behaviour = ok()): Behaviour {
  const fail = typeof failure === 'number' ? status(failure) : failure;
  let failed = 0;
  return (request, response, incoming) => {
    if (failed < times) {
      failed += 1;
      fail(request, response, incoming);
    } else {
      then(request, response, incoming);
    }
  };
}

export async function startReceiver(initial: Behaviour = ok()): Promise<Receiver> {
  let behaviour = initial;
  const requests: ReceivedRequest[] = [];
  const server = createServer((incoming, response) => {
    const chunks: Buffer[] = [];
    incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
    incoming.on('end', () => {
      const request: ReceivedRequest = {
        method: incoming.method ?? '',
        path: incoming.url ?? '',
        headers: incoming.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      requests.push(request);
      behaviour(request, response, incoming);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    get count() {
      return requests.length;
    },
    behave(next) {
      behaviour = next;
    },
    close() {
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

/** A loopback URL nothing listens on: connecting to it is refused. */
export async function refusingUrl(): Promise<string> {
  const receiver = await startReceiver();
  await receiver.close();
  return receiver.url;
}
