/** The HTTP surface: webhook ingest (ahead of express), health and metrics, the admin API, and JSON errors for the rest. */
import { createServer, type Server } from 'node:http';
import express, { type NextFunction, type Request, type Response } from 'express';
import { SwitchboardError } from '../errors.ts';
import { adminRouter, type AdminRouteOptions } from './admin/router.ts';
import { sendError } from './error-response.ts';
import { operationsRouter, type OperationsRouteOptions } from './operations.ts';
import { webhookHandler, type WebhookRouteOptions } from './webhook-route.ts';

export type HttpServerOptions = WebhookRouteOptions & AdminRouteOptions & OperationsRouteOptions;

export function createHttpServer(options: HttpServerOptions): Server {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  app.use(operationsRouter(options));
  app.use(adminRouter(options));
  app.use((req: Request, res: Response) => {
    sendError(res, options.log, new SwitchboardError('E_NOT_FOUND', `no route for ${req.method} ${req.path}`));
  });
  app.use((error: unknown, _req: Request, res: Response, _next: NextFunction) => {
    sendError(res, options.log, error);
  });

  const webhook = webhookHandler(options);
  return createServer((req, res) => {
    const url = req.url ?? '/';
    const queryAt = url.indexOf('?');
    if ((queryAt === -1 ? url : url.slice(0, queryAt)) === options.path) webhook(req, res);
    else app(req, res);
  });
}
