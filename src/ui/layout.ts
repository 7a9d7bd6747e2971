/** The frame every dashboard page shares (nav bar, who is logged in) and the small pieces pages are built from. */
import { html, type Html } from './html.ts';

/** Who is looking at a page: the role decides whether action buttons appear; forms carry the CSRF token. */
export interface Viewer {
  role: 'admin' | 'read';
  csrf: string;
}

export interface PageContent {
  title: string;
  body: Html;
}

const NAV: readonly [string, string][] = [
  ['/ui', 'Overview'],
  ['/ui/events', 'Events'],
  ['/ui/deliveries', 'Deliveries'],
  ['/ui/targets', 'Targets'],
  ['/ui/rules', 'Rules'],
  ['/ui/sessions', 'Sessions'],
  ['/ui/usage', 'Usage'],
  ['/ui/audit', 'Audit'],
];

export function layout(path: string, { title, body }: PageContent, viewer?: Viewer): Html {
  const current = NAV.findLast(([href]) => path === href || path.startsWith(`${href}/`))?.[0];
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · Switchboard</title>
<link rel="stylesheet" href="/ui/assets/dashboard.css">
<script src="/ui/assets/dashboard.js" defer></script>
</head>
<body>
<header class="topbar">
  <a class="brand" href="/ui">Switchboard</a>
  ${viewer && html`<nav>${NAV.map(([href, label]) => html`<a href="${href}"${href === current ? html` aria-current="page"` : ''}>${label}</a>`)}</nav>
  <div class="who">
    <span class="badge ${viewer.role}">${viewer.role === 'admin' ? 'admin' : 'read-only'}</span>
    <form method="post" action="/ui/logout">${csrfField(viewer)}<button class="link">Log out</button></form>
  </div>`}
</header>
<main${viewer ? '' : html` class="anonymous"`}>
<h1>${title}</h1>
${body}
</main>
</body>
</html>
`;
}

export function csrfField(viewer: Viewer): Html {
  return html`<input type="hidden" name="csrf" value="${viewer.csrf}">`;
}

/** A POST form with one button, or nothing for a read-only viewer. */
export function actionButton(viewer: Viewer, action: string, label: string, fields: Record<string, string> = {}, style = ''): Html {
  if (viewer.role !== 'admin') return html``;
  return html`<form class="inline" method="post" action="${action}">${csrfField(viewer)}${Object.entries(fields).map(
    ([name, value]) => html`<input type="hidden" name="${name}" value="${value}">`,
  )}<button class="${style}">${label}</button></form>`;
}

export function notice(text: string | undefined): Html {
  return html`${text && html`<p class="notice" role="status">${text}</p>`}`;
}

/** A state, circuit or status as a coloured label. */
export function badge(text: string): Html {
  return html`<span class="badge ${text}">${text}</span>`;
}

/** `2026-12-07 01:40:13Z`: UTC, to the second, the same for every operator. */
export function time(iso: string | null | undefined): Html {
  if (!iso) return html`<span class="muted">—</span>`;
  return html`<time datetime="${iso}">${iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z')}</time>`;
}

export function json(value: unknown): Html {
  return html`<pre class="json">${JSON.stringify(value, null, 2)}</pre>`;
}

/** Links to the first and next page, keeping the page's filters in the URL. */
export function pager(path: string, query: URLSearchParams, nextCursor: string | null): Html {
  const withCursor = (cursor: string | null) => {
    const params = new URLSearchParams(query);
    params.delete('cursor');
    if (cursor) params.set('cursor', cursor);
    const text = params.toString();
    return text ? `${path}?${text}` : path;
  };
  return html`<nav class="pager">${query.has('cursor') && html`<a href="${withCursor(null)}">← First page</a>`}${
    nextCursor && html`<a href="${withCursor(nextCursor)}">Next page →</a>`
  }</nav>`;
}
