/**
 * The overview: webhooks and attempts per minute over the last hour and 24 hours (from the rollup), the queue by
 * state, how far the workers lag, targets that hold deliveries back, the rules loaded and their last reload.
 */
import { ROLLUP_NAMES } from '../../engine/rollup/minute-rollup.ts';
import { recentMinutes, totalsUnder, type MinuteSeries } from '../../server/admin/stats.ts';
import { rulesReport } from '../../server/admin/records.ts';
import { targetViews } from '../../server/admin/targets.ts';
import { DELIVERY_STATES } from '../../store/delivery-state.ts';
import type { DashboardOptions, Pages } from '../pages.ts';
import { html, type Html } from '../html.ts';
import { minuteChart, type Line } from '../charts.ts';
import { badge, time } from '../layout.ts';
import { lastReload } from './rules.ts';

export function overviewPages(pages: Pages, options: DashboardOptions): void {
  const { store } = options;
  pages.get('/ui', async () => {
    const now = new Date();
    const [counts, oldestDue, targets, day] = await Promise.all([
      store.countDeliveries(),
      store.oldestDueAt(now),
      targetViews(options),
      recentMinutes(store, 24 * 60, now.getTime()),
    ]);
    const hour = lastMinutes(day, 60);
    const held = targets.filter((t) => t.disabled || t.circuit !== 'closed');
    const rules = rulesReport(options);
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
<div class="figure"><a href="/ui/rules">${rules.rules.filter((rule) => rule.enabled).length}</a></div>
<div class="muted">${rules.rules.length} loaded</div></section>
</div>
${lastReload(rules)}
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
<div class="charts">
${minuteChart('Webhooks', '1 h', webhookLines(hour))}
${minuteChart('Webhooks', '24 h', webhookLines(day))}
${minuteChart('Delivery attempts', '1 h', attemptLines(hour))}
${minuteChart('Delivery attempts', '24 h', attemptLines(day))}
</div>
${rejections(hour, day)}`,
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

const webhook = ROLLUP_NAMES.webhook('');

/** The last `minutes` of a longer series. */
function lastMinutes(series: MinuteSeries, minutes: number): MinuteSeries {
  const skip = series.minutes - minutes;
  return {
    from: new Date(series.from.getTime() + skip * 60_000),
    minutes,
    series: new Map([...series.series].map(([name, counts]) => [name, counts.slice(skip)])),
  };
}

function countsOf(series: MinuteSeries, name: string): number[] {
  return series.series.get(name) ?? new Array<number>(series.minutes).fill(0);
}

/** Accepted, duplicate, and refused whatever the reason (the reasons are in the table below). */
function webhookLines(series: MinuteSeries): Line[] {
  const rejected = new Array<number>(series.minutes).fill(0);
  for (const [name, counts] of series.series) {
    if (!name.startsWith(webhook) || name === ROLLUP_NAMES.webhook('accepted') || name === ROLLUP_NAMES.webhook('duplicate')) continue;
    counts.forEach((count, index) => (rejected[index] += count));
  }
  return [
    { label: 'accepted', tone: 'accepted', counts: countsOf(series, ROLLUP_NAMES.webhook('accepted')) },
    { label: 'duplicate', tone: 'duplicate', counts: countsOf(series, ROLLUP_NAMES.webhook('duplicate')) },
    { label: 'rejected', tone: 'rejected', counts: rejected },
  ];
}

function attemptLines(series: MinuteSeries): Line[] {
  return [
    { label: 'succeeded', tone: 'succeeded', counts: countsOf(series, ROLLUP_NAMES.attempt('succeeded')) },
    { label: 'failed, to retry', tone: 'retry', counts: countsOf(series, ROLLUP_NAMES.attempt('failed-waiting-retry')) },
    { label: 'dead', tone: 'dead', counts: countsOf(series, ROLLUP_NAMES.attempt('dead')) },
  ];
}

/** Refused webhooks by reason (the errcode they were answered with). */
function rejections(hour: MinuteSeries, day: MinuteSeries): Html {
  const isRejection = ([reason]: [string, number]) => reason !== 'accepted' && reason !== 'duplicate';
  const lastHour = new Map(totalsUnder(hour, webhook).filter(isRejection));
  const reasons = totalsUnder(day, webhook).filter(isRejection);
  if (reasons.length === 0) return html`<p class="muted">No webhook was rejected in the last 24 hours.</p>`;
  return html`<table id="rejections"><thead><tr><th>Webhooks rejected, by reason</th><th class="num">Last hour</th><th class="num">24 hours</th></tr></thead>
<tbody>${reasons.map(([reason, total]) => html`<tr><td><code>${reason}</code></td><td class="num">${lastHour.get(reason) ?? 0}</td><td class="num">${total}</td></tr>`)}</tbody></table>`;
}
