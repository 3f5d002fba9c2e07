#!/usr/bin/env node
// `rotate --all --force` over N secrets in a loopback Secrets Manager (test/fakes/secrets-manager.js,
// spoken to by the real AWS SDK) that enforces AWS's 50 TPS quota on version writes, against the
// floor that quota sets (version writes needed ÷ 50); then the same with the quota off.
// Usage: node bench/aws-secrets-manager.js [--secrets 1000] [--concurrency 16] [--write]
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, mkdirSync } from 'node:fs';
import { recordResults } from './results-file.js';
import { tmpdir, cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startSecretsManager } from '../test/fakes/secrets-manager.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = join(root, 'bin', 'keyshift.js');
const args = process.argv.slice(2);
const argValue = (name) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const count = Number(argValue('--secrets') ?? 1000);
const concurrency = Number(argValue('--concurrency') ?? 16);
const QUOTA = 50;

async function scenario(quotas) {
  const fake = await startSecretsManager({ quotas });
  try {
    const dir = mkdtempSync(join(tmpdir(), 'keyshift-bench-sm-'));
    let policy = 'secrets:\n';
    for (let i = 0; i < count; i++) {
      const id = `bench/secret-${String(i).padStart(5, '0')}`;
      fake.seed(id, { value: `initial-${i}` });
      policy += `  - name: secret-${String(i).padStart(5, '0')}\n    interval: 30d\n    fallbackWindow: 1h\n    generator: { type: random, bytes: 32, encoding: base64 }\n    environments:\n      - name: prod\n        store: { type: aws-secrets-manager, secretId: ${id}, endpoint: "${fake.endpoint}"${quotas ? '' : ', quotas: { versionWritesPerSecond: 10000, tagWritesPerSecond: 10000 }'} }\n`;
    }
    mkdirSync(join(dir, 'policies'));
    writeFileSync(join(dir, 'policies', 'bench.yaml'), policy);
    const env = {
      PATH: process.env.PATH,
      HOME: dir,
      KEYSHIFT_OPERATOR: 'bench@keyshift',
      AWS_ACCESS_KEY_ID: 'AKIDBENCH',
      AWS_SECRET_ACCESS_KEY: 'bench',
      AWS_REGION: 'us-east-1',
      AWS_EC2_METADATA_DISABLED: 'true',
    };
    const before = fake.calls.length;
    const started = process.hrtime.bigint();
    const { code, stdout, stderr } = await new Promise((resolve) => {
      const child = spawn(process.execPath, [bin, 'rotate', '--all', '--force', '--reason', 'bench', '--concurrency', String(concurrency), '--json'], { cwd: dir, env });
      let out = '';
      let err = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (err += d));
      child.on('close', (c) => resolve({ code: c, stdout: out, stderr: err }));
    });
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const calls = fake.calls.slice(before);
    const results = code === 0 || code === 1 ? JSON.parse(stdout).results : [];
    const failed = results.filter((r) => r.outcome !== 'rotated').length;
    const writes = calls.filter((c) => ['PutSecretValue', 'UpdateSecretVersionStage', 'UpdateSecret'].includes(c.op) && c.status < 300).length;
    const throttled = calls.filter((c) => c.errorCode === 'ThrottlingException').length;
    if (code !== 0) process.stderr.write(stderr.slice(0, 2000));
    return { seconds, writes, failed, throttled, calls: calls.length, code };
  } finally {
    await fake.close();
  }
}

const limited = await scenario({ versionWrites: QUOTA });
const floor = limited.writes / QUOTA;
const unlimited = await scenario(false);
const rows = [
  `| ${count} secrets, ${QUOTA} TPS on version writes | ${limited.seconds.toFixed(1)} s | ${floor.toFixed(1)} s (${limited.writes} writes ÷ ${QUOTA}) | ${(limited.seconds / floor).toFixed(3)}× | ${limited.failed} | ${limited.throttled} | ${limited.calls} |`,
  `| ${count} secrets, quota off | ${unlimited.seconds.toFixed(1)} s | | | ${unlimited.failed} | ${unlimited.throttled} | ${unlimited.calls} |`,
];
const table = [
  `## aws-secrets-manager: rotate --all --force, --concurrency ${concurrency} (${new Date().toISOString().slice(0, 10)}, Node ${process.version}, ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GB)`,
  '',
  '| case | wall time | floor set by the quota | ratio (target ≤ 1.15×) | failed rotations | throttled calls | API calls |',
  '|---|---|---|---|---|---|---|',
  ...rows,
  '',
].join('\n');
process.stdout.write(`${table}\n`);
if (args.includes('--write')) recordResults(table);
