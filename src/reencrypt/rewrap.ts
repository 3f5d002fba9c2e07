import type { EngineContext, Target } from '../engine/context.js';
import { openEvidenceLog } from '../engine/evidence-log.js';
import { recoverEvidence, refuseCutEvidence } from '../engine/evidence-recovery.js';
import { newRotationId, newRunId, operatorName } from '../engine/ids.js';
import { unconfirmedDrafts } from '../engine/state.js';
import { ExitCode, KeyshiftError, usageError } from '../errors.js';
import { EvidenceLog } from '../evidence/index.js';
import type { SecretPolicy } from '../policy/types.js';
import { SecretValue } from '../secret-value.js';
import type { EvidenceDraft, SecretStore, VersionInfo, VersionOp } from '../stores/contract.js';
import { StoreRegistry } from '../stores/registry.js';
import { dataKeyContext, dataKeysWrappedBy, masterOf, openMasterFor, type DataKeyTarget, type HierarchyContext } from './hierarchy.js';
import { endRewrapRun, type LoggedDrafts } from './rewrap-evidence.js';

/**
 * `keyshift reencrypt <master>` (and `keyshift reencrypt <data key> --rewrap`): every stored version
 * of the data keys is wrapped again under the master's current version (KMS ReEncrypt, or unwrap +
 * wrap for a local master). The data keys' bytes do not change, so no row is touched. One store
 * write per data-key environment, its evidence record announced in the same write: a crash leaves
 * each environment either untouched or done, and a rerun does what is left. The run ends like a
 * rotate, signed and anchored (rewrap-evidence.ts).
 */

export interface RewrapOptions {
  name: string;
  env?: string;
  dryRun: boolean;
  /** The data key itself (its master is a KMS key keyshift does not manage), not a master's dependants. */
  self: boolean;
}

export interface RewrapReport {
  master: string;
  dataKeys: Array<{ secret: string; environment: string; wrappedBy: string; rewrapped: string[]; unchanged: string[] }>;
  dryRun: boolean;
  exitCode: number;
}

/** Whether `keyshift reencrypt <name>` means re-wrapping: `name` is the master of some data key. */
export function isMaster(policies: SecretPolicy[], name: string): boolean {
  const policy = policies.find((p) => p.name === name);
  return !!policy && policy.environments.some((environment) => dataKeysWrappedBy(policy, environment, policies).length > 0);
}

export async function rewrapRun(ctx: EngineContext, policies: SecretPolicy[], options: RewrapOptions): Promise<RewrapReport> {
  const targets = selectDataKeys(policies, options);
  const stores = new StoreRegistry(ctx);
  const evidence = openEvidenceLog(ctx);
  const hierarchy: HierarchyContext = { policies, stores, env: ctx.env, aws: ctx.aws, logger: ctx.logger };
  const runId = newRunId();
  const report: RewrapReport = { master: options.name, dataKeys: [], dryRun: options.dryRun, exitCode: ExitCode.ok };
  const logged: LoggedDrafts[] = [];
  try {
    for (const target of targets) {
      const store = await stores.get(target.environment.store);
      if (!store.capabilities?.rewrap) {
        throw new KeyshiftError('ERR_STORE_CANNOT_REWRAP', `${dataKeyContext(target)}: its ${store.kind} store cannot replace a version's value, so its data keys cannot be re-wrapped`, {
          hint: 'keep data keys in a local store (docs/reencrypt.md#key-hierarchy)',
          exitCode: ExitCode.usage,
        });
      }
      const lock = options.dryRun ? null : await store.lock({ waitMs: ctx.lockWaitMs, owner: `keyshift reencrypt ${options.name} (${operatorName(ctx.env)})` });
      try {
        report.dataKeys.push(await rewrapOne(ctx, target, store, hierarchy, { runId, evidence, dryRun: options.dryRun, master: options.name, logged }));
      } finally {
        await lock?.release();
      }
    }
    return report;
  } finally {
    // Also after a failed data key: the records of those before it are signed and anchored.
    await endRewrapRun(ctx, evidence, logged, { runId, reason: `reencrypt ${options.name}` });
    await evidence.close();
    await stores.closeAll();
  }
}

