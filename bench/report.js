#!/usr/bin/env node
// `keyshift report` over 100,000 evidence records (1,000 secrets × 1 environment, 33 rotations of
// issued/switched/decommissioned each, plus the provisioning), and `keyshift check` over 1,000
// secrets against the start-up of `keyshift plan`. The records are sealed with keyshift's own
// record code, so the chain verifies as a real log's does; the stores hold no entries (the report
// reads them all the same). Targets: report ≤ 2 s and ≤ 200 MB peak RSS (each of json, md, html);
// check ≤ 3× plan. Prints a Markdown table; `--write` also records it in bench/RESULTS.md.
// Usage: node bench/report.js [--runs 5] [--records 100000] [--write]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, openSync, writeSync, closeSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir, cpus, totalmem, loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { recordResults } from './results-file.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = join(root, 'bin', 'keyshift.js');
const probe = join(root, 'bench', 'rss-probe.js');
const { sealRecord, ZERO_HASH } = await import(join(root, 'dist/evidence/record.js'));
const args = process.argv.slice(2);
const arg = (name, fallback) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback);
const runs = Number(arg('--runs', 5));
const records = Number(arg('--records', 100_000));
const secrets = 1000;
const DAY = 86_400_000;

const dir = mkdtempSync(join(tmpdir(), 'keyshift-bench-report-'));
const env = { PATH: process.env.PATH, HOME: dir, KEYSHIFT_CACHE_DIR: join(dir, 'cache'), KEYSHIFT_MASTER_KEY: Buffer.alloc(32, 1).toString('base64'), KEYSHIFT_NOW: '2027-01-01T00:00:00Z' };
mkdirSync(join(dir, 'policies'));
for (let file = 0; file < secrets / 100; file++) {
  const body = Array.from({ length: 100 }, (_, i) => `  - name: s-${file * 100 + i}\n    interval: 30d\n    fallbackWindow: 2d\n    controls: [SOC2-CC6.1]\n    generator: { type: random, bytes: 32 }\n    environments:\n      - name: prod\n        store: { type: local, path: .keyshift/prod.store }`);
  writeFileSync(join(dir, 'policies', `p${file}.yaml`), `secrets:\n${body.join('\n')}\n`);
}

// The log: rounds of every secret rotating, in time order, until `records` are written.
mkdirSync(join(dir, 'evidence'));
const fd = openSync(join(dir, 'evidence', 'evidence.jsonl'), 'w');
let seq = 0;
let prev = ZERO_HASH;
const start = Date.parse('2024-01-01T00:00:00Z');
const write = (fields) => {
  const { record, line } = sealRecord(++seq, fields, prev);
  prev = record.hash;
  writeSync(fd, line);
};
const fields = (i, at, event, rotationId) => ({ at: new Date(at).toISOString(), event, rotationId, secret: `s-${i}`, environment: 'prod', store: 'local', fromVersion: 'v-old', toVersion: 'v-new', fingerprint: 'hmac-sha256:00', operator: 'bench@host', reason: 'scheduled', ticket: null, emergency: false, checks: [] });
for (let i = 0; i < secrets && seq < records; i++) write(fields(i, start, 'provisioned', `r-p${i}`));
for (let round = 1; seq < records; round++) {
  for (let i = 0; i < secrets && seq < records; i++) {
    const at = start + round * 30 * DAY + i * 1000;
    const id = `r-${round}-${i}`;
    write(fields(i, at, 'issued', id));
    if (seq < records) write(fields(i, at + 1000, 'switched', id));
    if (seq < records) write(fields(i, at + 2 * DAY, 'decommissioned', id));
  }
}
closeSync(fd);

function timed(argv) {
  const rssFile = join(dir, 'rss');
  rmSync(rssFile, { force: true });
  const began = process.hrtime.bigint();
  const result = spawnSync(process.execPath, ['--import', probe, bin, ...argv], { cwd: dir, env: { ...env, KEYSHIFT_BENCH_RSS_FILE: rssFile }, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - began) / 1e6;
  if (result.status !== 0 && !(argv[0] === 'check' && result.status === 1)) throw new Error(`${argv.join(' ')}: exit ${result.status} ${result.stderr}`);
  return { ms, rssMb: Number(readFileSync(rssFile, 'utf8').trim()) / 1024 };
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

timed(['plan']); // warm the policy cache and the file cache
const load = loadavg()[0];
const formats = ['json', 'md', 'html'];
const samples = { check: [], plan: [] };
for (const format of formats) samples[format] = { ms: [], rssMb: [] };
for (let i = 0; i < runs; i++) {
  for (const format of formats) {
    const r = timed(['report', '--format', format, '--out', join(dir, `report.${format}`)]);
    samples[format].ms.push(r.ms);
    samples[format].rssMb.push(r.rssMb);
  }
  samples.check.push(timed(['check']).ms);
  samples.plan.push(timed(['plan']).ms);
}
const report = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8'));
if (!report.evidenceVerified || report.secrets.length !== secrets) throw new Error('the report did not cover the generated evidence');
if (!process.env.KEYSHIFT_BENCH_KEEP) rmSync(dir, { recursive: true, force: true });
else console.log(`kept ${dir}`);
const ratio = median(samples.check) / median(samples.plan);
const table = [
  `## report and check (${new Date().toISOString().slice(0, 10)}, Node ${process.version}, ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, load ${load.toFixed(1)} at the start, median of ${runs} run(s))`,
  '',
  '| measure | value | target |',
  '|---|---|---|',
  ...formats.map((format) => `| report --format ${format} over ${seq.toLocaleString('en')} records | ${median(samples[format].ms).toFixed(0)} ms, peak RSS ${Math.max(...samples[format].rssMb).toFixed(0)} MB (max) | ≤ 2000 ms, ≤ 200 MB |`),
  `| check over ${secrets} secrets | ${median(samples.check).toFixed(0)} ms (${ratio.toFixed(2)}× plan's ${median(samples.plan).toFixed(0)} ms) | ≤ 3× plan |`,
  '',
  `\`node bench/report.js --runs ${runs} --records ${records}\`: ${secrets} secrets × 1 environment, a sealed chain verified by every report.`,
  '',
].join('\n');
process.stdout.write(`${table}\n`);
if (args.includes('--write')) recordResults('report', table);
