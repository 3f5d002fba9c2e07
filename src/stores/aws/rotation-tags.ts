import type { RotationTagKeys } from '../../policy/schema-aws-tags.js';
import { KeyshiftError } from '../../errors.js';
import type { EntryMeta, VersionOp } from '../contract.js';
import { MAX_TAGS } from './meta-tags.js';

/**
 * The opt-in `tags:` of an AWS store (docs/policies.md#aws-tags): rotated-by, rotated-at and
 * rotation-ticket on the resource whose CURRENT changes, written in the same TagResource (or
 * CreateSecret) call as keyshift's own record, so they cost no extra call against the tag quota.
 * Only a switch or a provision sets them; a rollback, a decommission or a failure leaves them. The
 * values are the operator, a time and the ticket: never a secret value.
 */

type Tag = { Key: string; Value: string };

export function rotationTags(keys: RotationTagKeys | null | undefined, ops: VersionOp[], meta: EntryMeta): Tag[] {
  if (!keys) return [];
  const made = newCurrent(ops, meta);
  if (!made) return [];
  const tags: Array<[string | null, string]> = [
    [keys.rotatedBy, made.operator],
    [keys.rotatedAt, made.at],
    [keys.ticket, made.ticket ?? ''],
  ];
  return tags.filter((tag): tag is [string, string] => tag[0] !== null).map(([Key, value]) => ({ Key, Value: tagValue(value) }));
}

/** How many tags the resource will have besides keyshift's own record: its others, with ours replacing theirs. */
export function otherTagCount(existing: ReadonlyArray<{ Key?: string }>, ours: Tag[], prefix: string): number {
  const mine = new Set(ours.map((t) => t.Key));
  return existing.filter((t) => !(t.Key ?? '').startsWith(prefix) && !mine.has(t.Key ?? '')).length + ours.length;
}

/**
 * TagResource merges: the resource ends with the union of its keys and the written ones, and AWS
 * refuses more than 50. Counted exactly (the lease tag and a longer record's leftover chunks
 * included), so the limit is keyshift's one-line error before the call, not the service's refusal.
 */
export function assertTagRoom(where: string, existing: ReadonlyArray<{ Key?: string }>, writing: Tag[], own: Tag[]): void {
  const keys = new Set([...existing.map((t) => t.Key ?? ''), ...writing.map((t) => t.Key)]);
  if (keys.size <= MAX_TAGS) return;
  throw new KeyshiftError('ERR_STORE_TAG_LIMIT', `${where}: this write would leave ${keys.size} tags on the resource (AWS allows ${MAX_TAGS}): keyshift's record needs ${writing.length - own.length}${own.length > 0 ? `, the tags: of the policy ${own.length}` : ''}`, {
    hint: own.length > 0 ? 'remove some of the resource\'s own tags, or leave some out with tags: { rotation-ticket: false }' : 'remove some of the resource\'s own tags',
  });
}

/** Who made a new CURRENT, and when: the switch of a rotation, or the provision of the first version. */
function newCurrent(ops: VersionOp[], meta: EntryMeta): { operator: string; at: string; ticket: string | null } | null {
  const rotation = meta.rotation;
  const promoted = ops.find((op) => op.type === 'promote');
  if (promoted && rotation?.switchedAt && rotation.newVersionId === promoted.versionId) {
    // The time of the `switched` evidence this write announces, where it carries one: the tag and
    // the evidence then name the same instant (switchedAt is read a moment apart).
    const switched = meta.pendingEvents.find((d) => d.event === 'switched' && d.toVersion === promoted.versionId);
    return { operator: rotation.operator, at: switched?.at ?? rotation.switchedAt, ticket: rotation.ticket };
  }
  const created = ops.find((op) => op.type === 'create' && op.stage === 'CURRENT');
  const draft = created && meta.pendingEvents.find((d) => d.event === 'provisioned' && d.toVersion === created.versionId);
  return draft ? { operator: draft.operator, at: draft.at, ticket: draft.ticket } : null;
}

/** AWS allows letters, digits, spaces and _ . : / = + - @ in 0-256 characters (255 in Secrets Manager's guide); aws: is reserved. */
function tagValue(text: string): string {
  const cleaned = [...text.replace(/[^\p{L}\p{Z}\p{N}_.:/=+\-@]/gu, '_')].slice(0, 255).join('');
  return /^aws:/i.test(cleaned) ? `_${cleaned.slice(1)}` : cleaned;
}
