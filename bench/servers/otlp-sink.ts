/**
 * A stand-in OTLP/HTTP collector for the tracing benchmark: accepts `POST /v1/traces`, counts the spans (without
 * parsing the JSON, to stay cheap) and answers 200. On SIGTERM it prints what it received.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { reportListening, stopOnRequest } from './lifecycle.ts';

const SPAN_ID_KEY = '"spanId"';
let exports = 0;
let spans = 0;

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    if (req.method === 'POST' && req.url === '/v1/traces') {
      exports += 1;
      const text = Buffer.concat(chunks).toString('utf8');
      for (let at = text.indexOf(SPAN_ID_KEY); at !== -1; at = text.indexOf(SPAN_ID_KEY, at + 1)) spans += 1;
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    } else {
      res.writeHead(404).end();
    }
  });
});

server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  stopOnRequest(
    () =>
      new Promise<void>((resolve) => {
        console.log(`otlp sink: ${spans} spans received in ${exports} exports`);
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  );
  reportListening(`http://127.0.0.1:${port}`);
});
