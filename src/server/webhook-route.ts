/**
 * `POST $WEBHOOK_PATH`, the hot path: the raw body is read within MAX_BODY_BYTES, verified as LiveKit signs it,
 * parsed, then handed to ingest. It is a plain node:http handler, in front of express, because every microsecond
 * here is spent once per LiveKit event.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { SwitchboardError } from '../errors.ts';
import { parseEvent } from '../livekit/event.ts';
import { verifyWebhook } from '../livekit/verify.ts';
import type { Ingestion } from '../engine/ingest.ts';
import type { Logger } from '../telemetry/logger.ts';
import { sendError, sendJson } from './error-response.ts';

export interface WebhookRouteOptions {
  path: string;
  keys: ReadonlyMap<string, string>;
  maxBodyBytes: number;
  clockToleranceSeconds: number;
  ingest: Ingestion['ingest'];
  log: Logger;
  /** False once shutdown begins: new deliveries get 503 so LiveKit retries them elsewhere or later. */
  accepting: () => boolean;
}

export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => void;

export function webhookHandler(options: WebhookRouteOptions): RequestHandler {
  const { log } = options;
  return (req, res) => {
    if (req.method !== 'POST') {
      res.setHeader('Allow', 'POST');
      sendError(res, log, new SwitchboardError('E_METHOD_NOT_ALLOWED', `${req.method} is not allowed here; LiveKit posts webhooks with POST`));
      req.resume();
      return;
    }
    if (!options.accepting()) {
      sendError(res, log, new SwitchboardError('E_SHUTTING_DOWN', 'switchboard is shutting down; retry shortly'));
      req.resume();
      return;
    }
    readBody(req, options.maxBodyBytes).then(
      (body) => receive(req, res, body, options),
      (error: unknown) => {
        // The rest of an oversized body is not worth reading: answer, then close the connection.
        res.setHeader('Connection', 'close');
        sendError(res, log, error);
      },
    );
  };
}

async function receive(req: IncomingMessage, res: ServerResponse, body: Buffer, options: WebhookRouteOptions): Promise<void> {
  const started = performance.now();
  try {
    const { apiKey } = verifyWebhook({
      body,
      authorization: req.headers.authorization,
      keys: options.keys,
      nowSeconds: Date.now() / 1000,
      clockToleranceSeconds: options.clockToleranceSeconds,
    });
    const event = parseEvent(body);
    const results = await options.ingest({ body, event, apiKey, receivedAt: new Date() });
    sendJson(res, 200, { success: true, results });
    if (options.log.isLevelEnabled('info')) {
      options.log.info(
        {
          event_id: results.event_id,
          event: results.event_type,
          room: event.room?.name,
          duplicate: results.duplicate,
          matched: results.matched,
          failed_actions: results.actions.filter((action) => action.status === 'failed').length,
          duration_ms: Math.round((performance.now() - started) * 100) / 100,
        },
        'webhook',
      );
    }
  } catch (error) {
    sendError(res, options.log, error, { duration_ms: Math.round(performance.now() - started) });
  }
}

function readBody(req: IncomingMessage, maxBodyBytes: number): Promise<Buffer> {
  const tooLarge = () =>
    new SwitchboardError('E_WEBHOOK_TOO_LARGE', `the body is larger than MAX_BODY_BYTES (${maxBodyBytes} bytes)`);
  const declared = Number(req.headers['content-length']);
  if (declared > maxBodyBytes) return Promise.reject(tooLarge());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBodyBytes) {
        req.removeAllListeners('data');
        req.pause();
        reject(tooLarge());
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size)));
    req.on('error', (error) =>
      reject(new SwitchboardError('E_WEBHOOK_INVALID_PAYLOAD', `the body could not be read: ${error.message}`, { cause: error })),
    );
  });
}
