/** Recorded events: searched by id, room, participant, type and time; one shown with its payload, outcome and deliveries. */
import type { Request } from 'express';
import { timeOption } from '../../commands/time-option.ts';
import { deliveryPage } from '../../server/admin/deliveries.ts';
import { eventPage, findEvent, type EventQuery } from '../../server/admin/records.ts';
import type { DashboardOptions, Pages } from '../pages.ts';
import { html, type Html } from '../html.ts';
import { badge, json, pager, time } from '../layout.ts';
import { param, pageQuery } from './query.ts';

export function eventPages(pages: Pages, options: DashboardOptions): void {
  const { store } = options;
  pages.get('/ui/events', async (req) => {
    const id = param(req.query, 'id');
    if (id !== undefined) return { redirect: `/ui/events/${encodeURIComponent(id)}` };
    const search = searchOf(req);
    const { page, query } = pageQuery(req);
    const { events, next_cursor } = await eventPage(store, timesRead(search), page);
    return {
      title: 'Events',
      body: html`${searchForm(search)}
<table id="events">
<thead><tr><th>Received</th><th>Type</th><th>Room</th><th>Participant</th><th>Event id</th></tr></thead>
<tbody>${events.map((e) => html`<tr>
<td>${time(e.received_at)}</td><td><a href="/ui/events?type=${encodeURIComponent(e.event_type)}">${e.event_type}</a></td>
<td>${e.room === null ? html`<span class="muted">—</span>` : html`<a href="/ui/events?room=${encodeURIComponent(e.room)}">${e.room}</a>`}</td>
<td>${e.participant === null ? html`<span class="muted">—</span>` : html`<a href="/ui/events?participant=${encodeURIComponent(e.participant)}">${e.participant}</a>`}</td>
<td><a href="/ui/events/${encodeURIComponent(e.event_id)}"><code>${e.event_id}</code></a></td>
</tr>`)}</tbody>
</table>
${events.length === 0 && html`<p class="muted">No events match.</p>`}
${pager('/ui/events', query, next_cursor)}`,
    };
  });

  pages.get('/ui/events/:id', async (req) => {
    const event = await findEvent(store, String(req.params.id));
    const { deliveries, next_cursor } = await deliveryPage(options, { event: event.event_id }, { limit: 50 });
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
<h2>Deliveries</h2>
${deliveries.length === 0
        ? html`<p class="muted">No delivery was queued for this event.</p>`
        : html`<table><thead><tr><th class="num">Id</th><th>State</th><th>Rule</th><th>Target</th><th class="num">Attempts</th><th>Updated</th></tr></thead>
<tbody>${deliveries.map((d) => html`<tr><td class="num"><a href="/ui/deliveries/${d.id}">${d.id}</a></td><td>${badge(d.state)}</td>
<td>${d.rule} #${d.action_index}</td><td>${d.target}</td><td class="num">${d.attempts}/${d.max_attempts}</td><td>${time(d.updated_at)}</td></tr>`)}</tbody></table>
${next_cursor && html`<p><a href="/ui/deliveries?event=${encodeURIComponent(event.event_id)}">Every delivery of this event →</a></p>`}`}
<h2>Payload</h2>
${json(event.payload)}`,
    };
  });
}

function searchOf(req: Request): EventQuery {
  const search: EventQuery = {
    room: param(req.query, 'room'),
    participant: param(req.query, 'participant'),
    type: param(req.query, 'type'),
    since: param(req.query, 'since'),
    until: param(req.query, 'until'),
  };
  return Object.fromEntries(Object.entries(search).filter(([, value]) => value !== undefined));
}

/** The form's times may say how long ago (`2h`), as the CLI's do. */
function timesRead(search: EventQuery): EventQuery {
  return {
    ...search,
    since: search.since === undefined ? undefined : timeOption(search.since),
    until: search.until === undefined ? undefined : timeOption(search.until),
  };
}

function searchForm(search: EventQuery): Html {
  return html`<form class="filters" method="get" action="/ui/events">
<label>Event id <input name="id" placeholder="EV_…" size="36" required></label><button>Open</button>
</form>
<form class="filters" method="get" action="/ui/events">
<label>Room <input name="room" value="${search.room ?? ''}" placeholder="room name"></label>
<label>Participant <input name="participant" value="${search.participant ?? ''}" placeholder="identity"></label>
<label>Type <input name="type" value="${search.type ?? ''}" placeholder="participant_joined"></label>
<label>Since <input name="since" value="${search.since ?? ''}" placeholder="2h or 2026-12-07T01:00Z" size="18"></label>
<label>Until <input name="until" value="${search.until ?? ''}" placeholder="ISO 8601 or 30m" size="18"></label>
<button>Search</button> <a href="/ui/events">Clear</a>
</form>`;
}
