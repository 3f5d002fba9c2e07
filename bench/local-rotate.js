#!/usr/bin/env node
// keyshift benchmark of an emergency on one local store: steady-state `rotate --all --force` of N
// secrets (a store already rotated, runs back to back), with secrets/s, peak RSS, t(largest) ÷
// t(smallest), and beside each run its floor: a bare loop of the AES-GCM records, HMACs and fsyncs
// that run made (bench/local-floor.js). On Node 20 (this node) and, when it is installed, Node 24.
// Targets (issue 17): ≥ 5,000 secrets/s at 10,000, peak RSS ≤ 100 MB, t(10,000) ÷ t(1,000) ≤ 11.
// Usage: node bench/local-rotate.js [--runs 5] [--sizes 1000,10000] [--node24 path|none] [--write]
import { spawnSync } from 'node:child_process';
import { writePolicies } from './local-policies.js';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { localFloor } from './local-floor.js';
import { recordResults } from './results-file.js';
import { benchRuntimes } from './runtimes.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = join(root, 'bin', 'keyshift.js');
const probe = join(root, 'bench', 'op-probe.js');
const args = process.argv.slice(2);
const argValue = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const runs = Number(argValue('--runs') ?? 5);
const sizes = (argValue('--sizes') ?? '1000,10000').split(',').map(Number);
const runtimes = benchRuntimes(root, argValue('--node24'));

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** A project with N secrets in one local store (bench/local-policies.js). */
function project(count) {
  const dir = mkdtempSync(join(tmpdir(), `keyshift-bench-local-${count}-`));
  writePolicies(dir, count);
  return dir;
}

function run(node, argv, dir, extraEnv = {}) {
  const env = { PATH: process.env.PATH, HOME: dir, KEYSHIFT_OPERATOR: 'bench@keyshift', KEYSHIFT_CACHE_DIR: join(dir, 'cache'), ...extraEnv };
  const start = process.hrtime.bigint();
  const result = spawnSync(node, argv, { cwd: dir, env, encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'], maxBuffer: 64 * 2 ** 20 });
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  if (result.status !== 0) {
    // A crashed run is a failed benchmark, never a figure: say so and record nothing.
    process.stderr.write(`benchmark failed: ${argv.join(' ')} exited ${result.status ?? result.signal}: ${result.stderr}\n`);
    process.exit(2);
  }
  return seconds;
}

/** Steady state: provisioned, rotated once (so each run decommissions and rotates), then timed runs back to back. */
function measure(runtime, count) {
  const dir = project(count);
  run(runtime.node, [bin, 'rotate', '--all', '-q'], dir);
  const forced = [bin, 'rotate', '--all', '--force', '--reason', 'bench', '-q'];
  run(runtime.node, forced, dir);
  const probeFile = join(dir, 'probe.jsonl');
  const times = [];
  for (let i = 0; i < runs; i++) times.push(run(runtime.node, ['--import', probe, ...forced], dir, { KEYSHIFT_BENCH_PROBE_FILE: probeFile }));
  const probes = readFileSync(probeFile, 'utf8').trim().split('\n').map((line) => JSON.parse(line));
  const seconds = median(times);
  const counts = probes[times.indexOf(seconds)];
  const floor = median(Array.from({ length: 3 }, () => localFloor(counts, dir)));
  rmSync(dir, { recursive: true, force: true });
  return { runtime: runtime.name, count, seconds, perSecond: count / seconds, peakMb: Math.max(...probes.map((p) => p.maxRssKiB)) / 1024, counts, floor };
}

const rows = [];
for (const runtime of runtimes) {
  for (const count of sizes) {
    const row = measure(runtime, count);
    rows.push(row);
    console.error(`${row.runtime}, ${count} secrets: ${row.seconds.toFixed(2)} s, ${Math.round(row.perSecond)} secrets/s, floor ${row.floor.toFixed(2)} s, peak ${Math.round(row.peakMb)} MB`);
  }
}
const first = (runtime) => rows.find((r) => r.runtime === runtime && r.count === sizes[0]);
const table = [
  `## local store: steady-state rotate --all --force (${new Date().toISOString().slice(0, 10)}, ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GB, load ${loadavg()[0].toFixed(2)} at the end, medians of ${runs} runs)`,
  '',
  `| runtime | secrets | median s | secrets/s | peak RSS MB | t ÷ t(${sizes[0]}) | floor s | × floor | AES-GCM enc / dec | HMAC | fsync |`,
  '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ...rows.map((r) => `| ${r.runtime} | ${r.count} | ${r.seconds.toFixed(2)} | ${Math.round(r.perSecond)} | ${Math.round(r.peakMb)} | ${(r.seconds / first(r.runtime).seconds).toFixed(2)} | ${r.floor.toFixed(3)} | ${(r.seconds / r.floor).toFixed(1)} | ${r.counts.encrypt} / ${r.counts.decrypt} | ${r.counts.hmac} | ${r.counts.fsync} |`),
  '',
  `\`node bench/local-rotate.js --runs ${runs} --sizes ${sizes.join(',')}\`. Targets: ≥ 5,000 secrets/s at 10,000, peak RSS ≤ 100 MB, t(10,000) ÷ t(1,000) ≤ 11. Floor: the same counts of AES-256-GCM records (of the run's mean size), HMAC-SHA256 and 4 KiB append + fsync, in a bare loop.${runtimes.length < 2 ? ` Run on ${runtimes[0].name} only (.ci/run installs Node 24 in .ci/.node24; --node24 path names another).` : ''}`,
].join('\n');
console.log(table);
if (args.includes('--write')) recordResults('local-rotate', table);
