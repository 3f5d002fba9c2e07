import { join } from 'node:path';
import { createReadStream, promises as fs, constants } from 'node:fs';
import { MAX_LINE_BYTES } from './record.js';
import { readAt } from '../util/file-io.js';
import { KeyshiftError } from '../errors.js';

/** The one file of an evidence directory. */
export const evidenceFile = (dir: string): string => join(dir, 'evidence.jsonl');

/**
 * Byte-level access to evidence.jsonl. Lines are split on \n bytes ourselves (not readline) so that
 * line numbers are exact, a last line without its newline is visible, and one huge line cannot
 * exhaust memory. UTF-8 never has a 0x0a byte inside a character, so splitting bytes is safe.
 */

export interface LogLine {
  /** 1-based line number (counted from `start`). */
  number: number;
  bytes: Buffer;
  /** False for a last line without its newline (a torn write or a cut file). */
  terminated: boolean;
  /** The line is longer than MAX_LINE_BYTES; `bytes` holds only its start. */
  tooLong: boolean;
}

const NL = 0x0a;
const CHUNK = 64 * 1024;

/** A line's JSON when it is an object (a record), else null: damage is skipped, never thrown. */
export function parseJsonObject(text: string): Record<string, unknown> | null {
  const value = parseJson(text);
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
}

