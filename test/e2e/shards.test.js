// Many runners: --shard k/n splits every secret by a hash of its name, n processes rotate at once
// as docs/scale-out.md's recipes run them, and their evidence logs verify and merge.
// Sizes: KEYSHIFT_SHARD_TEST_LOCAL (default 400, the check: 2000) and
// KEYSHIFT_SHARD_TEST_SM (default 160: 800 writes against a burst of 50) scale them up.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, truncateSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { cli, tempProject, writeFiles, json, baseEnv, assertNoStackTrace } from '../helpers/cli.js';
import { awsEnv, secretsManagerPolicy } from '../helpers/aws.js';
import { runShards, shardOf } from '../helpers/shard-recipe.js';
import { startSecretsManager } from '../fakes/secrets-manager.js';

const LOCAL = Number(process.env.KEYSHIFT_SHARD_TEST_LOCAL ?? 400);
const SM = Number(process.env.KEYSHIFT_SHARD_TEST_SM ?? 160);
const N = 4;
const name = (i) => `secret-${String(i).padStart(5, '0')}`;
const lines = (file) => readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));

/** `count` secrets spread over `files` local store files (secret i in file i mod files). */
function localPolicy(count, files) {
  let text = 'secrets:\n';
  for (let i = 0; i < count; i++) {
    text += `  - name: ${name(i)}\n    interval: 30d\n    fallbackWindow: 1h\n    generator: { type: random, bytes: 16, encoding: hex }\n    environments:\n      - name: prod\n        store: { type: local, path: .keyshift/team-${i % files}.store }\n`;
  }
  return text;
}

/** Every secret switched exactly once across the runners' logs. */
function switchesPerSecret(dir) {
  const counts = new Map();
  for (let k = 1; k <= N; k++) {
    let records = [];
    try {
      records = lines(join(dir, 'evidence', `shard-${k}`, 'evidence.jsonl'));
    } catch {}
    for (const r of records) {
      if (r.event !== 'switched') continue;
      assert.equal(shardOf(r.secret, N), k, `${r.secret} was rotated by runner ${k}, not its shard`);
      counts.set(r.secret, (counts.get(r.secret) ?? 0) + 1);
    }
  }
  return counts;
}

test('bad --shard and --quota-share values are usage errors (exit 2), with a one-line hint', async () => {
  const dir = tempProject('keyshift-shard-usage-');
  writeFiles(dir, { 'policies/p.yaml': localPolicy(3, 1) });
  for (const args of [['plan', '--shard', '0/3'], ['plan', '--shard', '4/3'], ['plan', '--shard', 'a/b'], ['plan', '--shard', '1/0'], ['rotate', '--all', '--shard', '2'], ['rotate', name(0), '--shard', '1/2'], ['rotate', '--all', '--shard', '1/2', '--quota-share', '0'], ['rotate', '--all', '--quota-share', '1.5']]) {
    const result = await cli([...args, '--json'], { cwd: dir });
    assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
    assert.equal(json(result).error.code, 'ERR_USAGE', args.join(' '));
    assertNoStackTrace(assert, result.stderr);
  }
});

test('plan --shard k/n: disjoint shards that cover every secret, by SHA-256 of the name as documented', async () => {
  const dir = tempProject('keyshift-shard-plan-');
  writeFiles(dir, { 'policies/p.yaml': localPolicy(200, 2) });
  const seen = new Map();
  for (let k = 1; k <= N; k++) {
    const result = await cli(['plan', '--shard', `${k}/${N}`, '--json'], { cwd: dir });
    assert.equal(result.code, 0, result.stderr);
    for (const a of json(result).actions) {
      assert.ok(!seen.has(a.secret), `${a.secret} is in shards ${seen.get(a.secret)} and ${k}`);
      seen.set(a.secret, k);
      assert.equal(shardOf(a.secret, N), k, `${a.secret}: the documented formula says shard ${shardOf(a.secret, N)}`);
    }
  }
  assert.equal(seen.size, 200, 'the shards together cover every secret');
  const sizes = [1, 2, 3, 4].map((k) => [...seen.values()].filter((v) => v === k).length);
  assert.ok(sizes.every((s) => s > 25), `shards are roughly even: ${sizes}`);
});

