import type { EntryMeta, RetiredVersion, Stage } from '../contract.js';
import { encodeEntry, isMeta, type LoadedRecord, type StoredVersion } from './entry-codec.js';

/**
 * Records of store format 1, which keyshift still reads: JSON objects, the entry's engine meta as
 * JSON text inside. Each record is converted to the format-2 text the store keeps in memory; the
 * first write to such a store rewrites it in format 2 (see AppendLog.startWriting).
 */
export function loadLegacyRecord(text: string, isWanted: (key: string) => boolean): LoadedRecord | 'skip' | null {
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return null;
  }
  if (raw.type === 'meta') return isMeta(raw.meta) ? { type: 'meta', meta: raw.meta } : null;
  if (raw.type !== 'entry' || typeof raw.key !== 'string' || !Array.isArray(raw.versions) || !Array.isArray(raw.retired) || typeof raw.meta !== 'string') return null;
  if (!isWanted(raw.key)) return 'skip';
  const versions: StoredVersion[] = [];
  for (const v of raw.versions as Array<Record<string, unknown>>) {
    if (typeof v?.id !== 'string' || !Array.isArray(v.stages) || typeof v.createdAt !== 'string' || typeof v.value !== 'string') return null;
    versions.push({ id: v.id, stages: v.stages as Stage[], createdAt: v.createdAt, value: v.value });
  }
  const retired = raw.retired as RetiredVersion[];
  if (!retired.every((r) => typeof r?.id === 'string' && typeof r.retiredAt === 'string')) return null;
  let meta: Partial<EntryMeta>;
  try {
    meta = JSON.parse(raw.meta) as Partial<EntryMeta>;
  } catch {
    return null;
  }
  const entry = {
    versions,
    retired,
    rotation: meta.rotation ?? null,
    lastRotatedAt: meta.lastRotatedAt ?? null,
    pendingEvents: meta.pendingEvents ?? [],
  };
  return { type: 'entry', key: raw.key, text: encodeEntry(raw.key, entry) };
}
