#!/usr/bin/env node
// An emergency `rotate --all --force` over N keys (mode alias) in a loopback KMS
// (test/fakes/kms.js, the real SDK) that enforces KMS's request quotas (5/s per control-plane
// operation): wall time against the floor those quotas set (bench/floors.js), throttled calls
// (target 0) and failed rotations (target 0).
// Usage: node bench/aws-kms.js [--keys 100] [--concurrency 16] [--write]
import { mkdtempSync, writeFileSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir, cpus, totalmem, loadavg } from 'node:os';
import { join } from 'node:path';
import { QUOTA_CLASS_OF, startKms } from '../test/fakes/kms.js';
import { perQuotaClass } from './call-counts.js';
import { recordResults } from './results-file.js';
import { callMismatches, callsFor, describeClass, otherClassesBound, quotaFloor } from './floors.js';
import { exitOnFailure, rotateAll } from './spawn-rotate.js';

const args = process.argv.slice(2);
const argValue = (name) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const count = Number(argValue('--keys') ?? 100);
const concurrency = Number(argValue('--concurrency') ?? 16);
const load = loadavg()[0]; // the figures are wall-clock times: a busy machine shows in them

// What one rotation in alias mode writes (bench/call-counts.js, measured): CreateKey at the issue,
// UpdateAlias at the switch, the rotation record in tags, and the lease (CreateAlias, its tag,
// DeleteAlias); each control-plane operation is its own 5/s bucket.
const PER_ROTATION = perQuotaClass('aws-kms', QUOTA_CLASS_OF, ['CreateKey', 'UpdateAlias', 'TagResource', 'CreateAlias', 'DeleteAlias']);

const fake = await startKms({});
const dir = mkdtempSync(join(tmpdir(), 'keyshift-bench-kms-'));
try {
  let policy = 'secrets:\n';
  for (let i = 0; i < count; i++) {
    fake.seedKey({ alias: `alias/bench-${i}` });
    policy += `  - name: key-${i}\n    interval: 180d\n    fallbackWindow: 1d\n    environments:\n      - name: prod\n        store: { type: aws-kms, alias: alias/bench-${i}, endpoint: "${fake.endpoint}" }\n`;
  }
  mkdirSync(join(dir, 'policies'));
  writeFileSync(join(dir, 'policies', 'keys.yaml'), policy);
  const env = { PATH: process.env.PATH, HOME: dir, KEYSHIFT_OPERATOR: 'bench@keyshift', AWS_ACCESS_KEY_ID: 'AKIDBENCH', AWS_SECRET_ACCESS_KEY: 'bench', AWS_REGION: fake.region, AWS_EC2_METADATA_DISABLED: 'true' };
  const run = await rotateAll(dir, env, concurrency);
  const stats = fake.stats();
  const rotated = run.results.filter((r) => r.outcome === 'rotated').length;
  const failed = run.results.length - rotated;
  const throttled = Object.values(stats).reduce((sum, s) => sum + s.throttled, 0);
  const floor = quotaFloor(callsFor(count, PER_ROTATION), stats);
  const others = otherClassesBound(stats, PER_ROTATION);
  const extra = failed === 0 ? callMismatches(stats, count, PER_ROTATION) : [];
  const table = [
    `## aws-kms: emergency rotate --all --force, --concurrency ${concurrency} (${new Date().toISOString().slice(0, 10)}, Node ${process.version}, ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GB, load ${load.toFixed(1)} at the start)`,
    '',
    '| keys | exit | wall time | floor set by the quotas | ratio | rotated | failed | throttled calls | API calls |',
    '|---|---|---|---|---|---|---|---|---|',
    `| ${count} | ${run.code} | ${run.seconds.toFixed(1)} s | ${floor.seconds.toFixed(1)} s | ${(run.seconds / floor.seconds).toFixed(3)}× | ${rotated} | ${failed} | ${throttled} | ${fake.calls.length} |`,
    '',
    `\`node bench/aws-kms.js --keys ${count} --concurrency ${concurrency}\`. Floor: a rotation needs ${Object.entries(PER_ROTATION).map(([k, n]) => `${n} ${k}`).join(', ')} (the call log of the run matched: ${extra.length === 0 && failed === 0 ? 'yes' : 'no'}); each operation is a bucket that starts with a burst and then refills at its rate: ${floor.classes.map(describeClass).join('; ')}. The floor is the slowest: ${floor.binding.join(' and ')}. The reads the run made would take ${others.seconds.toFixed(1)} s at their quotas${others.binding.length ? ` (${others.binding.join(', ')})` : ''}.`,
    '',
  ].join('\n');
  process.stdout.write(`${table}\n`);
  for (const c of extra) process.stderr.write(`${c.name}: the run made ${c.made} calls, ${count} rotations need ${c.expected}\n`);
  if (others.seconds > floor.seconds) process.stderr.write(`the reads (${others.binding.join(', ')}) take longer than the write floor: ${others.seconds.toFixed(1)} s\n`);
  if (args.includes('--write')) recordResults('aws-kms', table);
  process.exitCode = failed === 0 && throttled === 0 && extra.length === 0 && others.seconds <= floor.seconds ? 0 : 1;
} catch (error) {
  exitOnFailure(error);
} finally {
  await fake.close();
  rmSync(dir, { recursive: true, force: true });
}
