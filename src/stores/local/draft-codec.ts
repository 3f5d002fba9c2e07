import type { EvidenceDraft } from '../contract.js';

/**
 * The evidence drafts of an entry in compact form (store format 2). The drafts one write announces
 * share most of their fields (secret, environment, operator, run, often the versions and the
 * fingerprint), and an entry record is kept in memory for every secret of the store: so a draft is
 * written as an array of its values in a fixed order, with 0 standing for "the same value as the
 * draft before it". A draft of any other shape (an unknown field, an unexpected type) is written as
 * the plain object, so the encoding never loses anything.
 */

type Slot = string | null | boolean | unknown[];

/** Field order of the array form; `error` is optional and comes last. */
const FIELDS = [
  'event', 'rotationId', 'secret', 'environment', 'store', 'fromVersion', 'toVersion', 'fingerprint',
  'at', 'operator', 'reason', 'ticket', 'emergency', 'checks', 'runId', 'error',
] as const;
const REQUIRED = FIELDS.length - 1;
const KNOWN = new Set<string>(FIELDS);
const SAME = 0;

export function encodeDrafts(drafts: EvidenceDraft[]): unknown[] {
  let previous: Record<string, unknown> | null = null;
  return drafts.map((draft) => {
    const fields = draft as unknown as Record<string, unknown>;
    const encoded = fitsArray(fields) ? toArray(fields, previous) : fields;
    previous = fields;
    return encoded;
  });
}

/** The drafts, or null when the list is not one encodeDrafts wrote. */
export function decodeDrafts(encoded: unknown): EvidenceDraft[] | null {
  if (!Array.isArray(encoded)) return null;
  const drafts: EvidenceDraft[] = [];
  let previous: Record<string, unknown> | null = null;
  for (const item of encoded) {
    const draft: Record<string, unknown> | null = Array.isArray(item) ? fromArray(item, previous) : isPlainObject(item) ? item : null;
    if (!draft) return null;
    drafts.push(draft as unknown as EvidenceDraft);
    previous = draft;
  }
  return drafts;
}

function fitsArray(draft: Record<string, unknown>): boolean {
  for (const key of Object.keys(draft)) if (!KNOWN.has(key)) return false;
  for (let i = 0; i < REQUIRED; i++) if (!isSlot(draft[FIELDS[i] as string])) return false;
  return draft.error === undefined || typeof draft.error === 'string';
}

function toArray(draft: Record<string, unknown>, previous: Record<string, unknown> | null): unknown[] {
  const count = draft.error === undefined ? REQUIRED : FIELDS.length;
  const out = new Array<unknown>(count);
  for (let i = 0; i < count; i++) {
    const name = FIELDS[i] as string;
    out[i] = previous && sameValue(draft[name], previous[name]) ? SAME : draft[name];
  }
  return out;
}

function fromArray(values: unknown[], previous: Record<string, unknown> | null): Record<string, unknown> | null {
  if (values.length !== REQUIRED && values.length !== FIELDS.length) return null;
  const draft: Record<string, unknown> = {};
  for (let i = 0; i < values.length; i++) {
    const name = FIELDS[i] as string;
    const value = values[i] === SAME && previous ? shared(previous[name]) : values[i];
    if (!isSlot(value)) return null;
    draft[name] = value;
  }
  return draft;
}

/** A fresh empty list, so no two decoded drafts share one object. */
function shared(value: unknown): unknown {
  return Array.isArray(value) ? [] : value;
}

/** Only primitives and empty lists are shared: a check list with content is written out. */
function sameValue(a: unknown, b: unknown): boolean {
  if (Array.isArray(a)) return a.length === 0 && Array.isArray(b) && b.length === 0;
  return a === b && a !== undefined;
}

function isSlot(value: unknown): value is Slot {
  return value === null || typeof value === 'string' || typeof value === 'boolean' || Array.isArray(value);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
