/** The HTTP surface: webhook ingest, health, the admin API, and JSON errors for everything else. */
import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import { SwitchboardError } from '../errors.ts';
import { adminRouter, type AdminRouteOptions } from './admin/router.ts';
import { sendError } from './error-response.ts';
import { webhookRouter, type WebhookRouteOptions } from './webhook-route.ts';

export type HttpAppOptions = WebhookRouteOptions & AdminRouteOptions;

export function createHttpApp(options: HttpAppOptions): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.use(webhookRouter(options));
  app.use(adminRouter(options));

  app.use((req: Request, res: Response) => {
    sendError(res, options.log, new SwitchboardError('E_NOT_FOUND', `no route for ${req.method} ${req.path}`));
  });
  app.use((error: unknown, _req: Request, res: Response, _next: NextFunction) => {
    sendError(res, options.log, error);
  });
  return app;
}
