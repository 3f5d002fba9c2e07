import type { StatusFacts } from './model.js';

/** Grace after the fallback window before a pending decommission counts as stuck (one missed daily run). */
export const STUCK_GRACE_MS = 24 * 3_600_000;

export interface CheckProblem {
  secret: string;
  environment: string;
  kind: 'overdue' | 'never-rotated' | 'failed' | 'stuck' | 'error';
  message: string;
}

/** Problems a monitor should page on, one per secret and environment and kind. Pure. */
export function findProblems(rows: Array<StatusFacts & { error: { message: string } | null }>, now: Date): CheckProblem[] {
  const problems: CheckProblem[] = [];
  for (const r of rows) {
    const add = (kind: CheckProblem['kind'], message: string) => problems.push({ secret: r.secret, environment: r.environment, kind, message });
    if (r.phase === 'unknown') add('error', `the store could not be read${r.error ? `: ${r.error.message}` : ''}`);
    else if (r.nextDueAt === null) add('never-rotated', 'never provisioned: run keyshift rotate to create it');
    else if (r.overdue) add('overdue', `overdue since ${r.nextDueAt}`);
    if (r.phase === 'failed') add('failed', `rotation ${r.rotationId ?? '?'} failed${r.error ? `: ${r.error.message}` : ''}; rerun keyshift rotate to resume it`);
    if (r.phase === 'fallback' && r.decommissionAfter && Date.parse(r.decommissionAfter) + STUCK_GRACE_MS <= now.getTime()) {
      add('stuck', `fallback window ended ${r.decommissionAfter} but the old version is not decommissioned: run keyshift rotate (or keyshift doctor)`);
    }
  }
  return problems;
}
