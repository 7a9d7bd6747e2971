/** The usage ledger: totals by customer and meter over a date range, then its rows. */
import { usageReport } from '../../server/admin/usage.ts';
import type { DashboardOptions, Pages } from '../pages.ts';
import { html, type Html } from '../html.ts';
import { badge, pager, time } from '../layout.ts';
import { pageQuery, param } from './query.ts';

export function usagePages(pages: Pages, { store }: DashboardOptions): void {
  pages.get('/ui/usage', async (req) => {
    const filter = { customer: param(req.query, 'customer'), meter: param(req.query, 'meter'), from: param(req.query, 'from'), to: param(req.query, 'to') };
    const { page, query } = pageQuery(req);
    const { totals, records, next_cursor } = await usageReport(store, filter, page);
    return {
      title: 'Usage',
      body: html`<form class="filters" method="get" action="/ui/usage">
<label>Customer <input name="customer" value="${filter.customer ?? ''}"></label>
<label>Meter <input name="meter" value="${filter.meter ?? ''}"></label>
<label>From (UTC, inclusive) <input type="date" name="from" value="${filter.from ?? ''}"></label>
<label>To (UTC, exclusive) <input type="date" name="to" value="${filter.to ?? ''}"></label>
<button>Filter</button> <a href="/ui/usage">Clear</a>
</form>
<h2>Totals</h2>
<table>
<thead><tr><th>Customer</th><th>Meter</th><th class="num">Quantity</th><th>Unit</th><th class="num">Records</th></tr></thead>
<tbody>${totals.map((t) => html`<tr><td>${t.customer}</td><td>${t.meter}</td><td class="num">${t.quantity}</td><td>${t.unit}</td><td class="num">${t.records}</td></tr>`)}</tbody>
</table>
${totals.length === 0 && html`<p class="muted">No usage in this range.</p>`}
<h2>Records</h2>
<table>
<thead><tr><th>Occurred</th><th>Customer</th><th>Meter</th><th class="num">Quantity</th><th>Event</th><th>Rule</th><th>Report</th></tr></thead>
<tbody>${records.map((r) => html`<tr><td>${time(r.occurred_at)}</td><td>${r.customer}</td><td>${r.meter}</td><td class="num">${r.quantity} ${r.unit}</td>
<td><a href="/ui/events/${encodeURIComponent(r.event_id)}">${r.event_type}</a></td><td><code>${r.rule}</code></td>
<td>${reportStatus(r.report, r.delivery_id)}</td></tr>`)}</tbody>
</table>
${records.length === 0 && html`<p class="muted">No records.</p>`}
${pager('/ui/usage', query, next_cursor)}`,
    };
  });
}

/** Where the usage's report to the provider stands, linked to the delivery that makes it. */
function reportStatus(report: string | null, deliveryId: number | null): Html {
  if (report === null) return html`<span class="muted">none</span>`;
  return deliveryId === null ? badge(report) : html`<a href="/ui/deliveries/${deliveryId}">${badge(report)}</a>`;
}
