import type { SecretValue } from '../secret-value.js';
import type { StoreSpec } from '../policy/types.js';
import type { Log } from '../log.js';
import type { AwsOverrides } from './aws/client-config.js';

/**
 * The interface every secret-store adapter implements (one folder per adapter under src/stores/).
 * The engine owns the meaning of the rotation record; a store persists it next to the versions,
 * atomically with the version changes of the same `apply` call where it can, and *before* them where
 * it cannot (write-ahead: the record announces the side effect, the side effect is idempotent).
 */

export type Stage = 'CURRENT' | 'PENDING' | 'PREVIOUS';

export interface VersionInfo {
  id: string;
  stages: Stage[];
  createdAt: string; // ISO 8601
  /** The store's own id of the version when it differs (an aws-kms key id). */
  resourceId?: string;
}

export interface RetiredVersion {
  id: string;
  retiredAt: string;
  /** Until when a `restore` op can bring it back (aws-kms: the end of the pending deletion window). */
  restorableUntil?: string;
  /** The store's own id of the version (an aws-kms key id). */
  resourceId?: string;
}

/** The engine's record of an in-flight or recently finished rotation (no secret values). */
export interface RotationRecord {
  rotationId: string;
  /** overlap: new version PENDING; fallback: new is CURRENT, old is PREVIOUS; failed: needs a rerun. */
  phase: 'overlap' | 'fallback' | 'failed';
  newVersionId: string;
  oldVersionId: string | null;
  startedAt: string;
  switchedAt: string | null;
  /** When the old version may be decommissioned, as computed at the switch (informational: the
   * planner recomputes it from switchedAt and the policy, so editing the policy takes effect). */
  decommissionAfter: string | null;
  /** How many of the environment's overlap hooks (deploy, then verify) have succeeded. */
  hooksDone?: number;
  /** A fallback window chosen for this rotation only (emergency `--fallback-window`), in ms. */
  fallbackWindowOverrideMs?: number | null;
  reason: string;
  ticket: string | null;
  emergency: boolean;
  operator: string;
  error: string | null;
}

/**
 * An evidence event announced by a store write. It is written in the same `apply` as the change it
 * describes; if the process dies before the evidence line is appended, the next run finds the draft
 * and appends it (see src/engine/evidence-recovery.ts).
 */
export interface EvidenceDraft {
  event: EvidenceEvent;
  rotationId: string | null;
  secret: string;
  environment: string;
  store: string;
  fromVersion: string | null;
  toVersion: string | null;
  fingerprint: string | null;
  at: string;
  operator: string;
  reason: string;
  ticket: string | null;
  emergency: boolean;
  checks: unknown[];
  runId: string;
  error?: string;
  /** A rotation started by an earlier run and carried on by this one: the resuming run's id (the
   * record keeps the original reason, ticket and emergency flag). */
  resumedBy?: string;
  /** Set on the record only: the run that appended this draft to its log after finding it in the
   * store (the run that announced it died first, or ran on another machine). */
  recoveredBy?: string;
  /** The store's own id where it has one (local: the header's storeId), to tell its files apart. */
  storeId?: string;
  /** The store's location (SecretStore.location: a path, an ARN's Region). */
  storeLocation?: string;
}

export type EvidenceEvent =
  | 'provisioned'
  | 'issued'
  | 'deployed'
  | 'verified'
  | 'switched'
  | 'decommissioned'
  | 'rolled-back'
  | 'failed'
  | 'repaired'
  | 'signed'
  | 'reencrypt-stage'
  | 'data-key-rewrapped';

/** Everything the engine keeps with a secret besides its versions. Replaced whole on each apply. */
export interface EntryMeta {
  rotation: RotationRecord | null;
  /** When the current version became CURRENT (provision or switch). */
  lastRotatedAt: string | null;
  /** Evidence events this entry's last write announced (see EvidenceDraft); [] once appended. */
  pendingEvents: EvidenceDraft[];
}

export interface EntryState extends EntryMeta {
  versions: VersionInfo[];
  retired: RetiredVersion[];
}

