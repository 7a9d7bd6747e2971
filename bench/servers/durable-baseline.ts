/**
 * The durable baseline: the baseline (baseline.ts) plus the least a receiver that keeps what it acknowledges must
 * do, appending each verified body to a log file flushed to disk (`fdatasync`) before the answer. One flush runs at a
 * time and covers every body appended before it (group commit), as Switchboard's flushes do.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { open } from 'node:fs/promises';
import { dirname } from 'node:path';
import { WebhookReceiver } from 'livekit-server-sdk';
import { reportListening, stopOnRequest } from './lifecycle.ts';

interface Append {
  body: Buffer;
  durable(): void;
  failed(error: unknown): void;
}

const receiver = new WebhookReceiver(process.env.LIVEKIT_API_KEY!, process.env.LIVEKIT_API_SECRET!);
const logPath = process.env.DURABLE_LOG!;
const log = await open(logPath, 'a');
// The log file itself must survive a power loss too.
const directory = await open(dirname(logPath), 'r');
await directory.sync();
await directory.close();

const NEWLINE = Buffer.from('\n');
let queued: Append[] = [];
let flushing = false;

function append(body: Buffer): Promise<void> {
  return new Promise((durable, failed) => {
    queued.push({ body, durable, failed });
    if (!flushing) void flushQueued();
  });
}

async function flushQueued(): Promise<void> {
  flushing = true;
  while (queued.length > 0) {
    const batch = queued;
    queued = [];
    try {
      await log.writev(batch.flatMap(({ body }) => [body, NEWLINE]));
      await log.datasync();
      for (const { durable } of batch) durable();
    } catch (error) {
      for (const { failed } of batch) failed(error);
    }
  }
  flushing = false;
}

const server = createServer(async (req, res) => {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const body = Buffer.concat(chunks);
  try {
    await receiver.receive(body.toString('utf8'), req.headers.authorization);
  } catch (error) {
    res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ success: false, errmesg: String(error) }));
    return;
  }
  try {
    await append(body);
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"success":true}');
  } catch (error) {
    res.writeHead(503, { 'content-type': 'application/json' }).end(JSON.stringify({ success: false, errmesg: String(error) }));
  }
});

server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  stopOnRequest(async () => {
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
    await log.close();
  });
  reportListening(`http://127.0.0.1:${port}/`);
});
