#!/usr/bin/env node
// Runs every test file under test/ with Node's built-in runner. Node 20 does not expand globs
// itself, so we list the files here. KEYSHIFT_TEST_FILTER=substring narrows the run (several
// substrings separated by commas: a file matching any of them runs).
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const filters = (process.env.KEYSHIFT_TEST_FILTER ?? '').split(',');
// Files run side by side (2 on CI's 2 cores; .ci/run's Node 24 leg, without the soak suites, runs 3).
const concurrency = Number(process.env.KEYSHIFT_TEST_CONCURRENCY ?? 2);
if (!Number.isInteger(concurrency) || concurrency < 1) {
  console.error(`KEYSHIFT_TEST_CONCURRENCY must be a positive integer, got ${process.env.KEYSHIFT_TEST_CONCURRENCY}`);
  process.exit(1);
}

function collect(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return collect(path);
    return name.endsWith('.test.js') ? [path] : [];
  });
}

const files = collect(join(root, 'test'))
  .map((file) => relative(root, file))
  .filter((file) => filters.some((filter) => file.includes(filter)))
  .sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
if (files.length === 0) {
  console.error(`no test files match "${filters.join(',')}"`);
  process.exit(1);
}
// TAP on stdout as before; beside it, each top-level test's file and duration (scripts/test-timings.js).
const timingDir = mkdtempSync(join(tmpdir(), 'keyshift-test-timings-'));
const timingFile = join(timingDir, 'timings.jsonl');
const started = Date.now();
const result = spawnSync(
  process.execPath,
  [
    '--test',
    `--test-concurrency=${concurrency}`,
    '--test-reporter=tap',
    '--test-reporter-destination=stdout',
    `--test-reporter=${join(root, 'scripts/test-timings.js')}`,
    `--test-reporter-destination=${timingFile}`,
    ...files,
  ],
  { cwd: root, stdio: 'inherit' },
);
printSlowestFiles(timingFile, Date.now() - started);
rmSync(timingDir, { recursive: true, force: true });
process.exit(result.status ?? 1);

/**
 * The soak suites (minutes each) start first: files run two at a time in this order, and a long one
 * started last would run on alone at the end, one core idle.
 */
function rank(file) {
  if (file.startsWith(join('test', 'reliability'))) return 0;
  if (file.startsWith(join('test', 'fuzz'))) return 1;
  return 2;
}

/** The files whose tests took longest (summed; two files run at a time), for tuning CI's time, then every failure. */
function printSlowestFiles(path, wallMs) {
  let lines;
  try {
    lines = readFileSync(path, 'utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line));
  } catch {
    return;
  }
  const perFile = new Map();
  const failures = [];
  for (const line of lines) {
    if (line.failed) failures.push(line);
    else perFile.set(line.file, (perFile.get(line.file) ?? 0) + line.ms);
  }
  const total = [...perFile.values()].reduce((sum, ms) => sum + ms, 0);
  console.log(`# test time: ${(wallMs / 1000).toFixed(0)} s wall, ${(total / 1000).toFixed(0)} s summed over ${perFile.size} files; the slowest:`);
  for (const [file, ms] of [...perFile].sort((a, b) => b[1] - a[1]).slice(0, 15)) {
    console.log(`#   ${(ms / 1000).toFixed(1).padStart(7)} s  ${relative(root, file ?? '?')}`);
  }
  // Repeated here because the TAP of a failure sits far up a long log that CI may keep only the end of.
  if (failures.length > 0) console.log(`# ${failures.length} failed:`);
  for (const { file, name, message } of failures) {
    console.log(`#   ${relative(root, file ?? '?')}: ${name}`);
    for (const line of message.split('\n')) console.log(`#       ${line}`);
  }
}
