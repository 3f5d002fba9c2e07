#!/usr/bin/env node
// `rotate --all --force` over N secrets in a loopback Secrets Manager (test/fakes/secrets-manager.js,
// spoken to by the real AWS SDK) that enforces AWS's request quotas, against the floor those quotas
// set (bench/floors.js); then the same with the quotas off.
// Usage: node bench/aws-secrets-manager.js [--secrets 1000] [--concurrency 16] [--write]
import { mkdtempSync, writeFileSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir, cpus, totalmem, loadavg } from 'node:os';
import { join } from 'node:path';
import { QUOTA_CLASS_OF, startSecretsManager } from '../test/fakes/secrets-manager.js';
import { perQuotaClass } from './call-counts.js';
import { recordResults } from './results-file.js';
import { callMismatches, callsFor, describeClass, otherClassesBound, quotaFloor } from './floors.js';
import { exitOnFailure, rotateAll } from './spawn-rotate.js';

const args = process.argv.slice(2);
const argValue = (name) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const count = Number(argValue('--secrets') ?? 1000);
const concurrency = Number(argValue('--concurrency') ?? 16);
const load = loadavg()[0]; // the figures are wall-clock times: a busy machine shows in them

// What one forced rotation of a secret holding only AWSCURRENT writes (bench/call-counts.js, measured),
// per write quota class. Reads have a 10,000/s quota and never set the pace.
const PER_ROTATION = perQuotaClass('aws-secrets-manager', QUOTA_CLASS_OF, ['versionWrites', 'tags']);

async function scenario(quotas) {
  const fake = await startSecretsManager({ quotas });
  const dir = mkdtempSync(join(tmpdir(), 'keyshift-bench-sm-'));
  try {
    let policy = 'secrets:\n';
    for (let i = 0; i < count; i++) {
      const id = `bench/secret-${String(i).padStart(5, '0')}`;
      fake.seed(id, { value: `initial-${i}` });
      policy += `  - name: secret-${String(i).padStart(5, '0')}\n    interval: 30d\n    fallbackWindow: 1h\n    generator: { type: random, bytes: 32, encoding: base64 }\n    environments:\n      - name: prod\n        store: { type: aws-secrets-manager, secretId: ${id}, endpoint: "${fake.endpoint}"${quotas ? '' : ', quotas: { versionWritesPerSecond: 10000, tagWritesPerSecond: 10000 }'} }\n`;
    }
    mkdirSync(join(dir, 'policies'));
    writeFileSync(join(dir, 'policies', 'bench.yaml'), policy);
    const env = { PATH: process.env.PATH, HOME: dir, KEYSHIFT_OPERATOR: 'bench@keyshift', AWS_ACCESS_KEY_ID: 'AKIDBENCH', AWS_SECRET_ACCESS_KEY: 'bench', AWS_REGION: fake.region, AWS_EC2_METADATA_DISABLED: 'true' };
    const run = await rotateAll(dir, env, concurrency);
    const stats = fake.stats();
    const failed = run.results.filter((r) => r.outcome !== 'rotated').length;
    const throttled = Object.values(stats).reduce((sum, s) => sum + s.throttled, 0);
    // The floor rests on what the rotations need; the call log must show exactly that many calls.
    const floor = quotaFloor(callsFor(count, PER_ROTATION), stats);
    const extra = failed === 0 ? callMismatches(stats, count, PER_ROTATION) : [];
    return { ...run, failed, throttled, calls: fake.calls.length, floor, extra, others: otherClassesBound(stats, PER_ROTATION) };
  } finally {
    await fake.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

try {
  const limited = await scenario({});
  const unlimited = await scenario(false);
  const table = [
    `## aws-secrets-manager: rotate --all --force, --concurrency ${concurrency} (${new Date().toISOString().slice(0, 10)}, Node ${process.version}, ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GB, load ${load.toFixed(1)} at the start)`,
    '',
    '| case | exit | wall time | floor set by the quotas | ratio (target ≤ 1.15×) | failed rotations | throttled calls | API calls |',
    '|---|---|---|---|---|---|---|---|',
    `| ${count} secrets, AWS's quotas | ${limited.code} | ${limited.seconds.toFixed(1)} s | ${limited.floor.seconds.toFixed(1)} s | ${(limited.seconds / limited.floor.seconds).toFixed(3)}× | ${limited.failed} | ${limited.throttled} | ${limited.calls} |`,
    `| ${count} secrets, quotas off | ${unlimited.code} | ${unlimited.seconds.toFixed(1)} s | | | ${unlimited.failed} | ${unlimited.throttled} | ${unlimited.calls} |`,
    '',
    `\`node bench/aws-secrets-manager.js --secrets ${count} --concurrency ${concurrency}\`. Floor: a rotation needs ${Object.entries(PER_ROTATION).map(([k, n]) => `${n} ${k}`).join(' and ')} calls (the call log of the run matched: ${limited.extra.length === 0 && limited.failed === 0 ? 'yes' : 'no'}); each class is a bucket that starts with a burst and then refills at its rate: ${limited.floor.classes.map(describeClass).join('; ')}. The floor is the slowest: ${limited.floor.binding.join(' and ')}. The reads the run made would take ${limited.others.seconds.toFixed(1)} s at their quota.`,
    '',
  ].join('\n');
  process.stdout.write(`${table}\n`);
  for (const c of [...limited.extra, ...unlimited.extra]) process.stderr.write(`${c.name}: the run made ${c.made} calls, ${count} rotations need ${c.expected}\n`);
  if (args.includes('--write')) recordResults('aws-secrets-manager', table);
  if (limited.others.seconds > limited.floor.seconds) process.stderr.write(`the reads take longer than the write floor: ${limited.others.seconds.toFixed(1)} s\n`);
  const ok = limited.failed + unlimited.failed === 0 && limited.throttled === 0 && limited.extra.length + unlimited.extra.length === 0 && limited.others.seconds <= limited.floor.seconds;
  process.exitCode = ok ? 0 : 1;
} catch (error) {
  exitOnFailure(error);
}
