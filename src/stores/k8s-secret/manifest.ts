import { Document, isMap, isScalar, LineCounter, parseAllDocuments, visit, type Pair, type YAMLMap } from 'yaml';
import { isAbsolute, relative } from 'node:path';
import { ExitCode, KeyshiftError } from '../../errors.js';

/**
 * A file of Kubernetes manifests, edited through the yaml library's Document API: only the Secret
 * document keyshift changes is serialised again (its comments and key order are kept); every other
 * document, and the text between documents, is kept byte for byte.
 */

export const STATE_ANNOTATION = 'keyshift.io/state';

export interface Manifest {
  text: string;
  docs: Document.Parsed[];
  lines: LineCounter;
  /** Indexes of documents changed since parsing. */
  changed: Set<number>;
  /** How many documents came from `text` (later ones were added). */
  parsed: number;
  /** The state annotation's JSON of each changed Secret document (see writeState). */
  stateText: Map<number, string>;
}

export function parseManifest(path: string, text: string): Manifest {
  const lines = new LineCounter();
  // The library's own duplicate-key check compares each key with every earlier one: over a Secret
  // of 20,000 keys that was most of a run. repeatedKey does it with a set per map.
  const docs = parseAllDocuments(text, { lineCounter: lines, keepSourceTokens: false, uniqueKeys: false });
  if (!Array.isArray(docs)) return { text, docs: [], lines, changed: new Set(), parsed: 0, stateText: new Map() }; // an empty file
  for (const doc of docs) {
    const error = doc.errors[0];
    const problem = error ? { pos: error.pos[0], message: error.message.split('\n')[0] as string } : repeatedKey(doc);
    if (problem) {
      const at = lines.linePos(problem.pos);
      throw new KeyshiftError('ERR_STORE_CORRUPT', `${shown(path)}:${at.line}:${at.col}: not valid YAML: ${problem.message}`, {
        hint: `fix the manifest (keyshift changes nothing in a file it cannot parse); \`kubectl apply --dry-run=client -f ${path}\` shows the same problem`,
      });
    }
  }
  return { text, docs, lines, changed: new Set(), parsed: docs.length, stateText: new Map() };
}

/**
 * The index of the Secret document named `name`. A document of that name that is not a Secret, or
 * no such document, is a policy error: it names the file and line (exit 2).
 */
export function findSecret(manifest: Manifest, path: string, name: string, policyAt: string): number | null {
  let other: { index: number; kind: unknown } | null = null;
  for (const [index, doc] of manifest.docs.entries()) {
    if (doc.getIn(['metadata', 'name']) !== name) continue;
    const kind = doc.get('kind');
    if (kind === 'Secret') return index;
    other ??= { index, kind };
  }
  if (other) {
    const node = manifest.docs[other.index]?.get('kind', true) as { range?: [number, number, number] } | undefined;
    const at = manifest.lines.linePos(node?.range?.[0] ?? manifest.docs[other.index]?.range[0] ?? 0);
    throw policyError(`${shown(path)}:${at.line}:${at.col}: ${name} is a ${String(other.kind ?? 'document without kind')}, not a Secret; the k8s-secret store keeps values only in a kind: Secret manifest`, `point the policy (${policyAt}) at the Secret's manifest and name`);
  }
  if (manifest.docs.length === 0) return null; // a new file: the first write creates the Secret
  const names = manifest.docs.filter((d) => d.get('kind') === 'Secret').map((d) => String(d.getIn(['metadata', 'name'])));
  throw policyError(
    `${policyAt}: store: ${shown(path)} holds no Secret named ${name}${names.length > 0 ? ` (it holds ${names.join(', ')})` : ''}`,
    'fix the store\'s name or path in the policy, or add the Secret to the manifest',
  );
}

/** A Secret document for a manifest file that does not exist yet. */
export function newSecret(manifest: Manifest, name: string): number {
  const doc = new Document({ apiVersion: 'v1', kind: 'Secret', metadata: { name }, type: 'Opaque', data: {} }) as unknown as Document.Parsed;
  manifest.docs.push(doc);
  manifest.changed.add(manifest.docs.length - 1);
  return manifest.docs.length - 1;
}

/** A value as stored: base64 of `data.<key>`, or the text of `stringData.<key>` (read too). */
export function readValue(doc: Document.Parsed, key: string): Buffer | null {
  const data = scalarOf(pairIn(doc, 'data', key));
  if (typeof data === 'string') return Buffer.from(data.replace(/\s+/g, ''), 'base64');
  const text = scalarOf(pairIn(doc, 'stringData', key));
  return typeof text === 'string' ? Buffer.from(text, 'utf8') : null;
}

/** Sets `data.<key>` (a value found under stringData moves to data: keyshift never writes stringData). */
export function writeValue(manifest: Manifest, index: number, key: string, value: Buffer | null): void {
  const doc = manifest.docs[index] as Document.Parsed;
  manifest.changed.add(index);
  removeStringData(doc, key);
  const pair = pairIn(doc, 'data', key);
  if (value === null) {
    if (pair) removePair(doc.get('data', true) as YAMLMap, pair);
    return;
  }
  if (pair && isScalar(pair.value)) pair.value.value = value.toString('base64');
  else if (pair) pair.value = doc.createNode(value.toString('base64'));
  else {
    if (!isMap(doc.get('data', true))) doc.set('data', doc.createNode({}));
    const map = doc.get('data', true) as YAMLMap;
    const added = doc.createPair(key, value.toString('base64'));
    map.items.push(added);
    keyIndex(map).set(key, added);
  }
}