test(`${N} sharded runners over ${LOCAL} local secrets in 4 store files: each rotated once, none missed; the logs verify and merge`, async () => {
  const dir = tempProject('keyshift-shard-local-');
  writeFiles(dir, { 'policies/p.yaml': localPolicy(LOCAL, 4) });
  const env = baseEnv();
  // Provision first (a fresh project), then the emergency rotation the recipe runs.
  assert.equal((await cli(['rotate', '--all', '--evidence-dir', 'evidence/setup', '--json'], { cwd: dir, env })).code, 0);
  const runs = await runShards(dir, N, env);
  for (const r of runs) assert.equal(r.code, 0, `runner ${r.index + 1}: ${r.stderr}`);
  const reported = runs.flatMap((r) => json(r).results.filter((x) => x.action === 'rotate').map((x) => x.secret));
  assert.equal(new Set(reported).size, LOCAL);
  assert.equal(reported.length, LOCAL, 'no secret rotated by two runners');
  const counts = switchesPerSecret(dir);
  assert.equal(counts.size, LOCAL, 'none missed');
  assert.ok([...counts.values()].every((c) => c === 1), 'each switched exactly once');

  const logs = [1, 2, 3, 4].map((k) => `evidence/shard-${k}`);
  const verified = await cli(['evidence', 'verify', 'evidence/setup', ...logs, '--json'], { cwd: dir, env });
  assert.equal(verified.code, 0, verified.stdout + verified.stderr);
  const report = json(verified);
  assert.equal(report.ok, true);
  assert.ok(report.logs.slice(1).every((l) => l.ok && l.anchorsChecked > 0), 'every runner\'s chain is anchored in the stores');

  const merged = await cli(['evidence', 'merge', ...logs, '--out', 'merged.jsonl', '--json'], { cwd: dir, env });
  assert.equal(merged.code, 0, merged.stderr);
  const records = lines(join(dir, 'merged.jsonl'));
  assert.equal(records.length, json(merged).records);
  assert.equal(new Set(records.map((r) => r.chain)).size, N);
  for (let i = 1; i < records.length; i++) {
    const [a, b] = [records[i - 1], records[i]];
    const order = a.at < b.at || (a.at === b.at && (a.chain < b.chain || (a.chain === b.chain && a.seq < b.seq)));
    assert.ok(order, `merged record ${i} is out of order`);
  }
  // No value in the runners' output or the merged file (the values are read back as a canary).
  for (const secret of [name(0), name(1), name(LOCAL - 1)]) {
    const value = (await cli(['get', secret], { cwd: dir, env })).stdout.trim();
    assert.ok(value.length >= 32);
    assert.ok(!readFileSync(join(dir, 'merged.jsonl'), 'utf8').includes(value), `the value of ${secret} is in the merged file`);
    assert.ok(runs.every((r) => !r.stdout.includes(value) && !r.stderr.includes(value)), `the value of ${secret} is in a runner's output`);
  }
  const refused = await cli(['evidence', 'verify', 'merged.jsonl', '--json'], { cwd: dir, env });
  assert.equal(refused.code, 2);
  assert.match(json(refused).error.message, /merged file/);

  // A runner's log cut short is caught by the anchors its stores keep.
  const file = join(dir, 'evidence', 'shard-3', 'evidence.jsonl');
  const text = readFileSync(file, 'utf8');
  writeFileSync(file, text.slice(0, text.lastIndexOf('\n', text.length - 2) + 1));
  const cut = await cli(['evidence', 'verify', ...logs, '--json'], { cwd: dir, env });
  assert.equal(cut.code, 1, cut.stdout);
  assert.match(json(cut).logs[2].problem, /cut off/);
});

let fake;
before(async () => {
  fake = await startSecretsManager({ quotas: {} });
});
after(async () => {
  await fake?.close();
});

test(`${N} sharded runners over ${SM} Secrets Manager secrets at AWS's quotas: each rotated once, 0 throttled calls, the logs verify`, async () => {
  const dir = tempProject('keyshift-shard-sm-');
  const secrets = Array.from({ length: SM }, (_, i) => ({ name: name(i), secretId: `shard/${name(i)}` }));
  for (const s of secrets) fake.seed(s.secretId, { value: `initial-${s.name}` });
  writeFiles(dir, { 'policies/aws.yaml': secretsManagerPolicy(fake.endpoint, secrets) });
  // Each runner is its own machine (a pod, a CI job): its own state dir.
  const runs = await runShards(dir, N, awsEnv(), (index) => ({ KEYSHIFT_STATE_DIR: join(dir, `state-${index + 1}`) }));
  for (const r of runs) assert.equal(r.code, 0, `runner ${r.index + 1}: ${r.stderr}`);
  const throttled = Object.values(fake.stats()).reduce((sum, s) => sum + s.throttled, 0);
  assert.equal(throttled, 0, JSON.stringify(fake.stats()));
  const counts = switchesPerSecret(dir);
  assert.equal(counts.size, SM, 'none missed');
  assert.ok([...counts.values()].every((c) => c === 1), 'each switched exactly once');
  for (const s of secrets) assert.equal(fake.inspect(s.secretId).versions.filter((v) => v.stages.includes('AWSCURRENT')).length, 1);
  const logs = [1, 2, 3, 4].map((k) => `evidence/shard-${k}`);
  // Each runner's anchors are in its own state dir: verify all logs with each, as each machine would.
  for (let k = 1; k <= N; k++) {
    const verified = await cli(['evidence', 'verify', ...logs, '--json'], { cwd: dir, env: awsEnv({ KEYSHIFT_STATE_DIR: join(dir, `state-${k}`) }) });
    assert.equal(verified.code, 0, verified.stdout + verified.stderr);
    assert.ok(json(verified).logs[k - 1].anchorsChecked > 0, `runner ${k}'s chain is checked against its anchors`);
  }
  const merged = await cli(['evidence', 'merge', ...logs, '--out', 'merged.jsonl'], { cwd: dir, env: awsEnv() });
  assert.equal(merged.code, 0, merged.stderr);
});

