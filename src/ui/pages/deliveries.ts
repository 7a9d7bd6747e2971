/** The delivery queue: a filtered list with bulk replay and cancel, and one delivery with every attempt, Replay and Cancel. */
import type { Request } from 'express';
import { SwitchboardError } from '../../errors.ts';
import { timeOption } from '../../commands/time-option.ts';
import {
  cancelDelivery,
  cancelMatching,
  deliveryCounts,
  deliveryPage,
  deliveryWithAttempts,
  filterQuery,
  replayDelivery,
  replayMatching,
  type DeliveryListFilter,
} from '../../server/admin/deliveries.ts';
import {
  DELIVERY_STATES,
  REPLAYABLE_STATES,
  canMove,
  DELIVERY_MOVES,
  UNFINISHED_STATES,
  type DeliveryMoveName,
  type DeliveryState,
} from '../../store/delivery-state.ts';
import type { Store } from '../../store/store.ts';
import type { DashboardOptions, Pages } from '../pages.ts';
import { html, type Html } from '../html.ts';
import { actionButton, badge, csrfField, json, notice, pager, time, type Viewer } from '../layout.ts';
import { param, pageQuery } from './query.ts';

/** The bulk actions a filter's list offers: what they do, and the states a delivery must be in for each. */
const BULK = {
  replay: { move: 'replay', verb: 'Replay', done: 'will be queued again with fresh attempts.' },
  cancel: { move: 'cancel', verb: 'Cancel', done: 'will be cancelled: they will not run.' },
} as const satisfies Record<string, { move: DeliveryMoveName; verb: string; done: string }>;

export function deliveryPages(pages: Pages, options: DashboardOptions): void {
  const { store } = options;

  pages.get('/ui/deliveries', async (req, viewer) => {
    const filter = filterOf(req.query);
    const { page, query } = pageQuery(req);
    const { deliveries, next_cursor } = await deliveryPage(options, resolved(filter), page);
    const bulk = viewer.role === 'admin' && hasFilter(filter);
    const replayable = filter.status === undefined || REPLAYABLE_STATES.includes(filter.status);
    const cancellable = filter.status === undefined || canMove('cancel', filter.status);
    return {
      title: 'Deliveries',
      body: html`${notice(doneNotice(req))}
${filterForm(filter)}
${bulk && html`<div class="actions">${replayable && html`<a href="/ui/deliveries/replay?${filterQuery(filter).toString()}">Replay the deliveries this filter matches…</a>`}
${cancellable && html`<a href="/ui/deliveries/cancel?${filterQuery(filter).toString()}">Cancel the deliveries this filter matches…</a>`}</div>`}
<table>
<thead><tr><th class="num">Id</th><th>State</th><th>Event</th><th>Rule</th><th>Plugin</th><th>Target</th><th class="num">Attempts</th><th>Due</th><th>Last error</th></tr></thead>
<tbody>${deliveries.map((d) => html`<tr>
<td class="num"><a href="/ui/deliveries/${d.id}">${d.id}</a></td><td>${badge(d.state)}${d.held && html` ${heldBadge(d.held)}`}</td>
<td><a href="/ui/events/${encodeURIComponent(d.event_id)}">${d.event_type}</a></td>
<td><a href="/ui/deliveries?rule=${encodeURIComponent(d.rule)}">${d.rule}</a></td><td>${d.plugin}</td>
<td><a href="/ui/deliveries?target=${encodeURIComponent(d.target)}">${d.target}</a></td>
<td class="num">${d.attempts}/${d.max_attempts}</td><td>${time(d.due_at)}</td><td>${d.last_error && html`<code>${d.last_error.code}</code> ${d.last_error.message}`}</td>
</tr>`)}</tbody>
</table>
${deliveries.length === 0 && html`<p class="muted">No deliveries match.</p>`}
${pager('/ui/deliveries', query, next_cursor)}`,
    };
  });

  pages.get('/ui/deliveries/replay', async (req, viewer) => {
    const filter = replayableFilter(req.query);
    return { title: 'Replay deliveries', body: await bulkConfirmation(store, viewer, 'replay', filter, filter.status === 'succeeded') };
  });

  pages.post('/ui/deliveries/replay', async (req, actor) => {
    const filter = replayableFilter(req.body);
    const replayed = await replayMatching(options, resolved(filter), filter.status === 'succeeded', actor);
    return `/ui/deliveries?${filterQuery(filter)}&done=replayed&n=${replayed.length}`;
  });

  pages.get('/ui/deliveries/cancel', async (req, viewer) => {
    const filter = cancellableFilter(req.query);
    return { title: 'Cancel deliveries', body: await bulkConfirmation(store, viewer, 'cancel', filter, false) };
  });

  pages.post('/ui/deliveries/cancel', async (req, actor) => {
    const filter = cancellableFilter(req.body);
    const cancelled = await cancelMatching(store, resolved(filter), actor);
    return `/ui/deliveries?${filterQuery(filter)}&done=cancelled&n=${cancelled.length}`;
  });

  pages.get('/ui/deliveries/:id', async (req, viewer) => {
    const d = await deliveryWithAttempts(options, deliveryId(req));
    return {
      title: `Delivery ${d.id}`,
      body: html`${notice(doneNotice(req))}
<div id="delivery"${UNFINISHED_STATES.includes(d.state) ? html` data-refresh="1"` : ''}>
<div class="actions">${badge(d.state)}${deliveryActions(viewer, d.id, d.state)}</div>
<table class="facts"><tbody>
<tr><th>Event</th><td><a href="/ui/events/${encodeURIComponent(d.event_id)}">${d.event_id}</a> <span class="muted">${d.event_type}</span></td></tr>
<tr><th>Rule, action</th><td><a href="/ui/deliveries?rule=${encodeURIComponent(d.rule)}">${d.rule}</a> #${d.action_index} <code>${d.plugin}</code></td></tr>
<tr><th>Target</th><td><a href="/ui/deliveries?target=${encodeURIComponent(d.target)}">${d.target}</a></td></tr>
<tr><th>Ordering key</th><td>${d.ordering_key ?? html`<span class="muted">none</span>`}</td></tr>
${d.held && html`<tr><th>Held</th><td>${heldBadge(d.held)} ${HELD[d.held] ?? ''}</td></tr>`}
<tr><th>Attempts</th><td>${d.attempts} of ${d.max_attempts}${d.attempts_log.length > d.attempts && html` <span class="muted">since its last replay; ${d.attempts_log.length} in all</span>`}</td></tr>
<tr><th>Due</th><td>${time(d.due_at)}</td></tr>
<tr><th>Created, updated</th><td>${time(d.created_at)} · ${time(d.updated_at)}</td></tr>
<tr><th>Last error</th><td>${d.last_error ? html`<code>${d.last_error.code}</code> ${d.last_error.message}` : html`<span class="muted">none</span>`}</td></tr>
</tbody></table>
<h2>Attempts</h2>
${d.attempts_log.length === 0 ? html`<p class="muted">No attempt yet.</p>` : html`<table class="attempts">
<thead><tr><th class="num">#</th><th>Started</th><th class="num">Duration</th><th class="num">Status</th><th>Error</th><th>Answer (first KiB)</th></tr></thead>
<tbody>${d.attempts_log.map((a) => html`<tr><td class="num">${a.number}</td><td>${time(a.started_at)}</td><td class="num">${a.duration_ms} ms</td>
<td class="num">${a.status_code ?? '—'} ${badge(a.succeeded ? 'succeeded' : 'failed')}</td>
<td>${a.error && html`<code>${a.error.code}</code> ${a.error.message}`}</td><td>${a.response && html`<pre class="json">${a.response}</pre>`}</td></tr>`)}</tbody>
</table>`}
</div>
<h2>Params</h2>
${json(d.params)}`,
    };
  });

  pages.post('/ui/deliveries/:id/replay', async (req, actor) => {
    const id = deliveryId(req);
    await replayDelivery(options, id, req.body?.force === 'true', actor);
    return `/ui/deliveries/${id}?done=replayed`;
  });

  pages.post('/ui/deliveries/:id/cancel', async (req, actor) => {
    const id = deliveryId(req);
    await cancelDelivery(options, id, actor);
    return `/ui/deliveries/${id}?done=cancelled`;
  });
}

