/** Recorded events: found by id, shown with their payload, matched rules, each action's outcome and deliveries. */
import { findEvent } from '../../server/admin/records.ts';
import type { DashboardOptions, Pages } from '../pages.ts';
import { html } from '../html.ts';
import { badge, json, notAvailable, time } from '../layout.ts';
import { param } from './query.ts';

export function eventPages(pages: Pages, { store }: DashboardOptions): void {
  pages.get('/ui/events', async (req) => {
    const id = param(req.query, 'id');
    if (id !== undefined) return { redirect: `/ui/events/${encodeURIComponent(id)}` };
    return {
      title: 'Events',
      body: html`<form class="filters" method="get" action="/ui/events">
<label>Event id <input name="id" placeholder="EV_…" size="36" required></label><button>Open</button>
</form>
${notAvailable('Searching events by room, participant identity, event type and time range, and listing recent events')}`,
    };
  });

  pages.get('/ui/events/:id', async (req) => {
    const event = await findEvent(store, String(req.params.id));
    return {
      title: `Event ${event.event_id}`,
      body: html`<table class="facts"><tbody>
<tr><th>Type</th><td><code>${event.event_type}</code></td></tr>
<tr><th>Received</th><td>${time(event.received_at)}</td></tr>
<tr><th>LiveKit createdAt</th><td>${event.created_at === null ? '—' : time(new Date(event.created_at * 1000).toISOString())}</td></tr>
<tr><th>Signed with</th><td><code>${event.api_key}</code></td></tr>
<tr><th>Arrival order</th><td>${event.seq}</td></tr>
<tr><th>Matched rules</th><td>${event.matched.length === 0 ? html`<span class="muted">none</span>` : event.matched.map((rule) => html`<code>${rule}</code> `)}</td></tr>
</tbody></table>
<h2>Actions</h2>
<table>
<thead><tr><th>Rule</th><th>Plugin</th><th>Outcome</th><th>Delivery</th><th>Result or error</th></tr></thead>
<tbody>${event.actions.map((action) => {
        const deliveryId = (action.result as { delivery_id?: number } | undefined)?.delivery_id;
        return html`<tr><td><code>${action.rule}</code></td><td>${action.plugin}</td><td>${badge(action.status)}</td>
<td>${deliveryId !== undefined && html`<a href="/ui/deliveries/${deliveryId}">delivery ${deliveryId}</a>`}</td>
<td>${action.error ? html`<code>${action.error.code}</code> ${action.error.message}` : action.result !== undefined && json(action.result)}</td></tr>`;
      })}</tbody>
</table>
${event.actions.length === 0 && html`<p class="muted">No action ran for this event.</p>`}
<h2>Payload</h2>
${json(event.payload)}`,
    };
  });
}
