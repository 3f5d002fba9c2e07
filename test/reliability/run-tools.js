// Small tools shared by the reliability suites: a CLI spawn that cannot hang the suite, the check
// that a failed run failed cleanly, a bounded pool, and tallies for the summary lines.
import { runCliAsync, json } from '../helpers/cli.js';

/** Error codes a rotation may fail with when the store misbehaves (docs/cli.md, rotate). */
export const STORE_FAILURE_CODES = new Set(['ERR_STORE_THROTTLED', 'ERR_STORE_UNAVAILABLE']);

/** Spawns the CLI asynchronously (the fakes live in this process) and kills it after `limitMs`. */
export async function cliWithin(args, { cwd, env, limitMs = 90_000 }) {
  const started = Date.now();
  const { child, done } = runCliAsync(args, { cwd, env });
  let killed = false;
  const timer = setTimeout(() => {
    killed = true;
    child.kill('SIGKILL');
  }, limitMs);
  const result = await done;
  clearTimeout(timer);
  return { ...result, killed, ms: Date.now() - started };
}

/** stdout as JSON, or null (the problem is reported by the caller, with its label). */
export function jsonOrNull(result) {
  try {
    return json(result);
  } catch {
    return null;
  }
}

/**
 * Problems with a run that did not complete: it must exit 1 with a known store error code, no
 * stack trace, and at most one `keyshift:` error line (plus its hint) besides JSON log lines.
 */
export function failureProblems(result) {
  const problems = [];
  if (/\n\s+at .+:\d+:\d+\)?/.test(result.stderr) || /\n\s+at .+:\d+:\d+\)?/.test(result.stdout)) problems.push('stack trace in the output');
  const prose = result.stderr.split('\n').filter((line) => line.trim() && !line.startsWith('{'));
  const errorLines = prose.filter((line) => line.startsWith('keyshift:'));
  const other = prose.filter((line) => !line.startsWith('keyshift:') && !/^\s*hint: /.test(line));
  if (errorLines.length > 1 || other.length > 0) problems.push(`stderr is not one error line: ${JSON.stringify(prose.slice(0, 4))}`);
  const report = jsonOrNull(result);
  if (!report) return [...problems, `stdout is not JSON: ${result.stdout.slice(0, 200)}`];
  const codes = report.error ? [report.error.code] : (report.results ?? []).filter((r) => r.outcome === 'failed').map((r) => r.error?.code);
  if (codes.length === 0) problems.push(`exit 1 without a failed result: ${result.stdout.slice(0, 300)}`);
  for (const code of codes) if (!STORE_FAILURE_CODES.has(code)) problems.push(`unexpected error code ${code}: ${result.stdout.slice(0, 400)}`);
  return problems;
}

/** The first error code of a run's JSON report (run-level or per result), for the tallies. */
export function errorCodeOf(result) {
  const report = jsonOrNull(result);
  return report?.error?.code ?? report?.results?.find((r) => r.error)?.error.code ?? null;
}

/** At most `limit` functions run at once; `run(fn)` waits for a free lane. */
export function createLanes(limit) {
  let busy = 0;
  const waiting = [];
  return async function run(fn) {
    if (busy >= limit) await new Promise((resolve) => waiting.push(resolve));
    busy += 1;
    try {
      return await fn();
    } finally {
      busy -= 1;
      waiting.shift()?.();
    }
  };
}

/** Counts by key path: tally.add('aws-kms', 'drop', 'first-run'). */
export function createTally() {
  const counts = new Map();
  return {
    add(...path) {
      const key = path.join(' / ');
      counts.set(key, (counts.get(key) ?? 0) + 1);
    },
    get: (...path) => counts.get(path.join(' / ')) ?? 0,
    entries: () => [...counts].sort(([a], [b]) => a.localeCompare(b)),
  };
}
