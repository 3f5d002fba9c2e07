import { relative } from 'node:path';
import type { DoctorReport } from '../engine/doctor/index.js';
import type { GlobalOptions, Io } from './main.js';
import { printJson } from './output.js';

/** `doctor`: the JSON contract (docs/cli.md#doctor), or one block per finding and a summary. */
export function printDoctorReport(g: GlobalOptions, io: Io, report: DoctorReport, fix: boolean): void {
  if (!g.quiet) for (const note of report.notes) io.out.stderr(`note: ${note}\n`);
  if (g.json) {
    printJson(io.out, { findings: report.findings });
    return;
  }
  for (const f of report.findings) {
    const subject = f.secret ? `${f.secret}/${f.environment}` : (f.store ?? 'evidence');
    const state = f.fixed ? ' [fixed]' : f.fixable ? (fix ? ' [not fixed]' : ' [fixable]') : '';
    io.out.stdout(`${f.severity.padEnd(7)} ${f.check} ${subject}${state}\n  ${f.message}\n  hint: ${f.hint}\n`);
  }
  const fixed = report.findings.filter((f) => f.fixed).length;
  const left = report.findings.length - fixed;
  if (report.findings.length === 0) io.out.stdout('no problems found\n');
  else if (!fix) {
    const fixable = report.findings.filter((f) => f.fixable).length;
    io.out.stdout(`\n${left} problem(s)${fixable > 0 ? `, ${fixable} repairable with keyshift doctor --fix` : ''}; nothing was changed\n`);
  } else {
    io.out.stdout(`\n${fixed} repaired, ${left} left\n`);
  }
  if (report.evidenceFile) io.out.stdout(`evidence: ${relative(io.cwd, report.evidenceFile) || report.evidenceFile} (check it with: keyshift evidence verify)\n`);
}
