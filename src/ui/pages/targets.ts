/** The systems actions call: circuit, failures, the stored switch, and Enable/Disable. */
import { SwitchboardError } from '../../errors.ts';
import { switchTarget, targetViews } from '../../server/admin/targets.ts';
import type { DashboardOptions, Pages } from '../pages.ts';
import { html, type Html } from '../html.ts';
import { actionButton, badge, csrfField, notAvailable, notice, time } from '../layout.ts';
import { param } from './query.ts';

function rateLimit(limit: { per_second: number | null; concurrency: number | null } | null): Html {
  if (limit === null) return html`<span class="muted">none</span>`;
  return html`${[limit.per_second !== null && `${limit.per_second}/s`, limit.concurrency !== null && `${limit.concurrency} at once`].filter(Boolean).join(', ')}`;
}

const DONE: Record<string, string> = { disabled: 'Target disabled: its deliveries wait until it is enabled.', enabled: 'Target enabled.' };

export function targetPages(pages: Pages, options: DashboardOptions): void {
  pages.get('/ui/targets', async (req, viewer) => {
    const targets = await targetViews(options);
    return {
      title: 'Targets',
      body: html`${notice(DONE[param(req.query, 'done') ?? ''])}
${notAvailable('Latency p50/p95 over the last hour')}
<table>
<thead><tr><th>Target</th><th>Circuit</th><th class="num">Failures in a row</th><th class="num">Running</th><th>Rate limit</th><th>Switch</th><th></th></tr></thead>
<tbody>${targets.map((t) => html`<tr>
<td><a href="/ui/deliveries?target=${encodeURIComponent(t.target)}">${t.target}</a></td>
<td>${badge(t.circuit)}${t.probe_at && html` <span class="muted">probe ${time(t.probe_at)}</span>`}</td>
<td class="num">${t.consecutive_failures}</td><td class="num">${t.running}</td>
<td>${rateLimit(t.rate_limit)}</td>
<td>${badge(t.disabled ? 'disabled' : 'enabled')}${t.disabled && html` ${t.reason ?? ''} <span class="muted">${time(t.changed_at)}</span>`}</td>
<td>${t.disabled
        ? actionButton(viewer, '/ui/targets/enable', 'Enable', { target: t.target })
        : viewer.role === 'admin' && html`<form class="inline" method="post" action="/ui/targets/disable">${csrfField(viewer)}
<input type="hidden" name="target" value="${t.target}"><input name="reason" placeholder="reason" maxlength="500" aria-label="reason for disabling ${t.target}">
<button class="danger">Disable</button></form>`}</td>
</tr>`)}</tbody>
</table>
${targets.length === 0 && html`<p class="muted">No target has deliveries yet.</p>`}`,
    };
  });

  for (const disabled of [true, false]) {
    pages.post(`/ui/targets/${disabled ? 'disable' : 'enable'}`, async (req, actor) => {
      const target = param(req.body, 'target');
      if (target === undefined) throw new SwitchboardError('E_INVALID_REQUEST', 'name the target');
      await switchTarget(options, target, { disabled, reason: param(req.body, 'reason')?.slice(0, 500) }, actor);
      return `/ui/targets?done=${disabled ? 'disabled' : 'enabled'}`;
    });
  }
}
