import * as crypto from 'node:crypto';
import { KeyshiftError } from '../errors.js';
import type { EvidenceDraft, EvidenceEvent } from '../stores/contract.js';

/**
 * One line of evidence.jsonl: the draft's fields plus its place in the hash chain. The format is
 * documented in docs/evidence.md so that an auditor can re-check it without keyshift.
 */
export interface EvidenceRecord extends EvidenceDraft {
  seq: number;
  prevHash: string;
  hash: string;
}

/** The newest record of a log, and the chain id (hash of its seq-1 record) that names the log. */
export interface EvidenceHead {
  chainId: string;
  seq: number;
  hash: string;
}

/** `prevHash` of the seq-1 record. */
export const ZERO_HASH = `sha256:${'0'.repeat(64)}`;

/** Longest line we write or read; a record is a few hundred bytes, so more means a damaged file. */
export const MAX_LINE_BYTES = 1024 * 1024;

export const EVIDENCE_EVENTS: readonly EvidenceEvent[] = [
  'provisioned', 'issued', 'deployed', 'verified', 'switched', 'decommissioned', 'rolled-back', 'failed', 'repaired', 'signed', 'reencrypt-stage', 'data-key-rewrapped',
];

/** Field order of a written line (after `seq`); other draft fields follow, then prevHash and hash. */
export const DRAFT_FIELD_ORDER = [
  'at', 'event', 'rotationId', 'secret', 'environment', 'store', 'fromVersion', 'toVersion',
  'fingerprint', 'operator', 'reason', 'ticket', 'emergency', 'checks',
] as const;

const RESERVED = new Set<string>(['seq', 'prevHash', 'hash', ...DRAFT_FIELD_ORDER]);
const HASH_PATTERN = /^sha256:[0-9a-f]{64}$/;
type Kind = 'string' | 'string|null' | 'boolean' | 'array';
const FIELD_KINDS: ReadonlyArray<readonly [string, Kind]> = [
  ['at', 'string'], ['event', 'string'], ['rotationId', 'string|null'], ['secret', 'string'],
  ['environment', 'string'], ['store', 'string'], ['fromVersion', 'string|null'],
  ['toVersion', 'string|null'], ['fingerprint', 'string|null'], ['operator', 'string'],
  ['reason', 'string'], ['ticket', 'string|null'], ['emergency', 'boolean'], ['checks', 'array'],
];

/**
 * JSON with object keys sorted recursively (JavaScript's default string order, i.e. by UTF-16 code
 * unit, the same as byte order for ASCII keys) and no whitespace. Input is a parsed JSON value.
 */
export function canonicalJson(value: unknown): string {
  return canonical(value, null);
}

/** `sha256:` + hex SHA-256 of the canonical JSON of the record without its `hash` field. */
export function recordHash(record: Record<string, unknown>): string {
  return `sha256:${sha256Hex(canonical(record, 'hash'))}`;
}

/** One-shot crypto.hash (Node ≥ 20.12) is several times faster than a Hash object per record. */
const sha256Hex: (text: string) => string = typeof crypto.hash === 'function'
  ? (text) => crypto.hash('sha256', text, 'hex')
  : (text) => crypto.createHash('sha256').update(text, 'utf8').digest('hex');

export function isHash(value: unknown): value is string {
  return typeof value === 'string' && HASH_PATTERN.test(value);
}

/**
 * Why a parsed record is not valid evidence (one line for a user), or null. Checks the fields of
 * DESIGN.md and their types; seq, prevHash and hash are checked by the chain logic, not here.
 */
export function recordShapeProblem(record: Record<string, unknown>): string | null {
  for (const [name, kind] of FIELD_KINDS) {
    if (!hasKind(record[name], kind)) return `field "${name}" is missing or not ${describe(kind)}`;
  }
  if (!EVIDENCE_EVENTS.includes(record.event as EvidenceEvent)) {
    return `field "event" is "${String(record.event)}", not one of ${EVIDENCE_EVENTS.join(', ')}`;
  }
  if (Number.isNaN(Date.parse(record.at as string))) return `field "at" is not an ISO 8601 time`;
  for (const name of ['runId', 'error', 'storeId', 'storeLocation', 'resumedBy', 'recoveredBy']) {
    if (record[name] !== undefined && typeof record[name] !== 'string') return `field "${name}" is not a string`;
  }
  return null;
}

