/** Per-minute charts drawn here as SVG: no script, no chart library. */
import { html, type Html } from './html.ts';

export interface Line {
  label: string;
  /** A CSS class for its colour (`succeeded`, `dead`). */
  tone: string;
  /** One count per minute, oldest first. */
  counts: readonly number[];
}

const WIDTH = 560;
const HEIGHT = 120;
const LEFT = 36;
const BOTTOM = 18;

/** Lines of counts per minute over the same minutes, with the largest count and the span written on the axes. */
export function minuteChart(title: string, span: string, lines: readonly Line[]): Html {
  const minutes = Math.max(1, ...lines.map((line) => line.counts.length));
  const largest = Math.max(1, ...lines.flatMap((line) => line.counts));
  const x = (index: number) => LEFT + (minutes === 1 ? 0 : (index / (minutes - 1)) * (WIDTH - LEFT));
  const y = (count: number) => HEIGHT - BOTTOM - (count / largest) * (HEIGHT - BOTTOM - 6);
  return html`<figure class="chart"><figcaption>${title} <span class="muted">per minute, ${span}</span></figcaption>
<svg role="img" aria-label="${title} per minute, ${span}" viewBox="0 0 ${WIDTH} ${HEIGHT}" width="${WIDTH}" height="${HEIGHT}">
<line class="axis" x1="${LEFT}" y1="${HEIGHT - BOTTOM}" x2="${WIDTH}" y2="${HEIGHT - BOTTOM}"></line>
<text class="tick" x="${LEFT - 4}" y="12" text-anchor="end">${largest}</text>
<text class="tick" x="${LEFT - 4}" y="${HEIGHT - BOTTOM}" text-anchor="end">0</text>
<text class="tick" x="${LEFT}" y="${HEIGHT - 4}">−${span}</text>
<text class="tick" x="${WIDTH}" y="${HEIGHT - 4}" text-anchor="end">now</text>
${lines.map((line) => html`<polyline class="line ${line.tone}" points="${line.counts.map((count, index) => `${x(index).toFixed(1)},${y(count).toFixed(1)}`).join(' ')}"></polyline>`)}
</svg>
<div class="legend">${lines.map((line) => html`<span class="key ${line.tone}">${line.label} <strong>${line.counts.reduce((sum, count) => sum + count, 0)}</strong></span>`)}</div>
</figure>`;
}
