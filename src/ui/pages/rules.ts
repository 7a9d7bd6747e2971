/**
 * The rules in force, with where each is written and how often each matched in the last hour (from the rollup), and
 * the last reload with its problems (shown on the overview too).
 */
import { ROLLUP_NAMES } from '../../engine/rollup/minute-rollup.ts';
import { rulesReport } from '../../server/admin/records.ts';
import { recentMinutes, totalsUnder } from '../../server/admin/stats.ts';
import type { DashboardOptions, Pages } from '../pages.ts';
import { html, type Html } from '../html.ts';
import { badge, time } from '../layout.ts';

export function rulePages(pages: Pages, options: DashboardOptions): void {
  pages.get('/ui/rules', async () => {
    const report = rulesReport(options);
    const matches = new Map(totalsUnder(await recentMinutes(options.store, 60), ROLLUP_NAMES.rule('')));
    return {
      title: 'Rules',
      body: html`${lastReload(report)}
<table>
<thead><tr><th>Rule</th><th>On</th><th>Actions</th><th>State</th><th class="num">Matches, last hour</th><th>File</th></tr></thead>
<tbody>${report.rules.map((rule) => html`<tr>
<td><a href="/ui/deliveries?rule=${encodeURIComponent(rule.id)}"><code>${rule.id}</code></a>${rule.description && html`<br><span class="muted">${rule.description}</span>`}</td>
<td>${rule.on.map((type) => html`<code>${type}</code> `)}</td>
<td>${rule.actions.map((action) => html`<code>${action.plugin}</code> <span class="muted">${action.mode}</span><br>`)}</td>
<td>${badge(rule.enabled ? 'enabled' : 'disabled')}</td>
<td class="num">${matches.get(rule.id) ?? 0}</td>
<td class="nowrap"><code>${rule.file}:${rule.line}</code></td>
</tr>`)}</tbody>
</table>`,
    };
  });
}

/** The latest load of the rules: when, why, its outcome, and each problem where it is written. */
export function lastReload({ loaded_at, last_reload: last }: ReturnType<typeof rulesReport>): Html {
  return html`<section class="card reload ${last.outcome}" id="last-reload">
<div>Last rule reload ${badge(last.outcome)} <span class="muted">${last.reason} · ${time(last.at)}</span></div>
${last.outcome === 'failure' && html`<p>Nothing changed: the rules loaded ${time(loaded_at)} stay in force until the problems below are fixed.</p>
<table class="problems"><thead><tr><th>Where</th><th>Rule</th><th>Problem</th></tr></thead><tbody>${last.problems.map(
    (problem) => html`<tr><td class="nowrap">${problem.file === null ? html`<span class="muted">—</span>` : html`<code>${[problem.file, problem.line, problem.column].filter((part) => part !== null).join(':')}</code>`}</td>
<td>${problem.rule_id === null ? html`<span class="muted">—</span>` : html`<code>${problem.rule_id}</code>`}</td><td>${problem.message}</td></tr>`,
  )}</tbody></table>`}
</section>`;
}
