#!/usr/bin/env node
// keyshift benchmarks: start-up against `node -e 0` (on this node and, when installed, Node 24:
// bench/runtimes.js), and rotate --all --force throughput and memory on one local store. Prints a
// Markdown table; `--write` also records it in bench/RESULTS.md.
// Usage: node bench/run.js [--runs 5] [--sizes 1000,10000] [--node24 path|none] [--write]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, cpSync } from 'node:fs';
import { recordResults } from './results-file.js';
import { writePolicies } from './local-policies.js';
import { benchRuntimes } from './runtimes.js';
import { tmpdir, cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = join(root, 'bin', 'keyshift.js');
const probe = join(root, 'bench', 'rss-probe.js');
const args = process.argv.slice(2);
const runs = Number(argValue('--runs') ?? 5);
const sizes = (argValue('--sizes') ?? '1000,10000').split(',').map(Number);
const env = {
  PATH: process.env.PATH,
  HOME: process.env.HOME,
  KEYSHIFT_OPERATOR: 'bench@keyshift',
  KEYSHIFT_CACHE_DIR: mkdtempSync(join(tmpdir(), 'keyshift-bench-cache-')),
};

function argValue(name) {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

function timeRun(argv, cwd, extraEnv = {}, node = process.execPath) {
  if (argv.env) [argv, extraEnv] = [argv.argv, { ...extraEnv, ...argv.env }];
  const start = process.hrtime.bigint();
  const result = spawnSync(node, argv, { cwd, env: { ...env, ...extraEnv }, encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'], maxBuffer: 64 * 2 ** 20 });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (result.status !== 0) {
    // A crashed run is a failed benchmark, never a figure: say so and record nothing.
    process.stderr.write(`benchmark failed: ${argv.join(' ')} exited ${result.status ?? result.signal}: ${result.stderr}\n`);
    process.exit(2);
  }
  return ms;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Each runtime's start-up cases, the runtimes' runs interleaved; each ratio is to that runtime's `node -e 0`. */
function startup(runtimes) {
  const dir = mkdtempSync(join(tmpdir(), 'keyshift-bench-startup-'));
  cpSync(join(root, 'policies'), join(dir, 'policies'), { recursive: true });
  const cases = {
    'node -e 0': ['-e', '0'],
    'keyshift --version': [bin, '--version'],
    'keyshift plan (examples)': [bin, 'plan'],
    'keyshift plan (examples, caches off)': { argv: [bin, 'plan'], env: { KEYSHIFT_NO_CACHE: '1' } },
  };
  const samples = runtimes.map(() => Object.fromEntries(Object.keys(cases).map((k) => [k, []])));
  // Warm the file cache, the policy cache and V8's code cache (kept per runtime).
  for (const { node } of runtimes) timeRun(cases['keyshift plan (examples)'], dir, {}, node);
  for (let i = 0; i < runs; i++) {
    runtimes.forEach(({ node }, r) => {
      for (const [name, argv] of Object.entries(cases)) samples[r][name].push(timeRun(argv, dir, {}, node));
    });
  }
  rmSync(dir, { recursive: true, force: true });
  return runtimes.flatMap(({ name: runtime }, r) => {
    const base = median(samples[r]['node -e 0']);
    return Object.entries(samples[r]).map(([name, xs]) => ({ runtime, name, ms: median(xs), ratio: median(xs) / base }));
  });
}


/**
 * Two measurements per size. "provisioned": every timed run starts from the same freshly
 * provisioned store (restored from a copy), so the runs are comparable. "steady state": forced runs
 * back to back on one store, which carries up to one dead record per live one and compacts during
 * the run: what a store looks like after many rotations.
 */
function rotation(count) {
  const dir = mkdtempSync(join(tmpdir(), `keyshift-bench-${count}-`));
  writePolicies(dir, count);
  timeRun([bin, 'rotate', '--all', '-q'], dir); // provision
  const snapshot = mkdtempSync(join(tmpdir(), 'keyshift-bench-snapshot-'));
  for (const name of ['.keyshift', 'evidence']) cpSync(join(dir, name), join(snapshot, name), { recursive: true });
  const forced = ['--import', probe, bin, 'rotate', '--all', '--force', '--reason', 'bench', '-q'];
  const measure = (restore) => {
    const rssFile = join(dir, `rss-${restore}.txt`);
    const times = [];
    for (let i = 0; i < runs; i++) {
      if (restore) {
        for (const name of ['.keyshift', 'evidence']) {
          rmSync(join(dir, name), { recursive: true, force: true });
          cpSync(join(snapshot, name), join(dir, name), { recursive: true });
        }
      }
      times.push(timeRun(forced, dir, { KEYSHIFT_BENCH_RSS_FILE: rssFile }));
    }
    const rssKiB = readFileSync(rssFile, 'utf8').trim().split('\n').map(Number);
    const ms = median(times);
    return { count, ms, perSecond: (count / ms) * 1000, peakMb: Math.max(...rssKiB) / 1024 };
  };
  const fresh = measure(true);
  const steady = measure(false);
  rmSync(dir, { recursive: true, force: true });
  rmSync(snapshot, { recursive: true, force: true });
  return { fresh, steady };
}

const startupRows = startup(benchRuntimes(root, argValue('--node24')));
const rotationRows = sizes.map(rotation);
const first = rotationRows[0].fresh;
const lines = [
  `## ${new Date().toISOString().slice(0, 10)} — node ${process.version}, ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, medians of ${runs} runs`,
  '',
  '| start-up | runtime | median ms | × node -e 0 |',
  '|---|---|---:|---:|',
  ...startupRows.map((r) => `| ${r.name} | ${r.runtime} | ${r.ms.toFixed(1)} | ${r.ratio.toFixed(2)} |`),
  '',
  '| rotate --all --force, one local store | median s | secrets/s | × first size (provisioned) | peak RSS MB |',
  '|---|---:|---:|---:|---:|',
  ...rotationRows.flatMap(({ fresh, steady }) =>
    [
      [`${fresh.count} secrets, provisioned store`, fresh],
      [`${steady.count} secrets, steady state`, steady],
    ].map(([label, r]) => `| ${label} | ${(r.ms / 1000).toFixed(2)} | ${r.perSecond.toFixed(0)} | ${(r.ms / first.ms).toFixed(2)} | ${r.peakMb.toFixed(0)} |`),
  ),
  '',
];
console.log(lines.join('\n'));
if (args.includes('--write')) recordResults('run', lines.join('\n'));
