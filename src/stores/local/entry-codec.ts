import type { EntryMeta, EntryState, RetiredVersion, Stage, StoreMeta } from '../contract.js';

/**
 * What one log record holds: one entry's whole new state (values included) or the store meta.
 * Plaintext is JSON with values as base64; it only ever exists in memory and inside AES-GCM.
 */

export interface StoredVersion {
  id: string;
  stages: Stage[];
  createdAt: string;
  /** The value, base64: kept as text in memory (V8 heap, no malloc'd buffer per version), decoded on read. */
  value: string;
}

export interface StoredEntry {
  versions: StoredVersion[];
  retired: RetiredVersion[];
  /**
   * The engine's EntryMeta as JSON text: opaque to the store, about half the memory of the parsed
   * objects at 10,000 secrets, and parsing it is the deep copy every read returns anyway.
   */
  meta: string;
}

export type LogItem = { type: 'entry'; key: string; entry: StoredEntry } | { type: 'meta'; meta: StoreMeta };

export function encodeItem(item: LogItem): Buffer {
  if (item.type === 'meta') return Buffer.from(JSON.stringify({ type: 'meta', meta: item.meta }), 'utf8');
  const { entry } = item;
  const record = {
    type: 'entry',
    key: item.key,
    versions: entry.versions.map((v) => ({ id: v.id, stages: v.stages, createdAt: v.createdAt, value: v.value })),
    retired: entry.retired,
    meta: entry.meta,
  };
  return Buffer.from(JSON.stringify(record), 'utf8');
}

/** The item, or null when an authenticated record does not have the expected shape. */
export function decodeItem(plaintext: string): LogItem | null {
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(plaintext) as Record<string, unknown>;
  } catch {
    return null;
  }
  if (raw.type === 'meta') return isMeta(raw.meta) ? { type: 'meta', meta: raw.meta } : null;
  if (raw.type !== 'entry' || typeof raw.key !== 'string' || !Array.isArray(raw.versions) || !Array.isArray(raw.retired) || typeof raw.meta !== 'string') return null;
  const versions: StoredVersion[] = [];
  for (const v of raw.versions as Array<Record<string, unknown>>) {
    if (typeof v?.id !== 'string' || !Array.isArray(v.stages) || typeof v.createdAt !== 'string' || typeof v.value !== 'string') return null;
    versions.push({ id: v.id, stages: v.stages as Stage[], createdAt: v.createdAt, value: v.value });
  }
  return { type: 'entry', key: raw.key, entry: { versions, retired: raw.retired as RetiredVersion[], meta: raw.meta } };
}

/** A fresh copy without values: callers may mutate it, and it can be logged safely. */
export function toEntryState(entry: StoredEntry): EntryState {
  const meta = JSON.parse(entry.meta) as Partial<EntryMeta>;
  return {
    versions: entry.versions.map((v) => ({ id: v.id, stages: [...v.stages], createdAt: v.createdAt })),
    retired: entry.retired.map((r) => ({ ...r })),
    rotation: meta.rotation ?? null,
    lastRotatedAt: meta.lastRotatedAt ?? null,
    pendingEvents: meta.pendingEvents ?? [],
  };
}

/** Only the three EntryMeta fields, so nothing else a caller attached is persisted. */
export function metaText(meta: EntryMeta): string {
  return JSON.stringify({ rotation: meta.rotation ?? null, lastRotatedAt: meta.lastRotatedAt ?? null, pendingEvents: meta.pendingEvents ?? [] });
}

/**
 * A copy with its own memory: small Buffers are slices of a shared 8 KB pool, and a long-lived slice
 * would keep its whole pool alive (10,000 secrets would pin megabytes of garbage).
 */
export function clone<T>(value: T): T {
  return value === null || value === undefined ? value : (JSON.parse(JSON.stringify(value)) as T);
}

function isMeta(value: unknown): value is StoreMeta {
  const meta = value as StoreMeta;
  return typeof meta === 'object' && meta !== null && typeof meta.evidenceAnchors === 'object' && Array.isArray(meta.confirmedRuns);
}
