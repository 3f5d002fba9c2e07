import type { Log } from '../log.js';
import type { SecretValue } from '../secret-value.js';

export type HookPhase = 'deploy' | 'verify' | 'rollback' | 'revoke' | 'decommission-check';

export interface HookContext {
  secret: string;
  environment: string;
  phase: HookPhase;
  rotationId: string;
  newVersion: string | null;
  oldVersion: string | null;
  /** The value the hook acts on: the new value for deploy/verify, the old one for rollback/revoke. */
  value: SecretValue | null;
  /** Keys that never leave their store (aws-kms): the new and old key ids instead of a value. */
  newKeyId?: string | null;
  oldKeyId?: string | null;
  /** Where keyshift runs (a hook's own `cwd` overrides). */
  cwd: string;
  /** keyshift's environment; command hooks get its allowlisted part and what `env:` passes (child-env.ts). */
  env: NodeJS.ProcessEnv;
  log: Log;
}

export interface HookResult {
  ok: boolean;
  label: string;
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  durationMs: number;
  /** One line, never any hook output or value, e.g. `deploy[0] kubectl exited with status 3`. */
  error: string | null;
}