/** What each reason a waiting delivery is held means; a reason not named here is shown as it is. */
const HELD: Record<string, string> = {
  'target-disabled': 'Its target is disabled: it runs once an operator enables the target.',
  'circuit-open': "Its target's circuit is open after failures in a row: it is tried again when the circuit lets a probe through.",
};

function heldBadge(reason: string): Html {
  return html`<span class="badge held" title="${HELD[reason] ?? ''}">held: ${reason}</span>`;
}

function deliveryActions(viewer: Viewer, id: number, state: DeliveryState): Html {
  return html`${canMove('replay', state) && actionButton(viewer, `/ui/deliveries/${id}/replay`, 'Replay')}${
    !canMove('replay', state) && canMove('forcedReplay', state) && actionButton(viewer, `/ui/deliveries/${id}/replay`, 'Run again', { force: 'true' }, 'secondary')
  }${canMove('cancel', state) && actionButton(viewer, `/ui/deliveries/${id}/cancel`, 'Cancel', {}, 'danger')}`;
}

function filterForm(filter: DeliveryListFilter): Html {
  return html`<form class="filters" method="get" action="/ui/deliveries">
<label>Status <select name="status"><option value="">any</option>${DELIVERY_STATES.map(
    (state) => html`<option${state === filter.status ? html` selected` : ''}>${state}</option>`,
  )}</select></label>
<label>Rule <input name="rule" value="${filter.rule ?? ''}" placeholder="rule id"></label>
<label>Target <input name="target" value="${filter.target ?? ''}" placeholder="target"></label>
<label>Event <input name="event" value="${filter.event ?? ''}" placeholder="EV_…"></label>
<label>Since <input name="since" value="${filter.since ?? ''}" placeholder="2h or ISO 8601" size="16"></label>
<label>Until <input name="until" value="${filter.until ?? ''}" placeholder="ISO 8601 or 30m" size="16"></label>
<button>Filter</button> <a href="/ui/deliveries">Clear</a>
</form>`;
}

