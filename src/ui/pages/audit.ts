/** The audit log: every change made through the admin API or the dashboard, newest first. */
import { auditPage } from '../../server/admin/audit.ts';
import type { DashboardOptions, Pages } from '../pages.ts';
import { html } from '../html.ts';
import { json, pager, time } from '../layout.ts';
import { pageQuery } from './query.ts';

export function auditPages(pages: Pages, { store }: DashboardOptions): void {
  pages.get('/ui/audit', async (req) => {
    const { page, query } = pageQuery(req);
    const { entries, next_cursor } = await auditPage(store, page);
    return {
      title: 'Audit log',
      body: html`<table>
<thead><tr><th>When</th><th>Action</th><th>Subject</th><th>By</th><th>Details</th></tr></thead>
<tbody>${entries.map(({ id, at, action, subject, details }) => {
        const { actor, ...rest } = details as { actor?: { id: string; ip: string | null } };
        return html`<tr data-id="${id}"><td>${time(at)}</td><td><code>${action}</code></td><td>${subject}</td>
<td><code>${actor?.id ?? '—'}</code><br><span class="muted">${actor?.ip ?? ''}</span></td><td>${json(rest)}</td></tr>`;
      })}</tbody>
</table>
${entries.length === 0 && html`<p class="muted">No changes yet.</p>`}
${pager('/ui/audit', query, next_cursor)}`,
    };
  });
}
