import { diskError } from '../../disk-errors.js';
import { errorMessage, hintOf, INTERNAL_HINT, KeyshiftError } from '../../errors.js';
import type { EntryState, EvidenceDraft, StoreFinding, VersionOp } from '../../stores/contract.js';
import type { Target } from '../context.js';
import { currentVersion, nextDueAt } from '../state.js';

/**
 * The checks of `keyshift doctor` that look at one target or one store (docs/cli.md#doctor). Pure
 * functions of what was read; doctor/index.ts, store.ts and repair.ts do the reading and the repairs.
 */

export type DoctorCheck =
  | 'foreign-pending' | 'stale-pending' | 'unknown-versions' | 'dead-lock' | 'evidence-gap' | 'overdue' | 'store-error' | 'locked'
  | 'store-rolled-back' | 'store-replaced';

/** One line of `doctor`'s report: the JSON contract of `doctor --json`. */
export interface Finding {
  secret: string | null;
  environment: string | null;
  /** The store's location (a path, `secretsmanager <region> …`); null for the evidence log. */
  store: string | null;
  check: DoctorCheck;
  severity: 'error' | 'warning';
  message: string;
  hint: string;
  fixable: boolean;
  fixed: boolean;
  /** Only on `store-error`: the store's error as a failed `rotate` result carries it. */
  error?: { code: string; message: string; hint?: string };
}

/** What `--fix` does for a fixable finding. */
export type Repair =
  | { kind: 'break-lock'; path: string; storeId: string | null; action: string }
  | { kind: 'append-drafts'; action: string }
  | { kind: 'cut-killed-append'; action: string }
  | { kind: 'store-ops'; ops: VersionOp[]; action: string; versionId: string | null }
  | { kind: 'resume'; rotationId: string };

/** A finding with what the engine needs to repair it (never printed). */
export interface Diagnosis extends Finding {
  repair?: Repair;
  target?: Target;
  storeId?: string;
  /** `--fix` left it: another runner holds the target's lease (counts as blocked, exit 3). */
  leased?: boolean;
}

/** A rotation keyshift left in overlap or failed is stuck after this long at most (or the policy's interval, if shorter). */
export const STALE_AFTER_MS = 60 * 60 * 1000;

export function targetFinding(target: Target, check: DoctorCheck, severity: Finding['severity'], message: string, hint: string, repair?: Repair): Diagnosis {
  return {
    secret: target.policy.name,
    environment: target.environment.name,
    store: target.store.location,
    check,
    severity,
    message,
    hint,
    fixable: repair !== undefined,
    fixed: false,
    target,
    storeId: target.storeId,
    ...(repair ? { repair } : {}),
  };
}

/** A finding of a store's own (diagnose) on one target. */
export function fromStoreFinding(target: Target, finding: StoreFinding): Diagnosis {
  const repair: Repair | undefined = finding.repair ? { kind: 'store-ops', ...finding.repair } : undefined;
  return targetFinding(target, finding.check as DoctorCheck, finding.severity, finding.message, finding.hint, repair);
}

/** A store that cannot be read: its own message and hint, no stack trace. */
export function storeError(thrown: unknown, where: { target?: Target; store: string; storeId: string }): Diagnosis {
  const error = diskError(thrown, where.store) ?? thrown;
  const known = error instanceof KeyshiftError;
  return {
    secret: where.target?.policy.name ?? null,
    environment: where.target?.environment.name ?? null,
    store: where.store,
    check: 'store-error',
    severity: 'error',
    message: known ? error.message : `internal error: ${errorMessage(error)}`,
    hint: known ? hintOf(error) : INTERNAL_HINT,
    fixable: false,
    fixed: false,
    error: known ? { code: error.code, message: error.message, hint: hintOf(error) } : { code: 'ERR_INTERNAL', message: errorMessage(error), hint: INTERNAL_HINT },
    storeId: where.storeId,
    ...(where.target ? { target: where.target } : {}),
  };
}

