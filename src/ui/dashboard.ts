/**
 * The operators' dashboard at /ui: server-rendered pages over the admin API's own queries, behind a login with
 * ADMIN_TOKEN (or ADMIN_READ_TOKEN, which sees no action buttons and may change nothing). Every change is a POST
 * carrying the session's CSRF token, and is audited as the admin API's changes are.
 *
 * ```ts
 * app.use(dashboardRouter({ ...adminRouteOptions, uiSessionTtlMs: 12 * 3_600_000 }));
 * ```
 */
import express, { type Request, type Response, type Router } from 'express';
import { isSwitchboardError, SwitchboardError } from '../errors.ts';
import { timingSafeEqualStrings } from '../livekit/constant-time.ts';
import { actorOf, adminDisabled, readOnly, roleOf } from '../server/admin/auth.ts';
import { serveAsset } from './assets.ts';
import { html, type Html } from './html.ts';
import { layout, type PageContent, type Viewer } from './layout.ts';
import { auditPages } from './pages/audit.ts';
import { deliveryPages } from './pages/deliveries.ts';
import { eventPages } from './pages/events.ts';
import { loginPage } from './pages/login.ts';
import { overviewPages } from './pages/overview.ts';
import { rulePages } from './pages/rules.ts';
import { sessionPages } from './pages/sessions.ts';
import { targetPages } from './pages/targets.ts';
import { usagePages } from './pages/usage.ts';
import type { DashboardOptions, Pages } from './pages.ts';
import { clearSessionCookie, cookieOf, newSession, SESSION_COOKIE, sessionSeal, setSessionCookie } from './session.ts';

// Scripts and styles come only from /ui/assets: no inline script, no third party.
const SECURITY_HEADERS = {
  'Content-Security-Policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'same-origin',
  'Cache-Control': 'no-store',
};
const FORM_LIMIT = '16kb';

export type { DashboardOptions } from './pages.ts';

export function dashboardRouter(options: DashboardOptions): Router {
  const router = express.Router();
  router.use('/ui', (_req, res, next) => {
    res.set(SECURITY_HEADERS);
    next();
  });
  router.get('/ui/assets/:file', serveAsset);
  if (!options.adminToken) {
    router.use('/ui', (req, res) => sendFailure(req, res, options, adminDisabled()));
    return router;
  }

  const seal = sessionSeal(options);
  const form = express.urlencoded({ extended: false, limit: FORM_LIMIT });
  router.get('/ui/login', (req, res) => sendPage(req, res, loginPage(nextPath(req.query.next))));
  router.post('/ui/login', form, (req, res) => {
    // The login form carries no CSRF token (there is no session yet): a login posted from another site is refused.
    if (!fromThisSite(req)) {
      sendFailure(req, res, options, new SwitchboardError('E_CSRF_INVALID', 'log in from the dashboard\'s own login page'));
      return;
    }
    const role = roleOf(options, String(req.body?.token ?? ''));
    if (role === null) {
      sendPage(req, res, loginPage(nextPath(req.body?.next), 'That token is neither ADMIN_TOKEN nor ADMIN_READ_TOKEN.'), 401);
      return;
    }
    setSessionCookie(req, res, seal.seal(newSession(role, options.uiSessionTtlMs, Date.now())), options.uiSessionTtlMs);
    res.redirect(303, nextPath(req.body?.next));
  });

  const logout = (req: Request, res: Response) => {
    clearSessionCookie(req, res);
    res.redirect(303, '/ui/login');
  };
  // Logging out changes nothing worth protecting, and must work with an expired session too.
  router.get('/ui/logout', logout);
  router.post('/ui/logout', logout);

  router.use('/ui', (req, res, next) => {
    const session = seal.open(cookieOf(req, SESSION_COOKIE), Date.now());
    if (!session) {
      if (req.method === 'GET') res.redirect(303, `/ui/login?next=${encodeURIComponent(req.originalUrl)}`);
      else sendFailure(req, res, options, new SwitchboardError('E_ADMIN_UNAUTHORIZED', 'log in first'));
      return;
    }
    res.locals.viewer = { role: session.role, csrf: seal.csrfToken(session) } satisfies Viewer;
    next();
  });
  router.post('/ui/*path', form, (req, res, next) => {
    const viewer = res.locals.viewer as Viewer;
    if (!timingSafeEqualStrings(String(req.body?.csrf ?? ''), viewer.csrf)) {
      sendFailure(req, res, options, new SwitchboardError('E_CSRF_INVALID', 'the form carried no valid CSRF token: reload the page and try again'));
      return;
    }
    next();
  });
  router.post('/ui/*path', (req, res, next) => {
    if ((res.locals.viewer as Viewer).role === 'admin') next();
    else sendFailure(req, res, options, readOnly());
  });

  const actor = actorOf(options.adminToken);
  const pages: Pages = {
    get(path, render) {
      router.get(path, (req, res) => {
        respond(req, res, options, async () => {
          const content = await render(req, res.locals.viewer as Viewer);
          if ('redirect' in content) res.redirect(303, content.redirect);
          else sendPage(req, res, content, 200, res.locals.viewer as Viewer);
        });
      });
    },
    post(path, act) {
      router.post(path, (req, res) => {
        respond(req, res, options, async () => res.redirect(303, await act(req, actor(req))));
      });
    },
  };
  for (const register of [overviewPages, eventPages, deliveryPages, targetPages, rulePages, sessionPages, usagePages, auditPages]) {
    register(pages, options);
  }
  router.use('/ui', (req, res) => sendFailure(req, res, options, new SwitchboardError('E_NOT_FOUND', `no page ${req.originalUrl}`)));
  return router;
}

/** Where to go after logging in: a dashboard path only, so the login form cannot send anyone elsewhere. */
function nextPath(value: unknown): string {
  return typeof value === 'string' && /^\/ui(\/|\?|$)/.test(value) ? value : '/ui';
}

/** Whether a POST came from a page of this site: browsers send Origin with every POST. */
function fromThisSite(req: Request): boolean {
  const origin = req.get('origin');
  if (origin === undefined) return true;
  try {
    return new URL(origin).host === req.get('host');
  } catch {
    return false;
  }
}

function respond(req: Request, res: Response, options: DashboardOptions, work: () => Promise<void>): void {
  work().catch((error: unknown) => sendFailure(req, res, options, error));
}

function sendPage(req: Request, res: Response, content: PageContent, status = 200, viewer?: Viewer): void {
  res.status(status).type('html').send(layout(req.path, content, viewer).text);
}

/** An error as a page: its code and message for a known error, a reference to the log line for any other. */
function sendFailure(req: Request, res: Response, { log }: DashboardOptions, error: unknown): void {
  const known = isSwitchboardError(error) ? error : undefined;
  const status = known?.status ?? 500;
  const fields = { path: req.path, errcode: known?.code ?? 'E_INTERNAL', status, err: error };
  if (status >= 500) log.error(fields, known?.message ?? 'dashboard page failed');
  else log.warn(fields, known?.message);
  const body: Html = html`<p class="error"><code>${fields.errcode}</code> ${known?.message ?? 'internal error; the log has the details'}</p>
<p><a href="/ui">Back to the overview</a></p>`;
  sendPage(req, res, { title: status === 404 ? 'Not found' : 'Something went wrong', body }, status, res.locals.viewer as Viewer | undefined);
}

