import { parseDuration } from './durations.js';
import { NAME_PATTERN } from './schema.js';
import type { PolicyProblem, SecretPolicy } from './types.js';
import { formatPath, valueAt, type DataPath, type LineCol } from './yaml-positions.js';

/**
 * One list item of `secrets:` in one file, valid or not, as the run-wide rules see it: only the
 * fields they read, and the positions they point at, taken while the YAML document was alive
 * (entries outlive their file's document, which is dropped once the file is validated).
 */
export interface SecretEntry {
  file: string;
  /** Index in its file's `secrets:` list. */
  index: number;
  /** These fields when written as strings (else null): the rules also run on invalid secrets. */
  name: string | null;
  interval: string | null;
  fallbackWindow: string | null;
  /** Each environment's name, likewise; null when `environments` is not a list. */
  environmentNames: Array<string | null> | null;
  /** The normalised policy when the item passed the schema. */
  policy: SecretPolicy | null;
  at: SecretPositions;
}

export interface SecretPositions {
  name: LineCol;
  fallbackWindow: LineCol;
  /** `generator.master.secret` of a data key (else where the nearest node is). */
  master: LineCol;
  /** Per item of `environments` (empty when it is not a list). */
  environments: Array<{ name: LineCol; store: LineCol }>;
}

/** The item's fields the rules read; the rest of the item is not kept. */
export function ruleFields(raw: unknown): Pick<SecretEntry, 'name' | 'interval' | 'fallbackWindow' | 'environmentNames'> {
  const environments = valueAt(raw, ['environments']);
  return {
    name: keepString(valueAt(raw, ['name'])),
    interval: keepString(valueAt(raw, ['interval'])),
    fallbackWindow: keepString(valueAt(raw, ['fallbackWindow'])),
    environmentNames: Array.isArray(environments) ? environments.map((item) => keepString(valueAt(item, ['name']))) : null,
  };
}

/**
 * Rules that span fields, secrets or files: duplicate names (across every file of the run),
 * duplicate environments, a fallback window longer than the interval, and two environments
 * writing the same store entry. Each problem points at the second occurrence.
 */
export function crossCheckSecrets(entries: SecretEntry[]): PolicyProblem[] {
  const problems: PolicyProblem[] = [];
  const report: Report = (entry, path, at, message) => {
    const field = formatPath(['secrets', entry.index, ...path]);
    problems.push({ file: entry.file, line: at.line, col: at.col, message: `${field}: ${message}` });
  };
  const secretNames = new Map<string, First>();
  const storeEntries = new Map<string, First & { environment: string }>();
  for (const entry of entries) {
    const unique = checkSecretName(entry, secretNames, report);
    checkEnvironmentNames(entry, report);
    checkFallbackWindow(entry, report);
    // A duplicated secret's store entries clash by construction: one problem is enough.
    if (unique) checkStoreEntries(entry, storeEntries, report);
  }
  checkMasters(entries, report);
  return problems;
}

type Report = (entry: SecretEntry, path: DataPath, at: LineCol, message: string) => void;
type First = { entry: SecretEntry; at: LineCol };

/** False when the name repeats an earlier secret's. */
function checkSecretName(entry: SecretEntry, seen: Map<string, First>, report: Report): boolean {
  const name = validName(entry.name);
  if (name === null) return true;
  const first = seen.get(name);
  if (!first) {
    seen.set(name, { entry, at: entry.at.name });
    return true;
  }
  const where = `${first.entry.file}:${first.at.line}`;
  report(entry, ['name'], entry.at.name, `duplicate secret name "${name}"; first defined at ${where}; names must be unique across all policy files`);
  return false;
}