/** The record for `fields` at `seq`, and its line as written (without the newline): the hash goes last. */
export function sealRecord(seq: number, fields: Record<string, unknown>, prevHash: string): { record: EvidenceRecord; line: string } {
  const record: Record<string, unknown> = { seq, ...fields, prevHash };
  record.hash = recordHash(record); // hashed before it has a hash field, then the field goes last
  return { record: record as unknown as EvidenceRecord, line: JSON.stringify(record) };
}

/**
 * The draft's fields in the documented order (seq, prevHash and hash are added by sealRecord), as
 * plain JSON: what is hashed is exactly what a reader parses back. Throws on a malformed draft.
 */
export function draftFields(draft: EvidenceDraft): Record<string, unknown> {
  const source = draft as unknown as Record<string, unknown>;
  let fields = flatFields(source);
  let tooLarge = false;
  if (fields === null || flatBytesAtMost(fields) > MAX_LINE_BYTES - 512) {
    const ordered: Record<string, unknown> = {};
    for (const key of DRAFT_FIELD_ORDER) ordered[key] = source[key];
    for (const key of Object.keys(source)) if (!RESERVED.has(key)) ordered[key] = source[key];
    const text = JSON.stringify(ordered);
    fields = JSON.parse(text) as Record<string, unknown>;
    tooLarge = Buffer.byteLength(text) > MAX_LINE_BYTES - 512;
  }
  const problem = tooLarge ? 'the record is larger than 1 MiB' : recordShapeProblem(fields);
  if (problem) {
    throw new KeyshiftError('ERR_EVIDENCE_DRAFT_INVALID', `evidence for ${String(source.secret)}/${String(source.environment)} is invalid: ${problem}`, {
      hint: 'this is a bug in keyshift, please report it',
    });
  }
  return fields;
}

/**
 * The draft's fields as JSON.parse(JSON.stringify(…)) of them in the documented order would give
 * them back, made without either, when every value is a string, a boolean, null, a finite number
 * other than -0, an empty list or absent (most drafts: their `checks` are empty); null otherwise,
 * and draftFields takes the JSON round trip.
 */
function flatFields(source: Record<string, unknown>): Record<string, unknown> | null {
  const fields: Record<string, unknown> = {};
  for (const key of DRAFT_FIELD_ORDER) if (!copyFlat(source[key], key, fields)) return null;
  for (const key of Object.keys(source)) {
    if (key === '__proto__') return null; // an own "__proto__" key: a plain assignment would not copy it
    if (!RESERVED.has(key) && !copyFlat(source[key], key, fields)) return null;
  }
  return fields;
}

function copyFlat(value: unknown, key: string, fields: Record<string, unknown>): boolean {
  if (value === undefined) return true;
  if (value === null || typeof value === 'string' || typeof value === 'boolean') fields[key] = value;
  else if (typeof value === 'number' && Number.isFinite(value) && !Object.is(value, -0)) fields[key] = value;
  else if (Array.isArray(value) && value.length === 0) fields[key] = [];
  else return false;
  return true;
}

/** A bound on the UTF-8 size of flat fields as JSON: six bytes per UTF-16 unit covers any escape. */
function flatBytesAtMost(fields: Record<string, unknown>): number {
  let bytes = 2;
  for (const key of Object.keys(fields)) {
    const value = fields[key];
    bytes += 6 * key.length + 4 + (typeof value === 'string' ? 6 * value.length + 2 : 24);
  }
  return bytes;
}

/** seq and hash of one written line, or null when it is not a record whose hash recomputes. */
export function parseSealedRecord(line: string): { seq: number; hash: string } | null {
  try {
    const record = JSON.parse(line) as Record<string, unknown>;
    if (!Number.isSafeInteger(record.seq) || (record.seq as number) < 1 || !isHash(record.hash)) return null;
    if (recordHash(record) !== record.hash) return null;
    return { seq: record.seq as number, hash: record.hash as string };
  } catch {
    return null;
  }
}

