import { isDiskErrorCode } from '../disk-errors.js';
import type { EvidenceLog } from '../evidence/index.js';
import { signEvidence } from '../evidence/sign.js';
import { errorMessage, KeyshiftError } from '../errors.js';
import { generateValue } from '../generators/index.js';
import { runHook } from '../hooks/run-hook.js';
import { notify } from '../notify/webhook.js';
import type { NotifyTarget, SecretPolicy } from '../policy/types.js';
import type { EngineContext } from './context.js';
import { newRunId, operatorName } from './ids.js';
import { acceptNewValue } from './value-gate.js';
import type { RunInfo } from './steps.js';
import type { Target } from './context.js';
import type { SecretValue } from '../secret-value.js';
import type { StoreRegistry } from '../stores/registry.js';

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
export function startRun(
  ctx: EngineContext,
  evidence: EvidenceLog,
  stores: StoreRegistry,
  details: { reason: string; ticket: string | null; emergency: boolean; fallbackWindowMs?: number; notifyFor?: (secret: string) => NotifyTarget[]; policies?: SecretPolicy[] },
): StartedRun {
  const appends: Array<Promise<void>> = [];
  let failure: unknown;
  const { notifyFor, policies = [], ...who } = details;
  const hierarchy = () => ({ policies, stores, env: ctx.env, aws: ctx.aws, logger: ctx.logger });
  // Only data-key secrets can be wrapped by a master: looked up once, not per decommission (a scan
  // of every policy per decommission was quadratic: 10,000 secrets cost 10^8 checks).
  let dataKeyPolicies: SecretPolicy[] | undefined;
  const run: RunInfo = {
    runId: newRunId(),
    operator: operatorName(ctx.env),
    ...who,
    now: ctx.now,
    generate: async (target) => {
      const generator = target.policy.generator;
      if (!generator) throw new KeyshiftError('ERR_INTERNAL', `${target.policy.name} has no generator (its store makes its own keys)`);
      if (generator.type === 'data-key') {
        const { newWrappedDataKey } = await import('../reencrypt/hierarchy.js');
        return newWrappedDataKey(target, hierarchy());
      }
      const value = (await sharedValue(target, stores)) ?? (await generateValue(generator, { cwd: ctx.cwd, env: ctx.env }));
      return acceptNewValue(target, value);
    },
    wrappedDataKeysHold: async (target, old) => {
      dataKeyPolicies ??= policies.filter((policy) => policy.generator?.type === 'data-key');
      if (dataKeyPolicies.length === 0) return null;
      const { dataKeysWrappedBy } = await import('../reencrypt/hierarchy.js');
      if (dataKeysWrappedBy(target.policy, target.environment, dataKeyPolicies).length === 0) return null;
      const { dataKeysStillUnder } = await import('../reencrypt/rewrap.js');
      return dataKeysStillUnder(target, old, hierarchy());
    },
    runHook: (hook, context) => runHook(hook, { ...context, cwd: ctx.cwd, env: ctx.env, log: ctx.logger }),
    warn: (message) => ctx.logger.warn({}, message),
    record: async (drafts, after) => {
      if (appends.length >= 256) await Promise.all(appends.splice(0, 128));
      // Once the queued writes of these drafts are durable; a write that failed fails its secret
      // (queued-writes.ts): its drafts are neither evidence nor news.
      const once = (work: () => Promise<void>): Promise<void> => (after ? after.then(work, () => undefined) : work());
      appends.push(once(() => evidence.append(drafts).then(() => undefined, (error: unknown) => void (failure ??= error))));
      // Webhooks are best effort: notify() never throws, and settle() waits for them too.
      for (const draft of drafts) {
        const targets = notifyFor?.(draft.secret) ?? [];
        if (targets.length > 0) appends.push(once(() => notify(targets, draft, ctx.logger)));
      }
    },
  };
  return {
    run,
    async settle() {
      await Promise.all(appends.splice(0));
      if (failure === undefined) return;
      // The drafts stay unconfirmed in the stores: the next run appends what is missing.
      // A disk error keeps its own code (ERR_DISK_FULL …): scripts match on the cause.
      const code = failure instanceof KeyshiftError && isDiskErrorCode(failure.code) ? failure.code : 'ERR_EVIDENCE_WRITE';
      throw new KeyshiftError(code, `changes were applied but evidence could not be written: ${errorMessage(failure)}`, {
        // The log's own hint (a symlink, a damaged log, a held lock) says what to fix.
        hint: failure instanceof KeyshiftError && failure.hint
          ? `${failure.hint}; then rerun keyshift rotate: it appends the missing records`
          : 'fix the evidence directory (space, permissions) and rerun keyshift rotate: it appends the missing records',
      });
    },
  };
}

/**
 * `sharedValue: true`: one value for every environment (one vendor key). The first environment
 * issues it; each later one takes the first environment's CURRENT value, which promotion order
 * guarantees is the new one by the time a later environment starts.
 */
async function sharedValue(target: Target, stores: StoreRegistry): Promise<SecretValue | null> {
  const first = target.policy.environments[0];
  if (!target.policy.sharedValue || !first || first === target.environment) return null;
  const store = await stores.get(first.store);
  const current = (await store.read(first.store.key))?.versions.find((v) => v.stages.includes('CURRENT'));
  return current ? store.readValue(first.store.key, current.id) : null;
}

/** Each secret's webhooks, looked up by name for every evidence event. */
export function notifyTargets(policies: SecretPolicy[]): (secret: string) => NotifyTarget[] {
  const bySecret = new Map(policies.filter((p) => p.notify.length > 0).map((p) => [p.name, p.notify]));
  return (secret) => bySecret.get(secret) ?? [];
}

/**
 * The run's last record: a `signed` one over the head (docs/evidence.md#signed-evidence), before the
 * anchors so that they include it. A failure only leaves these records unsigned (`evidence verify
 * --public-key` says so) until the next run's signature covers them: the changes stand.
 */
export async function signRun(ctx: EngineContext, evidence: EvidenceLog, run: RunInfo): Promise<void> {
  if (!ctx.signer) return;
  await signEvidence(evidence, ctx.signer, run).catch((error: unknown) =>
    ctx.logger.error({ err: errorMessage(error) }, 'could not append the signed record; the next run signs these records'),
  );
}
