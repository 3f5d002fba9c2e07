import type { Report, ReportRow } from './model.js';
import { adherenceText, byControl, day } from './format.js';

/** The report as Markdown: summary, evidence problems, then one table per control. */
export function renderMarkdown(report: Report): string {
  const rows = report.secrets;
  const count = (test: (r: ReportRow) => boolean) => rows.filter(test).length;
  const lines = [
    '# keyshift rotation report',
    '',
    `Generated ${report.generatedAt}${report.since ? `, covering rotations since ${report.since}` : ', covering all evidence'}.`,
    '',
    `- Score: **${report.score}%** of secret/environment pairs rotated on time with complete evidence`,
    `- ${rows.length} secret/environment pair(s): ${count((r) => r.adherence === 'on-time')} on time, ${count((r) => r.adherence === 'late')} late, ${count((r) => r.adherence === 'never')} never rotated`,
    `- Overdue now: ${count((r) => r.overdue)}; due within 14 days: ${count((r) => r.dueSoon)}`,
    `- Emergency rotations: ${sum(rows, 'emergencyRotations')}; failed rotations: ${sum(rows, 'failedRotations')}`,
    `- Evidence chain: ${report.evidenceVerified ? 'verified' : '**NOT verified: coverage incomplete**'}`,
  ];
  if (report.evidenceProblems.length > 0) {
    lines.push('', '## Evidence problems', '', ...report.evidenceProblems.map((p) => `- ${escape(p)}`));
  }
  for (const [control, group] of byControl(rows)) {
    lines.push('', `## ${escape(control)}`, '');
    lines.push('| Secret | Env | Owner | Interval | Last rotated | Next due | Adherence | Rotations | Emergency | Failed | Evidence |');
    lines.push('|---|---|---|---|---|---|---|---|---|---|---|');
    for (const r of group) {
      const due = `${day(r.nextDueAt)}${r.overdue ? ' **OVERDUE**' : r.dueSoon ? ' (due soon)' : ''}`;
      const evidence = r.evidenceComplete ? 'complete' : `incomplete: ${escape(r.evidenceGaps.slice(0, 3).join('; '))}${r.evidenceGaps.length > 3 ? '; …' : ''}`;
      lines.push(`| ${escape(r.secret)} | ${escape(r.environment)} | ${escape(r.owner ?? '-')} | ${r.interval} | ${day(r.lastRotatedAt)} | ${due} | ${adherenceText(r)} | ${r.rotations} | ${r.emergencyRotations} | ${r.failedRotations} | ${evidence} |`);
    }
  }
  return `${lines.join('\n')}\n`;
}

function sum(rows: ReportRow[], field: 'emergencyRotations' | 'failedRotations'): number {
  return rows.reduce((total, r) => total + r[field], 0);
}

function escape(text: string): string {
  return text.replace(/[|\\`*_<>[\]]/g, (c) => `\\${c}`).replace(/\n/g, ' ');
}
