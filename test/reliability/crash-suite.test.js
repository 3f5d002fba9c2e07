// Crash suite: `kill -9` at random instants (and, on the local store, right after a store write)
// during `rotate --all --force` on the local store, the loopback Secrets Manager and the loopback
// KMS, with and without slow hooks, on the loopback Vault (vault-kv2), on the example command
// store (examples/command-store) and on the example plugin. After each crash the
// run is repeated until done, and the invariants are checked: exactly one readable CURRENT at every
// observed instant, no PENDING left, one new version per completed rotation, the old value readable
// until its decommission, and an evidence chain that verifies with `issued` and `switched` for
// every completed rotation. CRASH_ROUNDS scales the rounds per case (1 = 170 kills; CI's default 0.35 = about 60, sized so CI fits in 30 minutes).
// Invariants are read with the independent reader of the local format (helpers/store-check.js)
// and, on AWS, recorded by the fakes' afterCall hooks and asserted after each round (a hook that
// threw would only turn into a 500 reply that keyshift retries).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, watch } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { cli, runCliAsync, tempProject, writeFiles, readEvidence, manySecretsPolicy, json, root } from '../helpers/cli.js';
import { inspectStore, readStoreFile } from '../helpers/store-check.js';
import { versionAt } from '../fuzz/store-format.js';
import { awsEnv, kmsPolicy, secretsManagerPolicy } from '../helpers/aws.js';
import { startSecretsManager } from '../fakes/secrets-manager.js';
import { startKms } from '../fakes/kms.js';
import { startVault } from '../fakes/vault/server.js';

const SCALE = Number(process.env.CRASH_ROUNDS ?? 0.35);
const SLOW_HOOK = '        deploy: [{ run: "sleep 0.03" }]\n';
const tally = { kills: 0, midRun: 0, reruns: 0, rotationsChecked: 0, leaseBlocked: 0 };
const STACK_TRACE = /\n\s+at .+:\d+:\d+\)?/;

// The figures docs/reliability.md quotes, as test diagnostics (`# …` lines in the output).
function report(t) {
  t.diagnostic(`so far: ${tally.kills} kills (${tally.midRun} mid-run), ${tally.leaseBlocked} runs blocked by a leftover lease, ${tally.reruns} reruns, ${tally.rotationsChecked} completed rotations checked, 0 keys lost or stuck`);
}

/** `rotate --all` resumes what the crash left in flight; exit 0 means every resumed rotation finished. */
async function rerunUntilDone(dir, env) {
  tally.reruns++;
  const rerun = await cli(['rotate', '--all', '--json'], { cwd: dir, env });
  assert.equal(rerun.code, 0, `rerun: ${rerun.stdout.slice(0, 1500)}${rerun.stderr.slice(0, 1500)}`);
  assert.ok(json(rerun).results.every((r) => ['resumed', 'skipped'].includes(r.outcome)), 'the rerun only resumes');
}

/**
 * Evidence: every rotation issued in this round (the records appended since `from`: the killed run's
 * and the reruns') was switched once, and the chain verifies.
 */
async function checkEvidence(dir, env, reason, from, verifyChain) {
  if (verifyChain) {
    const verify = await cli(['evidence', 'verify'], { cwd: dir, env });
    assert.equal(verify.code, 0, `${reason}: ${verify.stdout}${verify.stderr}`);
  }
  const events = readEvidence(dir);
  const issued = events.slice(from).filter((e) => e.event === 'issued');
  const switched = new Map();
  for (const e of events.filter((e) => e.event === 'switched')) switched.set(e.rotationId, (switched.get(e.rotationId) ?? 0) + 1);
  const perSecret = new Map();
  for (const e of issued) {
    assert.equal(switched.get(e.rotationId), 1, `${e.secret}: ${e.rotationId} issued and switched exactly once`);
    perSecret.set(e.secret, (perSecret.get(e.secret) ?? 0) + 1);
  }
  for (const [secret, count] of perSecret) assert.equal(count, 1, `${secret}: rotated at most once in ${reason}`);
  tally.rotationsChecked += issued.length;
  return perSecret;
}

