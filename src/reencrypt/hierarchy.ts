import { ExitCode, KeyshiftError } from '../errors.js';
import type { Log } from '../log.js';
import { masterEnvironmentOf } from '../policy/cross-checks.js';
import type { EnvironmentPolicy, MasterSpec, SecretPolicy } from '../policy/types.js';
import { SecretValue } from '../secret-value.js';
import type { AwsOverrides } from '../stores/aws/client-config.js';
import type { StoreRegistry } from '../stores/registry.js';
import { localMasterKey, type LocalMasterVersion, type MasterKey } from './data-keys.js';

/**
 * The key hierarchy as the policies describe it (docs/reencrypt.md#key-hierarchy): which master
 * wraps a data-key secret's environment, and which data keys a master wraps. A `local` master is
 * another secret of the policies; an `aws-kms` master is a KMS key, managed by keyshift when some
 * secret's aws-kms store has that alias.
 */

export interface HierarchyContext {
  policies: SecretPolicy[];
  stores: StoreRegistry;
  env: NodeJS.ProcessEnv;
  aws?: AwsOverrides;
  logger: Log;
}

/** One environment of a data-key secret. */
export interface DataKeyTarget {
  policy: SecretPolicy;
  environment: EnvironmentPolicy;
}

/** What the wrapping is bound to (KMS encryption context, GCM associated data). */
export function dataKeyContext(target: DataKeyTarget): string {
  return `${target.policy.name}/${target.environment.name}`;
}

export function masterOf(policy: SecretPolicy): MasterSpec | null {
  return policy.generator?.type === 'data-key' ? policy.generator.master : null;
}

/**
 * The master that wraps (and unwraps) `target`'s data keys, opened; close() it after use. `wrapWith`
 * (a rollback of the master) wraps with that version of it instead of its CURRENT one.
 */
export async function openMasterFor(target: DataKeyTarget, ctx: HierarchyContext, wrapWith?: { id: string; resourceId?: string }): Promise<MasterKey> {
  const spec = masterOf(target.policy);
  if (!spec) throw new KeyshiftError('ERR_INTERNAL', `${target.policy.name} is not a data key (this is a bug)`);
  if (spec.type === 'aws-kms') {
    const { openKmsMasterKey } = await import('./kms-master-key.js');
    const keyId = wrapWith ? (wrapWith.resourceId ?? wrapWith.id) : spec.keyId;
    return openKmsMasterKey({ ...spec, keyId, region: spec.region ?? undefined, endpoint: spec.endpoint ?? undefined, profile: spec.profile ?? undefined }, { env: ctx.env, overrides: ctx.aws, log: ctx.logger });
  }
  const master = ctx.policies.find((p) => p.name === spec.secret);
  const environment = master && masterEnvironmentOf(master, target.environment.name);
  if (!master || !environment) {
    throw new KeyshiftError('ERR_MASTER_KEY_MISSING', `the master "${spec.secret}" of ${dataKeyContext(target)} is not in the policies loaded`, {
      hint: `load the policy file that defines ${spec.secret} too (-p <directory>)`,
      exitCode: ExitCode.usage,
    });
  }
  const versions = await localMasterVersions(master, environment, ctx.stores);
  if (!versions) {
    throw new KeyshiftError('ERR_MASTER_KEY_MISSING', `the master ${master.name}/${environment.name} of ${dataKeyContext(target)} has no CURRENT version`, {
      hint: `run keyshift rotate ${master.name} --env ${environment.name} first: it makes the master key`,
      exitCode: ExitCode.failed,
    });
  }
  if (!wrapWith) return localMasterKey(versions.current, versions.previous);
  const all = [versions.current, ...versions.previous];
  const wrapping = all.find((v) => v.id === wrapWith.id);
  if (!wrapping) throw new KeyshiftError('ERR_INTERNAL', `master version ${wrapWith.id} of ${master.name} is not in its store (this is a bug)`);
  return localMasterKey(wrapping, all.filter((v) => v !== wrapping));
}

/** CURRENT and PREVIOUS of a local master, decoded to raw bytes; null when it has no CURRENT. */
export async function localMasterVersions(master: SecretPolicy, environment: EnvironmentPolicy, stores: StoreRegistry): Promise<{ current: LocalMasterVersion; previous: LocalMasterVersion[] } | null> {
  const store = await stores.get(environment.store);
  const state = await store.read(environment.store.key);
  const current = state?.versions.find((v) => v.stages.includes('CURRENT'));
  if (!state || !current) return null;
  const generator = master.generator;
  const encoding = generator?.type === 'random' && 'encoding' in generator ? generator.encoding : 'base64';
  const decode = async (id: string): Promise<LocalMasterVersion> => {
    const raw = Buffer.from((await store.readValue(environment.store.key, id)).reveal(), encoding);
    const key = SecretValue.fromBytes(raw);
    raw.fill(0);
    return { id, key };
  };
  const previous = state.versions.filter((v) => v.stages.includes('PREVIOUS') || v.stages.includes('PENDING'));
  return { current: await decode(current.id), previous: await Promise.all(previous.map((v) => decode(v.id))) };
}

/**
 * The data-key environments `master`'s environment wraps: data keys naming it as their local
 * master, or (an aws-kms secret) naming its alias as their KMS key.
 */
export function dataKeysWrappedBy(master: SecretPolicy, environment: EnvironmentPolicy, policies: SecretPolicy[]): DataKeyTarget[] {
  const found: DataKeyTarget[] = [];
  for (const policy of policies) {
    const spec = masterOf(policy);
    if (!spec) continue;
    for (const dataEnvironment of policy.environments) {
      const wraps = spec.type === 'local'
        ? spec.secret === master.name && masterEnvironmentOf(master, dataEnvironment.name) === environment
        : environment.store.type === 'aws-kms' && spec.keyId === environment.store.key;
      if (wraps) found.push({ policy, environment: dataEnvironment });
    }
  }
  return found;
}

/** A rotation's new value for a data-key secret: a new data key, wrapped by its master (never seen unwrapped for aws-kms). */
export async function newWrappedDataKey(target: DataKeyTarget, ctx: HierarchyContext): Promise<SecretValue> {
  const master = await openMasterFor(target, ctx);
  try {
    return SecretValue.fromString(await master.newDataKey(dataKeyContext(target)));
  } finally {
    master.close();
  }
}
