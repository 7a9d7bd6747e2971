/** The systems actions call: circuit, failures, latency over the last hour, the stored switch, and Enable/Disable. */
import { SwitchboardError } from '../../errors.ts';
import { switchTarget, targetReport } from '../../server/admin/targets.ts';
import { TARGET_SERIES_LIMIT } from '../../telemetry/metrics.ts';
import type { DashboardOptions, Pages } from '../pages.ts';
import { html, type Html } from '../html.ts';
import { actionButton, badge, csrfField, notice, time } from '../layout.ts';
import { param } from './query.ts';

function rateLimit(limit: { per_second: number | null; concurrency: number | null } | null): Html {
  if (limit === null) return html`<span class="muted">none</span>`;
  return html`${[limit.per_second !== null && `${limit.per_second}/s`, limit.concurrency !== null && `${limit.concurrency} at once`].filter(Boolean).join(', ')}`;
}

type Latency = Awaited<ReturnType<typeof targetReport>>['other_targets_latency'];

/** `0.4 ms`, `38 ms`, `2.5 s`. */
function duration(ms: number): string {
  if (ms < 10) return `${ms.toFixed(1)} ms`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(1)} s`;
}

/** The latency columns: attempts in the last hour, p50, p95. */
function latencyCells(latency: Latency): Html {
  if (latency === null) return html`<td class="num muted">0</td><td class="num muted">—</td><td class="num muted">—</td>`;
  return html`<td class="num">${latency.attempts}</td><td class="num">${duration(latency.p50_ms)}</td><td class="num">${duration(latency.p95_ms)}</td>`;
}

const DONE: Record<string, string> = { disabled: 'Target disabled: its deliveries wait until it is enabled.', enabled: 'Target enabled.' };

export function targetPages(pages: Pages, options: DashboardOptions): void {
  pages.get('/ui/targets', async (req, viewer) => {
    const { targets, other_targets_latency: others } = await targetReport(options);
    return {
      title: 'Targets',
      body: html`${notice(DONE[param(req.query, 'done') ?? ''])}
<table id="targets">
<thead><tr><th>Target</th><th>Circuit</th><th class="num">Failures in a row</th><th class="num">Running</th>
<th class="num" title="Delivery attempts in the last hour">Attempts, 1 h</th><th class="num" title="Median attempt duration over the last hour">p50</th><th class="num" title="95th percentile of attempt durations over the last hour">p95</th>
<th>Rate limit</th><th>Switch</th><th></th></tr></thead>
<tbody>${targets.map((t) => html`<tr>
<td class="nowrap"><a href="/ui/deliveries?target=${encodeURIComponent(t.target)}">${t.target}</a></td>
<td>${badge(t.circuit)}${t.probe_at && html` <span class="muted">probe ${time(t.probe_at)}</span>`}</td>
<td class="num">${t.consecutive_failures}</td><td class="num">${t.running}</td>
${latencyCells(t.latency)}
<td>${rateLimit(t.rate_limit)}</td>
<td>${badge(t.disabled ? 'disabled' : 'enabled')}${t.disabled && html` ${t.reason ?? ''} <span class="muted">${time(t.changed_at)}</span>`}</td>
<td>${t.disabled
        ? actionButton(viewer, '/ui/targets/enable', 'Enable', { target: t.target })
        : viewer.role === 'admin' && html`<form class="inline" method="post" action="/ui/targets/disable">${csrfField(viewer)}
<input type="hidden" name="target" value="${t.target}"><input name="reason" placeholder="reason" maxlength="500" aria-label="reason for disabling ${t.target}">
<button class="danger">Disable</button></form>`}</td>
</tr>`)}${others && html`<tr class="others"><td colspan="4"><span class="muted">Other targets, counted together past the ${TARGET_SERIES_LIMIT} busiest of a minute</span></td>
${latencyCells(others)}<td colspan="3"></td></tr>`}</tbody>
</table>
${targets.length === 0 && html`<p class="muted">No target has deliveries yet.</p>`}
<p class="muted">Attempts, p50 and p95 cover the last hour, from the per-minute rollup. The percentiles are estimated within
duration buckets (…, 70, 100, 150, 200, 300 ms, …).</p>`,
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
