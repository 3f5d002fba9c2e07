import { parseDuration } from './durations.js';
import { NAME_PATTERN } from './schema.js';
import type { PolicyProblem, SecretPolicy } from './types.js';
import { formatPath, valueAt, type DataPath, type LineCol } from './yaml-positions.js';

/** One list item of `secrets:` in one file, valid or not, as the run-wide rules see it. */
export interface SecretEntry {
  file: string;
  /** Index in its file's `secrets:` list. */
  index: number;
  /** The item as plain data, so the rules also run on secrets with other errors. */
  raw: unknown;
  /** The normalised policy when the item passed the schema. */
  policy: SecretPolicy | null;
  /** Position of the value at `path`, relative to this item. */
  locate(path: DataPath): LineCol;
}

/**
 * Rules that span fields, secrets or files: duplicate names (across every file of the run),
 * duplicate environments, a fallback window longer than the interval, and two environments
 * writing the same store entry. Each problem points at the second occurrence.
 */
export function crossCheckSecrets(entries: SecretEntry[]): PolicyProblem[] {
  const problems: PolicyProblem[] = [];
  const report: Report = (entry, path, message) => {
    const field = formatPath(['secrets', entry.index, ...path]);
    problems.push({ file: entry.file, ...entry.locate(path), message: `${field}: ${message}` });
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
  return problems;
}

type Report = (entry: SecretEntry, path: DataPath, message: string) => void;
type First = { entry: SecretEntry; at: LineCol };

/** False when the name repeats an earlier secret's. */
function checkSecretName(entry: SecretEntry, seen: Map<string, First>, report: Report): boolean {
  const name = validName(valueAt(entry.raw, ['name']));
  if (name === null) return true;
  const first = seen.get(name);
  if (!first) {
    seen.set(name, { entry, at: entry.locate(['name']) });
    return true;
  }
  const where = `${first.entry.file}:${first.at.line}`;
  report(entry, ['name'], `duplicate secret name "${name}"; first defined at ${where}; names must be unique across all policy files`);
  return false;
}

/** Two environments (of any secrets) writing one store entry would overwrite each other's versions. */
function checkStoreEntries(entry: SecretEntry, seen: Map<string, First & { environment: string }>, report: Report): void {
  entry.policy?.environments.forEach((environment, index) => {
    const path = ['environments', index, 'store'];
    const target = JSON.stringify(environment.store);
    const first = seen.get(target);
    if (!first) {
      seen.set(target, { entry, environment: environment.name, at: entry.locate(path) });
      return;
    }
    const owner = `secret "${first.entry.policy?.name}" environment "${first.environment}" (${first.entry.file}:${first.at.line})`;
    report(entry, path, `uses the same store entry as ${owner}; give it its own key or path`);
  });
}

function checkEnvironmentNames(entry: SecretEntry, report: Report): void {
  const environments = valueAt(entry.raw, ['environments']);
  if (!Array.isArray(environments)) return;
  const seen = new Map<string, LineCol>();
  environments.forEach((_, index) => {
    const name = validName(valueAt(environments, [index, 'name']));
    if (name === null) return;
    const first = seen.get(name);
    const path = ['environments', index, 'name'];
    if (first) report(entry, path, `duplicate environment "${name}" (first at line ${first.line}); list each environment once`);
    else seen.set(name, entry.locate(path));
  });
}

function checkFallbackWindow(entry: SecretEntry, report: Report): void {
  const interval = valueAt(entry.raw, ['interval']);
  const window = valueAt(entry.raw, ['fallbackWindow']);
  if (typeof interval !== 'string' || typeof window !== 'string') return;
  const intervalMs = parseDuration(interval);
  const windowMs = parseDuration(window);
  if (intervalMs === null || windowMs === null || windowMs <= intervalMs) return;
  const fix = `use at most ${interval} (or a longer interval)`;
  report(entry, ['fallbackWindow'], `${window} is longer than the interval ${interval}; the old value must be revoked before the next rotation, so ${fix}`);
}

function validName(value: unknown): string | null {
  return typeof value === 'string' && NAME_PATTERN.test(value) ? value : null;
}
