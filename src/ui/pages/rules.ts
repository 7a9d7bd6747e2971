/** The rules in force, with where each is written and how often each matched in the last hour (from the rollup). */
import { ROLLUP_NAMES } from '../../engine/rollup/minute-rollup.ts';
import { rulesInForce } from '../../server/admin/records.ts';
import { recentMinutes, totalsUnder } from '../../server/admin/stats.ts';
import type { DashboardOptions, Pages } from '../pages.ts';
import { html } from '../html.ts';
import { badge, notAvailable } from '../layout.ts';

export function rulePages(pages: Pages, { currentRules, store }: DashboardOptions): void {
  pages.get('/ui/rules', async () => {
    const rules = rulesInForce(currentRules());
    const matches = new Map(totalsUnder(await recentMinutes(store, 60), ROLLUP_NAMES.rule('')));
    return {
      title: 'Rules',
      body: html`${notAvailable('The last reload with its problems')}
<table>
<thead><tr><th>Rule</th><th>On</th><th>Actions</th><th>State</th><th class="num">Matches, last hour</th><th>File</th></tr></thead>
<tbody>${rules.map((rule) => html`<tr>
<td><a href="/ui/deliveries?rule=${encodeURIComponent(rule.id)}"><code>${rule.id}</code></a>${rule.description && html`<br><span class="muted">${rule.description}</span>`}</td>
<td>${rule.on.map((type) => html`<code>${type}</code> `)}</td>
<td>${rule.actions.map((action) => html`<code>${action.plugin}</code> <span class="muted">${action.mode}</span><br>`)}</td>
<td>${badge(rule.enabled ? 'enabled' : 'disabled')}</td>
<td class="num">${matches.get(rule.id) ?? 0}</td>
<td><code>${rule.file}:${rule.line}</code></td>
</tr>`)}</tbody>
</table>`,
    };
  });
}
