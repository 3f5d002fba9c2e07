import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { KeyshiftError } from '../../errors.js';
import type { EntryMeta, RetiredVersion, RotationRecord } from '../contract.js';
import type { Ids } from '../stage-ops.js';

/**
 * keyshift's record of a secret, kept in its `custom_metadata` (no values). Vault allows 64 keys,
 * keys up to 128 bytes and values up to 512 bytes, so the record is deflated, base64-encoded and cut
 * into `keyshift-state-NN` values of 500 characters; two readable keys mirror what an operator
 * looks for. The secret's other custom_metadata keys are kept.
 *
 * Vault cannot write custom_metadata and data in one call, so a change is write-ahead: the record
 * names the KV version that will hold it (`at`) and what the entry was before; a reader that finds
 * the secret's current_version below `at` reports the entry as it was (docs/stores/vault-kv2.md).
 */

export const KEY_PREFIX = 'keyshift-';
const CHUNK = 500;
export const MAX_KEYS = 64;
export const MAX_VALUE_BYTES = 512;

export type { Ids };

export interface VaultRecord extends EntryMeta {
  /** Which keyshift version each field holds in KV version `at`. */
  ids: Ids;
  at: number;
  /** The entry before the write that made `at`, reported while `at` does not exist yet. */
  before: { ids: Ids; rotation: RotationRecord | null; lastRotatedAt: string | null; drafts: number } | null;
  created: Record<string, string>;
  /** The first KV version that held each live version's value (to destroy them on retirement). */
  firstKv: Record<string, number>;
  retired: RetiredVersion[];
  /** KV versions holding a retired value, destroyed after the write (again on the next apply if a crash came between). */
  destroy: number[];
}

export function encodeRecord(record: VaultRecord, other: Record<string, string>, where: string): Record<string, string> {
  const blob = deflateRawSync(Buffer.from(JSON.stringify(record))).toString('base64');
  const out: Record<string, string> = { ...other };
  out[`${KEY_PREFIX}phase`] = record.rotation?.phase ?? 'idle';
  out[`${KEY_PREFIX}rotation-id`] = record.rotation?.rotationId ?? '';
  let chunks = 0;
  for (; chunks * CHUNK < blob.length; chunks++) out[`${KEY_PREFIX}state-${String(chunks).padStart(2, '0')}`] = blob.slice(chunks * CHUNK, (chunks + 1) * CHUNK);
  out[`${KEY_PREFIX}state-chunks`] = String(chunks);
  if (Object.keys(out).length > MAX_KEYS) {
    throw new KeyshiftError('ERR_STORE_TAG_LIMIT', `${where}: keyshift's record needs ${chunks + 3} custom_metadata keys and the secret has ${Object.keys(other).length} others (Vault allows ${MAX_KEYS})`, {
      hint: 'remove some of the secret\'s own custom_metadata keys, or rerun after the run ends (evidence drafts are cleared then)',
    });
  }
  return out;
}

/** `null` when keyshift never wrote this secret. A damaged record is an error, never "no record". */
export function decodeRecord(custom: Record<string, string> | null | undefined, where: string): VaultRecord | null {
  const count = Number(custom?.[`${KEY_PREFIX}state-chunks`]);
  if (!custom || !count) return null;
  let blob = '';
  for (let i = 0; i < count; i++) blob += custom[`${KEY_PREFIX}state-${String(i).padStart(2, '0')}`] ?? '';
  try {
    const parsed = JSON.parse(inflateRawSync(Buffer.from(blob, 'base64')).toString('utf8')) as VaultRecord;
    return { ...parsed, pendingEvents: parsed.pendingEvents ?? [], retired: parsed.retired ?? [], destroy: parsed.destroy ?? [], created: parsed.created ?? {}, firstKv: parsed.firstKv ?? {} };
  } catch {
    throw new KeyshiftError('ERR_STORE_RECORD_DAMAGED', `${where}: the keyshift-state custom_metadata cannot be decoded`, {
      hint: 'someone edited the keyshift-* custom_metadata keys; restore them, or remove them all to start over (an in-flight rotation is then forgotten)',
    });
  }
}

/** The secret's own custom_metadata keys (kept on every write). */
export function otherKeys(custom: Record<string, string> | null | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(custom ?? {}).filter(([k]) => !k.startsWith(KEY_PREFIX)));
}