/**
 * canonicalJson. Every evidence line is hashed (a 10,000-secret run writes 30,000), so the text is
 * made by JSON.stringify itself: given a list of keys, it writes each object's keys in that list's
 * order, at every depth, skipping the ones an object lacks; the sorted set of every key in the
 * value is that list. Where the list would change the text (`skip` found below the top level, or a
 * `__proto__` key, which an object lacking it would inherit), the walk below does it instead.
 */
function canonical(value: unknown, skip: string | null): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  const flat = flatKeys(value, skip);
  if (flat !== null) return sortedCopyText(value as Record<string, unknown>, sortedList(flat));
  const keys = new Set<string>();
  if (!collectKeys(value, skip, keys, true)) return walk(value, skip);
  return JSON.stringify(value, [...keys].sort());
}

/**
 * The keys of a record whose values hold no object (every evidence line but those with checks):
 * its own keys are the whole list. Null for anything else, which collectKeys then walks.
 */
function flatKeys(value: object, skip: string | null): string[] | null {
  if (Array.isArray(value)) return null;
  const keys = Object.keys(value);
  const record = value as Record<string, unknown>;
  for (const key of keys) {
    if (key === '__proto__') return null;
    const item = record[key];
    if (item === null || typeof item !== 'object') continue;
    if (!Array.isArray(item)) return null;
    for (const element of item) if (element !== null && typeof element === 'object') return null;
  }
  if (skip !== null && Object.hasOwn(record, skip)) keys.splice(keys.indexOf(skip), 1);
  return keys;
}

/**
 * Records of a run share a few key orders: each one's sorted list is made once. A few recent ones
 * are kept, matched key by key (property names are interned, so this compares pointers).
 */
const RECENT_SHAPES: Array<{ keys: string[]; sorted: string[] }> = [];

function sortedList(keys: string[]): string[] {
  for (const shape of RECENT_SHAPES) {
    if (sameKeys(shape.keys, keys)) return shape.sorted;
  }
  const sorted = [...keys].sort();
  RECENT_SHAPES.unshift({ keys, sorted });
  if (RECENT_SHAPES.length > 8) RECENT_SHAPES.pop();
  return sorted;
}

/**
 * JSON of a flat record with its keys in `sorted` order: a copy made in that order goes through
 * JSON.stringify's fast path, about twice as fast as a key list. Objects put keys that look like
 * array indexes first, whatever the order they were made in: those take the key list.
 */
function sortedCopyText(record: Record<string, unknown>, sorted: string[]): string {
  const copy: Record<string, unknown> = {};
  for (const key of sorted) {
    const first = key.charCodeAt(0);
    if (first >= 48 && first <= 57) return JSON.stringify(record, sorted);
    copy[key] = record[key];
  }
  return JSON.stringify(copy);
}

function sameKeys(a: string[], b: string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Adds every object key in `value` to `keys`; false where a key list cannot stand for the walk. */
function collectKeys(value: unknown, skip: string | null, keys: Set<string>, top: boolean): boolean {
  if (value === null || typeof value !== 'object') return true;
  if (Array.isArray(value)) {
    for (const item of value) if (!collectKeys(item, skip, keys, false)) return false;
    return true;
  }
  const record = value as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (key === '__proto__' || (key === skip && !top)) return false;
    if (key !== skip) keys.add(key);
    if (!collectKeys(record[key], skip, keys, false)) return false;
  }
  return true;
}

/** canonicalJson written out key by key (the reference form). `skip` leaves out one top-level key. */
function walk(value: unknown, skip: string | null): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) out += (i === 0 ? '' : ',') + walk(value[i], null);
    return `${out}]`;
  }
  const record = value as Record<string, unknown>;
  let out = '{';
  for (const key of Object.keys(record).sort()) {
    const item = record[key];
    if (item === undefined || key === skip) continue;
    out += `${out.length === 1 ? '' : ','}${JSON.stringify(key)}:${walk(item, null)}`;
  }
  return `${out}}`;
}

function hasKind(value: unknown, kind: Kind): boolean {
  if (kind === 'array') return Array.isArray(value);
  if (kind === 'string|null') return value === null || typeof value === 'string';
  return typeof value === kind;
}

function describe(kind: Kind): string {
  if (kind === 'string|null') return 'a string or null';
  return kind === 'array' ? 'an array' : `a ${kind}`;
}