/**
 * Kill the run at a random instant within the time a whole run takes (`timing.fullRunMs`). The
 * killed run either died by the SIGKILL or had already finished with exit 0; anything else (a
 * failure, a stack trace) is a finding. A run that finished before its kill was quicker than the
 * estimate (a slow calibration on a loaded machine): its own time becomes the estimate, so the
 * next kills land inside a run again. Returns true when the kill landed mid-run.
 */
async function killAtRandom(dir, env, reason, timing, observe) {
  const started = Date.now();
  const { child, done } = runCliAsync(['rotate', '--all', '--force', '--reason', reason, '-q', '--json'], { cwd: dir, env });
  let finishedMs = null;
  done.then(() => (finishedMs = Date.now() - started));
  const deadline = started + Math.floor(timing.fullRunMs * Math.random());
  while (Date.now() < deadline && finishedMs === null) {
    await observe?.();
    await sleep(5);
  }
  child.kill('SIGKILL');
  const killed = await done;
  if (killed.signal !== 'SIGKILL' && killed.code === 0) timing.fullRunMs = Math.min(timing.fullRunMs, finishedMs);
  tally.kills++;
  if (killed.signal === 'SIGKILL') tally.midRun++;
  await observe?.();
  assert.doesNotMatch(killed.stderr, STACK_TRACE, `${reason}: stack trace before the kill`);
  if (killed.signal !== 'SIGKILL' && killed.code !== 0 && blockedByLeftoverLease(killed)) return false;
  assert.ok(killed.signal === 'SIGKILL' || killed.code === 0, `${reason}: the run was not killed, yet exited ${killed.code}: ${killed.stdout.slice(0, 1500)}${killed.stderr.slice(0, 1500)}`);
  return killed.signal === 'SIGKILL';
}

/**
 * A run that found only leases in its way: an earlier kill landed between a lease's two calls
 * (docs/workflow.md, "known gap"), which blocks that key until the lease's ttl (short here). It is
 * counted; a lease that never cleared would block round after round, which assertFewLeaseBlocks
 * catches.
 */
function blockedByLeftoverLease(run) {
  let results;
  try {
    results = JSON.parse(run.stdout).results;
  } catch {
    return false;
  }
  const stopped = results.filter((r) => !['rotated', 'resumed', 'skipped', 'provisioned', 'decommissioned'].includes(r.outcome));
  if (stopped.length === 0 || !stopped.every((r) => r.outcome === 'blocked' && r.error?.code === 'ERR_LEASED')) return false;
  tally.leaseBlocked++;
  return true;
}

/** Leftover leases clear after their ttl: they may block a few rounds, never most of them. */
function assertFewLeaseBlocks(before, rounds) {
  const blocked = tally.leaseBlocked - before;
  assert.ok(blocked * 4 <= rounds, `${blocked} of ${rounds} rounds were blocked by a leftover lease: one does not clear`);
}

/**
 * Kill the run right after its `nth` write to the store file (seen by inotify): the instant a write
 * landed and what it announces (evidence, the next step) has not happened yet. Random instants
 * rarely hit that window, and it is where a missing write-ahead loses a record.
 */
async function killAfterWrite(dir, env, reason, storePath, nth, { fullRunMs }) {
  const { child, done } = runCliAsync(['rotate', '--all', '--force', '--reason', reason, '-q'], { cwd: dir, env });
  let writes = 0;
  const watcher = watch(dirname(storePath), (type, name) => {
    if (name === basename(storePath) && ++writes === nth) child.kill('SIGKILL');
  });
  const late = setTimeout(() => child.kill('SIGKILL'), fullRunMs * 2);
  const killed = await done;
  watcher.close();
  clearTimeout(late);
  tally.kills++;
  if (killed.signal === 'SIGKILL') tally.midRun++;
  assert.ok(killed.signal === 'SIGKILL' || killed.code === 0, `${reason}: the run was not killed, yet exited ${killed.code}: ${killed.stdout.slice(0, 1500)}${killed.stderr.slice(0, 1500)}`);
  assert.doesNotMatch(killed.stderr, STACK_TRACE, `${reason}: stack trace before the kill`);
  return killed.signal === 'SIGKILL';
}

