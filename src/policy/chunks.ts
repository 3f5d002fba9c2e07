import { LineCounter, parseDocument, type Document } from 'yaml';
import type { SecretEntry } from './cross-checks.js';
import type { PolicyProblem } from './types.js';
import { validateSecret } from './validate.js';
import type { PolicySource } from './yaml-positions.js';

/**
 * Large policy files are parsed a chunk of whole secrets at a time: the yaml package builds a
 * token tree and a Document for all of its input at once, which for 10,000 secrets (3 MB) adds
 * about 200 MB to the process. Chunks keep one small Document alive at a time and give the same
 * data and positions.
 */

/**
 * Files larger than this are cut into chunks of about this many characters. Small, so that a
 * chunk's parse garbage dies young instead of being promoted (16 KB already adds ~40 MB).
 */
export const CHUNK_CHARS = 8 * 1024;

/** Blank or comment lines, then `secrets:` with nothing after it but a comment. */
const HEADER = /^(?: *(?:#[^\r\n]*)?\r?\n)*secrets: *(?: #[^\r\n]*)?\r?\n/;
/** Anchors and aliases can tie one secret to another; a CR is only expected before an LF. */
const NOT_CUTTABLE = /[&*]|\r(?!\n)/;
/** What every chunk after the first is parsed behind, so its items land in `secrets:` again. */
const SECRETS_LINE = 'secrets:\n';

/**
 * Where each chunk starts, or null when the file is small or not in the plain shape: a header,
 * then only `- ` items at one indent, with every other non-comment line indented deeper. Such a
 * line cannot be inside a block scalar, and a quote or bracket left open before it is an error
 * in its chunk, so the parser is in the same state there as after the header.
 */
export function chunkStarts(text: string, maxChars = CHUNK_CHARS): number[] | null {
  if (text.length <= maxChars || NOT_CUTTABLE.test(text)) return null;
  const header = HEADER.exec(text);
  if (!header) return null;
  const starts = [0];
  let last = 0;
  let indent = -1;
  for (let line = header[0].length; line < text.length; ) {
    const newline = text.indexOf('\n', line);
    const next = newline === -1 ? text.length : newline + 1;
    // The line without its line break (LF or CRLF).
    const end = newline === -1 ? text.length : text[newline - 1] === '\r' ? newline - 1 : newline;
    let at = line;
    while (text.charCodeAt(at) === 32) at++;
    const blankOrComment = at === end || text[at] === '#';
    if (!blankOrComment && (indent < 0 || at - line <= indent)) {
      const item = text[at] === '-' && (at + 1 === end || text[at + 1] === ' ');
      if (!item || (indent >= 0 && at - line < indent)) return null;
      if (indent < 0) indent = at - line;
      else if (line - last >= maxChars) starts.push((last = line));
    }
    line = next;
  }
  return indent < 0 ? null : starts;
}

/**
 * Validates a large file chunk by chunk (see above). Null when the file cannot be cut, or when
 * a chunk has YAML errors or warnings: the caller then parses the whole file, so those are
 * reported exactly as a single parse reports them.
 */
export function validateInChunks(
  text: string,
  file: string,
  cwd: string,
  maxChars = CHUNK_CHARS,
): { errors: PolicyProblem[]; entries: SecretEntry[] } | null {
  const starts = chunkStarts(text, maxChars);
  if (starts === null) return null;
  const lineCounter = lineCounterOf(text);
  const errors: PolicyProblem[] = [];
  const entries: SecretEntry[] = [];
  for (const [k, start] of starts.entries()) {
    const header = k === 0 ? '' : SECRETS_LINE;
    const doc = parseDocument(header + text.slice(start, starts[k + 1] ?? text.length), { prettyErrors: false, logLevel: 'error' });
    const items = doc.errors.length === 0 && doc.warnings.length === 0 ? secretItems(doc) : null;
    if (items === null) return null;
    const source: PolicySource = { file, doc, lineCounter, chunk: { header: header.length, start, firstIndex: entries.length } };
    for (const raw of items) entries.push(validateSecret(source, raw, entries.length, cwd, errors));
  }
  return { errors, entries };
}

function secretItems(doc: Document): unknown[] | null {
  let data: unknown;
  try {
    data = doc.toJS();
  } catch {
    return null;
  }
  if (data === null || typeof data !== 'object' || Object.keys(data).length !== 1) return null;
  const items = (data as { secrets?: unknown }).secrets;
  return Array.isArray(items) && items.length > 0 ? items : null;
}

/** Line starts of the whole file, as the parser would record them. */
function lineCounterOf(text: string): LineCounter {
  const counter = new LineCounter();
  counter.addNewLine(0);
  for (let at = text.indexOf('\n'); at !== -1; at = text.indexOf('\n', at + 1)) counter.addNewLine(at + 1);
  return counter;
}
