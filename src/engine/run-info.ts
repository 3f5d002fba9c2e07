import type { EvidenceLog } from '../evidence/index.js';
import { errorMessage, KeyshiftError } from '../errors.js';
import { generateValue } from '../generators/index.js';
import { runHook } from '../hooks/run-hook.js';
import type { EngineContext } from './context.js';
import { newRunId, operatorName } from './ids.js';
import type { RunInfo } from './steps.js';

export interface StartedRun {
  run: RunInfo;
  /** Wait for every evidence append; throws ERR_EVIDENCE_WRITE if one failed. */
  settle(): Promise<void>;
}

/**
 * Who, why and how a run rotates, and its evidence channel. Appends run in the background (each
 * store write already holds its drafts), bounded to a few hundred lines in flight; `settle` must
 * succeed before the run confirms its drafts and anchors the log in the stores.
 */
export function startRun(ctx: EngineContext, evidence: EvidenceLog, details: { reason: string; ticket: string | null; emergency: boolean }): StartedRun {
  const appends: Array<Promise<void>> = [];
  let failure: unknown;
  const run: RunInfo = {
    runId: newRunId(),
    operator: operatorName(ctx.env),
    ...details,
    now: ctx.now,
    generate: (target) => generateValue(target.policy.generator, { cwd: ctx.cwd, env: ctx.env }),
    runHook: (hook, context) => runHook(hook, { ...context, cwd: ctx.cwd, env: ctx.env, log: ctx.logger }),
    warn: (message) => ctx.logger.warn({}, message),
    record: async (drafts) => {
      if (appends.length >= 256) await Promise.all(appends.splice(0, 128));
      appends.push(
        evidence.append(drafts).then(
          () => undefined,
          (error: unknown) => void (failure ??= error),
        ),
      );
    },
  };
  return {
    run,
    async settle() {
      await Promise.all(appends.splice(0));
      if (failure === undefined) return;
      // The drafts stay unconfirmed in the stores: the next run appends what is missing.
      throw new KeyshiftError('ERR_EVIDENCE_WRITE', `changes were applied but evidence could not be written: ${errorMessage(failure)}`, {
        hint: 'fix the evidence directory (space, permissions) and rerun keyshift rotate: it appends the missing records',
      });
    },
  };
}
