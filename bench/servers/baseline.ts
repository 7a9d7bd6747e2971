/**
 * The baseline under test: a bare node:http server that does only what any LiveKit webhook receiver must do,
 * verify the delivery with livekit-server-sdk's WebhookReceiver, and answers 200.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebhookReceiver } from 'livekit-server-sdk';
import { serveBenchmark } from './lifecycle.ts';

const receiver = new WebhookReceiver(process.env.LIVEKIT_API_KEY!, process.env.LIVEKIT_API_SECRET!);

const server = createServer(async (req, res) => {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  try {
    await receiver.receive(Buffer.concat(chunks).toString('utf8'), req.headers.authorization);
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"success":true}');
  } catch (error) {
    res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ success: false, errmesg: String(error) }));
  }
});

server.listen(0, '127.0.0.1', () => {
  const close = () => new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
  serveBenchmark(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`, close);
});