function hiddenFilter(filter: DeliveryListFilter): Html {
  return html`${[...filterQuery(filter)].map(([name, value]) => html`<input type="hidden" name="${name}" value="${value}">`)}`;
}

function filterOf(source: Record<string, unknown>): DeliveryListFilter {
  const status = param(source, 'status');
  if (status !== undefined && !DELIVERY_STATES.includes(status as DeliveryState)) {
    throw new SwitchboardError('E_INVALID_REQUEST', `status "${status}" is not one of ${DELIVERY_STATES.join(', ')}`);
  }
  const since = param(source, 'since');
  const until = param(source, 'until');
  const filter: DeliveryListFilter = {
    status: status as DeliveryState | undefined,
    rule: param(source, 'rule'),
    target: param(source, 'target'),
    event: param(source, 'event'),
    // The times stay as written (`2h`) in the page's URL; they are read against now when the store is asked.
    since,
    until,
  };
  return Object.fromEntries(Object.entries(filter).filter(([, value]) => value !== undefined));
}

/** The filter as the admin API's functions take it: relative times read as times before now. */
function resolved(filter: DeliveryListFilter): DeliveryListFilter {
  return {
    ...filter,
    ...(filter.since !== undefined && { since: timeOption(filter.since) }),
    ...(filter.until !== undefined && { until: timeOption(filter.until) }),
  };
}

function hasFilter(filter: DeliveryListFilter): boolean {
  return Object.keys(filter).length > 0;
}

/** A bulk change names what it changes, as the admin API requires, and starts from a state it can move from. */
function bulkFilter(source: Record<string, unknown>, move: DeliveryMoveName, allowed: readonly DeliveryState[]): DeliveryListFilter {
  const filter = filterOf(source);
  if (!hasFilter(filter)) throw new SwitchboardError('E_INVALID_REQUEST', `a bulk ${move} needs a status, rule, target, event or time to filter by`);
  if (filter.status !== undefined && !allowed.includes(filter.status)) {
    throw new SwitchboardError('E_INVALID_REQUEST', `${filter.status} deliveries cannot be moved by ${move}; it takes ${allowed.join(', ')}`);
  }
  return filter;
}

function replayableFilter(source: Record<string, unknown>): DeliveryListFilter {
  return bulkFilter(source, 'replay', REPLAYABLE_STATES);
}

function cancellableFilter(source: Record<string, unknown>): DeliveryListFilter {
  return bulkFilter(source, 'cancel', DELIVERY_MOVES.cancel.from);
}

/** The page that says how many deliveries a bulk action will touch, and asks to confirm it. */
async function bulkConfirmation(store: Store, viewer: Viewer, action: keyof typeof BULK, filter: DeliveryListFilter, force: boolean): Promise<Html> {
  const { move, verb, done } = BULK[action];
  const count = await bulkCount(store, filter, force ? 'forcedReplay' : move);
  const what = `${count} ${count === 1 ? 'delivery' : 'deliveries'}`;
  return html`<section class="card">
<p>Filter: <code>${filterQuery(filter).toString()}</code></p>
<p class="figure" id="bulk-count">${what}</p>
<p>${done} ${force && html`<strong>These deliveries have succeeded: replaying runs their actions again.</strong>`}</p>
${viewer.role === 'admin' && html`<form method="post" action="/ui/deliveries/${action}">${csrfField(viewer)}${hiddenFilter(filter)}
<button${action === 'cancel' ? html` class="danger"` : ''}>${verb} ${what}</button>
<a href="/ui/deliveries?${filterQuery(filter).toString()}">Back</a></form>`}
</section>`;
}

/** How many deliveries the filter matches that `move` can move: the store counts the filter by state. */
async function bulkCount(store: Store, filter: DeliveryListFilter, move: DeliveryMoveName): Promise<number> {
  const { by_state } = await deliveryCounts(store, resolved(filter));
  return DELIVERY_STATES.filter((state) => canMove(move, state)).reduce((sum, state) => sum + by_state[state], 0);
}

function deliveryId(req: Request): number {
  const id = Number(req.params.id);
  if (!Number.isSafeInteger(id) || id < 1) throw new SwitchboardError('E_NOT_FOUND', `no delivery ${req.params.id}`);
  return id;
}

function doneNotice(req: Request): string | undefined {
  const done = param(req.query, 'done');
  if (done === 'replayed') {
    const n = param(req.query, 'n');
    return n === undefined ? 'Queued again with fresh attempts.' : `Queued ${n} ${n === '1' ? 'delivery' : 'deliveries'} again.`;
  }
  if (done === 'cancelled') {
    const n = param(req.query, 'n');
    return n === undefined ? 'Cancelled.' : `Cancelled ${n} ${n === '1' ? 'delivery' : 'deliveries'}.`;
  }
  return undefined;
}
