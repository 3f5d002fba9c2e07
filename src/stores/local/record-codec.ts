/**
 * Compact JSON for the engine's records inside an entry (store format 2, docs/local-store.md): a
 * record whose fields are the known ones, of the expected types, is written as an array of its
 * values in a fixed order; anything else stays the plain object, so nothing is ever lost. Strings
 * are written once per entry: a repeat (a version id, a time, the operator) becomes the number of
 * the string it repeats, in the order strings were first written. An entry is kept in memory as
 * this text for every secret of a store, so its size is the store's memory.
 */

export type Kind = 'string' | 'string|null' | 'boolean' | 'array' | 'number' | 'number|null';

export interface Field {
  name: string;
  kind: Kind;
  /** May be absent; only at the end of the list. An absent one before a present one is written as
   * null when its kind does not admit null; one whose kind does may be absent only at the end. */
  optional?: boolean;
}

/** Numbers the strings of one entry as they are written. */
export class StringRefs {
  readonly #seen = new Map<string, number>();

  put(value: string | null): string | number | null {
    if (value === null) return null;
    const ref = this.#seen.get(value);
    if (ref !== undefined) return ref;
    this.#seen.set(value, this.#seen.size);
    return value;
  }
}

/** Resolves the numbers StringRefs wrote, walking the entry in the same order. */
export class StringTable {
  readonly #strings: string[] = [];

  /** The string (registered when new), null, or undefined for anything else (a bad record). */
  get(value: unknown): string | null | undefined {
    if (value === null) return null;
    if (typeof value === 'number') return this.#strings[value];
    if (typeof value !== 'string') return undefined;
    this.#strings.push(value);
    return value;
  }
}

export function packRecord(record: Record<string, unknown>, fields: readonly Field[], refs: StringRefs): unknown {
  if (!fits(record, fields)) return record;
  const out: unknown[] = [];
  let present = 0;
  for (const field of fields) {
    const value = record[field.name];
    if (value === undefined) {
      out.push(null); // an absent optional field; trimmed below if nothing follows it
      continue;
    }
    out.push(isStringKind(field.kind) ? refs.put(value as string | null) : value);
    present = out.length;
  }
  out.length = present;
  return out;
}

/** The record, or null when `packed` is not one packRecord wrote for these fields. */
export function unpackRecord(packed: unknown, fields: readonly Field[], table: StringTable): Record<string, unknown> | null {
  if (isPlainObject(packed)) return packed;
  if (!Array.isArray(packed) || packed.length > fields.length || packed.length < shapeOf(fields).required) return null;
  const record: Record<string, unknown> = {};
  for (let i = 0; i < packed.length; i++) {
    const field = fields[i] as Field;
    if (field.optional && packed[i] === null && !admitsNull(field.kind)) continue; // absent
    const value = isStringKind(field.kind) ? table.get(packed[i]) : packed[i];
    if (!hasKind(value, field.kind)) return null;
    record[field.name] = value;
  }
  return record;
}

/**
 * What fits() and unpackRecord() need of a field list, made once per list: they run for every record
 * of every entry written or decoded.
 */
const SHAPES = new WeakMap<readonly Field[], { names: Set<string>; required: number }>();

function shapeOf(fields: readonly Field[]): { names: Set<string>; required: number } {
  let shape = SHAPES.get(fields);
  if (shape === undefined) SHAPES.set(fields, (shape = { names: new Set(fields.map((field) => field.name)), required: fields.filter((field) => !field.optional).length }));
  return shape;
}

function fits(record: Record<string, unknown>, fields: readonly Field[]): boolean {
  const { names } = shapeOf(fields);
  for (const key in record) {
    if (Object.hasOwn(record, key) && record[key] !== undefined && !names.has(key)) return false;
  }
  let tail = false; // after an absent optional field that null cannot stand for
  for (const field of fields) {
    const value = record[field.name];
    if (value === undefined) {
      if (!field.optional) return false;
      if (admitsNull(field.kind)) tail = true;
    } else if (tail || !hasKind(value, field.kind)) return false;
  }
  return true;
}

function admitsNull(kind: Kind): boolean {
  return kind.endsWith('|null');
}

function isStringKind(kind: Kind): boolean {
  return kind === 'string' || kind === 'string|null';
}

function hasKind(value: unknown, kind: Kind): boolean {
  switch (kind) {
    case 'string':
      return typeof value === 'string';
    case 'string|null':
      return value === null || typeof value === 'string';
    case 'boolean':
      return typeof value === 'boolean';
    case 'array':
      return Array.isArray(value);
    case 'number':
      return Number.isFinite(value);
    case 'number|null':
      return value === null || Number.isFinite(value);
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
