/** `POST $WEBHOOK_PATH`: the raw body is verified as LiveKit signs it, parsed, then handed to ingest. */
import express, { type Request, type Response, type Router } from 'express';
import { SwitchboardError } from '../errors.ts';
import { parseEvent } from '../livekit/event.ts';
import { verifyWebhook } from '../livekit/verify.ts';
import type { Ingestion } from '../engine/ingest.ts';
import type { Logger } from '../telemetry/logger.ts';
import { sendError } from './error-response.ts';

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

export function webhookRouter(options: WebhookRouteOptions): Router {
  const { log } = options;
  const router = express.Router();
  const rawBody = express.raw({ type: () => true, limit: options.maxBodyBytes });

  router.post(options.path, (req, res, next) => {
    if (!options.accepting()) {
      sendError(res, log, new SwitchboardError('E_SHUTTING_DOWN', 'switchboard is shutting down; retry shortly'));
      return;
    }
    rawBody(req, res, (error?: unknown) => {
      if (error) sendError(res, log, bodyError(error, options.maxBodyBytes));
      else next();
    });
  }, (req, res) => void receive(req, res, options));

  router.all(options.path, (req, res) => {
    res.set('Allow', 'POST');
    sendError(res, log, new SwitchboardError('E_METHOD_NOT_ALLOWED', `${req.method} is not allowed here; LiveKit posts webhooks with POST`));
  });
  return router;
}

async function receive(req: Request, res: Response, options: WebhookRouteOptions): Promise<void> {
  const started = performance.now();
  const body: Buffer = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
  try {
    const { apiKey } = verifyWebhook({
      body,
      authorization: req.get('authorization'),
      keys: options.keys,
      nowSeconds: Date.now() / 1000,
      clockToleranceSeconds: options.clockToleranceSeconds,
    });
    const event = parseEvent(body);
    const results = await options.ingest({ body, event, apiKey, receivedAt: new Date() });
    res.json({ success: true, results });
    options.log.info(
      {
        event_id: results.event_id,
        event: results.event_type,
        room: event.room?.name,
        duplicate: results.duplicate,
        matched: results.matched,
        failed_actions: results.actions.filter((a) => a.status === 'failed').length,
        duration_ms: Math.round((performance.now() - started) * 100) / 100,
      },
      'webhook',
    );
  } catch (error) {
    sendError(res, options.log, error, { duration_ms: Math.round(performance.now() - started) });
  }
}

function bodyError(error: unknown, maxBodyBytes: number): SwitchboardError {
  const type = (error as { type?: string }).type;
  if (type === 'entity.too.large') {
    return new SwitchboardError('E_WEBHOOK_TOO_LARGE', `the body is larger than MAX_BODY_BYTES (${maxBodyBytes} bytes)`);
  }
  return new SwitchboardError('E_WEBHOOK_INVALID_PAYLOAD', `the body could not be read: ${(error as Error).message}`, {
    cause: error,
  });
}