/**
 * Version changes. Each one is idempotent, so a rerun after a crash may repeat it safely:
 * - create: add a version with the given stage; no-op if `versionId` exists already. `CURRENT` only
 *   when the entry has no CURRENT (provisioning).
 * - promote: make `versionId` CURRENT; the old CURRENT becomes PREVIOUS, a version that held
 *   PREVIOUS before is retired (value removed). PENDING leaves `versionId`. No-op if already CURRENT.
 * - retire: remove the version and its value, remember its id and time. Refused for the CURRENT
 *   version (a store always has one readable CURRENT). No-op if absent.
 * - restore (stores with `restoreRetired`): bring a retired version back as a plain version, so a
 *   promote can make it CURRENT again. No-op if it is not retired.
 * `value` is null for stores that make their own key material (`valueless`).
 */
export type VersionOp =
  | { type: 'create'; versionId: string; value: SecretValue | null; stage: 'CURRENT' | 'PENDING' }
  | { type: 'promote'; versionId: string }
  | { type: 'retire'; versionId: string }
  | { type: 'restore'; versionId: string }
  /** The same secret in a new stored form: id, stages and createdAt stay (a data key re-wrapped by a
   * rotated master, docs/reencrypt.md#key-hierarchy). Only stores with `capabilities.rewrap`. */
  | { type: 'rewrap'; versionId: string; value: SecretValue };

/** Store-wide data the engine keeps: the evidence anchor that `evidence verify` compares against. */
export interface StoreMeta {
  evidenceAnchors: Record<string, EvidenceAnchor>; // by evidence chain id
  confirmedRuns: string[]; // runs whose evidence drafts are known to be appended (newest last)
  /** By evidence chain id: the digest of the rollback checkpoint this store vouches for
   * (docs/evidence.md#the-rollback-checkpoint). Absent in stores older than it. */
  checkpoints?: Record<string, string>;
}

export interface EvidenceAnchor {
  seq: number;
  hash: string;
  at: string;
}

/** What an adapter gets besides its spec (the registry makes one per store it opens). */
export interface StoreContext {
  env: NodeJS.ProcessEnv;
  log: Log;
  /** `--region`, `--profile`, `--endpoint-url`: defaults for AWS stores whose policy leaves them out. */
  aws: AwsOverrides;
  /** The registry's id of this store (one client, one lock, one quota per id). */
  storeId: string;
}

export interface StoreLock {
  release(): Promise<void>;
}

export interface LockOptions {
  /** How long to wait for a live holder before giving up with exit 3. */
  waitMs: number;
  /** Who we are, written into the lock so a blocked user sees it. */
  owner: string;
}

/** A cross-machine lease on one entry (docs/workflow.md#leases). */
export interface LeaseOptions {
  /** Who we are (operator, run, host, pid), kept with the lease so a blocked runner names us. */
  holder: string;
  /** A lease not renewed for this long is dead and may be taken over. */
  ttlMs: number;
}

export interface EntryLease {
  release(): Promise<void>;
}

export interface StoreCapabilities {
  /** One `apply` with several version ops lands all or nothing (a local file record; not AWS). */
  atomicApply?: boolean;
  /** The store makes key material itself and never reveals it (aws-kms): no generator, no value for
   * hooks or fingerprints; hooks get key ids (VersionInfo.resourceId) instead. */
  valueless?: boolean;
  /** Reads are network round trips worth overlapping (AWS); local reads run one at a time, which
   * keeps the memory of a 10,000-secret run flat. */
  remoteReads?: boolean;
  /** Concurrent applies are written together (one write, one fsync) inside this process, with no
   * network call or child process: the engine then keeps many secrets in flight (local). */
  groupCommit?: boolean;
  /** A retired version can be restored for a while (aws-kms: while its deletion is pending), so
   * `rollback` works after the decommission. */
  restoreRetired?: boolean;
  /** Concurrent applies share one file write (dotenv, k8s-secret: each write rewrites the file), so
   * the engine gives such a store every ready change at once (src/engine/batching.ts). */
  batchedWrites?: boolean;
  /** A version's stored value can be replaced in place (VersionOp `rewrap`): data keys live here. */
  rewrap?: boolean;
}

export interface ReadOptions {
  /**
   * Only the rotation record and its drafts are wanted: evidence recovery reads every entry of a
   * store before the run's first step. A store may then skip a quota-limited call that serves only
   * the rest (Secrets Manager: the age of the current value of a secret keyshift never rotated,
   * one ListSecretVersionIds); `lastRotatedAt` of an entry without a rotation record is then
   * approximate, not to be planned with.
   */
  draftsOnly?: boolean;
  /**
   * The caller only looks (a check over every entry, not a step): no write of this entry follows,
   * so a store that keeps what a read decoded for the write after it (local) need not keep it.
   */
  lookOnly?: boolean;
}

