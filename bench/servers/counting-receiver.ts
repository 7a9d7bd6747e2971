/**
 * The delivery benchmarks' third-party endpoint: answers 200 and counts what arrives, by request and by event id.
 * It listens on 127.0.0.1, or on RECEIVER_HOST (0.0.0.0: every loopback address 127.x.y.z reaches it).
 * It reads HTTP/1.1 itself: node:http's server cost it about 0.12 cores at 1,000 deliveries/s against 0.06–0.10.
 */
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { closesConnection, readMessage } from '../http-message.ts';
import { serveBenchmark } from './lifecycle.ts';

/** Requests answered, duplicates included; distinct event ids; bodies with no event id (something else forwarded). */
export type ReceiverCounts = { requests: number; unique: number; unreadable: number };
/** Event ids on their first arrival since the last question, in order, and when each arrived (wall-clock ms). */
export type Arrivals = { ids: string[]; at: number[] };

const counts: ReceiverCounts = { requests: 0, unique: 0, unreadable: 0 };
const seen = new Set<string>();
let arrivals: Arrivals = { ids: [], at: [] };

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
    for (let request = readMessage(received); request !== undefined; request = readMessage(received)) {
      if (request instanceof Error) {
        received = EMPTY;
        return void socket.end(BAD_REQUEST);
      }
      received = request.length === received.length ? EMPTY : received.subarray(request.length);
      count(request.body);
      if (closesConnection(request.head)) return void socket.end(OK_AND_CLOSE);
      socket.write(OK);
    }
  });
});

function answer(head: string[], body: string): Buffer {
  return Buffer.from(`${head.join('\r\n')}\r\n\r\n${body}`, 'latin1');
}

function count(body: string): void {
  counts.requests++;
  const id = eventId(body);
  if (typeof id !== 'string') counts.unreadable++;
  else if (!seen.has(id)) {
    seen.add(id);
    counts.unique++;
    arrivals.ids.push(id);
    arrivals.at.push(performance.timeOrigin + performance.now());
  }
}

function eventId(body: string): unknown {
  try {
    return (JSON.parse(body) as { id?: unknown }).id;
  } catch {
    return undefined;
  }
}

function takeArrivals(): Arrivals {
  const taken = arrivals;
  arrivals = { ids: [], at: [] };
  return taken;
}

server.listen(0, process.env.RECEIVER_HOST ?? '127.0.0.1', () => {
  const close = () => new Promise<void>((resolve) => {
    server.close(() => resolve());
    for (const socket of sockets) socket.destroy();
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  serveBenchmark(url, close, { counts: () => counts, arrivals: takeArrivals });
});
