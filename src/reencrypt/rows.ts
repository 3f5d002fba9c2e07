import type { ReencryptSpec } from '../policy/reencrypt-schema.js';
import type { Row, RowChange, TableSpec } from './databases/contract.js';
import { EnvelopeError, open, seal, type Keyring } from './envelope.js';

/**
 * What happens to one row: each encrypted column not yet under `to` is opened with the keyring and
 * sealed under `to`. A column that does not open (malformed, unknown version, failed
 * authentication) is a decrypt error for the whole row, which is then left untouched.
 */

export type RowOutcome = { kind: 'done' } | { kind: 'change'; change: RowChange } | { kind: 'error'; code: string };

export function underVersion(field: string, versionId: string): boolean {
  return field.startsWith(`ks1:${versionId}:`);
}

/** True when some non-NULL column of the row is not under `versionId`. */
export function needsWork(row: Row, versionId: string): boolean {
  for (const value of Object.values(row.values)) if (value !== null && !underVersion(value, versionId)) return true;
  return false;
}

/** Moves the row's columns to `to` (rows come from `readBatch`/`readRows` of `table`). */
export function moveRow(row: Row, table: TableSpec, ring: Keyring, to: string, spec: Pick<ReencryptSpec, 'aad'>): RowOutcome {
  const after: Record<string, string | null> = {};
  let changed = false;
  for (const column of table.columns) {
    const value = row.values[column] ?? null;
    if (value === null || underVersion(value, to)) {
      after[column] = value;
      continue;
    }
    const aad = spec.aad === 'row' ? { table: table.table, column, key: row.key } : null;
    try {
      after[column] = seal(open(value, ring, aad), ring, aad, to);
      changed = true;
    } catch (error) {
      return { kind: 'error', code: error instanceof EnvelopeError ? error.code : 'ERR_ENVELOPE_MALFORMED' };
    }
  }
  return changed ? { kind: 'change', change: { key: row.key, before: row.values, after } } : { kind: 'done' };
}

/** Whether every non-NULL column of the row opens with the keyring (the SLO sample check). */
export function rowOpens(row: Row, table: TableSpec, ring: Keyring, spec: Pick<ReencryptSpec, 'aad'>): boolean {
  for (const column of table.columns) {
    const value = row.values[column] ?? null;
    if (value === null) continue;
    try {
      open(value, ring, spec.aad === 'row' ? { table: table.table, column, key: row.key } : null);
    } catch {
      return false;
    }
  }
  return true;
}

/**
 * A row's place in [0, 1), stable for a run's seed: the canary is the rows below 1 %, stage 25 %
 * the rows below 0.25, and so on, each a random sample spread over the whole table (not one key
 * range). FNV-1a with a murmur finaliser: cheap enough for a million rows per stage.
 */
export function bucketOf(seed: number, table: string, key: Row['key']): number {
  const text = `${table}\0${String(key)}`;
  let hash = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193) >>> 0;
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b) >>> 0;
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35) >>> 0;
  hash ^= hash >>> 16;
  return (hash >>> 0) / 0x1_0000_0000;
}