export interface SecretStore {
  /** Store type as in policies (`local`, `aws-secrets-manager`, …). */
  readonly kind: string;
  /** Human-readable location for messages and evidence (a path, an ARN). */
  readonly location: string;
  /** What the engine may rely on beyond the interface. */
  readonly capabilities?: StoreCapabilities;
  /** The id of the data behind this location, fixed for its life (local: the header's storeId;
   * a file copied over it has another). Evidence records carry it. */
  identity?(): string;

  /** Versions and engine metadata of one secret, no values. `null` when the secret does not exist. */
  read(key: string, options?: ReadOptions): Promise<EntryState | null>;
  /** One version's value. Throws ERR_VERSION_NOT_FOUND when it is gone. */
  readValue(key: string, versionId: string): Promise<SecretValue>;
  /** Keyed fingerprint of a value (`hmac-sha256:…`), never a bare hash. */
  fingerprint(value: SecretValue): string;

  /** Take the writer lock for this store. Waits up to `waitMs` for a live holder, then ERR_LOCKED (exit 3). */
  lock(options: LockOptions): Promise<StoreLock>;
  /** Take the entry's lease, held in the store itself with a compare-and-set, so one runner on any
   * machine rotates it at a time. A live lease of another runner: ERR_LEASED (exit 3) naming it; an
   * expired one is taken over. Stores whose `lock` already spans machines (local) have none. */
  lease?(key: string, options: LeaseOptions): Promise<EntryLease>;
  /** Apply version ops and replace the entry's metadata, atomically where the store allows. Caller holds the lock. */
  apply(key: string, ops: VersionOp[], meta: EntryMeta): Promise<EntryState>;
  /**
   * As apply, but returns once the write is queued in this process: `durable` resolves when it is on
   * disk and rejects if it was not written; reads see it meanwhile (local). The engine then advances
   * secrets with nothing outside to wait on one after another, and appends their evidence once
   * `durable` resolves (src/engine/queued-writes.ts).
   */
  queueApply?(key: string, ops: VersionOp[], meta: EntryMeta): { state: EntryState; durable: Promise<void> };
  /** With queueApply: called before each such secret; waits while many writes are queued. */
  queueRoom?(): Promise<void>;

  readMeta(): Promise<StoreMeta>;
  /** Caller holds the lock. */
  writeMeta(meta: StoreMeta): Promise<void>;

  close(): Promise<void>;

  /** Per-entry settings of a store shared by several secrets (e.g. `createIfMissing`); called for each entry used. */
  configureEntry?(spec: StoreSpec): void;

  /** `doctor`: problems of one entry that only the store can see (labels it does not map to
   * stages, versions nobody owns). Reads only; a secret that does not exist has none. */
  diagnose?(key: string): Promise<StoreFinding[]>;
  /** `doctor`: every entry key the store holds, for stores that can list them cheaply (to find
   * entries no policy names). Reads only. */
  listKeys?(): Promise<string[]>;
  /** `doctor`: the file behind `lock()` on this machine, to find a lock a dead run left. */
  lockFile?(): string;
}

/**
 * A problem `diagnose` found (docs/cli.md#doctor). Never holds a value. A finding that `doctor --fix`
 * may repair carries the version ops that repair it: the engine applies them with `apply`, under
 * the lock and with the evidence draft, exactly like a rotation step (write-ahead, idempotent).
 */
export interface StoreFinding {
  /** Stable check name, e.g. `foreign-pending`, `unknown-versions`. */
  check: string;
  severity: 'error' | 'warning';
  message: string;
  hint: string;
  /** Present only when the repair is clearly safe. */
  repair?: { ops: VersionOp[]; action: string; versionId: string | null };
}

export const emptyStoreMeta = (): StoreMeta => ({ evidenceAnchors: {}, confirmedRuns: [] });

/**
 * Whether a draft an entry holds may still be missing from the evidence log: its run is not among
 * the store's confirmedRuns (runs that appended all their drafts and then said so).
 */
export function isUnconfirmed(draft: EvidenceDraft, confirmedRuns: readonly string[]): boolean {
  return !confirmedRuns.includes(draft.runId);
}

export function versionWithStage(state: EntryState, stage: Stage): VersionInfo | undefined {
  return state.versions.find((v) => v.stages.includes(stage));
}
