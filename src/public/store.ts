/**
 * `keyshift/store`: what a plugin store needs (docs/plugins.md). The default export of a plugin
 * module is `createStore(spec, context)` returning a `SecretStore`; values travel only as
 * `SecretValue`, and errors carry keyshift's codes (`storeError`).
 */
import { ExitCode, KeyshiftError } from '../errors.js';

export { SecretValue } from '../secret-value.js';
export { ExitCode, KeyshiftError } from '../errors.js';
export { acquireFileLock } from '../util/file-lock.js';
export type { FileLockOptions, HeldLock } from '../util/file-lock.js';
export { emptyStoreMeta, versionWithStage } from '../stores/contract.js';
export type {
  EntryMeta,
  EntryState,
  EvidenceAnchor,
  EvidenceDraft,
  LockOptions,
  RetiredVersion,
  RotationRecord,
  SecretStore,
  Stage,
  StoreCapabilities,
  StoreLock,
  StoreMeta,
  VersionInfo,
  VersionOp,
} from '../stores/contract.js';
export type { StoreContext } from '../stores/registry.js';
export type { Log } from '../log.js';
export type { PluginSpec } from '../stores/plugin/index.js';

/** The errors the contract names, with the exit codes the engine expects of them. */
export const storeErrors = {
  /** readValue of a version that is gone; promote of an unknown version. */
  versionNotFound: (message: string) => new KeyshiftError('ERR_VERSION_NOT_FOUND', message, { exitCode: ExitCode.failed }),
  /** An op the contract forbids (retire CURRENT, a second CURRENT); nothing was changed. */
  refused: (message: string, hint?: string) => new KeyshiftError('ERR_STORE_REFUSED', message, { exitCode: ExitCode.failed, hint }),
  /** The service is down or timed out: a rerun resumes. */
  unavailable: (message: string, hint?: string) => new KeyshiftError('ERR_STORE_UNAVAILABLE', message, { exitCode: ExitCode.failed, retryable: true, hint }),
  accessDenied: (message: string, hint?: string) => new KeyshiftError('ERR_STORE_ACCESS_DENIED', message, { exitCode: ExitCode.failed, hint }),
};
