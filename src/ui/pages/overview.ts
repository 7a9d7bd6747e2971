/** The overview: the queue by state, how far the workers lag, targets that hold deliveries back, the rules loaded. */
import { targetViews } from '../../server/admin/targets.ts';
import { DELIVERY_STATES } from '../../store/delivery-state.ts';
import type { DashboardOptions, Pages } from '../pages.ts';
import { html, type Html } from '../html.ts';
import { badge, notAvailable, time } from '../layout.ts';

export function overviewPages(pages: Pages, options: DashboardOptions): void {
  const { store, currentRules } = options;
  pages.get('/ui', async () => {
    const now = new Date();
    const [counts, oldestDue, targets] = await Promise.all([store.countDeliveries(), store.oldestDueAt(now), targetViews(options)]);
    const held = targets.filter((t) => t.disabled || t.circuit !== 'closed');
    const rules = currentRules().rules;
    return {
      title: 'Overview',
      body: html`<div class="grid">
<section class="card"><div class="muted">Oldest due delivery waiting</div>
<div class="figure">${oldestDue === null ? 'none' : ageOf(now.getTime() - oldestDue.getTime())}</div>
${oldestDue && html`<div class="muted">due since ${time(oldestDue.toISOString())}</div>`}</section>
<section class="card"><div class="muted">Dead deliveries</div>
<div class="figure"><a href="/ui/deliveries?status=dead">${counts.dead}</a></div></section>
<section class="card"><div class="muted">Targets holding deliveries back</div>
<div class="figure"><a href="/ui/targets">${held.length}</a></div></section>
<section class="card"><div class="muted">Rules in force</div>
<div class="figure"><a href="/ui/rules">${rules.filter((rule) => rule.enabled).length}</a></div>
<div class="muted">${rules.length} loaded</div></section>
</div>
<h2>The queue by state</h2>
<section class="card">${queueChart(counts)}</section>
<h2>Targets with an open circuit or disabled</h2>
${held.length === 0
        ? html`<p class="muted">None: every target is enabled with a closed circuit.</p>`
        : html`<table><thead><tr><th>Target</th><th>Circuit</th><th>Switch</th></tr></thead><tbody>${held.map(
            (t) => html`<tr><td><a href="/ui/deliveries?target=${encodeURIComponent(t.target)}">${t.target}</a></td><td>${badge(t.circuit)}</td>
<td>${badge(t.disabled ? 'disabled' : 'enabled')} ${t.reason ?? ''}</td></tr>`,
          )}</tbody></table>`}
<h2>The last hour and 24 hours</h2>
${notAvailable('Webhooks received by outcome and deliveries succeeded, failed and dead, per minute (the per-minute rollup)')}
${notAvailable('The last rule reload and its problems')}`,
    };
  });
}

const BAR_WIDTH = 520;
const ROW = 26;
const LABEL = 170;

/** The queue by state as horizontal bars, drawn here as SVG: no script, no chart library. */
function queueChart(counts: Record<string, number>): Html {
  const largest = Math.max(1, ...Object.values(counts));
  return html`<svg class="bars" role="img" aria-label="deliveries by state" width="${LABEL + BAR_WIDTH + 90}" height="${DELIVERY_STATES.length * ROW}">
${DELIVERY_STATES.map((state, row) => {
    const width = counts[state] === 0 ? 0 : Math.max(2, Math.round((counts[state] / largest) * BAR_WIDTH));
    const y = row * ROW;
    return html`<a href="/ui/deliveries?status=${state}"><text x="0" y="${y + 17}">${state}</text>
<rect class="bar ${state}" x="${LABEL}" y="${y + 5}" width="${width}" height="16" rx="3"></rect>
<text x="${LABEL + width + 8}" y="${y + 17}">${counts[state]}</text></a>`;
  })}
</svg>`;
}

function ageOf(ms: number): string {
  const seconds = Math.max(0, Math.round(ms / 1000));
  if (seconds < 120) return `${seconds} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  return `${Math.round(seconds / 3600)} h`;
}