/** A line's JSON when it is an array, else null (as parseJsonObject). */
export function parseJsonArray(text: string): unknown[] | null {
  const value = parseJson(text);
  return Array.isArray(value) ? value : null;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/** Streams the lines of `file` from byte `start` (a line's first) up to byte `end` (exclusive), in constant memory. */
export async function* readLines(file: string, end: number, start = 0): AsyncGenerator<LogLine> {
  if (end <= start) return;
  let number = 0;
  let parts: Buffer[] = [];
  let length = 0;
  for await (const chunk of createReadStream(file, { start, end: end - 1, highWaterMark: CHUNK }) as AsyncIterable<Buffer>) {
    let from = 0;
    for (let nl = chunk.indexOf(NL); nl >= 0; nl = chunk.indexOf(NL, from)) {
      const piece = chunk.subarray(from, nl);
      const bytes = length === 0 ? piece : Buffer.concat([...parts, piece]);
      yield { number: ++number, bytes, terminated: true, tooLong: false };
      parts = [];
      length = 0;
      from = nl + 1;
    }
    if (from < chunk.length) {
      if (length + chunk.length - from > MAX_LINE_BYTES) {
        yield { number: number + 1, bytes: Buffer.concat(parts), terminated: false, tooLong: true };
        return;
      }
      parts.push(chunk.subarray(from));
      length += chunk.length - from;
    }
  }
  if (length > 0) yield { number: number + 1, bytes: Buffer.concat(parts), terminated: false, tooLong: false };
}

const APPEND_FLAGS = constants.O_RDWR | constants.O_APPEND | constants.O_NOFOLLOW;

/**
 * Opens the log for appending, creating it (mode 0600) if missing. Never through a symbolic link:
 * a planted one (even a dangling one) would make keyshift append to, or create, a file elsewhere.
 */
export async function openForAppend(file: string): Promise<{ handle: fs.FileHandle; created: boolean }> {
  for (;;) {
    const handle = await openExistingForAppend(file);
    if (handle) return { handle, created: false };
    try {
      return { handle: await fs.open(file, APPEND_FLAGS | constants.O_CREAT | constants.O_EXCL, 0o600), created: true };
    } catch (error) {
      // EEXIST: another process created it between our two opens (open theirs), or a dangling link.
      const refused = await refusal(file, error);
      if (refused !== error || (error as NodeJS.ErrnoException).code !== 'EEXIST') throw refused;
    }
  }
}

/** The log opened for appending (never through a symbolic link), or null when there is none: nothing is created. */
export async function openExistingForAppend(file: string): Promise<fs.FileHandle | null> {
  try {
    return await fs.open(file, APPEND_FLAGS);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw await refusal(file, error);
  }
}

/** A symbolic link where the log belongs is refused in one line naming it (the open says ELOOP or EEXIST). */
async function refusal(file: string, error: unknown): Promise<unknown> {
  const link = await fs.lstat(file).then((st) => st.isSymbolicLink(), () => false);
  if (!link) return error;
  return new KeyshiftError('ERR_EVIDENCE_SYMLINK', `evidence log ${file} is a symbolic link; keyshift never writes evidence through one`, {
    hint: 'remove the link, or point --evidence-dir at the directory that should hold evidence.jsonl',
  });
}

/**
 * After a failed append of `data` at `before`: cuts what that append left, when the file holds a
 * prefix of `data` there and nothing more. Anything else past `before` (another writer's records,
 * O_APPEND puts ours after them) is never cut. True when it cut.
 */
export async function takeBackTornAppend(handle: fs.FileHandle, before: number, data: Buffer): Promise<boolean> {
  const { size } = await handle.stat();
  if (size <= before || size - before > data.length) return false;
  const tail = await readAt(handle, before, size - before);
  if (!tail.equals(data.subarray(0, tail.length))) return false;
  await handle.truncate(before);
  return true;
}

/** The last newline-terminated line, and whether a partial line follows it. Reads backwards. */
export async function readLastLine(handle: fs.FileHandle, size: number): Promise<{ line: string | null; torn: boolean }> {
  let start = size;
  let buf = Buffer.alloc(0);
  for (;;) {
    const from = Math.max(0, start - CHUNK);
    buf = Buffer.concat([await readAt(handle, from, start - from), buf]);
    start = from;
    const torn = buf[buf.length - 1] !== NL;
    const end = torn ? buf.lastIndexOf(NL) : buf.length - 1;
    if (end >= 0) {
      const begin = end === 0 ? -1 : buf.lastIndexOf(NL, end - 1);
      if (begin >= 0 || start === 0) return { line: buf.subarray(begin + 1, end).toString('utf8'), torn };
    } else if (start === 0) {
      return { line: null, torn };
    }
    if (buf.length > 2 * MAX_LINE_BYTES) return { line: '', torn };
  }
}

/** The line that starts at byte `start` (the first line by default), without its newline; at most about 1 MiB is read. */
export async function readLineAt(handle: fs.FileHandle, start = 0): Promise<string> {
  const parts: Buffer[] = [];
  for (let at = start; at < start + MAX_LINE_BYTES; at += CHUNK) {
    const chunk = await readAt(handle, at, CHUNK);
    const nl = chunk.indexOf(NL);
    parts.push(nl >= 0 ? chunk.subarray(0, nl) : chunk);
    if (nl >= 0 || chunk.length < CHUNK) break;
  }
  return Buffer.concat(parts).toString('utf8');
}

/** Newlines in the file: only on the error path, to name the damaged line exactly. */
export async function countLines(handle: fs.FileHandle, size: number): Promise<number> {
  let count = 0;
  for (let at = 0; at < size; at += CHUNK) {
    const chunk = await readAt(handle, at, Math.min(CHUNK, size - at));
    for (let i = chunk.indexOf(NL); i >= 0; i = chunk.indexOf(NL, i + 1)) count += 1;
  }
  return count;
}

/** The bytes after the last newline, or null when the file ends with one (or they are longer than a record can be). */
export async function unterminatedTail(handle: fs.FileHandle, size: number): Promise<Buffer | null> {
  const from = Math.max(0, size - MAX_LINE_BYTES - 1);
  const tail = await readAt(handle, from, size - from);
  const nl = tail.lastIndexOf(NL);
  if (nl === tail.length - 1 || (nl < 0 && from > 0)) return null;
  return tail.subarray(nl + 1);
}

/** The first bytes of the line of the record with this seq: a sealed record begins with its seq. */
const recordStart = (seq: number): Buffer => Buffer.from(`{"seq":${seq},`);

/**
 * Whether `bytes`, a line without its newline, is the start of the record with this seq as keyshift
 * writes it (`{"seq":N,…`): what a killed append leaves, since appends write whole lines in order.
 */
export function beginsRecord(bytes: Buffer, seq: number): boolean {
  const start = recordStart(seq);
  return bytes.length > 0 && (bytes.length <= start.length ? start.subarray(0, bytes.length).equals(bytes) : bytes.subarray(0, start.length).equals(start));
}

/**
 * The line (without its newline) of the record with this seq among the first `size` bytes, or null
 * when no line begins `{"seq":<seq>,`. Found by bisecting on the seq each line begins with (keyshift
 * writes them in order), so checking an old store anchor reads a few blocks, not the whole log.
 */
export async function findRecordLine(handle: fs.FileHandle, size: number, seq: number): Promise<string | null> {
  // The line sought starts in [lo, hi); lo is a line start whose seq is below it, or 0.
  let lo = 0;
  let hi = size;
  for (;;) {
    const mid = lo + Math.floor((hi - lo) / 2);
    if (mid === lo) break;
    const start = await lineStartFrom(handle, mid, hi);
    if (start === null) {
      hi = mid; // no line starts in [mid, hi)
      continue;
    }
    const found = await seqOfLine(handle, start);
    // Not a record: the log is damaged there, and the order the bisection relies on with it. The
    // damage is verify's to report; the record sought may still be intact, so look at every line.
    if (found === null) return scanForRecordLine(handle, size, seq);
    if (found === seq) return readLineAt(handle, start);
    if (found < seq) lo = start;
    else hi = start;
  }
  return (await seqOfLine(handle, lo)) === seq ? readLineAt(handle, lo) : null;
}

/** The same, every line start in turn (one small read each): the slow way, only for a log with a line that is not a record. */
async function scanForRecordLine(handle: fs.FileHandle, size: number, seq: number): Promise<string | null> {
  const begins = recordStart(seq);
  const isIt = async (start: number) => (await readAt(handle, start, begins.length)).equals(begins);
  if (await isIt(0)) return readLineAt(handle, 0);
  for (let at = 0; at < size; at += CHUNK) {
    const chunk = await readAt(handle, at, Math.min(CHUNK, size - at));
    for (let nl = chunk.indexOf(NL); nl >= 0; nl = chunk.indexOf(NL, nl + 1)) {
      const start = at + nl + 1;
      if (start < size && (await isIt(start))) return readLineAt(handle, start);
    }
  }
  return null;
}

/** The first line start at or after `from` and before `end` (a line starts after a newline), or null. */
async function lineStartFrom(handle: fs.FileHandle, from: number, end: number): Promise<number | null> {
  for (let at = from - 1; at < end - 1; at += CHUNK) {
    const chunk = await readAt(handle, at, Math.min(CHUNK, end - 1 - at));
    const nl = chunk.indexOf(NL);
    if (nl >= 0) return at + nl + 1;
  }
  return null;
}

/** The seq a line begins with as recordStart writes it, or null. */
async function seqOfLine(handle: fs.FileHandle, start: number): Promise<number | null> {
  const match = /^\{"seq":([1-9]\d{0,15}),/.exec((await readAt(handle, start, 32)).toString('latin1'));
  return match ? Number(match[1]) : null;
}