test(`each of ${N} runners takes its shard's part of each quota bucket: at a quota the runners together would exceed, 0 throttled calls`, async () => {
  // A small quota that binds even on a busy machine: 4 runners at the full 8/s each would send 32/s.
  const tight = await startSecretsManager({ quotas: { versionWrites: 8, tags: 8 } });
  try {
    const dir = tempProject('keyshift-shard-quota-');
    const secrets = Array.from({ length: 40 }, (_, i) => ({ name: name(i), secretId: `tight/${name(i)}` }));
    for (const s of secrets) tight.seed(s.secretId, { value: `initial-${s.name}` });
    writeFiles(dir, { 'policies/aws.yaml': secretsManagerPolicy(tight.endpoint, secrets, { store: ', quotas: { versionWritesPerSecond: 8, tagWritesPerSecond: 8 }' }) });
    const runs = await runShards(dir, N, awsEnv(), (index) => ({ KEYSHIFT_STATE_DIR: join(dir, `state-${index + 1}`) }));
    for (const r of runs) assert.equal(r.code, 0, `runner ${r.index + 1}: ${r.stderr}`);
    const stats = tight.stats();
    // Put + stage move to AWSCURRENT + (--fallback-window 0) the decommission: 3 each, none repeated;
    // and the lease's label (docs/workflow.md#leases): placed once on a secret that never had it,
    // taken, given back: 3 more.
    assert.equal(stats.versionWrites.served, 240, JSON.stringify(stats));
    assert.equal(stats.versionWrites.throttled + stats.tags.throttled, 0, JSON.stringify(stats));
  } finally {
    await tight.close();
  }
});

test('the first rotation starts before the secrets are all read: no up-front pass of ListSecretVersionIds (50/s, shared by the runners)', async () => {
  // Before a run's first step, evidence recovery reads every secret it will touch. For secrets
  // keyshift never rotated it also asked each one's current-version age, a call on a 50/s quota:
  // a quarter of it made 250 runners' secrets wait 20 s before the first write of a sharded emergency.
  const dir = tempProject('keyshift-shard-reads-');
  const secrets = Array.from({ length: 12 }, (_, i) => ({ name: `reads-${i}`, secretId: `reads/${i}` }));
  for (const s of secrets) fake.seed(s.secretId, { value: `initial-${s.name}` });
  writeFiles(dir, { 'policies/aws.yaml': secretsManagerPolicy(fake.endpoint, secrets) });
  const from = fake.calls.length;
  const run = await cli(['rotate', '--all', '--force', '--reason', 'order', '--concurrency', '1', '--json'], { cwd: dir, env: awsEnv() });
  assert.equal(run.code, 0, run.stderr);
  assert.equal(json(run).results.filter((r) => r.outcome === 'rotated').length, 12);
  const calls = fake.calls.slice(from).filter((c) => c.resource?.startsWith('reads/'));
  const firstWrite = calls.findIndex((c) => c.op === 'PutSecretValue' || c.op === 'UpdateSecretVersionStage');
  const listsBefore = calls.slice(0, firstWrite).filter((c) => c.op === 'ListSecretVersionIds');
  // The one the plan makes of the first secret (is anything due?), then one with each rotation.
  assert.equal(listsBefore.length, 1, listsBefore.map((c) => c.resource).join(' '));
  assert.equal(calls.filter((c) => c.op === 'ListSecretVersionIds').length, 12);
});

test('docs/scale-out.md gives the command the tests run, in both recipes', async () => {
  const { RECIPE } = await import('../helpers/shard-recipe.js');
  const page = readFileSync(new URL('../../docs/scale-out.md', import.meta.url), 'utf8');
  assert.equal(page.split(RECIPE).length - 1, 2, 'the Kubernetes and the GitHub Actions recipe');
});
