// Shared plumbing of the fuzz tests: reproducible fast-check settings, the CLI run in-process or
// spawned, and snapshots of a directory tree that prove a command changed no file.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import fc from 'fast-check';
import { pathToFileURL } from 'node:url';
import { bin, buildRoot } from '../helpers/cli.js';

// In-process runs use the build under test too (a negative control's broken copy, or dist/).
const { main } = await import(pathToFileURL(join(buildRoot, 'dist', 'cli', 'main.js')).href);

/** The default seed: CI runs the same cases every time; FUZZ_SEED explores others. */
export const DEFAULT_SEED = 20_260_611;

/**
 * Seed and case count of one fuzz file. `defaultRuns` is the file's total; FUZZ_RUNS replaces it
 * (the properties of a file share it by weight, see `share`).
 */
export function fuzzSettings(defaultRuns) {
  const seed = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : DEFAULT_SEED;
  const runs = process.env.FUZZ_RUNS ? Number(process.env.FUZZ_RUNS) : defaultRuns;
  if (!Number.isInteger(seed)) throw new Error(`FUZZ_SEED must be an integer, got ${process.env.FUZZ_SEED}`);
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`FUZZ_RUNS must be a positive integer, got ${process.env.FUZZ_RUNS}`);
  return { seed, runs, share: (weight) => Math.max(1, Math.round(runs * weight)) };
}

/** fast-check parameters for one property: the file's seed shifted per property, so each is reproducible alone. */
export function fcParams(seed, salt, numRuns) {
  return { seed: (seed + salt) | 0, numRuns };
}

/**
 * fc.assert, with the failed assertion's own message in the error: node --test shows only the
 * message, and fast-check's names the counterexample but keeps the reason in `cause`.
 */
export async function checkProperty(property, params) {
  try {
    await fc.assert(property, params);
  } catch (error) {
    const cause = error?.cause?.message;
    if (!cause) throw error;
    throw new Error(`${error.message}\n\nReason: ${cause}`, { cause: error.cause });
  }
}

export const STACK_TRACE = /\n\s+at .+:\d+:\d+/;

/** A directory that is removed when the test file ends (KEEP_FUZZ_DIRS=1 keeps them for debugging). */
export function tempDir(prefix) {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  created.push(dir);
  return dir;
}
const created = [];
after(() => {
  if (process.env.KEEP_FUZZ_DIRS === '1') return;
  for (const dir of created) rmSync(dir, { recursive: true, force: true });
});

/** A private HOME, with the variables that make the AWS SDK look anywhere else pointed into it. */
export function isolatedEnv(home, extra = {}) {
  mkdirSync(home, { recursive: true });
  return {
    PATH: process.env.PATH,
    HOME: home,
    KEYSHIFT_NO_CACHE: '1',
    KEYSHIFT_OPERATOR: 'fuzz@keyshift',
    // The SDK reads these from process.env even in-process: no instance metadata, no real profiles.
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_CONFIG_FILE: join(home, 'aws-config-none'),
    AWS_SHARED_CREDENTIALS_FILE: join(home, 'aws-credentials-none'),
    AWS_MAX_ATTEMPTS: '1',
    ...extra,
  };
}

/**
 * Makes this process's environment what `env` says for the variables the CLI may read behind
 * its `io.env` (the AWS SDK, os.homedir): in-process runs then see what a spawned CLI sees.
 */
export function adoptEnv(env) {
  for (const key of Object.keys(process.env)) {
    if (/^(AWS_|KEYSHIFT_|XDG_)/.test(key)) delete process.env[key];
  }
  Object.assign(process.env, env);
}

/** Runs `keyshift <args>` in this process; the Output shape is src/cli/output.ts's. */
export async function runInProcess(args, { cwd, env }) {
  let stdout = '';
  let stderr = '';
  const out = { stdout: (s) => void (stdout += s), stderr: (s) => void (stderr += s), isTTY: false };
  // commander skips argv[0] and argv[1] (node and the script), as for process.argv.
  const code = await main([process.execPath, bin, ...args], { env, cwd, out });
  return { code, stdout, stderr };
}

/** Runs the real CLI (bin/keyshift.js, the bundled build) as a user would. */
export function runSpawned(args, { cwd, env, timeoutMs = 60_000 }) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', (error) => resolve({ code: null, signal: null, stdout, stderr: `${stderr}spawn failed: ${error.message}\n` }));
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** Problems with a command's output that no input may cause: a stack trace, an internal error. */
export function outputProblems({ stdout, stderr }) {
  const problems = [];
  for (const [name, text] of [['stdout', stdout], ['stderr', stderr]]) {
    if (STACK_TRACE.test(text)) problems.push(`${name} holds a stack trace`);
    if (/internal error/i.test(text)) problems.push(`${name} says "internal error"`);
  }
  return problems;
}

/** Path → type, mode, size, mtime and content hash of everything under `dir` (symlinks not followed). */
export function snapshotTree(dir) {
  const entries = new Map();
  const walk = (path, rel) => {
    for (const name of readdirSync(path)) {
      const full = join(path, name);
      const key = rel ? `${rel}/${name}` : name;
      const st = lstatSync(full);
      if (st.isDirectory()) {
        entries.set(key, `dir ${st.mode.toString(8)}`);
        walk(full, key);
      } else if (st.isSymbolicLink()) {
        entries.set(key, `link -> ${readlinkSync(full)}`);
      } else {
        const hash = createHash('sha256').update(readFileSync(full)).digest('hex');
        entries.set(key, `file ${st.mode.toString(8)} ${st.size} ${st.mtimeMs} ${st.ino} ${hash}`);
      }
    }
  };
  walk(dir, '');
  return entries;
}

/** Human-readable differences between two snapshots ([] when equal). */
export function snapshotDiff(before, after) {
  const changes = [];
  for (const [path, was] of before) {
    const now = after.get(path);
    if (now === undefined) changes.push(`removed ${path}`);
    else if (now !== was) changes.push(`changed ${path}: ${was} → ${now}`);
  }
  for (const path of after.keys()) if (!before.has(path)) changes.push(`created ${path}`);
  return changes;
}

/** Runs `body` over `items` with at most `limit` at a time (spawned CLIs on a 2-core machine). */
export async function inBatches(items, limit, body) {
  const results = new Array(items.length);
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (next < items.length && !failed) {
      const index = next++;
      try {
        results[index] = await body(items[index], index);
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  };
  // Every worker has stopped before the first failure is thrown (no run outlives the test).
  const settled = await Promise.allSettled(Array.from({ length: Math.min(limit, items.length) }, worker));
  const rejected = settled.find((s) => s.status === 'rejected');
  if (rejected) throw rejected.reason;
  return results;
}

/** One line for a report: how long a property took and how many cases it ran. */
export function elapsed(startMs) {
  return `${((performance.now() - startMs) / 1000).toFixed(1)} s`;
}