/** Most kills must land inside a run, or the suite proves little: at least half of them. */
function assertMostMidRun(midRun, rounds) {
  assert.ok(midRun * 2 >= rounds, `only ${midRun} of ${rounds} kills landed mid-run`);
}

/** A fake's afterCall hook records what it saw; the test asserts after the round. */
function assertNoViolations(violations, reason) {
  assert.deepEqual(violations.splice(0), [], `${reason}: invariants broken at an observed instant`);
}

/** How many change events the store file gets until `stop()`. */
function countWrites(storePath) {
  let writes = 0;
  const watcher = watch(dirname(storePath), (type, name) => {
    if (name === basename(storePath)) writes++;
  });
  return { stop: () => (watcher.close(), writes) };
}

/** How long a whole forced run takes: `{ fullRunMs }`, which killAtRandom lowers when a run proves quicker. */
async function calibrate(dir, env) {
  const started = Date.now();
  const result = await cli(['rotate', '--all', '--force', '--reason', 'calibrate', '-q'], { cwd: dir, env });
  assert.equal(result.code, 0, result.stderr);
  return { fullRunMs: Date.now() - started };
}

/**
 * The rounds every case runs: note the store (`snapshot`), kill a run (`kill`), assert what the
 * observers recorded meanwhile, rerun until done, check the evidence (the chain every
 * `verifyEvery` rounds and at the end), then the store's own checks of what changed (`check`).
 * Most kills must land mid-run; with `leases`, leftover leases must clear.
 */
async function crashRounds(t, { dir, env, rounds, violations = [], verifyEvery, snapshot, kill, check, leases = false }) {
  const leaseBlockedBefore = tally.leaseBlocked;
  let midRun = 0;
  for (let round = 0; round < rounds; round++) {
    const reason = `crash-${round}`;
    const before = await snapshot();
    const from = readEvidence(dir).length;
    if (await kill(round, reason)) midRun++;
    assertNoViolations(violations, `${reason}, killed run`);
    await rerunUntilDone(dir, env);
    assertNoViolations(violations, `${reason}, rerun`);
    const rotated = await checkEvidence(dir, env, reason, from, round % verifyEvery === verifyEvery - 1 || round === rounds - 1);
    await check(before, rotated);
  }
  if (leases) assertFewLeaseBlocks(leaseBlockedBefore, rounds);
  assertMostMidRun(midRun, rounds);
  report(t);
}

/** Every other round is killed right after one of the run's writes of `storePath`, chosen at random; the others at a random instant. */
function killAtWriteOrRandom(dir, env, storePath, writesPerRun, timing, observe) {
  return (round, reason) => round % 2 === 1
    ? killAfterWrite(dir, env, reason, storePath, 1 + Math.floor(Math.random() * writesPerRun), timing)
    : killAtRandom(dir, env, reason, timing, observe);
}

/** A store entry's versions ({ id, stages, value }) in the shape inspectStore gives. */
function stagedView(entry) {
  const at = (stage) => (entry?.versions ?? []).filter((v) => v.stages.includes(stage));
  return { current: at('CURRENT'), pending: at('PENDING'), currentValue: at('CURRENT')[0]?.value ?? null, previousValue: at('PREVIOUS')[0]?.value ?? null };
}

/**
 * Per key (maps of stagedView / inspectStore before and after a round): one CURRENT, no PENDING;
 * a key whose CURRENT moved was issued once and keeps its old value readable as PREVIOUS; any
 * other key is untouched.
 */
