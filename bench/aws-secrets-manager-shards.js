#!/usr/bin/env node
// The emergency of bench/aws-secrets-manager.js split over n runners: `rotate --all --force
// --shard k/n` in n processes at once (each its own state dir and evidence dir, as n pods would
// be), against one loopback Secrets Manager enforcing AWS's quotas for all of them together.
// Target: wall time (first start to last exit) ≤ 1.10 × the floor the quotas set (bench/floors.js),
// 0 throttled calls, each secret rotated once, the writes the call table says (bench/call-counts.js).
// Wall-clock figures: --write records them only when the machine is quiet (load average below half
// the cores); on a loaded machine the figure is printed, marked as such, and the target not judged.
// Usage: node bench/aws-secrets-manager-shards.js [--secrets 1000] [--runners 4] [--concurrency 16] [--write]
import { mkdtempSync, writeFileSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir, cpus, totalmem, loadavg } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { QUOTA_CLASS_OF, startSecretsManager } from '../test/fakes/secrets-manager.js';
import { perQuotaClass } from './call-counts.js';
import { recordResults } from './results-file.js';
import { callMismatches, callsFor, describeClass, quotaFloor } from './floors.js';
import { BenchmarkFailed, exitOnFailure } from './spawn-rotate.js';

const args = process.argv.slice(2);
const argValue = (name) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const count = Number(argValue('--secrets') ?? 1000);
const runners = Number(argValue('--runners') ?? 4);
const concurrency = Number(argValue('--concurrency') ?? 16);
const load = loadavg()[0];
const quiet = load < cpus().length / 2;
const bin = join(fileURLToPath(new URL('..', import.meta.url)), 'bin', 'keyshift.js');
// As in bench/aws-secrets-manager.js: one rotation's writes per quota class (bench/call-counts.js).
const PER_ROTATION = perQuotaClass('aws-secrets-manager', QUOTA_CLASS_OF, ['versionWrites', 'tags']);

function runner(dir, env, k) {
  const argv = [bin, 'rotate', '--all', '--force', '--reason', 'bench', '--concurrency', String(concurrency), '--shard', `${k}/${runners}`, '--evidence-dir', `evidence/shard-${k}`, '--json'];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, argv, { cwd: dir, env: { ...env, KEYSHIFT_STATE_DIR: join(dir, `state-${k}`) } });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => {
      try {
        resolve({ code, results: JSON.parse(out).results });
      } catch {
        reject(new BenchmarkFailed(`runner ${k} exited ${code} without its JSON report\n${err.trim().split('\n').slice(-5).join('\n')}`));
      }
    });
  });
}

try {
  const fake = await startSecretsManager({ quotas: {} });
  const dir = mkdtempSync(join(tmpdir(), 'keyshift-bench-shards-'));
  try {
    let policy = 'secrets:\n';
    for (let i = 0; i < count; i++) {
      const id = `bench/secret-${String(i).padStart(5, '0')}`;
      fake.seed(id, { value: `initial-${i}` });
      policy += `  - name: secret-${String(i).padStart(5, '0')}\n    interval: 30d\n    fallbackWindow: 1h\n    generator: { type: random, bytes: 32, encoding: base64 }\n    environments:\n      - name: prod\n        store: { type: aws-secrets-manager, secretId: ${id}, endpoint: "${fake.endpoint}" }\n`;
    }
    mkdirSync(join(dir, 'policies'));
    writeFileSync(join(dir, 'policies', 'bench.yaml'), policy);
    const env = { PATH: process.env.PATH, HOME: dir, KEYSHIFT_OPERATOR: 'bench@keyshift', AWS_ACCESS_KEY_ID: 'AKIDBENCH', AWS_SECRET_ACCESS_KEY: 'bench', AWS_REGION: fake.region, AWS_EC2_METADATA_DISABLED: 'true' };
    const started = process.hrtime.bigint();
    const runs = await Promise.all(Array.from({ length: runners }, (_, i) => runner(dir, env, i + 1)));
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const results = runs.flatMap((r) => r.results);
    const rotated = new Set(results.filter((r) => r.outcome === 'rotated').map((r) => r.secret));
    const stats = fake.stats();
    const throttled = Object.values(stats).reduce((sum, s) => sum + s.throttled, 0);
    const floor = quotaFloor(callsFor(count, PER_ROTATION), stats);
    const ratio = seconds / floor.seconds;
    const extra = callMismatches(stats, count, PER_ROTATION);
    const measured = quiet ? `${seconds.toFixed(1)} s | ${ratio.toFixed(3)}×` : `${seconds.toFixed(1)} s (loaded machine) | ${ratio.toFixed(3)}× (not judged: load ${load.toFixed(1)})`;
    const table = [
      `## aws-secrets-manager: ${runners} sharded runners, rotate --all --force --shard k/${runners}, --concurrency ${concurrency} each (${new Date().toISOString().slice(0, 10)}, Node ${process.version}, ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GB, load ${load.toFixed(1)} at the start)`,
      '',
      '| case | exits | wall time | ratio to the floor (target ≤ 1.10×) | floor set by the quotas | secrets rotated | throttled calls |',
      '|---|---|---|---|---|---|---|',
      `| ${count} secrets, AWS's quotas | ${runs.map((r) => r.code).join(' ')} | ${measured} | ${floor.seconds.toFixed(1)} s | ${rotated.size} of ${count} (${results.length} results) | ${throttled} |`,
      '',
      `\`node bench/aws-secrets-manager-shards.js --secrets ${count} --runners ${runners} --concurrency ${concurrency}\`. Each runner takes its shard's part of each bucket (docs/scale-out.md#quotas). Floor: a rotation writes ${Object.entries(PER_ROTATION).map(([k, n]) => `${n} ${k}`).join(', ')} (bench/call-counts.js; the call log matched: ${extra.length === 0 ? 'yes' : 'no'}); ${floor.classes.map(describeClass).join('; ')}; binding: ${floor.binding.join(' and ')}.`,
      '',
    ].join('\n');
    process.stdout.write(`${table}\n`);
    for (const c of extra) process.stderr.write(`${c.name}: the runs made ${c.made} calls, ${count} rotations need ${c.expected}\n`);
    if (args.includes('--write')) {
      if (quiet) recordResults('aws-secrets-manager-shards', table);
      else process.stderr.write(`not recorded: load ${load.toFixed(1)} on ${cpus().length} cores is not a quiet machine\n`);
    }
    const ok = runs.every((r) => r.code === 0) && rotated.size === count && results.length === count && throttled === 0 && extra.length === 0 && (!quiet || ratio <= 1.1);
    process.exitCode = ok ? 0 : 1;
  } finally {
    await fake.close();
    rmSync(dir, { recursive: true, force: true });
  }
} catch (error) {
  exitOnFailure(error);
}
