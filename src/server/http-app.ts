/** The HTTP surface: webhook ingest (ahead of express), health and metrics, the admin API, the dashboard, JSON errors for the rest. */
import { createServer, type Server } from 'node:http';
import express, { type NextFunction, type Request, type Response } from 'express';
import { SwitchboardError } from '../errors.ts';
import { dashboardRouter, type DashboardOptions } from '../ui/dashboard.ts';
import { adminRouter } from './admin/router.ts';
import { sendError } from './error-response.ts';
import { operationsRouter, type OperationsRouteOptions } from './operations.ts';
import { webhookHandler, type WebhookRouteOptions } from './webhook-route.ts';

export type HttpServerOptions = WebhookRouteOptions & DashboardOptions & OperationsRouteOptions;

/**
 * How long an idle keep-alive connection stays open. LiveKit's webhook client (Go's pooled transport) keeps idle
 * connections for 90 s; a server that closes one sooner (Node's default is 5 s) can close it just as the client
 * sends the next event on it, which then fails as a connection error and waits for LiveKit's retry. With a longer
 * timeout the client is always the side that closes.
 */
export const KEEP_ALIVE_TIMEOUT_MS = 95_000;

export function createHttpServer(options: HttpServerOptions): Server {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  app.use(operationsRouter(options));
  app.use(adminRouter(options));
  app.use(dashboardRouter(options));
  app.use((req: Request, res: Response) => {
    sendError(res, options.log, new SwitchboardError('E_NOT_FOUND', `no route for ${req.method} ${req.path}`));
  });
  app.use((error: unknown, _req: Request, res: Response, _next: NextFunction) => {
    sendError(res, options.log, error);
  });

  const webhook = webhookHandler(options);
  return createServer({ keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS }, (req, res) => {
    const url = req.url ?? '/';
    const queryAt = url.indexOf('?');
    if ((queryAt === -1 ? url : url.slice(0, queryAt)) === options.path) webhook(req, res);
    else app(req, res);
  });
}
