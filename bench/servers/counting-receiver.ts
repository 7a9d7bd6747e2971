/**
 * The third-party webhook endpoint of the delivery benchmark, in a process of its own: a bare node:http server that
 * answers 200 at once and counts what arrives, by request and by event id (the `id` of the forwarded event), so
 * duplicates show. The benchmark asks it over IPC (see ../receiver.ts for the questions and answers).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ReceiverAnswer, ReceiverQuestion } from '../receiver.ts';
import { reportListening, stopOnRequest } from './lifecycle.ts';

let requests = 0;
let unreadable = 0;
const seen = new Set<string>();
// First arrivals not yet handed to the benchmark: event id and wall-clock time (ms, comparable across processes).
let arrivedIds: string[] = [];
let arrivedAt: number[] = [];

const server = createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    requests++;
    const id = eventId(Buffer.concat(chunks).toString('utf8'));
    if (id === undefined) {
      unreadable++;
    } else if (!seen.has(id)) {
      seen.add(id);
      arrivedIds.push(id);
      arrivedAt.push(performance.timeOrigin + performance.now());
    }
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': 2 }).end('{}');
  });
});

function eventId(body: string): string | undefined {
  try {
    const id = (JSON.parse(body) as { id?: unknown }).id;
    return typeof id === 'string' ? id : undefined;
  } catch {
    return undefined;
  }
}

process.on('message', (question: ReceiverQuestion) => {
  let answer: ReceiverAnswer;
  if (question.type === 'counts') {
    answer = { requests, unique: seen.size, unreadable };
  } else {
    answer = { ids: arrivedIds, at: arrivedAt };
    arrivedIds = [];
    arrivedAt = [];
  }
  process.send!(answer);
});

server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  stopOnRequest(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  );
  reportListening(`http://127.0.0.1:${port}/hook`);
});
