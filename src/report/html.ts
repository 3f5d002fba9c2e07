import type { Report, ReportRow } from './model.js';
import { adherenceText, byControl, day } from './format.js';
import { COLOURS, esc, timelineSvgChunks } from './timeline-svg.js';

/**
 * The report as one self-contained HTML file: inline CSS and SVG, no script, nothing fetched, so it
 * opens offline, can be attached to a ticket and prints readably.
 */
export function renderHtml(report: Report): string {
  return [...renderHtmlChunks(report)].join('');
}

/** renderHtml in pieces, for writing a large report out without building it as one string. */
export function* renderHtmlChunks(report: Report): Generator<string> {
  const now = Date.parse(report.generatedAt);
  const rows = report.secrets;
  const count = (test: (r: ReportRow) => boolean) => rows.filter(test).length;
  const problems = report.evidenceProblems.length === 0 ? '' : `<section class="problems"><h2>Evidence problems: coverage incomplete</h2><ul>${report.evidenceProblems.map((p) => `<li>${esc(p)}</li>`).join('')}</ul></section>`;
  const tables = byControl(rows).map(([control, group]) => `<section><h2>${esc(control)}</h2>${table(group)}</section>`).join('\n');
  yield `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>keyshift rotation report ${esc(report.generatedAt.slice(0, 10))}</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; color: #1f2328; margin: 24px; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 24px 0 8px; }
.summary { display: flex; gap: 24px; flex-wrap: wrap; margin: 12px 0; }
.summary div { border: 1px solid #d0d7de; border-radius: 6px; padding: 8px 12px; }
.summary b { display: block; font-size: 20px; }
table { border-collapse: collapse; width: 100%; } th, td { border-bottom: 1px solid #d0d7de; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f6f8fa; } tr.overdue td { background: #fff1f0; } .bad { color: #cf222e; font-weight: 600; }
.timeline text { font: 11px system-ui, sans-serif; fill: #1f2328; } .timeline text.late { fill: #cf222e; font-weight: 600; } .timeline .tick { fill: #57606a; text-anchor: middle; }
.legend span { margin-right: 16px; } .legend i { display: inline-block; width: 10px; height: 10px; margin-right: 4px; border-radius: 50%; }
.problems { border: 2px solid #cf222e; padding: 4px 12px; }
@media print { body { margin: 0; } section { break-inside: avoid; } }
</style>
</head>
<body>
<h1>keyshift rotation report</h1>
<p>Generated ${esc(report.generatedAt)}${report.since ? `, rotations since ${esc(report.since)}` : ', all evidence'}.</p>
<div class="summary">
<div><b>${report.score}%</b>on time with complete evidence</div>
<div><b>${count((r) => r.overdue)}</b>overdue now</div>
<div><b>${count((r) => r.dueSoon)}</b>due within 14 days</div>
<div><b>${count((r) => r.adherence === 'late')}</b>rotated late</div>
<div><b>${count((r) => r.adherence === 'never')}</b>never rotated</div>
<div><b>${report.evidenceVerified ? 'verified' : '<span class="bad">NOT verified</span>'}</b>evidence chain</div>
</div>
${problems}
<h2>Timeline</h2>
<p class="legend"><span><i style="background:${COLOURS.switched}"></i>switch</span><span><i style="background:${COLOURS.emergency}"></i>emergency switch</span><span><i style="background:${COLOURS.issued}"></i>issued</span><span><i style="background:${COLOURS.decommissioned}"></i>decommissioned</span><span><i style="background:${COLOURS.failed}"></i>failed</span><span><i style="background:${COLOURS.overdue}"></i>overdue</span></p>
`;
  yield* timelineSvgChunks(rows, now, report.since ? Date.parse(report.since) : null);
  yield `
${tables}
</body>
</html>
`;
}

function table(rows: ReportRow[]): string {
  const body = rows.map((r) => {
    const due = `${day(r.nextDueAt)}${r.overdue ? ' <span class="bad">OVERDUE</span>' : r.dueSoon ? ' (due soon)' : ''}`;
    const evidence = r.evidenceComplete ? 'complete' : `<span class="bad">incomplete</span> ${esc(r.evidenceGaps.slice(0, 3).join('; '))}`;
    return `<tr${r.overdue ? ' class="overdue"' : ''}><td>${esc(r.secret)}</td><td>${esc(r.environment)}</td><td>${esc(r.owner ?? '-')}</td><td>${esc(r.interval)}</td><td>${day(r.lastRotatedAt)}</td><td>${due}</td><td>${r.adherence === 'on-time' ? 'on time' : `<span class="bad">${esc(adherenceText(r))}</span>`}</td><td>${r.rotations}</td><td>${r.emergencyRotations}</td><td>${r.failedRotations}</td><td>${evidence}</td></tr>`;
  });
  return `<table><thead><tr><th>Secret</th><th>Env</th><th>Owner</th><th>Interval</th><th>Last rotated</th><th>Next due</th><th>Adherence</th><th>Rotations</th><th>Emergency</th><th>Failed</th><th>Evidence</th></tr></thead><tbody>${body.join('')}</tbody></table>`;
}