async function rewrapOne(
  ctx: EngineContext,
  target: DataKeyTarget,
  store: SecretStore,
  hierarchy: HierarchyContext,
  run: { runId: string; evidence: EvidenceLog; dryRun: boolean; master: string; logged: LoggedDrafts[]; wrapWith?: { id: string; resourceId?: string } },
): Promise<RewrapReport['dataKeys'][number]> {
  const key = target.environment.store.key;
  const asTarget: Target = { ...target, store, storeId: key, key };
  const state = await store.read(key);
  // Drafts a killed run announced: those not logged are appended first, so the chain shows every
  // re-wrap; all stay in the entry until this run is signed and anchored (the killed one was not).
  const meta = await store.readMeta();
  if (!run.dryRun) await refuseCutEvidence(run.evidence, store, meta);
  const drafts = run.dryRun ? [] : unconfirmedDrafts(state, meta);
  if (drafts.length > 0) {
    await recoverEvidence(new Map([[asTarget, state]]), meta, ctx.evidenceDir, async (missing) => {
      await run.evidence.append(missing);
    }, { recoveredBy: run.runId, keepDrafts: true });
    run.logged.push({ store, key, drafts });
  }
  const master = await openMasterFor(target, hierarchy, run.wrapWith);
  const result = { secret: target.policy.name, environment: target.environment.name, wrappedBy: master.describe, rewrapped: [] as string[], unchanged: [] as string[] };
  try {
    if (!state) return result;
    const context = dataKeyContext(target);
    const ops: VersionOp[] = [];
    for (const version of state.versions) {
      const stored = (await store.readValue(key, version.id)).reveal();
      if (master.wrapsWithCurrent?.(stored)) {
        result.unchanged.push(version.id);
        continue;
      }
      result.rewrapped.push(version.id);
      if (!run.dryRun) ops.push({ type: 'rewrap', versionId: version.id, value: SecretValue.fromString(await master.rewrap(stored, context)) });
    }
    if (ops.length === 0) return result;
    const draft = rewrapDraft(ctx, asTarget, store, run, master.describe, result.rewrapped);
    await store.apply(key, ops, { rotation: state.rotation, lastRotatedAt: state.lastRotatedAt, pendingEvents: [...state.pendingEvents, draft] });
    await run.evidence.append([draft]);
    run.logged.push({ store, key, drafts: [draft] });
    return result;
  } finally {
    master.close();
  }
}

/**
 * Before `keyshift rollback <master>` discards the master's new version: every data key it wraps
 * goes back under the old version (the one rollback makes CURRENT again), or the data keys wrapped
 * by the discarded version could never be unwrapped. Returns the versions re-wrapped per data key.
 */
export async function rewrapBeforeRollback(ctx: EngineContext, policies: SecretPolicy[], name: string, envs: string[]): Promise<RewrapReport['dataKeys']> {
  const policy = policies.find((p) => p.name === name);
  if (!policy) return [];
  const stores = new StoreRegistry(ctx);
  const evidence = openEvidenceLog(ctx);
  const hierarchy: HierarchyContext = { policies, stores, env: ctx.env, aws: ctx.aws, logger: ctx.logger };
  const runId = newRunId();
  const done: RewrapReport['dataKeys'] = [];
  const logged: LoggedDrafts[] = [];
  try {
    for (const environment of policy.environments) {
      if (envs.length > 0 && !envs.includes(environment.name)) continue;
      const state = await (await stores.get(environment.store)).read(environment.store.key);
      const old = state?.versions.find((v) => v.id === state.rotation?.oldVersionId);
      if (!old) continue;
      for (const target of dataKeysWrappedBy(policy, environment, policies)) {
        const store = await stores.get(target.environment.store);
        const lock = await store.lock({ waitMs: ctx.lockWaitMs, owner: `keyshift rollback ${name} (${operatorName(ctx.env)})` });
        try {
          done.push(await rewrapOne(ctx, target, store, hierarchy, { runId, evidence, dryRun: false, master: name, logged, wrapWith: old }));
        } finally {
          await lock.release();
        }
      }
    }
    return done;
  } finally {
    await endRewrapRun(ctx, evidence, logged, { runId, reason: `rollback ${name}: data keys back under the old master version` });
    await evidence.close();
    await stores.closeAll();
  }
}

