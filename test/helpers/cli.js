// Spawns the real CLI as a user would, in a temporary directory.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, mkdirSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = fileURLToPath(new URL('../..', import.meta.url));
/**
 * The build under test: this checkout, or a copy a negative control broke on purpose
 * (test/helpers/broken-build.js sets KEYSHIFT_TEST_BUILD for the suite it runs against it).
 */
export const buildRoot = process.env.KEYSHIFT_TEST_BUILD || root;
export const bin = join(buildRoot, 'bin', 'keyshift.js');

/** A home of our own, so tests never read or write the user's ~/.cache/keyshift. */
export const testHome = mkdtempSync(join(tmpdir(), 'keyshift-home-'));

/** A clean environment: no inherited KEYSHIFT_* settings, a fixed operator. */
export function baseEnv(extra = {}) {
  return { PATH: process.env.PATH, HOME: testHome, KEYSHIFT_OPERATOR: 'test@keyshift', ...extra };
}

export function tempProject(prefix = 'keyshift-e2e-') {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function writeFiles(dir, files) {
  for (const [name, text] of Object.entries(files)) {
    const path = join(dir, name);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, text);
  }
}

export function runCli(args, { cwd, env = baseEnv(), input } = {}) {
  const result = spawnSync(process.execPath, [bin, ...args], { cwd, env, input, encoding: 'utf8', timeout: 120_000 });
  return { code: result.status, signal: result.signal, stdout: result.stdout, stderr: result.stderr };
}

export function runCliAsync(args, { cwd, env = baseEnv() } = {}) {
  const child = spawn(process.execPath, [bin, ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const done = new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
  return { child, done };
}

export function json(result) {
  try {
    return JSON.parse(result.stdout);
  } catch (error) {
    throw new Error(`stdout is not JSON (exit ${result.code}): ${result.stdout}\nstderr: ${result.stderr}`);
  }
}

export function readEvidence(dir) {
  const file = join(dir, 'evidence', 'evidence.jsonl');
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((line) => JSON.parse(line));
}

/** A policy file with `count` secrets, one environment each, all in one local store. */
export function manySecretsPolicy(count, { interval = '30d', fallbackWindow = '1h', store = '.keyshift/dev.store', generator = '{ type: random, bytes: 16, encoding: hex }' } = {}) {
  let text = 'secrets:\n';
  for (let i = 0; i < count; i++) {
    text += `  - name: secret-${String(i).padStart(5, '0')}\n    interval: ${interval}\n    fallbackWindow: ${fallbackWindow}\n    generator: ${generator}\n    environments:\n      - name: dev\n        store: { type: local, path: ${store} }\n`;
  }
  return text;
}

export function assertNoStackTrace(assert, text) {
  assert.doesNotMatch(text, /\n\s+at .+:\d+:\d+\)?/, `unexpected stack trace:\n${text}`);
}

/** Runs the CLI without blocking this process (loopback servers in it must keep answering). */
export function cli(args, options) {
  return runCliAsync(args, options).done;
}
