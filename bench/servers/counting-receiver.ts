/**
 * The delivery benchmarks' third-party endpoint: it answers 200 at once and counts what arrives, by request and by
 * event id (so duplicates show), for the benchmark to ask over IPC (../receiver.ts). It reads HTTP/1.1 itself
 * (../http-message.ts): node:http's server cost it about 0.12 cores at 1,000 deliveries/s against 0.06–0.10, taken
 * on two cores from the Switchboard under test.
 */
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { closesConnection, readMessage } from '../http-message.ts';
import type { ReceiverAnswer, ReceiverQuestion } from '../receiver.ts';
import { reportListening, stopOnRequest } from './lifecycle.ts';

let requests = 0;
let unreadable = 0;
const seen = new Set<string>();
// First arrivals not yet handed to the benchmark: event id and wall-clock time (ms, comparable across processes).
let arrivedIds: string[] = [];
let arrivedAt: number[] = [];

// What node:http's server, kept alive for 60 s, answered before; the same headers keep Switchboard's client alike.
const OK = answer(['HTTP/1.1 200 OK', 'content-type: application/json', 'content-length: 2', 'connection: keep-alive', 'keep-alive: timeout=60'], '{}');
const OK_AND_CLOSE = answer(['HTTP/1.1 200 OK', 'content-type: application/json', 'content-length: 2', 'connection: close'], '{}');
const BAD_REQUEST = answer(['HTTP/1.1 400 Bad Request', 'connection: close', 'content-length: 0'], '');
const EMPTY: Buffer = Buffer.alloc(0);

const sockets = new Set<Socket>();
const server = createServer({ noDelay: true }, (socket) => {
  sockets.add(socket);
  socket.on('close', () => sockets.delete(socket));
  socket.on('error', () => socket.destroy());
  let received: Buffer = EMPTY;
  socket.on('data', (chunk: Buffer) => {
    received = received.length === 0 ? chunk : Buffer.concat([received, chunk]);
    for (;;) {
      const request = readMessage(received);
      if (request === undefined) return;
      if (request instanceof Error) {
        socket.end(BAD_REQUEST);
        received = EMPTY;
        return;
      }
      received = request.length === received.length ? EMPTY : received.subarray(request.length);
      count(request.body);
      if (closesConnection(request.head)) {
        socket.end(OK_AND_CLOSE);
        return;
      }
      socket.write(OK);
    }
  });
});

function answer(head: string[], body: string): Buffer {
  return Buffer.from(`${head.join('\r\n')}\r\n\r\n${body}`, 'latin1');
}

function count(body: string): void {
  requests++;
  const id = eventId(body);
  if (id === undefined) {
    unreadable++;
  } else if (!seen.has(id)) {
    seen.add(id);
    arrivedIds.push(id);
    arrivedAt.push(performance.timeOrigin + performance.now());
  }
}

function eventId(body: string): string | undefined {
  try {
    const id = (JSON.parse(body) as { id?: unknown }).id;
    return typeof id === 'string' ? id : undefined;
  } catch {
    return undefined;
  }
}

process.on('message', (question: ReceiverQuestion) => {
  const answer: ReceiverAnswer = question.type === 'counts' ? { requests, unique: seen.size, unreadable } : { ids: arrivedIds, at: arrivedAt };
  if (question.type === 'arrivals') [arrivedIds, arrivedAt] = [[], []];
  process.send!(answer);
});

server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  stopOnRequest(() => new Promise<void>((resolve) => {
    server.close(() => resolve());
    for (const socket of sockets) socket.destroy();
  }));
  reportListening(`http://127.0.0.1:${port}/hook`);
});
