// Two processes rotating the same store at once: one waits for the other's lock (both exit 0, and
// their evidence does not interleave); nothing is corrupted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { runCli, runCliAsync, tempProject, writeFiles, readEvidence, manySecretsPolicy } from '../helpers/cli.js';
import { inspectStore } from '../helpers/store-check.js';

test('two concurrent rotate --all --force on one store leave it consistent', { timeout: 120_000 }, async () => {
  const dir = tempProject();
  const count = 200;
  writeFiles(dir, { 'policies/many.yaml': manySecretsPolicy(count) });
  assert.equal(runCli(['rotate', '--all', '-q'], { cwd: dir }).code, 0);
  const runs = [0, 1].map(() => runCliAsync(['rotate', '--all', '--force', '--reason', 'race', '--json'], { cwd: dir }));
  const results = await Promise.all(runs.map((r) => r.done));
  for (const r of results) assert.equal(r.code, 0, `the default lock timeout waits for the holder: ${r.stderr}`);
  const keys = Array.from({ length: count }, (_, i) => `secret-${String(i).padStart(5, '0')}`);
  const state = await inspectStore(join(dir, '.keyshift', 'dev.store'), keys);
  for (const [key, s] of state) {
    assert.equal(s.current.length, 1, key);
    assert.equal(s.pending.length, 0, key);
    assert.ok(s.currentValue && s.previousValue, key);
  }
  const issued = readEvidence(dir).filter((e) => e.event === 'issued');
  const rotationIds = new Set(issued.map((e) => e.rotationId));
  assert.equal(rotationIds.size, issued.length, 'no rotation was issued twice');
  assert.equal(issued.length, count * 2, 'each run rotated every secret');
  // One waited for the other: each run's records form one block of the log.
  const runIds = new Set(results.map((r) => JSON.parse(r.stdout).runId));
  const order = readEvidence(dir).filter((e) => runIds.has(e.runId)).map((e) => e.runId);
  const blocks = order.filter((id, i) => i === 0 || order[i - 1] !== id);
  assert.equal(blocks.length, 2, `the two runs' records interleave: ${blocks.join(' ')}`);
  assert.equal(runCli(['evidence', 'verify'], { cwd: dir }).code, 0);
});

test('a run blocked by a live lock holder waits, then exits 3 naming the holder', async () => {
  const dir = tempProject();
  writeFiles(dir, { 'policies/one.yaml': manySecretsPolicy(1) });
  assert.equal(runCli(['rotate', '--all', '-q'], { cwd: dir }).code, 0);
  const { writeFileSync } = await import('node:fs');
  const { hostname } = await import('node:os');
  // Our own test process is the live holder.
  writeFileSync(join(dir, '.keyshift', 'dev.store.lock'), JSON.stringify({ pid: process.pid, host: hostname(), owner: 'another run', token: 'x', acquiredAt: new Date().toISOString() }));
  const blocked = runCli(['rotate', '--all', '--force', '--reason', 'x', '--lock-timeout', '1s', '--json'], { cwd: dir });
  assert.equal(blocked.code, 3, blocked.stderr);
  const report = JSON.parse(blocked.stdout);
  assert.equal(report.results[0].outcome, 'blocked');
  assert.match(report.results[0].error.message, new RegExp(`pid ${process.pid}`));
  // A dead holder's lock is taken over.
  writeFileSync(join(dir, '.keyshift', 'dev.store.lock'), JSON.stringify({ pid: 999999, host: hostname(), owner: 'dead run', token: 'y', acquiredAt: new Date().toISOString() }));
  assert.equal(runCli(['rotate', '--all', '--force', '--reason', 'x', '--lock-timeout', '1s'], { cwd: dir }).code, 0);
});
