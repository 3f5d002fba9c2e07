/**
 * Reads the start of an entry's text (`["e","<key>",[versions],…`) without parsing the rest: the
 * log reader needs only the key of a record to know whether a later one replaced it, and reading
 * a value needs only the versions.
 */

export const ENTRY_PREFIX = '["e",';

/** The key, or null when the text does not start like an entry. */
export function entryKey(text: string): string | null {
  const start = ENTRY_PREFIX.length;
  const end = endOfString(text, start);
  if (!text.startsWith(ENTRY_PREFIX) || end < 0) return null;
  const raw = text.slice(start, end + 1);
  try {
    return raw.includes('\\') ? (JSON.parse(raw) as string) : raw.slice(1, -1);
  } catch {
    return null;
  }
}

/** The JSON text of the versions list, or null. */
export function versionsJson(text: string): string | null {
  const keyEnd = endOfString(text, ENTRY_PREFIX.length);
  if (!text.startsWith(ENTRY_PREFIX) || keyEnd < 0 || text[keyEnd + 1] !== ',') return null;
  const end = endOfArray(text, keyEnd + 2);
  return end < 0 ? null : text.slice(keyEnd + 2, end + 1);
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
