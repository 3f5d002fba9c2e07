import type { EntryMeta, EntryState, EvidenceDraft, RetiredVersion, RotationRecord, Stage, StoreMeta } from '../contract.js';
import { decodeDrafts, encodeDrafts } from './draft-codec.js';

/**
 * What one log record holds (store format 2, docs/local-store.md): one entry's whole new state,
 * values included, or the store meta, as compact JSON arrays. The store keeps each entry in memory
 * as exactly this text — one string per secret, the smallest form it has — and decodes it when the
 * entry is read or changed. Plaintext only ever exists in memory and inside AES-GCM.
 */

export interface StoredVersion {
  id: string;
  stages: Stage[];
  createdAt: string;
  /** The value, base64. */
  value: string;
}

/** An entry decoded: the versions with their values and the engine's EntryMeta. */
export interface StoredEntry extends EntryMeta {
  versions: StoredVersion[];
  retired: RetiredVersion[];
}

/** What a writer appends: an entry already encoded (see encodeEntry), or the store meta. */
export type LogItem = { type: 'entry'; key: string; text: string } | { type: 'meta'; meta: StoreMeta };

/** A record as the log reader keeps it: an entry stays text until it is read. */
export type LoadedRecord = { type: 'entry'; key: string; text: string } | { type: 'meta'; meta: StoreMeta };

const ENTRY_PREFIX = '["e",';

/** `["e", key, versions, retired, rotation, lastRotatedAt, drafts]`; only the EntryMeta fields are kept. */
export function encodeEntry(key: string, entry: StoredEntry): string {
  return JSON.stringify([
    'e',
    key,
    entry.versions.map((v) => [v.id, v.stages, v.createdAt, v.value]),
    entry.retired.map((r) => [r.id, r.retiredAt]),
    entry.rotation ?? null,
    entry.lastRotatedAt ?? null,
    encodeDrafts(entry.pendingEvents ?? []),
  ]);
}

/** The entry, or null when the text is not an entry record of this format. */
export function decodeEntry(text: string): StoredEntry | null {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return null;
  }
  if (!Array.isArray(raw) || raw[0] !== 'e' || raw.length !== 7) return null;
  const [, , versions, retired, rotation, lastRotatedAt, drafts] = raw as unknown[];
  const pendingEvents = decodeDrafts(drafts);
  if (!Array.isArray(versions) || !Array.isArray(retired) || !pendingEvents) return null;
  if (!(rotation === null || typeof rotation === 'object') || !(lastRotatedAt === null || typeof lastRotatedAt === 'string')) return null;
  const decodedVersions = toVersions(versions);
  if (!decodedVersions) return null;
  const entry: StoredEntry = { versions: decodedVersions, retired: [], rotation: rotation as RotationRecord | null, lastRotatedAt, pendingEvents };
  for (const r of retired as unknown[][]) {
    if (!Array.isArray(r) || typeof r[0] !== 'string' || typeof r[1] !== 'string') return null;
    entry.retired.push({ id: r[0], retiredAt: r[1] });
  }
  return entry;
}

/** Only the versions of an entry (what reading a value needs), without decoding the rest. */
export function decodeVersions(text: string): StoredVersion[] | null {
  const keyEnd = endOfString(text, ENTRY_PREFIX.length);
  const start = keyEnd + 2;
  const end = keyEnd < 0 || text[keyEnd + 1] !== ',' ? -1 : endOfArray(text, start);
  if (end < 0) return null;
  let raw: unknown;
  try {
    raw = JSON.parse(text.slice(start, end + 1));
  } catch {
    return null;
  }
  return Array.isArray(raw) ? toVersions(raw) : null;
}

export function encodeMeta(meta: StoreMeta): string {
  return JSON.stringify(['m', meta]);
}

export function itemText(item: LogItem): string {
  return item.type === 'entry' ? item.text : encodeMeta(item.meta);
}

/**
 * An authenticated record's content, or null when it does not have the expected layout. Only the
 * key is read from an entry (it stays text until it is used), so loading a store with 10,000s of
 * records parses almost nothing; `isWanted` says whether a later record already replaced it.
 */
export function loadRecord(text: string, isWanted: (key: string) => boolean): LoadedRecord | 'skip' | null {
  if (text.startsWith(ENTRY_PREFIX)) {
    const key = keyOf(text);
    if (key === null || !text.endsWith(']')) return null;
    return isWanted(key) ? { type: 'entry', key, text } : 'skip';
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return null;
  }
  if (!Array.isArray(raw) || raw[0] !== 'm' || raw.length !== 2 || !isMeta(raw[1])) return null;
  return { type: 'meta', meta: raw[1] };
}

function toVersions(raw: unknown[]): StoredVersion[] | null {
  const versions: StoredVersion[] = [];
  for (const v of raw as unknown[][]) {
    if (!Array.isArray(v) || typeof v[0] !== 'string' || !Array.isArray(v[1]) || typeof v[2] !== 'string' || typeof v[3] !== 'string') return null;
    versions.push({ id: v[0], stages: v[1] as Stage[], createdAt: v[2], value: v[3] });
  }
  return versions;
}

/** The engine's view of a freshly decoded entry (it shares that entry's objects): no values. */
export function toEntryState(entry: StoredEntry): EntryState {
  return {
    versions: entry.versions.map((v) => ({ id: v.id, stages: v.stages, createdAt: v.createdAt })),
    retired: entry.retired,
    rotation: entry.rotation,
    lastRotatedAt: entry.lastRotatedAt,
    pendingEvents: entry.pendingEvents as EvidenceDraft[],
  };
}

/** A deep copy through JSON, for the store meta handed in and out. */
export function clone<T>(value: T): T {
  return value === null || value === undefined ? value : (JSON.parse(JSON.stringify(value)) as T);
}

export function isMeta(value: unknown): value is StoreMeta {
  const meta = value as StoreMeta;
  return typeof meta === 'object' && meta !== null && typeof meta.evidenceAnchors === 'object' && Array.isArray(meta.confirmedRuns);
}

/** The key: the JSON string right after `["e",`, read without parsing the rest of the record. */
function keyOf(text: string): string | null {
  const start = ENTRY_PREFIX.length;
  const end = endOfString(text, start);
  if (end < 0) return null;
  const raw = text.slice(start, end + 1);
  try {
    return raw.includes('\\') ? (JSON.parse(raw) as string) : raw.slice(1, -1);
  } catch {
    return null;
  }
}

/** Index of the quote that closes the JSON string opening at `start`, or -1. */
function endOfString(text: string, start: number): number {
  if (text[start] !== '"') return -1;
  for (let i = start + 1; i < text.length; i++) {
    const c = text[i];
    if (c === '\\') i += 1;
    else if (c === '"') return i;
  }
  return -1;
}

/** Index of the bracket that closes the JSON array opening at `start`, or -1. */
function endOfArray(text: string, start: number): number {
  if (text[start] !== '[') return -1;
  let depth = 0;
  for (let i = start; i < text.length; i++) {
    const c = text[i];
    if (c === '"') i = endOfString(text, i);
    if (i < 0) return -1;
    if (c === '[') depth += 1;
    else if (c === ']' && --depth === 0) return i;
  }
  return -1;
}
