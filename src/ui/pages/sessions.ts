/** Session statuses the status plugin keeps: listed by key (of one status when asked), one with its history. */
import { findSession, sessionPage } from '../../server/admin/records.ts';
import type { DashboardOptions, Pages } from '../pages.ts';
import { html } from '../html.ts';
import { badge, pager, time } from '../layout.ts';
import { param, pageQuery } from './query.ts';

export function sessionPages(pages: Pages, { store }: DashboardOptions): void {
  pages.get('/ui/sessions', async (req) => {
    const key = param(req.query, 'key');
    if (key !== undefined) return { redirect: `/ui/sessions/${encodeURIComponent(key)}` };
    const status = param(req.query, 'status');
    const { page, query } = pageQuery(req);
    const { sessions, next_cursor } = await sessionPage(store, { status }, page);
    return {
      title: 'Sessions',
      body: html`<form class="filters" method="get" action="/ui/sessions">
<label>Session key <input name="key" placeholder="room name" size="36" required></label><button>Open</button>
</form>
<form class="filters" method="get" action="/ui/sessions">
<label>Status <input name="status" value="${status ?? ''}" placeholder="live"></label>
<button>Filter</button> <a href="/ui/sessions">Clear</a>
</form>
<table id="sessions">
<thead><tr><th>Key</th><th>Status</th><th>Updated</th><th>By event</th></tr></thead>
<tbody>${sessions.map((s) => html`<tr><td><a href="/ui/sessions/${encodeURIComponent(s.key)}">${s.key}</a></td>
<td><a href="/ui/sessions?status=${encodeURIComponent(s.status)}">${badge(s.status)}</a></td><td>${time(s.updated_at)}</td>
<td><a href="/ui/events/${encodeURIComponent(s.event_id)}"><code>${s.event_id}</code></a></td></tr>`)}</tbody>
</table>
${sessions.length === 0 && html`<p class="muted">No sessions match.</p>`}
${pager('/ui/sessions', query, next_cursor)}`,
    };
  });

  pages.get('/ui/sessions/:key', async (req) => {
    const session = await findSession(store, String(req.params.key));
    return {
      title: `Session ${session.key}`,
      body: html`<table class="facts"><tbody>
<tr><th>Status</th><td>${badge(session.status)}</td></tr>
<tr><th>Updated</th><td>${time(session.updated_at)}</td></tr>
<tr><th>By event</th><td><a href="/ui/events/${encodeURIComponent(session.event_id)}">${session.event_id}</a></td></tr>
</tbody></table>
<h2>History</h2>
<table>
<thead><tr><th>At</th><th>From</th><th>To</th><th>Event</th></tr></thead>
<tbody>${session.history.map((entry) => html`<tr><td>${time(entry.at)}</td><td>${badge(entry.old_status)}</td><td>${badge(entry.status)}</td>
<td><a href="/ui/events/${encodeURIComponent(entry.event_id)}">${entry.event_type}</a> <span class="muted">${entry.event_id}</span></td></tr>`)}</tbody>
</table>
<p><a href="/ui/events?room=${encodeURIComponent(session.key)}">Events of room ${session.key} →</a></p>`,
    };
  });
}