function checkStaged(before, after, rotated) {
  for (const [key, a] of after) {
    const b = before.get(key);
    assert.equal(a.current.length, 1, `${key}: one CURRENT`);
    assert.equal(a.pending.length, 0, `${key}: no PENDING left`);
    if (a.current[0].id !== b.current[0].id) {
      assert.equal(rotated.get(key), 1, `${key}: its rotation was issued once`);
      assert.equal(a.previousValue, b.currentValue, `${key}: the old value stays readable as PREVIOUS`);
    } else {
      assert.equal(a.currentValue, b.currentValue, `${key}: untouched`);
    }
  }
}

/** An observer's note: every key of a staged map has one CURRENT, with a value. */
function noteCurrentViolations(violations, staged) {
  for (const [key, v] of staged) {
    if (v.current.length !== 1 || !v.currentValue) violations.push(`${key}: ${v.current.length} CURRENT${v.current.length === 1 ? ' without a value' : ''}`);
  }
}

/** How many rotations of each secret the evidence says were ever issued. */
function issuedCounts(dir) {
  const counts = new Map();
  for (const e of readEvidence(dir).filter((e) => e.event === 'issued')) counts.set(e.secret, (counts.get(e.secret) ?? 0) + 1);
  return counts;
}

describe('crash suite: local store', () => {
  for (const hooks of [false, true]) {
    const rounds = Math.round(30 * SCALE);
    test(`local store: ${rounds} kills during rotate --all --force over 25 secrets${hooks ? ' with slow deploy hooks' : ''}`, { timeout: 600_000 }, async (t) => {
      const count = 25;
      const keys = Array.from({ length: count }, (_, i) => `secret-${String(i).padStart(5, '0')}`);
      const dir = tempProject('keyshift-crash-local-');
      let policy = manySecretsPolicy(count, { fallbackWindow: '1h' });
      if (hooks) policy = policy.replaceAll('        store: { type: local, path: .keyshift/dev.store }\n', `        store: { type: local, path: .keyshift/dev.store }\n${SLOW_HOOK}`);
      writeFiles(dir, { 'policies/many.yaml': policy });
      const env = awsEnv();
      const storePath = join(dir, '.keyshift', 'dev.store');
      assert.equal((await cli(['rotate', '--all', '-q'], { cwd: dir, env })).code, 0);
      const watcher = countWrites(storePath);
      const timing = await calibrate(dir, env);
      const writesPerRun = watcher.stop();
      assert.ok(writesPerRun > 0, 'the calibration run wrote the store');
      // A consumer's read of the bytes on disk while the run writes: one CURRENT with its value.
      const violations = [];
      const oneCurrent = async () => {
        try {
          noteCurrentViolations(violations, await inspectStore(storePath, keys));
        } catch (error) {
          violations.push(error.message);
        }
      };
      let observations = 0;
      await crashRounds(t, {
        dir, env, rounds, violations, verifyEvery: 5,
        snapshot: () => inspectStore(storePath, keys),
        kill: killAtWriteOrRandom(dir, env, storePath, writesPerRun, timing, async () => {
          if (observations++ % 4 === 0) await oneCurrent();
        }),
        check: async (before, rotated) => checkStaged(before, await inspectStore(storePath, keys), rotated),
      });
    });
  }
});

