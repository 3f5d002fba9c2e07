// Single-line edits of an evidence record for evidence-fuzz.test.js: a field's value changed or
// retyped, a hex digit of a hash changed, fields added, removed or duplicated, JSON whitespace,
// key order, escapes and number spellings changed, bytes replaced, inserted or removed.
import fc from 'fast-check';

/** Canonical JSON as docs/evidence.md#hashing defines it (sorted keys, no whitespace). */
export function canonicalJson(value) {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  return `{${Object.keys(value).sort().map((key) => `${JSON.stringify(key)}:${canonicalJson(value[key])}`).join(',')}}`;
}

const at = fc.nat({ max: 100_000 });
const otherValue = fc.oneof(
  fc.constantFrom(null, true, false, 0, 1, -1, 1.5, '', 'x', 'switched', 'sha256:' + '0'.repeat(64), [], {}, ['x'], 2 ** 53, 1e21),
  fc.string({ maxLength: 8 }),
  fc.integer(),
);

export const lineEdit = fc.oneof(
  fc.record({ kind: fc.constant('retype'), key: at, value: otherValue }),
  fc.record({ kind: fc.constant('tweak'), key: at, pos: at, char: fc.string({ minLength: 1, maxLength: 1, unit: 'binary' }) }),
  fc.record({ kind: fc.constant('number'), key: at, delta: fc.integer({ min: -3, max: 3 }).filter((d) => d !== 0) }),
  fc.record({ kind: fc.constant('hexDigit'), field: fc.constantFrom('hash', 'prevHash', 'fingerprint', 'toVersion', 'fromVersion', 'rotationId', 'runId'), pos: at, digit: fc.constantFrom(...'0123456789abcdef') }),
  fc.record({ kind: fc.constant('addField'), name: fc.constantFrom('approvedBy', 'error', 'seq2', 'Hash', '__proto__', 'checks '), value: otherValue }),
  fc.record({ kind: fc.constant('removeField'), key: at }),
  fc.record({ kind: fc.constant('duplicateKey'), key: at, value: otherValue, atStart: fc.boolean() }),
  fc.record({ kind: fc.constant('whitespace'), pos: at, ws: fc.constantFrom(' ', '\t', '\r', '  ', ' \t ') }),
  fc.record({ kind: fc.constant('reorder'), order: fc.array(fc.nat(), { minLength: 20, maxLength: 20 }) }),
  fc.record({ kind: fc.constant('escape'), pos: at }),
  fc.record({ kind: fc.constant('respellSeq'), spelling: fc.constantFrom('.0', 'e0', '.00', 'E0', '.5', '0') }),
  fc.record({ kind: fc.constant('byte'), pos: at, value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('insertBytes'), pos: at, bytes: fc.uint8Array({ minLength: 1, maxLength: 6 }) }),
  fc.record({ kind: fc.constant('deleteBytes'), pos: at, length: fc.integer({ min: 1, max: 30 }) }),
  fc.constantFrom({ kind: 'dropNewline' }, { kind: 'crlf' }, { kind: 'bom' }, { kind: 'trailingComma' }, { kind: 'hugeField' }),
);

