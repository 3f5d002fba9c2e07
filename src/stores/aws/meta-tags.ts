import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { KeyshiftError } from '../../errors.js';
import type { EntryMeta, RetiredVersion, RotationRecord, VersionOp } from '../contract.js';

/**
 * The engine's record of a secret, kept in tags on the AWS resource (so another machine sees an
 * in-flight rotation and resumes it). AWS tags allow only letters, digits, spaces and `_.:/=+-@`,
 * 256 characters a value and 50 tags a resource, so the record is deflated, base64-encoded and cut
 * into `keyshift:state:NN` tags; a few readable tags mirror what an operator looks for.
 *
 * AWS cannot write tags and labels in one call, so each write is write-ahead: the tags announce
 * the version changes (`intent`) and what the entry looked like before (`before`), then the changes
 * are made. A reader that finds the intent not (fully) visible in the labels reports the entry as it
 * was before, so the engine repeats the step; every change is idempotent.
 */

export const TAG_PREFIX = 'keyshift:';
const CHUNK = 256;
export const MAX_TAGS = 50;

export interface StoredRecord extends EntryMeta {
  /** The version changes this write announced; checked against the labels on read. */
  intent: VersionOp[];
  /** The entry before this write, reported while the intent is not visible. */
  before: { rotation: RotationRecord | null; lastRotatedAt: string | null; drafts: number } | null;
  /** Creation times of the versions keyshift made (AWS labels carry none). */
  created: Record<string, string>;
  /** The service's ids of versions whose keyshift id differs (aws-kms: version id → key id). */
  keys?: Record<string, string>;
  /** aws-kms managed mode: how many rotations the key had when this write announced another. */
  rotationsBefore?: number;
  /** aws-kms alias mode: which keys hold PENDING and PREVIOUS (version ids), after and before this write. */
  labels?: KeyLabels;
  labelsBefore?: KeyLabels;
  retired: RetiredVersion[];
}

type Tag = { Key: string; Value: string };

export interface KeyLabels {
  pending: string | null;
  previous: string | null;
}

export function encodeRecord(record: StoredRecord, otherTags: number): Tag[] {
  const intent = record.intent.map((op) => (op.type === 'create' ? { type: op.type, versionId: op.versionId, stage: op.stage } : op));
  const blob = deflateRawSync(Buffer.from(JSON.stringify({ ...record, intent }))).toString('base64');
  const chunks: Tag[] = [];
  for (let i = 0; i * CHUNK < blob.length; i++) chunks.push({ Key: `${TAG_PREFIX}state:${String(i).padStart(2, '0')}`, Value: blob.slice(i * CHUNK, (i + 1) * CHUNK) });
  const rotation = record.rotation;
  const tags: Tag[] = [
    { Key: `${TAG_PREFIX}rotation-id`, Value: rotation?.rotationId ?? '' },
    { Key: `${TAG_PREFIX}phase`, Value: rotation?.phase ?? 'idle' },
    { Key: `${TAG_PREFIX}pending-version`, Value: rotation && !rotation.switchedAt ? rotation.newVersionId : '' },
    { Key: `${TAG_PREFIX}switched-at`, Value: rotation?.switchedAt ?? '' },
    { Key: `${TAG_PREFIX}state-chunks`, Value: String(chunks.length) },
    ...chunks,
  ];
  if (tags.length + otherTags > MAX_TAGS) {
    throw new KeyshiftError('ERR_STORE_TAG_LIMIT', `the rotation record needs ${tags.length} tags and the resource has ${otherTags} others (AWS allows ${MAX_TAGS})`, {
      hint: 'remove some of the resource\'s own tags, or rerun after the run ends (evidence drafts are cleared then)',
    });
  }
  return tags;
}

/** `null` when keyshift never wrote this resource. A damaged record is an error, never "no record". */
export function decodeRecord(tags: ReadonlyArray<{ Key?: string; Value?: string }>, where: string): StoredRecord | null {
  const byKey = new Map(tags.map((t) => [t.Key ?? '', t.Value ?? '']));
  const count = Number(byKey.get(`${TAG_PREFIX}state-chunks`));
  if (!count) return null;
  let blob = '';
  for (let i = 0; i < count; i++) blob += byKey.get(`${TAG_PREFIX}state:${String(i).padStart(2, '0')}`) ?? '';
  try {
    const parsed = JSON.parse(inflateRawSync(Buffer.from(blob, 'base64')).toString('utf8')) as StoredRecord;
    return { ...parsed, pendingEvents: parsed.pendingEvents ?? [], intent: parsed.intent ?? [], created: parsed.created ?? {}, retired: parsed.retired ?? [] };
  } catch {
    throw new KeyshiftError('ERR_STORE_RECORD_DAMAGED', `${where}: the keyshift:state tags cannot be decoded`, {
      hint: 'someone edited the keyshift:* tags; restore them from CloudTrail, or remove all keyshift:* tags to start over (an in-flight rotation is then forgotten)',
    });
  }
}

export function countOtherTags(tags: ReadonlyArray<{ Key?: string }>): number {
  return tags.filter((t) => !(t.Key ?? '').startsWith(TAG_PREFIX)).length;
}

/**
 * The entry a reader should see: the record itself once its intent is visible in the labels; the
 * entry before the write otherwise. An interrupted issue keeps its rotation (and so its version
 * id, the idempotency token) so that the rerun re-sends the same token.
 */
export function effectiveMeta(record: StoredRecord, applied: (op: VersionOp) => boolean): EntryMeta {
  const pending = record.intent.filter((op) => !applied(op));
  if (pending.length === 0 || !record.before) return { rotation: record.rotation, lastRotatedAt: record.lastRotatedAt, pendingEvents: record.pendingEvents };
  const drafts = record.pendingEvents.slice(0, record.before.drafts);
  const issuing = pending.every((op) => op.type === 'create' && op.stage === 'PENDING' && op.versionId === record.rotation?.newVersionId);
  if (issuing) return { rotation: record.rotation, lastRotatedAt: record.lastRotatedAt, pendingEvents: drafts };
  return { rotation: record.before.rotation, lastRotatedAt: record.before.lastRotatedAt, pendingEvents: drafts };
}
