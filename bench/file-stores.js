#!/usr/bin/env node
// keyshift benchmark of the file stores: `rotate --all --force` of N secrets kept in ONE .env file
// (dotenv) and in ONE Secret manifest (k8s-secret), provisioned once, then timed. Targets: ≥ 500
// secrets/s at 1,000, and t(10,000) ÷ t(1,000) ≤ 11 (no per-secret cost that grows with the file).
// Usage: node bench/file-stores.js [--runs 3] [--sizes 1000,10000] [--stores dotenv,k8s-secret] [--write]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { recordResults } from './results-file.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = join(root, 'bin', 'keyshift.js');
const args = process.argv.slice(2);
const argValue = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const runs = Number(argValue('--runs') ?? 3);
const sizes = (argValue('--sizes') ?? '1000,10000').split(',').map(Number);
const stores = (argValue('--stores') ?? 'dotenv,k8s-secret').split(',');

const STORE_LINE = {
  dotenv: (i) => `{ type: dotenv, path: app.env, name: SECRET_${i} }`,
  'k8s-secret': (i) => `{ type: k8s-secret, path: deploy/secret.yaml, name: app-secrets, key: SECRET_${i} }`,
};

function project(store, count) {
  const dir = mkdtempSync(join(tmpdir(), `keyshift-bench-${store}-`));
  mkdirSync(join(dir, 'policies'));
  // Policies in files of 100 secrets, as a team would split them; all secrets in one store file.
  for (let file = 0; file * 100 < count; file++) {
    let text = 'secrets:\n';
    for (let i = file * 100; i < Math.min(count, (file + 1) * 100); i++) {
      text += `  - name: secret-${i}\n    interval: 30d\n    fallbackWindow: 1h\n    generator: { type: random, bytes: 32 }\n    environments:\n      - name: prod\n        store: ${STORE_LINE[store](i)}\n`;
    }
    writeFileSync(join(dir, 'policies', `p${file}.yaml`), text);
  }
  return dir;
}

function timed(argv, cwd, env) {
  const start = process.hrtime.bigint();
  const result = spawnSync(process.execPath, [bin, ...argv], { cwd, env, encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'], maxBuffer: 64 * 2 ** 20 });
  if (result.status !== 0) throw new Error(`keyshift ${argv.join(' ')} exited ${result.status}: ${result.stderr.slice(0, 2000)}`);
  return Number(process.hrtime.bigint() - start) / 1e6;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const rows = [];
for (const store of stores) {
  const times = {};
  for (const count of sizes) {
    const dir = project(store, count);
    const env = { PATH: process.env.PATH, HOME: dir, KEYSHIFT_OPERATOR: 'bench@keyshift', KEYSHIFT_STATE_DIR: join(dir, 'state') };
    timed(['rotate', '--all', '-q'], dir, env); // provision
    const samples = [];
    for (let r = 0; r < runs; r++) samples.push(timed(['rotate', '--all', '--force', '--reason', 'bench', '-q'], dir, env));
    times[count] = median(samples);
    rows.push({ store, count, ms: times[count], perSecond: (count / times[count]) * 1000 });
    console.error(`${store} ${count}: ${Math.round(times[count])} ms (${Math.round((count / times[count]) * 1000)} secrets/s)`);
    rmSync(dir, { recursive: true, force: true });
  }
  if (sizes.length > 1) rows.at(-1).ratio = times[sizes.at(-1)] / times[sizes[0]];
}

const table = [
  `## File stores: rotate --all --force of N secrets in one file (${new Date().toISOString().slice(0, 10)}, Node ${process.version}, ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GB, load ${loadavg()[0].toFixed(2)} at the end)`,
  '',
  `| store | secrets | median of ${runs} (ms) | secrets/s | t(${sizes.at(-1)}) ÷ t(${sizes[0]}) |`,
  '|---|---|---|---|---|',
  ...rows.map((r) => `| ${r.store} | ${r.count} | ${Math.round(r.ms)} | ${Math.round(r.perSecond)} | ${r.ratio === undefined ? '' : r.ratio.toFixed(2)} |`),
].join('\n');
console.log(table);
if (args.includes('--write')) recordResults('file-stores', table);
