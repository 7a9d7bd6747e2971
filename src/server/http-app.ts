/** The HTTP surface: webhook ingest (ahead of express), health and metrics, the admin API, the dashboard, JSON errors for the rest. */
import type { Server } from 'node:http';
import express, { type NextFunction, type Request, type Response } from 'express';
import { SwitchboardError } from '../errors.ts';
import { createServer } from '../node-http.ts';
import { dashboardRouter, type DashboardOptions } from '../ui/dashboard.ts';
import { adminRouter } from './admin/router.ts';
import { sendError } from './error-response.ts';
import { operationsRouter, type OperationsRouteOptions } from './operations.ts';
import { FAILURE_LOG_LIMITS, FailureLimiter } from './failure-limiter.ts';
import { sourceAddressResolver } from './source-address.ts';
import { webhookHandler, type WebhookRouteOptions } from './webhook-route.ts';

type HttpServerOptions = Omit<WebhookRouteOptions, 'sourceAddress' | 'failures' | 'failureLog'> &
  DashboardOptions &
  OperationsRouteOptions & {
    /** Connections held at once (MAX_CONNECTIONS): kept below the descriptor limit, so a flood cannot take the rest. */
    maxConnections: number;
    /** TRUST_PROXY: proxies whose X-Forwarded-For names the source address. */
    trustProxy: readonly string[];
  };

/**
 * How long an idle keep-alive connection stays open. LiveKit's webhook client (Go's pooled transport) keeps idle
 * connections for 90 s; a server that closes one sooner (Node's default is 5 s) can close it just as the client
 * sends the next event on it, which then fails as a connection error and waits for LiveKit's retry. With a longer
 * timeout the client is always the side that closes.
 */
const KEEP_ALIVE_TIMEOUT_MS = 95_000;

/**
 * A request's headers must arrive within HEADERS_TIMEOUT_MS and the whole request within REQUEST_TIMEOUT_MS (Node's
 * defaults, 60 s and 300 s, let slow clients hold connections for minutes); the webhook's body has a shorter
 * deadline of its own (webhook-route.ts). Node checks these every CHECK_INTERVAL_MS.
 */
const HEADERS_TIMEOUT_MS = 10_000;
const REQUEST_TIMEOUT_MS = 30_000;
const CHECK_INTERVAL_MS = 1_000;

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
    // A path such as /api/v1/events/% fails express's decoding of its params before any route runs.
    if (error instanceof URIError) error = new SwitchboardError('E_INVALID_REQUEST', 'the path is not valid percent-encoding', { cause: error });
    sendError(res, options.log, error);
  });

  const webhook = webhookHandler({
    ...options,
    sourceAddress: sourceAddressResolver(options.trustProxy),
    failures: new FailureLimiter(),
    failureLog: new FailureLimiter(FAILURE_LOG_LIMITS),
  });
  const server = createServer(
    {
      keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
      headersTimeout: HEADERS_TIMEOUT_MS,
      requestTimeout: REQUEST_TIMEOUT_MS,
      connectionsCheckingInterval: CHECK_INTERVAL_MS,
    },
    (req, res) => {
      const url = req.url ?? '/';
      const queryAt = url.indexOf('?');
      if ((queryAt === -1 ? url : url.slice(0, queryAt)) === options.path) webhook(req, res);
      else app(req, res);
    },
  );
  server.maxConnections = options.maxConnections;
  return server;
}