/** The edited line as bytes, normally with its newline (some edits remove or add line breaks). */
export function applyLineEdit(line, edit) {
  const record = JSON.parse(line);
  const keys = Object.keys(record);
  const keyAt = (n) => keys[n % keys.length];
  const withRecord = (r) => Buffer.from(`${JSON.stringify(r)}\n`);
  const bytes = Buffer.from(`${line}\n`);
  const body = bytes.length - 1; // edits stay before the newline unless they say otherwise
  switch (edit.kind) {
    case 'retype':
      return withRecord({ ...record, [keyAt(edit.key)]: edit.value });
    case 'tweak': {
      const key = keyAt(edit.key);
      const text = typeof record[key] === 'string' ? record[key] : JSON.stringify(record[key]);
      const pos = edit.pos % (text.length + 1);
      return withRecord({ ...record, [key]: text.slice(0, pos) + edit.char + text.slice(pos + 1) });
    }
    case 'number': {
      const numeric = keys.filter((k) => typeof record[k] === 'number');
      const key = numeric[edit.key % numeric.length];
      return withRecord({ ...record, [key]: record[key] + edit.delta });
    }
    case 'hexDigit': {
      const value = record[edit.field];
      if (typeof value !== 'string') return withRecord({ ...record, [edit.field]: `sha256:${edit.digit}` });
      const hex = [...value.matchAll(/[0-9a-f]/g)].map((m) => m.index);
      const index = hex[edit.pos % hex.length];
      return withRecord({ ...record, [edit.field]: value.slice(0, index) + edit.digit + value.slice(index + 1) });
    }
    case 'addField': {
      const copy = { ...record };
      Object.defineProperty(copy, edit.name, { value: edit.value, enumerable: true, configurable: true, writable: true });
      return withRecord(copy);
    }
    case 'removeField': {
      const { [keyAt(edit.key)]: _gone, ...rest } = record;
      return withRecord(rest);
    }
    case 'duplicateKey': {
      // `{"k":v,` after the brace (the original value wins) or `,"k":v` before it (the new one wins).
      const pair = `${JSON.stringify(keyAt(edit.key))}:${JSON.stringify(edit.value)}`;
      return Buffer.from(edit.atStart ? `{${pair},${line.slice(1)}\n` : `${line.slice(0, -1)},${pair}}\n`);
    }
    case 'whitespace': {
      // After one of the structural characters outside strings (the line is JSON.stringify output).
      const spots = structuralPositions(line);
      const pos = spots[edit.pos % spots.length];
      return Buffer.from(`${line.slice(0, pos)}${edit.ws}${line.slice(pos)}\n`);
    }
    case 'reorder': {
      const order = [...keys].sort((a, b) => edit.order[keys.indexOf(a) % 20] - edit.order[keys.indexOf(b) % 20]);
      return withRecord(Object.fromEntries(order.map((k) => [k, record[k]])));
    }
    case 'escape': {
      // One ASCII letter or digit inside a string written as \u00XX.
      const spots = [...line.matchAll(/[A-Za-z0-9]/g)].map((m) => m.index).filter((i) => insideString(line, i));
      const pos = spots[edit.pos % spots.length];
      return Buffer.from(`${line.slice(0, pos)}\\u${line.charCodeAt(pos).toString(16).padStart(4, '0')}${line.slice(pos + 1)}\n`);
    }
    case 'respellSeq':
      return Buffer.from(`${line.replace(/^\{"seq":(\d+)/, (_, n) => (edit.spelling === '0' ? `{"seq":0${n}` : `{"seq":${n}${edit.spelling}`))}\n`);
    case 'byte': {
      const copy = Buffer.from(bytes);
      copy[edit.pos % body] = edit.value;
      return copy;
    }
    case 'insertBytes': {
      const pos = edit.pos % (body + 1);
      return Buffer.concat([bytes.subarray(0, pos), Buffer.from(edit.bytes), bytes.subarray(pos)]);
    }
    case 'deleteBytes': {
      const pos = edit.pos % body;
      return Buffer.concat([bytes.subarray(0, pos), bytes.subarray(Math.min(pos + edit.length, body))]);
    }
    case 'dropNewline':
      return Buffer.from(line);
    case 'crlf':
      return Buffer.from(`${line}\r\n`);
    case 'bom':
      return Buffer.from(`\uFEFF${line}\n`);
    case 'trailingComma':
      return Buffer.from(`${line.slice(0, -1)},}\n`);
    case 'hugeField':
      return withRecord({ ...record, reason: 'x'.repeat(1024 * 1024 + 10) });
    default:
      throw new Error(`unknown edit ${edit.kind}`);
  }
}

function structuralPositions(line) {
  const spots = [0, line.length];
  for (let i = 0; i < line.length; i++) if ('{}[]:,'.includes(line[i]) && !insideString(line, i)) spots.push(i, i + 1);
  return spots;
}

/** Whether `index` of a JSON.stringify line is inside a string literal. */
function insideString(line, index) {
  let inside = false;
  for (let i = 0; i < index; i++) {
    if (line[i] === '\\') i += 1;
    else if (line[i] === '"') inside = !inside;
  }
  return inside && line[index] !== '"';
}
