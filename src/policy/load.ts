import { readdir, readFile, stat } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { LineCounter, parseAllDocuments, type Document, type ErrorCode, type YAMLError } from 'yaml';
import { crossCheckSecrets, type SecretEntry } from './cross-checks.js';
import { explainIssue } from './issue-messages.js';
import { normaliseSecret } from './normalise.js';
import { policyFileSchema, secretSchema } from './schema.js';
import type { LoadedPolicies, PolicyProblem, SecretPolicy } from './types.js';
import { keyPosition, toLineCol, valuePosition, type PolicySource } from './yaml-positions.js';

const POLICY_FILE = /^[^.].*\.ya?ml$/;
/** YAML errors after which the rest of the document still parses as written. */
const LOCAL_YAML_ERRORS = new Set<ErrorCode>([
  'DUPLICATE_KEY',
  'BAD_ALIAS',
  'BAD_DQ_ESCAPE',
  'KEY_OVER_1024_CHARS',
  'TAG_RESOLVE_FAILED',
]);

/**
 * Loads a policy file, or every *.yaml / *.yml directly in a directory (sorted by name), and
 * reports every problem of the run with file, line and column. Bad input never throws: the
 * caller gets `errors` and must not act on `policies` unless `errors` is empty. `policies` holds
 * the secrets that passed the schema, each name once; `files` the files read, as displayed.
 */
export async function loadPolicies(target: string, options: { cwd: string }): Promise<LoadedPolicies> {
  const cwd = resolve(options.cwd);
  const errors: PolicyProblem[] = [];
  const warnings: PolicyProblem[] = [];
  const files: string[] = [];
  const entries: SecretEntry[] = [];
  for (const path of await policyFiles(resolve(cwd, target), cwd, errors)) {
    const file = displayPath(path, cwd);
    files.push(file);
    const parsed = await parseFile(path, file, errors, warnings);
    if (parsed) entries.push(...validateFile(parsed.source, parsed.data, cwd, errors));
  }
  errors.push(...crossCheckSecrets(entries));
  return { policies: uniquePolicies(entries), errors: ordered(errors, files), warnings: ordered(warnings, files), files };
}

/** The files to load; a missing path or a directory without policy files is a problem. */
async function policyFiles(path: string, cwd: string, errors: PolicyProblem[]): Promise<string[]> {
  const shown = displayPath(path, cwd);
  const problem = (message: string) => errors.push({ file: shown, line: 1, col: 1, message });
  const info = await stat(path).catch((error: NodeJS.ErrnoException) => error);
  if (info instanceof Error) {
    if (info.code === 'ENOENT' || info.code === 'ENOTDIR') {
      problem('no such file or directory; pass a policy file or a directory of *.yaml files');
    } else problem(`cannot read (${info.code ?? info.message}); check the path and its permissions`);
    return [];
  }
  if (info.isFile()) return [path];
  if (!info.isDirectory()) {
    problem('not a file or a directory; pass a policy file or a directory of *.yaml files');
    return [];
  }
  const names = await readdir(path).catch((error: NodeJS.ErrnoException) => error);
  if (names instanceof Error) {
    problem(`cannot list this directory (${names.code ?? names.message}); check its permissions`);
    return [];
  }
  const found: string[] = [];
  for (const name of names.filter((entry) => POLICY_FILE.test(entry)).sort()) {
    // stat (not the dirent) so a symlink to a file counts and one to a folder does not.
    const entry = await stat(join(path, name)).catch(() => null);
    if (entry?.isFile()) found.push(join(path, name));
  }
  if (found.length === 0) problem('no policy files (*.yaml, *.yml) in this directory; add one, or run `keyshift init`');
  return found;
}

async function parseFile(
  path: string,
  file: string,
  errors: PolicyProblem[],
  warnings: PolicyProblem[],
): Promise<{ source: PolicySource; data: Record<string, unknown> } | null> {
  const start = { file, line: 1, col: 1 };
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    errors.push({ ...start, message: `cannot read (${code}); check its permissions` });
    return null;
  }
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter, prettyErrors: false });
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
  const extra = sources.slice(1).find((source) => source.doc.contents !== null);
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

/** Schema problems of one file, and its secrets (valid or not) for the run-wide rules. */
function validateFile(
  source: PolicySource,
  data: Record<string, unknown>,
  cwd: string,
  errors: PolicyProblem[],
): SecretEntry[] {
  const result = policyFileSchema.safeParse(data);
  for (const issue of result.error?.issues ?? []) {
    for (const explained of explainIssue(issue, data)) {
      const at = explained.at === 'key' ? keyPosition(source, explained.path) : valuePosition(source, explained.path);
      errors.push({ file: source.file, ...at, message: explained.message });
    }
  }
  const items = Array.isArray(data.secrets) ? (data.secrets as unknown[]) : [];
  return items.map((raw, index): SecretEntry => {
    const locate = (path: readonly PropertyKey[]) => valuePosition(source, ['secrets', index, ...path]);
    const parsed = secretSchema.safeParse(raw);
    let policy: SecretPolicy | null = null;
    if (parsed.success) {
      const at = (path: readonly PropertyKey[]) => ({ file: source.file, ...locate(path) });
      const environments = parsed.data.environments.map((_, env) => at(['environments', env]));
      policy = normaliseSecret(parsed.data, { secret: at([]), environments }, cwd);
    }
    return { file: source.file, index, raw, policy, locate };
  });
}

function uniquePolicies(entries: SecretEntry[]): SecretPolicy[] {
  const seen = new Set<string>();
  return entries.flatMap((entry) => {
    if (!entry.policy || seen.has(entry.policy.name)) return [];
    seen.add(entry.policy.name);
    return [entry.policy];
  });
}

/** Relative to the working directory when under it (what the user typed), else absolute. */
function displayPath(path: string, cwd: string): string {
  const rel = relative(cwd, path);
  if (rel === '') return '.';
  return rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel) ? path : rel;
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

function documentStart(doc: Document): number {
  return (doc.contents as { range?: [number, number, number] } | null)?.range?.[0] ?? doc.range?.[0] ?? 0;
}

function firstLine(text: string): string {
  return text.split('\n')[0] ?? text;
}

/** Problems in load order of their files (run-level ones first), then by line and column. */
function ordered(problems: PolicyProblem[], files: string[]): PolicyProblem[] {
  const rank = (problem: PolicyProblem) => files.indexOf(problem.file);
  const seen = new Set<string>();
  return problems
    .filter((problem) => {
      const id = `${problem.file}:${problem.line}:${problem.col}:${problem.message}`;
      return seen.has(id) ? false : (seen.add(id), true);
    })
    .sort((a, b) => rank(a) - rank(b) || a.line - b.line || a.col - b.col);
}
