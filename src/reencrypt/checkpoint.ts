import { randomInt } from 'node:crypto';
import type { Checkpoint, ReencryptDatabase, RowKey } from './databases/contract.js';
import type { EvidenceDraft } from '../stores/contract.js';

/**
 * The progress of one secret's re-encryption in one environment, kept in the database itself
 * (`keyshift_reencrypt`), so a rerun on any machine resumes after the last checkpointed batch.
 */

export type ReencryptPhase = 'running' | 'rolling-back' | 'observing' | 'done';

export interface StageStats {
  startedAt: string;
  /** Rows of the stage that needed work (not yet under the target version). */
  examined: number;
  /** Rows moved to the target version (to the previous one while rolling back). */
  rows: number;
  /** Rows that did not decrypt; `errorRows` names the first few as `table:key (code)`. */
  errors: number;
  errorRows: string[];
  /** Rows an application changed during their batch, retried until they applied. */
  conflicts: number;
  /** A reservoir of moved rows (table index, key): the SLO check decrypts them again. */
  sample: Array<[number, RowKey]>;
  /** Rows a rollback of the stage put back under the previous version. */
  rolledBack: number;
  /** Why the stage is being rolled back. */
  failure: string | null;
}

export interface ReencryptState {
  format: 1;
  /** The version rows move to (CURRENT when the re-encryption started). */
  target: string;
  /** The version a rolled-back stage puts its rows back under (PREVIOUS then). */
  previous: string | null;
  seed: number;
  /** 0 = the canary, then one per `stages` entry. */
  stage: number;
  phase: ReencryptPhase;
  cursor: { table: number; after: RowKey | null };
  observeUntil: string | null;
  stats: StageStats;
  /** A stage's evidence record, saved before it is appended (appended again after a crash). */
  pendingRecord: EvidenceDraft | null;
}

export function checkpointId(secret: string, environment: string): string {
  return `${secret}/${environment}`;
}

export function freshState(target: string, previous: string | null, now: Date): ReencryptState {
  return { format: 1, target, previous, seed: randomInt(0, 2 ** 32 - 1), stage: 0, phase: 'running', cursor: { table: 0, after: null }, observeUntil: null, stats: freshStats(now), pendingRecord: null };
}

export function freshStats(now: Date): StageStats {
  return { startedAt: now.toISOString(), examined: 0, rows: 0, errors: 0, errorRows: [], conflicts: 0, sample: [], rolledBack: 0, failure: null };
}

export async function loadState(db: ReencryptDatabase, id: string): Promise<ReencryptState | null> {
  const checkpoint = await db.readCheckpoint(id);
  if (!checkpoint) return null;
  try {
    const state = JSON.parse(checkpoint.state) as ReencryptState;
    return state.format === 1 ? state : null;
  } catch {
    return null;
  }
}

export async function saveState(db: ReencryptDatabase, id: string, state: ReencryptState, now: Date): Promise<void> {
  await db.writeCheckpoint(checkpointOf(id, state, now));
}

/** The state as the checkpoint row holds it (a batch writes it in its own transaction). */
export function checkpointOf(id: string, state: ReencryptState, now: Date): Checkpoint {
  return { id, state: JSON.stringify(state, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)), updatedAt: now.toISOString() };
}