describe('crash suite: aws-secrets-manager', () => {
  let fake;
  before(async () => {
    fake = await startSecretsManager({ quotas: false });
  });
  after(async () => fake?.close());

  for (const hooks of [false, true]) {
    const rounds = Math.round(28 * SCALE);
    test(`aws-secrets-manager: ${rounds} kills during rotate --all --force over 8 secrets${hooks ? ' with slow deploy hooks' : ''}`, { timeout: 600_000 }, async (t) => {
      const ids = Array.from({ length: 8 }, (_, i) => `crash${hooks ? 'h' : ''}/s${i}`);
      for (const id of ids) fake.seed(id, { value: `initial ${id}` });
      const dir = tempProject('keyshift-crash-sm-');
      let policy = secretsManagerPolicy(fake.endpoint, ids.map((secretId, i) => ({ name: `s${i}`, secretId })));
      if (hooks) policy = policy.replace(/(store: \{ type: aws-secrets-manager[^\n]*\n)/g, `$1${SLOW_HOOK}`);
      writeFiles(dir, { 'policies/sm.yaml': policy });
      // A short lease ttl: a kill between a lease's two calls blocks its key until then.
      const env = { ...awsEnv(), KEYSHIFT_LEASE_TTL_MS: '5000' };
      const labels = (id) => fake.inspect(id).versions.filter((v) => v.stages.length > 0);
      // Every call the service answers is an observed instant: one AWSCURRENT, always.
      const violations = [];
      const stop = fake.afterCall(({ op, index }) => {
        for (const id of ids) {
          const currents = labels(id).filter((v) => v.stages.includes('AWSCURRENT')).length;
          if (currents !== 1) violations.push(`${id}: ${currents} AWSCURRENT after call ${index} (${op})`);
        }
      });
      try {
        const timing = await calibrate(dir, env);
        assertNoViolations(violations, 'calibration run');
        await crashRounds(t, {
          dir, env, rounds, violations, verifyEvery: 5, leases: true,
          snapshot: () => new Map(ids.map((id) => [id, labels(id).find((v) => v.stages.includes('AWSCURRENT'))])),
          kill: (round, reason) => killAtRandom(dir, env, reason, timing),
          check: (before, rotated) => {
            const issuedEver = issuedCounts(dir);
            ids.forEach((id, i) => {
              const now = labels(id);
              const current = now.filter((v) => v.stages.includes('AWSCURRENT'));
              assert.equal(current.length, 1, `${id}: one AWSCURRENT`);
              assert.ok(now.every((v) => !v.stages.includes('AWSPENDING') || v.stages.includes('AWSCURRENT')), `${id}: no AWSPENDING left on another version`);
              assert.equal(fake.inspect(id).versions.length, 1 + (issuedEver.get(`s${i}`) ?? 0), `${id}: one version per completed rotation`);
              if (current[0].id !== before.get(id).id) {
                assert.equal(rotated.get(`s${i}`), 1, `${id}: issued once this round`);
                assert.equal(now.find((v) => v.stages.includes('AWSPREVIOUS'))?.value, before.get(id).value, `${id}: the old value stays readable as AWSPREVIOUS`);
              }
            });
          },
        });
      } finally {
        stop();
      }
    });
  }
});

describe('crash suite: aws-kms', () => {
  let fake;
  before(async () => {
    fake = await startKms({ quotas: false });
  });
  after(async () => fake?.close());

  for (const hooks of [false, true]) {
    const rounds = Math.round(27 * SCALE);
    test(`aws-kms: ${rounds} kills during rotate --all --force over 6 keys${hooks ? ' with slow deploy hooks' : ''}`, { timeout: 600_000 }, async (t) => {
      const aliases = Array.from({ length: 6 }, (_, i) => `alias/crash${hooks ? 'h' : ''}-${i}`);
      for (const alias of aliases) fake.seedKey({ alias });
      const dir = tempProject('keyshift-crash-kms-');
      const keys = aliases.map((alias, i) => ({ name: `k${i}`, alias }));
      writeFiles(dir, { 'policies/kms.yaml': kmsPolicy(fake.endpoint, keys, { extra: ', quotas: { controlPlanePerSecond: 1000 }', environmentExtra: hooks ? SLOW_HOOK : '' }) });
      // A short lease ttl: a kill between a lease's two calls blocks its key until then.
      const env = { ...awsEnv(), KEYSHIFT_LEASE_TTL_MS: '5000' };
      const ours = (alias) => fake.keys().filter((k) => k.tags['keyshift:alias'] === alias);
      // Every call the service answers is an observed instant: the alias always on an enabled key.
      const violations = [];
      const stop = fake.afterCall(({ op, index }) => {
        for (const alias of aliases) {
          const state = fake.inspect(alias)?.state;
          if (state !== 'Enabled') violations.push(`${alias}: on a key that is ${state} after call ${index} (${op})`);
        }
      });
      try {
        const timing = await calibrate(dir, env);
        assertNoViolations(violations, 'calibration run');
        await crashRounds(t, {
          dir, env, rounds, violations, verifyEvery: 5, leases: true,
          snapshot: () => new Map(aliases.map((alias) => [alias, fake.inspect(alias).keyId])),
          kill: (round, reason) => killAtRandom(dir, env, reason, timing),
          check: (before, rotated) => {
            const issuedEver = issuedCounts(dir);
            aliases.forEach((alias, i) => {
              const explain = () => JSON.stringify({ keys: ours(alias).map((k) => [k.keyId, k.tags['keyshift:version-id'], k.state]), issued: readEvidence(dir).filter((e) => e.secret === `k${i}`).map((e) => [e.event, e.toVersion, e.runId]) });
              assert.equal(ours(alias).length, issuedEver.get(`k${i}`) ?? 0, `${alias}: one new key per completed rotation ${explain()}`);
              const now = fake.inspect(alias);
              assert.equal(now.state, 'Enabled');
              if (now.keyId !== before.get(alias)) {
                assert.equal(rotated.get(`k${i}`), 1, `${alias}: issued once this round`);
                assert.equal(fake.inspect(before.get(alias)).state, 'Enabled', `${alias}: the old key stays enabled until its decommission`);
              }
            });
          },
        });
      } finally {
        stop();
      }
    });
  }
});

describe('crash suite: plugin store (examples/json-file-store)', () => {
  const rounds = Math.round(12 * SCALE);
  test(`plugin store: ${rounds} kills during rotate --all --force over 8 secrets`, { timeout: 600_000 }, async (t) => {
    const keys = Array.from({ length: 8 }, (_, i) => `secret-${String(i).padStart(5, '0')}`);
    const dir = tempProject('keyshift-crash-plugin-');
    const module = join(root, 'examples', 'json-file-store', 'index.js');
    writeFiles(dir, { 'policies/many.yaml': manySecretsPolicy(keys.length, { fallbackWindow: '1h' }).replaceAll('{ type: local, path: .keyshift/dev.store }', `{ type: plugin, module: "${module}", path: .keyshift/dev.json }`) });
    const env = awsEnv();
    const storePath = join(dir, '.keyshift', 'dev.json');
    assert.equal((await cli(['rotate', '--all', '-q'], { cwd: dir, env })).code, 0);
    const watcher = countWrites(storePath);
    const timing = await calibrate(dir, env);
    const writesPerRun = watcher.stop();
    assert.ok(writesPerRun > 0, 'the calibration run wrote the store');
    // The plugin's file read directly (not through the plugin): one CURRENT with a value, always.
    const staged = () => {
      const entries = JSON.parse(readFileSync(storePath, 'utf8')).entries;
      return new Map(keys.map((key) => [key, stagedView(entries[key])]));
    };
    const violations = [];
    let observations = 0;
    await crashRounds(t, {
      dir, env, rounds, violations, verifyEvery: 4,
      snapshot: staged,
      kill: killAtWriteOrRandom(dir, env, storePath, writesPerRun, timing, async () => observations++ % 4 === 0 && noteCurrentViolations(violations, staged())),
      check: (before, rotated) => checkStaged(before, staged(), rotated),
    });
  });
});

/** One secret per entry, random values, no hooks: `storeOf(i)` is the store's flow mapping. */
function perSecretPolicy(count, storeOf) {
  let text = 'secrets:\n';
  for (let i = 0; i < count; i++) {
    text += `  - name: s${i}\n    interval: 30d\n    fallbackWindow: 1h\n    generator: { type: random, bytes: 16, encoding: hex }\n    environments:\n      - name: prod\n        store: ${storeOf(i)}\n`;
  }
  return text;
}

describe('crash suite: vault-kv2', () => {
  let vault;
  before(async () => {
    vault = await startVault({ token: 'crash-token' });
  });
  after(async () => vault?.close());

  const rounds = Math.round(16 * SCALE);
  test(`vault-kv2: ${rounds} kills during rotate --all --force over 6 secrets`, { timeout: 600_000 }, async (t) => {
    const paths = Array.from({ length: 6 }, (_, i) => `crash/s${i}`);
    const dir = tempProject('keyshift-crash-vault-');
    writeFiles(dir, { 'policies/vault.yaml': perSecretPolicy(paths.length, (i) => `{ type: vault-kv2, path: ${paths[i]} }`) });
    const env = awsEnv({ VAULT_ADDR: vault.address, VAULT_TOKEN: 'crash-token' });
    // What applications read: <field> of the latest KV version.
    const latest = (path) => {
      const kv = vault.inspect('secret', path);
      return kv ? kv.data[kv.current_version] : null;
    };
    assert.equal((await cli(['rotate', '--all', '-q'], { cwd: dir, env })).code, 0);
    // Every request Vault answers is an observed instant: the latest version holds a value.
    const violations = [];
    const stop = vault.afterCall(({ method, path, index }) => {
      for (const p of paths) {
        const data = latest(p);
        if (typeof data?.value !== 'string' || data.value === '') violations.push(`${p}: the latest version holds no value after call ${index} (${method} ${path})`);
      }
    });
    try {
      const timing = await calibrate(dir, env);
      assertNoViolations(violations, 'calibration run');
      await crashRounds(t, {
        dir, env, rounds, violations, verifyEvery: 4,
        snapshot: () => new Map(paths.map((p) => [p, latest(p).value])),
        kill: (round, reason) => killAtRandom(dir, env, reason, timing),
        check: (before, rotated) => paths.forEach((p, i) => {
          const now = latest(p);
          assert.ok(!('value_PENDING' in now), `${p}: no PENDING left`);
          if (now.value !== before.get(p)) {
            assert.equal(rotated.get(`s${i}`), 1, `${p}: issued once this round`);
            assert.equal(now.value_PREVIOUS, before.get(p), `${p}: the old value stays readable as value_PREVIOUS`);
          }
        }),
      });
    } finally {
      stop();
    }
  });
});

describe('crash suite: command store (examples/command-store)', () => {
  const script = join(root, 'examples', 'command-store', 'file-store.sh');
  // Each call starts sh and jq: fewer rounds than the in-process stores, for the same minute.
  const rounds = Math.round(8 * SCALE);
  test(`command store: ${rounds} kills during rotate --all --force over 4 secrets`, { timeout: 600_000 }, async (t) => {
    const count = 4;
    const data = mkdtempSync(join(tmpdir(), 'keyshift-crash-cmd-'));
    const dir = tempProject('keyshift-crash-cmd-');
    writeFiles(dir, { 'policies/cmd.yaml': perSecretPolicy(count, () => `{ type: command, run: ["${script}"], config: { dir: "${data}" } }`) });
    const env = awsEnv();
    // The program's entry files read directly (not through keyshift): one CURRENT with a value.
    const read = (i) => {
      const file = join(data, `s${i}.json`);
      return existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : { versions: [] };
    };
    const staged = () => new Map(Array.from({ length: count }, (_, i) => [`s${i}`, stagedView(read(i))]));
    const violations = [];
    assert.equal((await cli(['rotate', '--all', '-q'], { cwd: dir, env })).code, 0);
    const timing = await calibrate(dir, env);
    await crashRounds(t, {
      dir, env, rounds, violations, verifyEvery: 4,
      snapshot: staged,
      kill: (round, reason) => killAtRandom(dir, env, reason, timing, async () => noteCurrentViolations(violations, staged())),
      check: (before, rotated) => checkStaged(before, staged(), rotated),
    });
  });
});
