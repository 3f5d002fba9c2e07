import { isUnconfirmed, type EntryMeta, type EntryState, type EvidenceDraft, type RetiredVersion, type RotationRecord, type Stage, type StoreMeta } from '../contract.js';
import { ENTRY_PREFIX, entryKey, versionsJson } from './entry-text.js';
import { packRecord, StringRefs, StringTable, unpackRecord, type Field } from './record-codec.js';

/**
 * What one log record holds (store format 2, docs/local-store.md): one entry's whole new state,
 * values included, or the store meta, as compact JSON arrays. The store keeps where each entry's
 * newest record is (log-reader.ts EntryHandle), reads this text back when the entry is read or
 * changed, and decodes it then. Plaintext only ever exists in memory and inside AES-GCM.
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

/** A record as the log reader loads it: an entry's text, not decoded until it is read. */
export type LoadedRecord = { type: 'entry'; key: string; text: string } | { type: 'meta'; meta: StoreMeta };

/** The array form of a RotationRecord (record-codec.ts); other shapes are kept as objects. */
const ROTATION_FIELDS: readonly Field[] = [
  { name: 'rotationId', kind: 'string' }, { name: 'phase', kind: 'string' }, { name: 'newVersionId', kind: 'string' },
  { name: 'oldVersionId', kind: 'string|null' }, { name: 'startedAt', kind: 'string' }, { name: 'switchedAt', kind: 'string|null' },
  { name: 'decommissionAfter', kind: 'string|null' }, { name: 'reason', kind: 'string' }, { name: 'ticket', kind: 'string|null' },
  { name: 'emergency', kind: 'boolean' }, { name: 'operator', kind: 'string' }, { name: 'error', kind: 'string|null' },
  { name: 'fallbackWindowOverrideMs', kind: 'number|null', optional: true }, { name: 'hooksDone', kind: 'number', optional: true },
];

/** The array form of an EvidenceDraft. */
const DRAFT_FIELDS: readonly Field[] = [
  { name: 'event', kind: 'string' }, { name: 'rotationId', kind: 'string|null' }, { name: 'secret', kind: 'string' },
  { name: 'environment', kind: 'string' }, { name: 'store', kind: 'string' }, { name: 'fromVersion', kind: 'string|null' },
  { name: 'toVersion', kind: 'string|null' }, { name: 'fingerprint', kind: 'string|null' }, { name: 'at', kind: 'string' },
  { name: 'operator', kind: 'string' }, { name: 'reason', kind: 'string' }, { name: 'ticket', kind: 'string|null' },
  { name: 'emergency', kind: 'boolean' }, { name: 'checks', kind: 'array' }, { name: 'runId', kind: 'string' },
  { name: 'error', kind: 'string', optional: true }, { name: 'storeId', kind: 'string', optional: true },
  { name: 'storeLocation', kind: 'string', optional: true },
];

/**
 * `["e", key, versions, retired, rotation, lastRotatedAt, drafts]`; only the EntryMeta fields are
 * kept. Strings are numbered in this order (values are never numbered: they are not repeated).
 */
export function encodeEntry(key: string, entry: StoredEntry): string {
  const refs = new StringRefs();
  return JSON.stringify([
    'e',
    key,
    entry.versions.map((v) => [refs.put(v.id), v.stages, refs.put(v.createdAt), v.value]),
    entry.retired.map((r) => [refs.put(r.id), refs.put(r.retiredAt)]),
    entry.rotation ? packRecord(entry.rotation as unknown as Record<string, unknown>, ROTATION_FIELDS, refs) : null,
    refs.put(entry.lastRotatedAt ?? null),
    (entry.pendingEvents ?? []).map((draft) => packRecord(draft as unknown as Record<string, unknown>, DRAFT_FIELDS, refs)),
  ]);
}

