import type { ReportRow, TimelineEvent } from './model.js';
import { day } from './format.js';

/**
 * The timeline chart: one row per secret and environment, time left to right, inline SVG (no
 * script, no fonts or images from anywhere). On each row: a grey tick where a rotation was issued,
 * a blue dot at each switch (purple for an emergency), a green bar below at each decommission, a red
 * cross for a failure and, for an overdue row, a red band from when it fell due to now.
 * The colours are fixed so a test can find the marks in a screenshot.
 */
export const COLOURS = {
  issued: '#57606a',
  switched: '#1f6feb',
  emergency: '#8250df',
  decommissioned: '#1a7f37',
  failed: '#e16f24',
  rolledBack: '#9a6700',
  overdue: '#fa4549',
} as const;

const WIDTH = 1000;
const LABEL = 230;
const RIGHT = 20;
const TOP = 28;
const ROW = 24;

export function timelineSvg(rows: ReportRow[], now: number, since: number | null): string {
  return [...timelineSvgChunks(rows, now, since)].join('');
}

/**
 * The chart in pieces (the lines before the rows, then one piece per row), so a report of 100,000
 * events is written out row by row instead of held as one string.
 */
export function* timelineSvgChunks(rows: ReportRow[], now: number, since: number | null): Generator<string> {
  // A loop, not Math.min(...all): spreading ~125,000 events or more overflows the stack.
  let first = now - 86_400_000;
  for (const row of rows) for (const event of row.timeline) if (event.at < first) first = event.at;
  const start = since ?? first;
  const span = Math.max(now - start, 3_600_000);
  const x = (at: number) => LABEL + ((WIDTH - LABEL - RIGHT) * (Math.max(at, start) - start)) / span;
  const height = TOP + rows.length * ROW + 8;
  yield [
    `<svg xmlns="http://www.w3.org/2000/svg" class="timeline" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" role="img" aria-label="Timeline of rotations per secret">`,
    ...axis(start, now, x, height),
  ].join('\n');
  for (const [index, row] of rows.entries()) {
    const parts: string[] = [];
    const y = TOP + index * ROW + ROW / 2;
    const overdue = row.overdue;
    parts.push(`<g class="row${overdue ? ' overdue' : ''}" data-secret="${esc(row.secret)}" data-environment="${esc(row.environment)}">`);
    parts.push(`<text x="4" y="${y + 4}" class="label${overdue ? ' late' : ''}">${esc(clip(`${row.secret} / ${row.environment}`))}${overdue ? ' (overdue)' : ''}</text>`);
    parts.push(`<line x1="${LABEL}" y1="${y}" x2="${WIDTH - RIGHT}" y2="${y}" stroke="#d0d7de" stroke-width="1"/>`);
    if (overdue) {
      const from = row.nextDueAt ? x(Date.parse(row.nextDueAt)) : LABEL;
      const title = row.nextDueAt ? `overdue since ${day(row.nextDueAt)}` : 'never rotated';
      parts.push(`<rect class="overdue-band" x="${fix(from)}" y="${y - 2}" width="${fix(Math.max(x(now) - from, 2))}" height="4" fill="${COLOURS.overdue}"><title>${esc(row.secret)}/${esc(row.environment)}: ${title}</title></rect>`);
    }
    const who = `${esc(row.secret)}/${esc(row.environment)}`; // escaped once per row, not per mark
    for (const event of row.timeline) parts.push(marker(event, x(event.at), y, who));
    parts.push('</g>');
    yield `\n${parts.join('\n')}`;
  }
  yield '\n</svg>';
}

function marker(event: TimelineEvent, cx: number, y: number, who: string): string {
  const title = `<title>${who}: ${event.kind}${event.emergency ? ' (emergency)' : ''} ${new Date(event.at).toISOString()}${event.rotationId ? ` ${esc(event.rotationId)}` : ''}</title>`;
  switch (event.kind) {
    case 'switched':
    case 'provisioned':
      return `<circle class="switch" cx="${fix(cx)}" cy="${y}" r="4" fill="${event.emergency ? COLOURS.emergency : COLOURS.switched}">${title}</circle>`;
    case 'issued':
      return `<rect class="issue" x="${fix(cx - 1)}" y="${y - 11}" width="2" height="5" fill="${COLOURS.issued}">${title}</rect>`;
    case 'decommissioned':
      return `<rect class="decommission" x="${fix(cx - 2)}" y="${y + 6}" width="4" height="4" fill="${COLOURS.decommissioned}">${title}</rect>`;
    case 'failed':
      return `<path class="failure" d="M${fix(cx - 3)} ${y - 9}l6 6m0 -6l-6 6" stroke="${COLOURS.failed}" stroke-width="1.5">${title}</path>`;
    default:
      return `<path class="rollback" d="M${fix(cx)} ${y + 6}l3 4h-6z" fill="${COLOURS.rolledBack}">${title}</path>`;
  }
}

/** Month ticks (or years, for long spans) along the top, and a dashed line at now. */
function axis(start: number, now: number, x: (at: number) => number, height: number): string[] {
  const out: string[] = [];
  const months = (now - start) / (30 * 86_400_000);
  const step = months > 36 ? 12 : months > 12 ? 3 : 1;
  const tick = new Date(start);
  tick.setUTCDate(1);
  tick.setUTCHours(0, 0, 0, 0);
  tick.setUTCMonth(tick.getUTCMonth() + 1);
  while (tick.getTime() <= now) {
    if (tick.getUTCMonth() % step === 0) {
      const tx = fix(x(tick.getTime()));
      out.push(`<line x1="${tx}" y1="${TOP - 6}" x2="${tx}" y2="${height - 8}" stroke="#eaeef2" stroke-width="1"/>`);
      out.push(`<text x="${tx}" y="${TOP - 10}" class="tick">${tick.toISOString().slice(0, 7)}</text>`);
    }
    tick.setUTCMonth(tick.getUTCMonth() + 1);
  }
  const nx = fix(x(now));
  out.push(`<line x1="${nx}" y1="${TOP - 6}" x2="${nx}" y2="${height - 8}" stroke="#57606a" stroke-dasharray="3 3"/>`);
  out.push(`<text x="${nx}" y="${TOP - 10}" class="tick now">now</text>`);
  return out;
}

const fix = (n: number): string => n.toFixed(1);
const clip = (text: string): string => (text.length > 34 ? `${text.slice(0, 33)}…` : text);

export function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
