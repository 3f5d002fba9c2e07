import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { validateInChunks } from './chunks.js';
import { crossCheckSecrets, type SecretEntry } from './cross-checks.js';
import { parseFile } from './parse-yaml.js';
import type { LoadedPolicies, PolicyProblem, SecretPolicy } from './types.js';
import { validateFile } from './validate.js';
import { cannotRead, displayPath, policyFiles } from './policy-files.js';

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
  const signing: Array<{ file: string; key: string }> = [];
  for (const path of policyFiles(resolve(cwd, target), cwd, errors)) {
    const file = displayPath(path, cwd);
    files.push(file);
    // One push per item: spreading a huge file's entries could exceed the call-argument limit.
    for (const entry of await loadFile(path, file, cwd, errors, warnings, signing)) entries.push(entry);
  }
  for (const problem of crossCheckSecrets(entries)) errors.push(problem);
  const keys = [...new Set(signing.map((s) => s.key))];
  if (keys.length > 1) {
    const [, second] = signing.filter((s, i) => signing.findIndex((t) => t.key === s.key) === i);
    errors.push({ file: second?.file ?? files[0] ?? target, line: 1, col: 1, message: `signing.key is set to different keys in ${signing.map((s) => s.file).join(' and ')}; one run signs with one key: set it in one file only` });
  }
  return { policies: uniquePolicies(entries), errors: ordered(errors, files), warnings: ordered(warnings, files), files, signingKey: keys[0] ?? null };
}

/**
 * One file's problems and secrets. Large files are parsed in chunks (chunks.ts), others whole;
 * either way the YAML documents are dropped on return: entries keep only the positions the
 * run-wide rules need, so memory grows with the secrets, not with the source.
 */
async function loadFile(
  path: string,
  file: string,
  cwd: string,
  errors: PolicyProblem[],
  warnings: PolicyProblem[],
  signing: Array<{ file: string; key: string }>,
): Promise<SecretEntry[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    errors.push({ file, line: 1, col: 1, message: cannotRead(code) });
    return [];
  }
  return withPlainEnv(() => {
    const chunked = validateInChunks(text, file, cwd);
    if (chunked) {
      for (const problem of chunked.errors) errors.push(problem);
      return chunked.entries;
    }
    const parsed = parseFile(text, file, errors, warnings);
    const key = (parsed?.data.signing as { key?: unknown } | undefined)?.key;
    if (typeof key === 'string' && key !== '') signing.push({ file, key });
    return parsed ? validateFile(parsed.source, parsed.data, cwd, errors) : [];
  });
}

/**
 * The yaml parser reads process.env.LOG_TOKENS once per token, and process.env is a slow host
 * object: parsing against a plain copy is about 25% faster on large policy sets. Synchronous, and
 * the real object is always put back.
 */
function withPlainEnv<T>(body: () => T): T {
  const real = process.env;
  process.env = { ...real };
  try {
    return body();
  } finally {
    process.env = real;
  }
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

/** Problems in load order of their files (run-level ones first), then by line and column. */
function ordered(problems: PolicyProblem[], files: string[]): PolicyProblem[] {
  const ranks = new Map(files.map((file, index) => [file, index]));
  const rank = (problem: PolicyProblem) => ranks.get(problem.file) ?? -1;
  const seen = new Set<string>();
  return problems
    .filter((problem) => {
      const id = `${problem.file}:${problem.line}:${problem.col}:${problem.message}`;
      return seen.has(id) ? false : (seen.add(id), true);
    })
    .sort((a, b) => rank(a) - rank(b) || a.line - b.line || a.col - b.col);
}
