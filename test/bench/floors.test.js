// The quota floor of the AWS benchmarks, and what counts as a benchmark run at all.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { callMismatches, callsFor, otherClassesBound, quotaFloor } from '../../bench/floors.js';
import { BenchmarkFailed, exitOnFailure, rotateAll } from '../../bench/spawn-rotate.js';
import { baseEnv, tempProject, writeFiles } from '../helpers/cli.js';
import { startSecretsManager } from '../fakes/secrets-manager.js';
import { secretsManagerClient } from '../fakes/clients.js';
import { TagResourceCommand } from '@aws-sdk/client-secrets-manager';

const SM = { versionWrites: { rate: 50, burst: 50 }, tags: { rate: 50, burst: 50 }, reads: { rate: 10000, burst: 10000 } };

test('the floor is the slowest class after its initial burst: 1,000 Secrets Manager rotations need 39 s, not 2,000 writes ÷ 50', () => {
  const floor = quotaFloor(callsFor(1000, { versionWrites: 2, tags: 2 }), SM);
  assert.equal(floor.seconds, 39);
  assert.deepEqual(floor.binding, ['versionWrites', 'tags']);
  assert.equal((41.5 / floor.seconds).toFixed(2), '1.06', 'the run of 2026-11-23 was 1.06x its floor, not 1.04x');
  // Tags alone bind when a rotation writes them more often than versions.
  assert.deepEqual(quotaFloor({ versionWrites: 2000, tags: 3000 }, SM).binding, ['tags']);
  assert.equal(quotaFloor({ versionWrites: 40 }, SM).seconds, 0, 'within the burst there is no wait');
});

test('KMS: 3 TagResource per rotation at 5/s after a burst of 5 set the floor of 100 keys at 59 s', () => {
  const buckets = { CreateKey: { rate: 5, burst: 5 }, UpdateAlias: { rate: 5, burst: 5 }, TagResource: { rate: 5, burst: 5 } };
  const floor = quotaFloor(callsFor(100, { CreateKey: 1, UpdateAlias: 1, TagResource: 3 }), buckets);
  assert.deepEqual([floor.seconds, floor.binding], [59, ['TagResource']]);
  assert.equal(quotaFloor({ reads: 5 }, { reads: { rate: null, burst: null } }).seconds, 0, 'an unlimited class sets no floor');
  assert.throws(() => quotaFloor({ Unknown: 1 }, buckets), /no quota bucket for class Unknown/);
});

test("the fake's stats() give each bucket's burst as the calls it lets through at once", async () => {
  const fake = await startSecretsManager({ quotas: { tags: 8 } });
  const client = secretsManagerClient(fake, { maxAttempts: 1 });
  try {
    fake.seed('burst', { value: 'x' });
    const tag = (i) => client.send(new TagResourceCommand({ SecretId: 'burst', Tags: [{ Key: `k${i}`, Value: 'v' }] }));
    const started = performance.now();
    const settled = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => tag(i)));
    const seconds = (performance.now() - started) / 1000;
    const { tags, versionWrites } = fake.stats();
    assert.deepEqual([tags.rate, tags.burst, versionWrites.burst], [8, 8, 50]);
    // 8 at once, then the bucket is empty: more only as it refills (8/s) while the 10 arrive, which
    // on a loaded machine can take a while.
    const refilled = Math.ceil(seconds * 8);
    assert.ok(tags.served >= 8 && tags.served <= 8 + refilled && tags.served + tags.throttled === 10, `${JSON.stringify(tags)} in ${seconds.toFixed(3)} s`);
    assert.equal(settled.filter((r) => r.status === 'fulfilled').length, tags.served);
  } finally {
    client.destroy();
    await fake.close();
  }
});

test("the run's call log is checked against what the rotations need; other classes get their own bound", () => {
  const stats = { versionWrites: { served: 2000, ...SM.versionWrites }, tags: { served: 2100, ...SM.tags }, reads: { served: 30000, ...SM.reads } };
  assert.deepEqual(callMismatches(stats, 1000, { versionWrites: 2, tags: 2 }), [{ name: 'tags', expected: 2000, made: 2100 }]);
  assert.deepEqual(callMismatches(stats, 1000, { versionWrites: 2 }), []);
  const others = otherClassesBound(stats, { versionWrites: 2, tags: 2 });
  assert.deepEqual([others.seconds, others.binding], [2, ['reads']]);
});

test('keyshift exiting other than 0 or 1 is a failed benchmark run (exit 2), never "0 failed"', async () => {
  const dir = tempProject('keyshift-bench-crash-');
  writeFiles(dir, { 'policies/p.yaml': 'secrets:\n  - name: x\n    interval: banana\n' });
  await assert.rejects(rotateAll(dir, baseEnv(), 4), (e) => e instanceof BenchmarkFailed && /keyshift rotate exited 2 after .* the benchmark run failed/.test(e.message));

  const before = process.exitCode;
  const write = process.stderr.write;
  process.stderr.write = () => true;
  try {
    exitOnFailure(new BenchmarkFailed('keyshift rotate exited on SIGKILL'));
    assert.equal(process.exitCode, 2);
  } finally {
    process.stderr.write = write;
    process.exitCode = before;
  }
  assert.throws(() => exitOnFailure(new TypeError('a bug in the bench script')), TypeError, 'other errors are not swallowed');
});

test('exit 0 with the JSON report is a measurement', async () => {
  const dir = tempProject('keyshift-bench-ok-');
  writeFiles(dir, { 'policies/p.yaml': 'secrets:\n  - name: x\n    interval: 30d\n    fallbackWindow: 1h\n    generator: { type: random, bytes: 16 }\n    environments:\n      - name: dev\n        store: { type: local, path: .keyshift/dev.store }\n' });
  const run = await rotateAll(dir, baseEnv(), 4);
  assert.equal(run.code, 0, run.stderr);
  assert.deepEqual(run.results.map((r) => r.outcome), ['provisioned']);
});
