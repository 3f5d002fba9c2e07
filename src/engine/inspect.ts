import { KeyshiftError, usageError } from '../errors.js';
import type { SecretPolicy } from '../policy/types.js';
import type { SecretValue } from '../secret-value.js';
import type { Stage } from '../stores/contract.js';
import { StoreRegistry } from '../stores/registry.js';
import type { EngineContext, Target } from './context.js';
import { rethrowUsage, toErrorInfo } from './rotate-result.js';
import { previousEnvironment, selectPolicies, targetsOf, type Selection } from './selection.js';
import { currentVersion, decommissionAt, lastRotatedAt, nextDueAt, observeEndsAt, pendingVersion, phaseOf, previousVersion, type Phase } from './state.js';
import { isoTimeOrNull } from '../util/iso-time.js';

export interface StatusRow {
  secret: string;
  environment: string;
  /** `unknown`: the store could not be read; `error` says why (DESIGN v2 "Failure isolation"). */
  phase: Phase | 'unknown';
  currentVersion: string | null;
  previousVersion: string | null;
  pendingVersion: string | null;
  lastRotatedAt: string | null;
  nextDueAt: string | null;
  overdue: boolean;
  rotationId: string | null;
  decommissionAfter: string | null;
  /** When a new rotation may start here: the previous environment's switch + its observe time. */
  waitingUntil: string | null;
  /** Why the rotation is stuck or held, in the shape of rotate's `error` (a rerun's fix in `hint`). */
  error: ErrorInfo | null;
}

export interface ErrorInfo {
  code: string;
  message: string;
  hint: string;
}

/** Per secret and environment: what the store holds now. Reads only. */
export async function statusRun(ctx: EngineContext, policies: SecretPolicy[], selection: Selection): Promise<StatusRow[]> {
  const stores = new StoreRegistry(ctx);
  try {
    const now = ctx.now();
    const rows: StatusRow[] = [];
    for (const target of await targetsOf(selectPolicies(policies, selection), selection.envs, stores)) {
      let state;
      try {
        state = await target.store.read(target.key);
      } catch (error) {
        // One store that cannot be read is one row; every other row is still shown.
        rethrowUsage(error);
        rows.push(unknownRow(target, error));
        continue;
      }
      const due = nextDueAt(target.policy, state);
      const rotation = state?.rotation ?? null;
      rows.push({
        secret: target.policy.name,
        environment: target.environment.name,
        phase: phaseOf(state),
        currentVersion: currentVersion(state)?.id ?? null,
        previousVersion: previousVersion(state)?.id ?? null,
        pendingVersion: pendingVersion(state)?.id ?? null,
        lastRotatedAt: isoTimeOrNull(lastRotatedAt(state)),
        nextDueAt: isoTimeOrNull(due),
        overdue: due === null || due <= now,
        rotationId: rotation?.rotationId ?? null,
        decommissionAfter: rotation ? isoTimeOrNull(decommissionAt(target.policy, rotation)) : null,
        waitingUntil: await waitingUntil(target, stores, now).catch(() => null),
        error: rotation?.error ? rotationError(target, rotation.phase, rotation.error) : null,
      });
    }
    return rows;
  } finally {
    await stores.closeAll();
  }
}

export interface GetResult {
  secret: string;
  environment: string;
  stage: Stage;
  versionId: string;
  value: SecretValue;
}

/** One value, by stage. Without --env: the secret's first environment. */
export async function getRun(ctx: EngineContext, policies: SecretPolicy[], name: string, env: string | undefined, stage: Stage): Promise<GetResult> {
  const stores = new StoreRegistry(ctx);
  try {
    const [policy] = selectPolicies(policies, { names: [name], all: false, envs: env ? [env] : [] });
    const environment = env ?? policy?.environments[0]?.name;
    const [target] = await targetsOf(policy ? [policy] : [], environment ? [environment] : [], stores);
    if (!target) throw usageError(`secret "${name}" has no environment "${env}"`);
    const state = await target.store.read(target.key);
    const version = state?.versions.find((v) => v.stages.includes(stage));
    if (!version) {
      throw new KeyshiftError('ERR_NO_SUCH_STAGE', `${name}/${target.environment.name} has no ${stage} version`, {
        exitCode: 1,
        hint: state ? `run \`keyshift status ${name}\` to see which versions exist` : `run \`keyshift rotate ${name}\` to provision it first`,
      });
    }
    const value = await target.store.readValue(target.key, version.id);
    return { secret: name, environment: target.environment.name, stage, versionId: version.id, value };
  } finally {
    await stores.closeAll();
  }
}

/** When a new rotation may start here: the previous environment's switch + its observe time. */
async function waitingUntil(target: Target, stores: StoreRegistry, now: Date): Promise<string | null> {
  const previous = await previousEnvironment(target, stores);
  return previous ? isoTimeOrNull(observeEndsAt(previous.environment, previous.state, now)) : null;
}

function unknownRow(target: Target, error: unknown): StatusRow {
  const info = toErrorInfo(error);
  return {
    secret: target.policy.name,
    environment: target.environment.name,
    phase: 'unknown',
    currentVersion: null,
    previousVersion: null,
    pendingVersion: null,
    lastRotatedAt: null,
    nextDueAt: null,
    overdue: false,
    rotationId: null,
    decommissionAfter: null,
    waitingUntil: null,
    error: { ...info, hint: info.hint ?? `fix the store ${target.store.location} and rerun` },
  };
}

/** The rotation record keeps only the message; the code and the fix follow from where it stopped. */
function rotationError(target: Target, phase: string, message: string): ErrorInfo {
  const rerun = `keyshift rotate ${target.policy.name} --env ${target.environment.name}`;
  if (message.startsWith('held by decommissionCheck')) {
    return { code: 'ERR_DECOMMISSION_HELD', message, hint: `fix what the check reports, then rerun ${rerun}` };
  }
  if (phase === 'fallback') return { code: 'ERR_DECOMMISSION_FAILED', message, hint: `${rerun} retries the decommission` };
  return { code: 'ERR_ROTATION_FAILED', message, hint: `${rerun} resumes it (keyshift doctor explains what is stuck)` };
}
