import type { Log } from '../log.js';
import type { SecretPolicy, EnvironmentPolicy } from '../policy/types.js';
import type { SecretStore } from '../stores/contract.js';
import type { AwsOverrides } from '../stores/aws/client-config.js';
import type { EvidenceSigner } from '../evidence/sign.js';

/** What the engine needs from the outside world, injected so tests can fix the clock and env. */
export interface EngineContext {
  cwd: string;
  env: NodeJS.ProcessEnv;
  now: () => Date;
  logger: Log;
  evidenceDir: string;
  lockWaitMs: number;
  /** `--region`, `--profile`, `--endpoint-url` for AWS stores whose policy leaves them out. */
  aws?: AwsOverrides;
  /** KEYSHIFT_SIGNING_KEY: every run that wrote evidence ends with a `signed` record. */
  signer?: EvidenceSigner | null;
  /** `signing: { key }` of the policy files (KEYSHIFT_SIGNING_KEY wins over it). */
  policySigningKey?: string | null;
}

/** One secret in one environment: the unit the store holds and the planner decides on. */
export interface Target {
  policy: SecretPolicy;
  environment: EnvironmentPolicy;
  store: SecretStore;
  storeId: string;
  key: string;
}

export function targetLabel(target: Pick<Target, 'policy' | 'environment'>): string {
  return `${target.policy.name}/${target.environment.name}`;
}
