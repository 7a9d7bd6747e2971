/** Session statuses the status plugin keeps: one session by key, with its history. */
import { findSession } from '../../server/admin/records.ts';
import type { DashboardOptions, Pages } from '../pages.ts';
import { html } from '../html.ts';
import { badge, notAvailable, time } from '../layout.ts';
import { param } from './query.ts';

export function sessionPages(pages: Pages, { store }: DashboardOptions): void {
  pages.get('/ui/sessions', async (req) => {
    const key = param(req.query, 'key');
    if (key !== undefined) return { redirect: `/ui/sessions/${encodeURIComponent(key)}` };
    return {
      title: 'Sessions',
      body: html`<form class="filters" method="get" action="/ui/sessions">
<label>Session key <input name="key" placeholder="room name" size="36" required></label><button>Open</button>
</form>
${notAvailable('Listing sessions')}`,
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
</table>`,
    };
  });
}