export function readState(doc: Document.Parsed): string | null {
  const state = doc.getIn(['metadata', 'annotations', STATE_ANNOTATION]);
  return typeof state === 'string' ? state : null;
}

/**
 * Marks the annotation for `formatManifest`, which puts the JSON in its place: the yaml library
 * would scan the whole JSON text on every write (it grows with the number of keys).
 */
export function writeState(manifest: Manifest, index: number, json: string): void {
  const doc = manifest.docs[index] as Document.Parsed;
  manifest.changed.add(index);
  manifest.stateText.set(index, json);
  if (!isMap(doc.getIn(['metadata', 'annotations'], true))) doc.setIn(['metadata', 'annotations'], doc.createNode({}));
  doc.setIn(['metadata', 'annotations', STATE_ANNOTATION], stateMark(index));
  const node = doc.getIn(['metadata', 'annotations', STATE_ANNOTATION], true);
  if (isScalar(node)) node.type = 'QUOTE_SINGLE';
}

const stateMark = (index: number): string => `keyshift-state-${index}-${process.pid}`;

/** The file's text with the changed documents serialised again and everything else as it was. */
export function formatManifest(manifest: Manifest): string {
  let out = '';
  let from = 0;
  manifest.docs.forEach((doc, index) => {
    const parsed = index < manifest.parsed;
    // A document's source runs to where the next one starts; the last one to the end of the file.
    const end = !parsed ? from : index === manifest.parsed - 1 ? manifest.text.length : doc.range[2];
    if (!manifest.changed.has(index)) out += manifest.text.slice(from, end);
    else {
      if (out !== '' && !out.endsWith('\n')) out += '\n';
      if (!parsed && out !== '') doc.directives.docStart = true;
      const text = doc.toString({ lineWidth: 0 });
      const json = manifest.stateText.get(index);
      // JSON in a single-quoted scalar: one line, only ' needs escaping (as '').
      out += json === undefined ? text : text.replace(new RegExp(`'?${stateMark(index)}'?`), () => `'${json.replaceAll("'", "''")}'`);
    }
    from = end;
  });
  return out;
}

function removeStringData(doc: Document.Parsed, key: string): void {
  const pair = pairIn(doc, 'stringData', key);
  if (!pair) return;
  const stringData = doc.get('stringData', true) as YAMLMap;
  removePair(stringData, pair);
  if (stringData.items.length === 0) doc.delete('stringData');
}

/**
 * The pairs of a Secret's `data` / `stringData` by key: the yaml library finds a key by scanning the
 * map, which over 10,000 keys made every read and write of a run scan the whole Secret.
 */
const keyIndexes = new WeakMap<YAMLMap, Map<unknown, Pair>>();
/** Keys a map holds more than once (a hand edit): removing one rebuilds the index. */
const repeatedKeys = new WeakMap<YAMLMap, Set<unknown>>();

function keyIndex(map: YAMLMap): Map<unknown, Pair> {
  let index = keyIndexes.get(map);
  if (!index) {
    index = new Map();
    const repeated = new Set<unknown>();
    // The first of two equal keys wins, as in the yaml library's lookup.
    for (const pair of map.items as Pair[]) {
      const key = keyOf(pair);
      if (index.has(key)) repeated.add(key);
      else index.set(key, pair);
    }
    keyIndexes.set(map, index);
    repeatedKeys.set(map, repeated);
  }
  return index;
}

const keyOf = (pair: Pair): unknown => (isScalar(pair.key) ? pair.key.value : pair.key);

function pairIn(doc: Document.Parsed, section: 'data' | 'stringData', key: string): Pair | undefined {
  const map = doc.get(section, true);
  return isMap(map) ? keyIndex(map as YAMLMap).get(key) : undefined;
}

function removePair(map: YAMLMap, pair: Pair): void {
  map.items.splice((map.items as Pair[]).indexOf(pair), 1);
  const key = keyOf(pair);
  // A later pair of the same key may now win: rebuild then (rare); else one key leaves the index.
  if (repeatedKeys.get(map)?.has(key)) keyIndexes.delete(map);
  else keyIndexes.get(map)?.delete(key);
}

function scalarOf(pair: Pair | undefined): unknown {
  return pair && isScalar(pair.value) ? pair.value.value : undefined;
}

/** A path as the user wrote it: relative to where keyshift runs when it is below it. */
function shown(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : path;
}

function policyError(message: string, hint: string): KeyshiftError {
  return new KeyshiftError('ERR_POLICY_INVALID', message, { exitCode: ExitCode.usage, hint });
}

/** Whether `stringData.<key>` is there (keyshift moves such a value to data on its next write). */
export function hasStringData(doc: Document.Parsed, key: string): boolean {
  return pairIn(doc, 'stringData', key) !== undefined;
}

/** The first key a map of `doc` repeats (YAML forbids it, and so does kubectl), by scalar value. */
function repeatedKey(doc: Document.Parsed): { pos: number; message: string } | null {
  let found: { pos: number; message: string } | null = null;
  visit(doc, {
    Map(_, map) {
      const seen = new Set<unknown>();
      for (const pair of map.items) {
        const key = isScalar(pair.key) ? pair.key.value : pair.key;
        if (seen.has(key)) {
          found = { pos: (pair.key as { range?: [number, number, number] } | null)?.range?.[0] ?? 0, message: 'Map keys must be unique' };
          return visit.BREAK;
        }
        seen.add(key);
      }
      return undefined;
    },
  });
  return found;
}
