// An emergency on a local store is bounded by the work, not by fsyncs: the store records and
// evidence lines of secrets that wait on nothing else share group commits far wider than
// --concurrency. The fsyncs are counted by bench/op-probe.js, loaded into the real CLI.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { baseEnv, manySecretsPolicy, readEvidence, root, runCli, tempProject, writeFiles } from '../helpers/cli.js';
import { inspectStore } from '../helpers/store-check.js';

test('rotate --all --force of 300 local secrets: ~1,200 durable writes in a few dozen fsyncs, each write still durable and announced', { timeout: 120_000 }, async () => {
  const dir = tempProject();
  const count = 300;
  writeFiles(dir, { 'policies/many.yaml': manySecretsPolicy(count, { fallbackWindow: '1h' }) });
  assert.equal(runCli(['rotate', '--all', '-q'], { cwd: dir }).code, 0);
  assert.equal(runCli(['rotate', '--all', '--force', '--reason', 'first', '-q'], { cwd: dir }).code, 0);
  const probeFile = join(dir, 'probe.jsonl');
  const env = baseEnv({ NODE_OPTIONS: `--import ${join(root, 'bench', 'op-probe.js')}`, KEYSHIFT_BENCH_PROBE_FILE: probeFile });
  const run = runCli(['rotate', '--all', '--force', '--reason', 'emergency', '--json'], { cwd: dir, env });
  assert.equal(run.code, 0, run.stderr);
  const results = JSON.parse(run.stdout).results;
  // Each secret: the previous rotation decommissioned, then a new one, in one write (docs/workflow.md):
  // 300 store records, 900 evidence lines.
  assert.equal(results.filter((r) => r.outcome === 'decommissioned').length, count);
  assert.equal(results.filter((r) => r.outcome === 'rotated').length, count);
  const { fsync } = JSON.parse(readFileSync(probeFile, 'utf8').trim().split('\n').at(-1));
  // Before group commits grew past --concurrency (4 by default) the same run made about 300.
  assert.ok(fsync <= 60, `${fsync} fsyncs for ${count} store records and ${count * 3} evidence lines (want ≤ 60)`);
  const runId = JSON.parse(run.stdout).runId;
  assert.equal(readEvidence(dir).filter((e) => e.runId === runId).length, count * 3);
  const keys = Array.from({ length: count }, (_, i) => `secret-${String(i).padStart(5, '0')}`);
  for (const [key, s] of await inspectStore(join(dir, '.keyshift', 'dev.store'), keys)) {
    assert.equal(s.current.length, 1, key);
    assert.ok(s.currentValue && s.previousValue, key);
  }
  assert.equal(runCli(['evidence', 'verify'], { cwd: dir }).code, 0);
});