/** The entry, or null when the text is not an entry record of this format. */
export function decodeEntry(text: string): StoredEntry | null {
  const raw = parseJson(text);
  if (!Array.isArray(raw) || raw[0] !== 'e' || raw.length !== 7) return null;
  const [, , versions, retired, rotation, lastRotatedAt, drafts] = raw as unknown[];
  const table = new StringTable();
  const entry: StoredEntry = { versions: [], retired: [], rotation: null, lastRotatedAt: null, pendingEvents: [] };
  const decodedVersions = toVersions(versions, table);
  if (!decodedVersions || !Array.isArray(retired) || !Array.isArray(drafts)) return null;
  entry.versions = decodedVersions;
  for (const r of retired as unknown[]) {
    const [id, retiredAt] = Array.isArray(r) ? [table.get(r[0]), table.get(r[1])] : [];
    if (typeof id !== 'string' || typeof retiredAt !== 'string') return null;
    entry.retired.push({ id, retiredAt });
  }
  if (rotation !== null) {
    const record = unpackRecord(rotation, ROTATION_FIELDS, table);
    if (!record) return null;
    entry.rotation = record as unknown as RotationRecord;
  }
  const last = table.get(lastRotatedAt);
  if (last === undefined) return null;
  entry.lastRotatedAt = last;
  for (const draft of drafts as unknown[]) {
    const record = unpackRecord(draft, DRAFT_FIELDS, table);
    if (!record) return null;
    entry.pendingEvents.push(record as unknown as EvidenceDraft);
  }
  return entry;
}

/** Only the versions of an entry (what reading a value needs), without decoding the rest. */
export function decodeVersions(text: string): StoredVersion[] | null {
  const json = versionsJson(text);
  return json === null ? null : toVersions(parseJson(json), new StringTable());
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
    const key = entryKey(text);
    if (key === null || !text.endsWith(']')) return null;
    return isWanted(key) ? { type: 'entry', key, text } : 'skip';
  }
  const raw = parseJson(text);
  if (!Array.isArray(raw) || raw[0] !== 'm' || raw.length !== 2 || !isMeta(raw[1])) return null;
  return { type: 'meta', meta: raw[1] };
}

/**
 * The engine's view of an entry, without values, sharing no array or record with it: the store keeps
 * decoded entries for the next apply (local-store.ts), and what it hands out may be changed. Drafts
 * of `confirmed` runs are left out: they are appended already (EntryMeta.pendingEvents is [] once
 * appended), and a steady-state entry holds its last run's three, which every read would copy.
 */
export function toEntryState(entry: StoredEntry, confirmed: readonly string[] = []): EntryState {
  return {
    versions: entry.versions.map((v) => ({ id: v.id, stages: [...v.stages], createdAt: v.createdAt })),
    retired: entry.retired.map((r) => ({ ...r })),
    rotation: entry.rotation ? { ...entry.rotation } : null,
    lastRotatedAt: entry.lastRotatedAt,
    pendingEvents: unconfirmedCopies(entry.pendingEvents, confirmed),
  };
}

function unconfirmedCopies(drafts: EvidenceDraft[], confirmed: readonly string[]): EvidenceDraft[] {
  const copies: EvidenceDraft[] = [];
  for (const draft of drafts) if (isUnconfirmed(draft, confirmed)) copies.push(copyDraft(draft));
  return copies;
}

/** A copy, then its checks replaced (a spread with a field after it is slow on Node 20). */
function copyDraft(draft: EvidenceDraft): EvidenceDraft {
  const copy = { ...draft };
  if (Array.isArray(draft.checks)) copy.checks = draft.checks.map(copyCheck) as EvidenceDraft['checks'];
  return copy;
}

const copyCheck = (check: unknown): unknown => (check !== null && typeof check === 'object' && !Array.isArray(check) ? { ...check } : check);

/** A deep copy through JSON, for the store meta handed in and out. */
export function clone<T>(value: T): T {
  return value === null || value === undefined ? value : (JSON.parse(JSON.stringify(value)) as T);
}

export function isMeta(value: unknown): value is StoreMeta {
  const meta = value as StoreMeta;
  return typeof meta === 'object' && meta !== null && typeof meta.evidenceAnchors === 'object' && Array.isArray(meta.confirmedRuns);
}

function toVersions(raw: unknown, table: StringTable): StoredVersion[] | null {
  if (!Array.isArray(raw)) return null;
  const versions: StoredVersion[] = [];
  for (const v of raw as unknown[]) {
    if (!Array.isArray(v)) return null;
    const id = table.get(v[0]);
    const createdAt = table.get(v[2]);
    if (typeof id !== 'string' || !Array.isArray(v[1]) || typeof createdAt !== 'string' || typeof v[3] !== 'string') return null;
    versions.push({ id, stages: v[1] as Stage[], createdAt, value: v[3] });
  }
  return versions;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
