import { ExitCode, KeyshiftError } from '../errors.js';
import type { SecretPolicy, EnvironmentPolicy } from '../policy/types.js';
import type { EntryState, SecretStore } from '../stores/contract.js';
import { keyring, type Keyring } from './envelope.js';

/**
 * The keyring of a secret in one environment: CURRENT (rows move to it) and PREVIOUS (rows are
 * still under it during the fallback window), each value decoded as its generator encoded it.
 */
export interface LoadedKeys {
  ring: Keyring;
  current: string;
  previous: string | null;
  state: EntryState;
}

export async function loadKeys(policy: SecretPolicy, environment: EnvironmentPolicy, store: SecretStore): Promise<LoadedKeys> {
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
  const generator = policy.generator;
  const encoding = generator?.type === 'random' && 'encoding' in generator ? generator.encoding : 'base64';
  const material = async (versionId: string) => ({ versionId, key: { value: (await store.readValue(key, versionId)).reveal(), encoding } });
  const ring = keyring(await material(current.id), previous ? await material(previous.id) : null);
  return { ring, current: current.id, previous: previous?.id ?? null, state };
}
