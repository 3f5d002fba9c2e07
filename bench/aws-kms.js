#!/usr/bin/env node
// An emergency `rotate --all --force` over N keys (mode alias) in a loopback KMS
// (test/fakes/kms.js, the real SDK) that enforces KMS's control-plane quotas (5/s per operation):
// wall time, throttled calls (target 0) and failed rotations (target 0).
// Usage: node bench/aws-kms.js [--keys 100] [--concurrency 16] [--write]
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, mkdirSync } from 'node:fs';
import { recordResults } from './results-file.js';
import { tmpdir, cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startKms } from '../test/fakes/kms.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);
const argValue = (name) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const count = Number(argValue('--keys') ?? 100);
const concurrency = Number(argValue('--concurrency') ?? 16);

const fake = await startKms({});
const dir = mkdtempSync(join(tmpdir(), 'keyshift-bench-kms-'));
let policy = 'secrets:\n';
for (let i = 0; i < count; i++) {
  fake.seedKey({ alias: `alias/bench-${i}` });
  policy += `  - name: key-${i}\n    interval: 180d\n    fallbackWindow: 1d\n    environments:\n      - name: prod\n        store: { type: aws-kms, alias: alias/bench-${i}, endpoint: "${fake.endpoint}" }\n`;
}
mkdirSync(join(dir, 'policies'));
writeFileSync(join(dir, 'policies', 'keys.yaml'), policy);
const env = { PATH: process.env.PATH, HOME: dir, KEYSHIFT_OPERATOR: 'bench@keyshift', AWS_ACCESS_KEY_ID: 'AKIDBENCH', AWS_SECRET_ACCESS_KEY: 'bench', AWS_REGION: 'us-east-1', AWS_EC2_METADATA_DISABLED: 'true' };
const started = process.hrtime.bigint();
const { code, stdout } = await new Promise((resolve) => {
  const child = spawn(process.execPath, [join(root, 'bin', 'keyshift.js'), 'rotate', '--all', '--force', '--reason', 'bench', '--concurrency', String(concurrency), '--json'], { cwd: dir, env });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.on('close', (c) => resolve({ code: c, stdout: out }));
});
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
const results = JSON.parse(stdout).results;
const throttled = fake.calls.filter((c) => c.errorCode === 'ThrottlingException').length;
const busiest = Object.entries(fake.stats()).filter(([, s]) => s.rate === 5).sort(([, a], [, b]) => b.served - a.served)[0];
await fake.close();
const table = [
  `## aws-kms: emergency rotate --all --force, --concurrency ${concurrency} (${new Date().toISOString().slice(0, 10)}, Node ${process.version}, ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GB)`,
  '',
  '| keys | exit | wall time | rotated | failed | throttled calls | busiest 5/s operation |',
  '|---|---|---|---|---|---|---|',
  `| ${count} | ${code} | ${seconds.toFixed(1)} s | ${results.filter((r) => r.outcome === 'rotated').length} | ${results.filter((r) => r.outcome === 'failed').length} | ${throttled} | ${busiest[0]}: ${busiest[1].served} calls (floor ${(busiest[1].served / 5).toFixed(1)} s) |`,
  '',
].join('\n');
process.stdout.write(`${table}\n`);
if (args.includes('--write')) recordResults(table);
