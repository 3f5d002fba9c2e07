import { isMap, isScalar, type Document, type LineCounter, type Node } from 'yaml';

/** A parsed policy file: enough to turn a data path into the line and column the user sees. */
export interface PolicySource {
  /** The path as the user would type it (relative to the working directory when under it). */
  file: string;
  doc: Document;
  /** Line starts of the whole file (a chunk's own offsets are shifted first). */
  lineCounter: LineCounter;
  /** Set when `doc` holds a chunk of a large file's secrets (see chunks.ts). */
  chunk?: ChunkShift;
}

/** How a chunk document maps onto its file. */
export interface ChunkShift {
  /** Length of the synthetic `secrets:` line the chunk starts with (0 for the first chunk). */
  header: number;
  /** File offset of the chunk's first item. */
  start: number;
  /** File index of the chunk's first secret. */
  firstIndex: number;
}

export type DataPath = ReadonlyArray<PropertyKey>;

export interface LineCol {
  line: number;
  col: number;
}

/**
 * Where the value at `path` starts. A missing value (a required key left out) points at the
 * nearest ancestor that exists, usually the map the key belongs in.
 */
export function valuePosition(source: PolicySource, path: DataPath): LineCol {
  for (let depth = path.length; depth >= 0; depth--) {
    const node = nodeAt(source, path.slice(0, depth));
    if (node?.range) return toLineCol(source, node.range[0]);
  }
  return { line: 1, col: 1 };
}

/** Where the key `path[last]` itself is written in its map (for unknown keys). */
export function keyPosition(source: PolicySource, path: DataPath): LineCol {
  const key = path[path.length - 1];
  const parent = nodeAt(source, path.slice(0, -1));
  if (isMap(parent)) {
    for (const pair of parent.items) {
      const keyNode = pair.key as Node | null;
      const text = isScalar(keyNode) ? String(keyNode.value) : String(keyNode);
      if (text === String(key) && keyNode?.range) return toLineCol(source, keyNode.range[0]);
    }
  }
  return valuePosition(source, path.slice(0, -1));
}

/** Offset (from a node range or a YAML error) → 1-based line and column. */
export function toLineCol(source: PolicySource, offset: number): LineCol {
  const shift = source.chunk;
  // Inside a chunk only item offsets are ever asked for; the synthetic header maps to its start.
  const inFile = shift ? Math.max(offset - shift.header, 0) + shift.start : offset;
  const { line, col } = source.lineCounter.linePos(inFile);
  return { line, col };
}

/**
 * `secrets[0].environments[1].store` — how messages name a field. A key that is not a plain name
 * is quoted (`env["A\nB"]`), so that a message stays one line and says where the key ends.
 */
export function formatPath(path: DataPath): string {
  let text = '';
  for (const segment of path) {
    if (typeof segment === 'number') text += `[${segment}]`;
    else if (!PLAIN_KEY.test(String(segment))) text += `[${quoteKey(String(segment))}]`;
    else text += text === '' ? String(segment) : `.${String(segment)}`;
  }
  return text;
}

const PLAIN_KEY = /^[A-Za-z0-9_$-]+$/;

/** JSON quoting, plus the line and paragraph separators and C1 controls JSON leaves as they are. */
function quoteKey(key: string): string {
  return JSON.stringify(key).replace(/[\u007f-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** The plain-data value at `path`, or undefined when any step is missing. */
export function valueAt(data: unknown, path: DataPath): unknown {
  let current = data;
  for (const segment of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<PropertyKey, unknown>)[segment];
  }
  return current;
}

function nodeAt(source: PolicySource, path: DataPath): Node | null | undefined {
  const { doc, chunk } = source;
  if (path.length === 0) return doc.contents as Node | null;
  const index = path[1];
  const local = chunk && typeof index === 'number' ? [path[0], index - chunk.firstIndex, ...path.slice(2)] : path;
  // keepScalar: we want the Scalar node (with its range), not its value.
  const found = doc.getIn(local as PropertyKey[] as unknown[], true) as unknown;
  return found !== null && typeof found === 'object' && 'range' in found ? (found as Node) : undefined;
}
