import { LineCounter, isScalar, parseAllDocuments, type Document, type ErrorCode, type YAMLError } from 'yaml';
import type { PolicyProblem } from './types.js';
import { toLineCol, valuePosition, type PolicySource } from './yaml-positions.js';

/** YAML errors after which the rest of the document still parses as written. */
const LOCAL_YAML_ERRORS = new Set<ErrorCode>([
  'DUPLICATE_KEY',
  'BAD_ALIAS',
  'BAD_DQ_ESCAPE',
  'KEY_OVER_1024_CHARS',
  'TAG_RESOLVE_FAILED',
]);

export interface ParsedFile {
  source: PolicySource;
  data: Record<string, unknown>;
}

/**
 * A whole policy file as one YAML document: its YAML errors and warnings, and its data when it is
 * a map that can be validated. The caller drops the result once the file is validated.
 */
export function parseFile(text: string, file: string, errors: PolicyProblem[], warnings: PolicyProblem[]): ParsedFile | null {
  const start = { file, line: 1, col: 1 };
  const lineCounter = new LineCounter();
  // logLevel 'error': the yaml package would otherwise print some warnings itself (e.g. a map key
  // that is a list) as a Node process warning on stderr, quoting the source; ours are enough.
  const docs = parseAllDocuments(text, { lineCounter, prettyErrors: false, logLevel: 'error' });
  const first = docs[0];
  if (first === undefined) {
    errors.push({ ...start, message: 'the file is empty; a policy file holds a "secrets:" list (see docs/policies.md)' });
    return null;
  }
  const sources = docs.map((doc): PolicySource => ({ file, doc, lineCounter }));
  for (const source of sources) {
    for (const error of firstYamlErrors(source.doc)) errors.push(yamlProblem(source, error, 'invalid YAML'));
    for (const warning of source.doc.warnings) warnings.push(yamlProblem(source, warning, 'YAML'));
  }
  const extra = sources.slice(1).find((source) => !isEmptyDocument(source.doc));
  if (extra) {
    const at = toLineCol(extra, documentStart(extra.doc));
    errors.push({ file, ...at, message: 'only one YAML document per policy file; move this document into its own file' });
  }
  const source = sources[0] as PolicySource;
  if (first.errors.length > 0) return null;
  let data: unknown;
  try {
    data = first.toJS();
  } catch (error) {
    // e.g. "Excessive alias count": a YAML bomb or an alias loop.
    errors.push({ ...start, message: `invalid YAML: ${firstLine(error instanceof Error ? error.message : String(error))}` });
    return null;
  }
  if (data === null || data === undefined) {
    errors.push({ ...start, message: 'the file is empty; a policy file holds a "secrets:" list (see docs/policies.md)' });
    return null;
  }
  if (typeof data !== 'object' || Array.isArray(data)) {
    const got = Array.isArray(data) ? 'a list' : `a ${typeof data}`;
    const message = `expected a map with a "secrets:" list, got ${got}; start the file with secrets:`;
    errors.push({ file, ...valuePosition(source, []), message });
    return null;
  }
  return { source, data: data as Record<string, unknown> };
}

function yamlProblem(source: PolicySource, error: { message: string; pos: [number, number] }, label: string): PolicyProblem {
  // Some yaml messages quote the offending source text; a policy should hold no secret, but a
  // pasted one must not travel into CI logs, so drop the quoted part.
  const message = firstLine(error.message).replace(/: ".*$/, '');
  return { file: source.file, ...toLineCol(source, error.pos[0]), message: `${label}: ${message}` };
}

/**
 * After a structural error the parser resyncs and reports every following token, so keep only the
 * first one; errors that leave the structure intact (duplicate keys, bad aliases…) all count.
 */
function firstYamlErrors(doc: Document): YAMLError[] {
  const kept: YAMLError[] = [];
  for (const error of [...doc.errors].sort((a, b) => a.pos[0] - b.pos[0])) {
    kept.push(error);
    if (!LOCAL_YAML_ERRORS.has(error.code)) break;
  }
  return kept;
}

/**
 * Nothing written after `---` (or only comments), as a trailing `---` leaves: the parser still gives
 * such a document a null scalar of no length. A written `~` or `null` is content.
 */
function isEmptyDocument(doc: Document): boolean {
  const contents = doc.contents;
  return contents === null || (isScalar(contents) && contents.value === null && contents.source === '');
}

function documentStart(doc: Document): number {
  return (doc.contents as { range?: [number, number, number] } | null)?.range?.[0] ?? doc.range?.[0] ?? 0;
}

export function firstLine(text: string): string {
  return text.split('\n')[0] ?? text;
}
