import { relative } from 'node:path';
import type { RotateReport } from '../engine/runner.js';
import type { GlobalOptions, Io } from './main.js';
import { printJson, printTable } from './output.js';

const CHANGED = new Set(['provisioned', 'rotated', 'resumed', 'decommissioned', 'rolled-back']);

/** `rotate` and `rollback` results: the JSON contract, or a table and a one-line summary. */
export function printRotateReport(g: GlobalOptions, io: Io, report: RotateReport): void {
  if (g.json) {
    printJson(io.out, {
      results: report.results.map((r) => ({
        secret: r.secret,
        environment: r.environment,
        action: r.action,
        outcome: r.outcome,
        fromVersion: r.fromVersion,
        toVersion: r.toVersion,
        rotationId: r.rotationId,
        ...(r.reason ? { reason: r.reason } : {}),
        ...(r.error ? { error: r.error } : {}),
      })),
      evidence: report.evidenceFile,
      runId: report.runId,
    });
    return;
  }
  const shown = report.results.filter((r) => r.outcome !== 'skipped' || report.results.length <= 50);
  printTable(
    io.out,
    ['SECRET', 'ENV', 'ACTION', 'OUTCOME', 'FROM', 'TO', 'NOTE'],
    shown.map((r) => [r.secret, r.environment, r.action, r.outcome, r.fromVersion, r.toVersion, r.error ? `${r.error.message}${r.error.hint ? ` (${r.error.hint})` : ''}` : r.outcome === 'skipped' ? r.reason : '']),
  );
  const counts = new Map<string, number>();
  for (const r of report.results) counts.set(r.outcome, (counts.get(r.outcome) ?? 0) + 1);
  const summary = [...counts].map(([outcome, n]) => `${n} ${outcome}`).join(', ');
  io.out.stdout(`\n${summary || 'nothing selected'}\n`);
  // Exit 1 with changes and holds, 3 with holds only: say which, so nobody reads one as the other.
  const held = report.results.filter((r) => r.outcome === 'skipped' && r.reason?.startsWith('held:')).length;
  const stopped = report.results.filter((r) => r.outcome === 'blocked' || r.outcome === 'failed').length;
  if (stopped > 0) {
    const changed = report.results.filter((r) => CHANGED.has(r.outcome)).length;
    io.out.stdout(
      `${changed > 0 ? `${changed} environment(s) changed` : 'nothing was changed'}; ${stopped} blocked or failed${held > 0 ? `, ${held} later environment(s) held behind them` : ''}: a rerun continues from here\n`,
    );
  }
  // Why, by cause: in an emergency run over many stores the codes say what to fix first.
  const causes = new Map<string, number>();
  for (const r of report.results) if (r.outcome === 'failed' || r.outcome === 'blocked') causes.set(r.error?.code ?? r.outcome, (causes.get(r.error?.code ?? r.outcome) ?? 0) + 1);
  if (causes.size > 0) io.out.stdout(`why: ${[...causes].map(([code, n]) => `${n} × ${code}`).join(', ')}\n`);
  if (report.evidenceFile) io.out.stdout(`evidence: ${relative(io.cwd, report.evidenceFile) || report.evidenceFile} (check it with: keyshift evidence verify)\n`);
}