/** Two environments (of any secrets) writing one store entry would overwrite each other's versions. */
function checkStoreEntries(entry: SecretEntry, seen: Map<string, First & { environment: string }>, report: Report): void {
  entry.policy?.environments.forEach((environment, index) => {
    const path = ['environments', index, 'store'];
    const at = entry.at.environments[index]?.store ?? entry.at.name;
    const target = JSON.stringify(environment.store);
    const first = seen.get(target);
    if (!first) {
      seen.set(target, { entry, environment: environment.name, at });
      return;
    }
    const owner = `secret "${first.entry.policy?.name}" environment "${first.environment}" (${first.entry.file}:${first.at.line})`;
    report(entry, path, at, `uses the same store entry as ${owner}; give it its own key or path`);
  });
}

/**
 * A `local` master names a secret of 32 random bytes with, for each environment of the data key,
 * an environment of the same name (or only one environment): its CURRENT wraps the data keys.
 */
function checkMasters(entries: SecretEntry[], report: Report): void {
  const byName = new Map(entries.filter((e) => e.policy).map((e) => [e.policy?.name, e.policy as SecretPolicy]));
  for (const entry of entries) {
    const generator = entry.policy?.generator;
    if (generator?.type !== 'data-key' || generator.master.type !== 'local') continue;
    const fail = (message: string) => report(entry, ['generator', 'master', 'secret'], entry.at.master, message);
    const name = generator.master.secret;
    const master = byName.get(name);
    if (!master) {
      fail(`names no secret of these policies ("${name}"); add the master secret, e.g. - name: ${name} with generator: { type: random, bytes: 32 }`);
      continue;
    }
    const made = master.generator;
    if (master.name === entry.policy?.name || made?.type !== 'random' || !('bytes' in made) || made.bytes !== 32) {
      fail(`"${name}" cannot be a master: a local master is a secret with generator: { type: random, bytes: 32 }`);
      continue;
    }
    if (master.reencrypt) {
      fail(`"${name}" has reencrypt:, but a master wraps data keys and encrypts no rows; seal the rows with a data key, or name another master`);
      continue;
    }
    for (const environment of entry.policy?.environments ?? []) {
      if (!masterEnvironmentOf(master, environment.name)) {
        fail(`"${name}" has no environment "${environment.name}" (nor a single one) to wrap the data key of that environment; add it to ${name}`);
      }
    }
  }
}

/** The master's environment that wraps a data key's `environment`: the same name, or its only one. */
export function masterEnvironmentOf(master: SecretPolicy, environment: string): SecretPolicy['environments'][number] | undefined {
  return master.environments.find((e) => e.name === environment) ?? (master.environments.length === 1 ? master.environments[0] : undefined);
}

function checkEnvironmentNames(entry: SecretEntry, report: Report): void {
  const seen = new Map<string, LineCol>();
  entry.environmentNames?.forEach((written, index) => {
    const name = validName(written);
    const at = entry.at.environments[index]?.name;
    if (name === null || at === undefined) return;
    const first = seen.get(name);
    const path = ['environments', index, 'name'];
    if (first) report(entry, path, at, `duplicate environment "${name}" (first at line ${first.line}); list each environment once`);
    else seen.set(name, at);
  });
}

function checkFallbackWindow(entry: SecretEntry, report: Report): void {
  const { interval, fallbackWindow: window } = entry;
  if (typeof interval !== 'string' || typeof window !== 'string') return;
  const intervalMs = parseDuration(interval);
  const windowMs = parseDuration(window);
  if (intervalMs === null || windowMs === null || windowMs <= intervalMs) return;
  const fix = `use at most ${interval} (or a longer interval)`;
  report(entry, ['fallbackWindow'], entry.at.fallbackWindow, `${window} is longer than the interval ${interval}; the old value must be revoked before the next rotation, so ${fix}`);
}

/** The rules only read strings; keeping nothing else frees a mistyped value with its document. */
function keepString(value: unknown): string | null {
  return typeof value === 'string' ? value : null;
}

function validName(value: unknown): string | null {
  return typeof value === 'string' && NAME_PATTERN.test(value) ? value : null;
}
