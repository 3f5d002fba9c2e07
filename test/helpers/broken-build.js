// Negative controls: a proof suite is run once more against a copy of the build that breaks exactly
// what the suite guards, and must fail. The copy is made here, in the test (dist/ + bin/ +
// package.json in a temp directory, node_modules linked), never by a switch in the shipped code.
// Each patch is a plain string replacement that must match exactly as often as stated, so a
// refactor that renames the code cannot silently turn a control into one that breaks nothing.
import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { root } from './cli.js';

/**
 * A patched copy of the build. `patches`: [{ under, find, replace, count = 1 }], `under` a file or
 * folder of the build (e.g. 'dist/bundle', 'dist/evidence/verify.js'); `find` must occur exactly
 * `count` times in the .js files there. Returns { dir, applied: [{ file, find }], remove() }.
 */
export function brokenBuild(patches) {
  const dir = mkdtempSync(join(tmpdir(), 'keyshift-broken-build-'));
  const noMaps = (source) => !source.endsWith('.map');
  cpSync(join(root, 'dist'), join(dir, 'dist'), { recursive: true, filter: noMaps });
  cpSync(join(root, 'bin'), join(dir, 'bin'), { recursive: true });
  cpSync(join(root, 'package.json'), join(dir, 'package.json'));
  symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'), 'dir');
  const applied = [];
  for (const { under, find, replace, count = 1 } of patches) {
    const files = jsFiles(join(dir, under));
    const hits = files.map((file) => ({ file, n: readFileSync(file, 'utf8').split(find).length - 1 })).filter((h) => h.n > 0);
    const total = hits.reduce((sum, h) => sum + h.n, 0);
    if (total !== count) {
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`broken build: ${JSON.stringify(find)} occurs ${total} times under ${under} (want ${count}); the code it breaks has changed: update the control`);
    }
    for (const { file } of hits) {
      const text = readFileSync(file, 'utf8');
      writeFileSync(file, text.split(find).join(replace));
      applied.push({ file: relative(dir, file), find });
    }
  }
  return { dir, applied, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * Runs test files with `node --test` against `build` (KEYSHIFT_TEST_BUILD), optionally only the
 * tests whose names match `namePattern`, with `env` on top (round counts). Resolves to
 * { code, output } where output is the runner's spec-reporter text.
 */
export function runSuiteAgainst(build, files, { namePattern, env = {}, timeoutMs = 240_000 } = {}) {
  const args = ['--test', '--test-reporter=spec', ...(namePattern ? ['--test-name-pattern', namePattern] : []), ...files];
  // NODE_TEST_CONTEXT would make the child a subtest of ours, which runs no files at all.
  const { NODE_TEST_CONTEXT: _, ...inherited } = process.env;
  const child = spawn(process.execPath, args, {
    cwd: root,
    env: { ...inherited, ...env, KEYSHIFT_TEST_BUILD: build.dir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  return new Promise((resolve) => child.on('close', (code, signal) => {
    clearTimeout(timer);
    resolve({ code, signal, output });
  }));
}

/** The numbers of the runner's summary (`ℹ pass 3`, `ℹ fail 1`), for the control's own checks. */
export function summaryOf(output) {
  const count = (name) => Number(new RegExp(`^ℹ ${name} (\\d+)$`, 'm').exec(output)?.[1] ?? NaN);
  return { tests: count('tests'), pass: count('pass'), fail: count('fail'), skipped: count('skipped') };
}

function jsFiles(path) {
  try {
    return readdirSync(path, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? jsFiles(join(path, e.name)) : e.name.endsWith('.js') ? [join(path, e.name)] : []));
  } catch (error) {
    if (error.code === 'ENOTDIR') return [path];
    throw error;
  }
}