/**
 * A keyshift rotation in overlap or failed that no run is advancing. `failed` always is; `overlap`
 * is when its new version was never created, the run that held the store died, or it has been in
 * flight longer than min(interval, 1h). Stores a live run holds are never judged (the caller skips them).
 */
export function staleRotation(target: Target, state: EntryState | null, now: Date, holderDied: boolean): Diagnosis | null {
  const rotation = state?.rotation;
  if (!state || !rotation || rotation.phase === 'fallback') return null;
  const ageMs = now.getTime() - Date.parse(rotation.startedAt);
  const reasons: string[] = [];
  if (rotation.phase === 'failed') reasons.push(`it failed: ${rotation.error ?? 'unknown error'}`);
  if (!state.versions.some((v) => v.id === rotation.newVersionId)) reasons.push(`its new version ${rotation.newVersionId} was never created`);
  if (holderDied) reasons.push('the run that held the store died');
  if (ageMs >= Math.min(target.policy.intervalMs, STALE_AFTER_MS)) reasons.push(`it has been in flight for ${roughly(ageMs)}`);
  if (reasons.length === 0) return null;
  const name = target.policy.name;
  const ticket = target.environment.requireTicket;
  const message = `rotation ${rotation.rotationId} is stuck in ${rotation.phase} since ${rotation.startedAt}: ${reasons.join('; ')}${ticket ? '; not resumed by doctor: this environment requires a change ticket' : ''}`;
  const hint = `keyshift rotate ${name}${ticket ? ` --env ${target.environment.name} --ticket <id>` : ''} resumes it where it stopped${ticket ? '' : ' (so does keyshift doctor --fix)'}; or keyshift rollback ${name} --env ${target.environment.name} discards the new version`;
  return targetFinding(target, 'stale-pending', 'error', message, hint, ticket ? undefined : { kind: 'resume', rotationId: rotation.rotationId });
}

/** Past its next due time, or never provisioned. Not judged while a rotation is in flight. */
export function overdue(target: Target, state: EntryState | null, now: Date): Diagnosis | null {
  const phase = state?.rotation?.phase;
  if (phase === 'overlap' || phase === 'failed') return null;
  const hint = `keyshift rotate ${target.policy.name}`;
  if (!currentVersion(state)) return targetFinding(target, 'overdue', 'warning', `${target.policy.name}/${target.environment.name} is not provisioned yet (no CURRENT version)`, hint);
  const due = nextDueAt(target.policy, state);
  if (!due || due > now) return null;
  return targetFinding(target, 'overdue', 'warning', `due since ${due.toISOString()} (interval ${target.policy.interval}), ${roughly(now.getTime() - due.getTime())} ago`, hint);
}

/** Evidence a crashed run announced in the store and never appended (the log lacks `missing` of them). */
export function unappendedDrafts(target: Target, drafts: EvidenceDraft[], missing: EvidenceDraft[], logIntact: boolean): Diagnosis | null {
  if (missing.length === 0) return null;
  const runs = [...new Set(drafts.map((d) => d.runId))].join(', ');
  const events = missing.map((d) => d.event).join(', ');
  const message = `${missing.length} evidence record(s) announced by ${runs} (${events}) never reached the log: that run died before appending them${logIntact ? '' : '; not appended while the log itself is damaged'}`;
  const hint = logIntact
    ? 'keyshift doctor --fix (or the next keyshift rotate of this store) appends them'
    : 'repair the evidence log first (see the evidence-gap finding about the log), then rerun keyshift doctor --fix';
  const action = `appended ${missing.length} evidence record(s) (${events}) that ${runs} announced in the store but never wrote`;
  return targetFinding(target, 'evidence-gap', 'error', message, hint, logIntact ? { kind: 'append-drafts', action } : undefined);
}

/** Public shape only: what `--json` prints. */
export function publicFinding(d: Diagnosis): Finding {
  const { secret, environment, store, check, severity, message, hint, fixable, fixed, error } = d;
  return { secret, environment, store, check, severity, message, hint, fixable, fixed, ...(error ? { error } : {}) };
}

function roughly(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  if (s < 172800) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86400)}d`;
}
