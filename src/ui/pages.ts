/** What every page module is given and how it registers its pages: the dashboard router implements it. */
import type { Request } from 'express';
import type { Actor } from '../server/admin/auth.ts';
import type { AdminRouteOptions } from '../server/admin/route-options.ts';
import type { PageContent, Viewer } from './layout.ts';

export interface DashboardOptions extends AdminRouteOptions {
  uiSessionTtlMs: number;
}

/** How a page module registers its pages and changes. */
export interface Pages {
  /** A page, or a redirect (`{ redirect }`) such as a search that found its one answer. */
  get(path: string, render: (req: Request, viewer: Viewer) => Promise<PageContent | { redirect: string }>): void;
  /** A change, for admin sessions only, its CSRF token already checked; returns where to go next. */
  post(path: string, act: (req: Request, actor: Actor) => Promise<string>): void;
}
