import { diskError } from '../disk-errors.js';
import { errorMessage, ExitCode, hintOf, INTERNAL_HINT, KeyshiftError } from '../errors.js';
import type { Target } from './context.js';
import type { PlannedAction } from './planner.js';

/** What a run did to one target, as `rotate`, `rollback` and `doctor --fix` report it, and errors as they name them. */

export interface RotateResult {
  secret: string;
  environment: string;
  action: PlannedAction['action'] | 'rollback';
  outcome: 'provisioned' | 'rotated' | 'resumed' | 'decommissioned' | 'rolled-back' | 'skipped' | 'failed' | 'blocked';
  fromVersion: string | null;
  toVersion: string | null;
  rotationId: string | null;
  reason?: string;
  error?: { code: string; message: string; hint?: string };
}

/** 1 if anything failed; 3 only if something was blocked and nothing changed (DESIGN v2 "Failure isolation"). */
export function rotateExitCode(results: RotateResult[]): number {
  if (results.some((r) => r.outcome === 'failed')) return ExitCode.failed;
  if (!results.some((r) => r.outcome === 'blocked')) return ExitCode.ok;
  return results.some((r) => CHANGED.has(r.outcome)) ? ExitCode.failed : ExitCode.blocked;
}

const CHANGED = new Set<RotateResult['outcome']>(['provisioned', 'rotated', 'resumed', 'decommissioned', 'rolled-back']);

export function outcomeOnly(target: Target, action: RotateResult['action'], outcome: RotateResult['outcome'], extra: Partial<RotateResult>): RotateResult {
  return {
    secret: target.policy.name,
    environment: target.environment.name,
    action,
    outcome,
    fromVersion: null,
    toVersion: null,
    rotationId: null,
    ...extra,
  };
}

const evidenceErrors = new WeakSet<object>();
export function evidenceFailed(error: unknown): unknown {
  const named = diskError(error) ?? error;
  if (typeof named === 'object' && named !== null) evidenceErrors.add(named);
  return named;
}
/** An error of the evidence log (not of a store): the run cannot go on without its records. */
export function evidenceFault(error: unknown): boolean {
  return (typeof error === 'object' && error !== null && evidenceErrors.has(error)) || (error instanceof KeyshiftError && error.code.startsWith('ERR_EVIDENCE'));
}

/** A usage or configuration error (exit 2, e.g. a malformed KEYSHIFT_MASTER_KEY) is the whole run's, not one store's. */
export function rethrowUsage(error: unknown): void {
  if (error instanceof KeyshiftError && error.exitCode === ExitCode.usage) throw error;
}

export function toErrorInfo(error: unknown): { code: string; message: string; hint: string } {
  error = diskError(error) ?? error;
  if (error instanceof KeyshiftError) return { code: error.code, message: error.message, hint: hintOf(error) };
  return { code: 'ERR_INTERNAL', message: errorMessage(error), hint: INTERNAL_HINT };
}
