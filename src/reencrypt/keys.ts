import { ExitCode, KeyshiftError } from '../errors.js';
import type { SecretPolicy, EnvironmentPolicy } from '../policy/types.js';
import type { EntryState, SecretStore } from '../stores/contract.js';
import { keyring, type Keyring, type KeyVersion } from './envelope.js';
import { dataKeyContext, masterOf, openMasterFor, type HierarchyContext } from './hierarchy.js';

/**
 * The keyring of a secret in one environment: CURRENT (rows move to it) and PREVIOUS (rows are
 * still under it during the fallback window), each value decoded as its generator encoded it, or
 * (a data key, docs/reencrypt.md#key-hierarchy) unwrapped by its master.
 */
export interface LoadedKeys {
  ring: Keyring;
  current: string;
  previous: string | null;
  state: EntryState;
}

export async function loadKeys(policy: SecretPolicy, environment: EnvironmentPolicy, store: SecretStore, hierarchy: HierarchyContext): Promise<LoadedKeys> {
  const key = environment.store.key;
  const state = await store.read(key);
  const current = state?.versions.find((v) => v.stages.includes('CURRENT'));
  if (!state || !current) {
    throw new KeyshiftError('ERR_NOT_PROVISIONED', `${policy.name}/${environment.name} has no CURRENT version to re-encrypt to`, {
      exitCode: ExitCode.failed,
      hint: `run keyshift rotate ${policy.name} --env ${environment.name} first`,
    });
  }
  const previous = state.versions.find((v) => v.stages.includes('PREVIOUS')) ?? null;
  const ids = previous ? [current.id, previous.id] : [current.id];
  const versions = masterOf(policy) ? await unwrapped(policy, environment, store, ids, hierarchy) : await decoded(policy, environment, store, ids);
  try {
    const ring = keyring(versions[0] as KeyVersion, versions[1]);
    return { ring, current: current.id, previous: previous?.id ?? null, state };
  } finally {
    // keyring() copied the raw keys: the unwrapped ones are wiped here.
    for (const version of versions) if (version.key instanceof Uint8Array) version.key.fill(0);
  }
}

async function decoded(policy: SecretPolicy, environment: EnvironmentPolicy, store: SecretStore, ids: string[]): Promise<KeyVersion[]> {
  const generator = policy.generator;
  const encoding = generator?.type === 'random' && 'encoding' in generator ? generator.encoding : 'base64';
  return Promise.all(ids.map(async (versionId) => ({ versionId, key: { value: (await store.readValue(environment.store.key, versionId)).reveal(), encoding } })));
}

async function unwrapped(policy: SecretPolicy, environment: EnvironmentPolicy, store: SecretStore, ids: string[], hierarchy: HierarchyContext): Promise<KeyVersion[]> {
  const target = { policy, environment };
  const master = await openMasterFor(target, hierarchy);
  try {
    const versions: KeyVersion[] = [];
    for (const versionId of ids) {
      const stored = (await store.readValue(environment.store.key, versionId)).reveal();
      versions.push({ versionId, key: (await master.unwrap(stored, dataKeyContext(target))).revealBytes() });
    }
    return versions;
  } finally {
    master.close();
  }
}