function rewrapDraft(ctx: EngineContext, target: Target, store: SecretStore, run: { runId: string; master: string }, wrappedBy: string, versions: string[]): EvidenceDraft {
  const now = ctx.now();
  return {
    event: 'data-key-rewrapped',
    rotationId: newRotationId(now),
    secret: target.policy.name,
    environment: target.environment.name,
    store: store.kind,
    fromVersion: null,
    toVersion: null,
    fingerprint: null,
    at: now.toISOString(),
    operator: operatorName(ctx.env),
    reason: `data key versions re-wrapped by ${wrappedBy}; rows untouched`,
    ticket: null,
    emergency: false,
    checks: [],
    runId: run.runId,
    ...(store.identity ? { storeId: store.identity() } : {}),
    storeLocation: store.location,
    ...({ master: run.master, wrappedBy, versions } as object),
  };
}

/**
 * For a master's decommission: the data-key versions still wrapped by the old version (a local
 * version id, or the KMS key an aws-kms version names). A message for the hold, or null.
 */
export async function dataKeysStillUnder(target: Target, old: Pick<VersionInfo, 'id' | 'resourceId'>, hierarchy: HierarchyContext): Promise<string | null> {
  // KMS key rotation (mode: managed) keeps the old material inside the same key for good: nothing to hold.
  if (target.environment.store.type === 'aws-kms' && target.environment.store.mode === 'managed') return null;
  const kmsKey = target.environment.store.type === 'aws-kms' ? (old.resourceId ?? old.id) : null;
  const matches = (wrappedBy: string) => (kmsKey === null ? wrappedBy === old.id : wrappedBy === kmsKey || wrappedBy.endsWith(`/${kmsKey}`));
  const left: string[] = [];
  for (const dataKey of dataKeysWrappedBy(target.policy, target.environment, hierarchy.policies)) {
    const store = await hierarchy.stores.get(dataKey.environment.store);
    const key = dataKey.environment.store.key;
    const state = await store.read(key);
    if (!state) continue;
    const master = await openMasterFor(dataKey, hierarchy);
    try {
      for (const version of state.versions) {
        const stored = (await store.readValue(key, version.id)).reveal();
        if (matches(await master.wrappedBy(stored, dataKeyContext(dataKey)))) left.push(`${dataKeyContext(dataKey)} ${version.id}`);
      }
    } finally {
      master.close();
    }
  }
  if (left.length === 0) return null;
  const shown = left.length > 5 ? `${left.slice(0, 5).join(', ')} and ${left.length - 5} more` : left.join(', ');
  return `data keys: ${left.length} data key version(s) still wrapped only under ${old.id} (${shown}); run keyshift reencrypt ${target.policy.name} --env ${target.environment.name}`;
}

function selectDataKeys(policies: SecretPolicy[], options: RewrapOptions): DataKeyTarget[] {
  const policy = policies.find((p) => p.name === options.name);
  if (!policy) throw usageError(`no secret named "${options.name}" in the policies`, 'run keyshift status to list them');
  if (options.env !== undefined && !policy.environments.some((e) => e.name === options.env)) throw usageError(`secret "${options.name}" has no environment "${options.env}"`);
  const environments = policy.environments.filter((e) => options.env === undefined || e.name === options.env);
  if (options.self) {
    if (!masterOf(policy)) throw usageError(`--rewrap applies to data keys; ${options.name} has no generator: { type: data-key }`, `to re-wrap the data keys a master wraps, run keyshift reencrypt <master>`);
    return environments.map((environment) => ({ policy, environment }));
  }
  return environments.flatMap((environment) => dataKeysWrappedBy(policy, environment, policies));
}
