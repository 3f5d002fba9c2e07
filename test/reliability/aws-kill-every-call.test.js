// A kill -9 after each call of a rotation in turn, on the AWS stores: for every call index of one
// `rotate --force`, a fresh secret or key is rotated and the run killed right after that call reaches
// the loopback fake; a rerun must complete it with exactly one new version or key. Exhaustive over the
// calls, so it runs with the soak suites (Node 20 in CI), beside the crash suite's random kills.
// KILL_CALL_SHARE (default 0.5, sized for CI's 30 minutes; 1 = every call) keeps that share of the
// calls, evenly spread and shifted by KILL_CALL_SEED, which defaults to the UTC day: successive
// days' runs kill after every call.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cli, runCliAsync, tempProject, writeFiles, readEvidence } from '../helpers/cli.js';
import { awsEnv, kmsPolicy, secretsManagerPolicy } from '../helpers/aws.js';
import { useSecretsManagerAndKmsFakes } from '../helpers/aws-fakes.js';

let sm;
let kms;
useSecretsManagerAndKmsFakes((smServer, kmsServer) => ([sm, kms] = [smServer, kmsServer]));

function smProject(secrets) {
  const dir = tempProject('keyshift-sm-');
  writeFiles(dir, { 'policies/aws.yaml': secretsManagerPolicy(sm.endpoint, secrets) });
  return dir;
}

function kmsProject(keys) {
  const dir = tempProject('keyshift-kms-');
  writeFiles(dir, { 'policies/keys.yaml': kmsPolicy(kms.endpoint, keys) });
  return dir;
}

const run = (dir, args, env = awsEnv()) => cli(args, { cwd: dir, env });
const labelsOf = (name) => Object.fromEntries(sm.inspect(name).versions.filter((v) => v.stages.length > 0).map((v) => [v.id, [...v.stages].sort()]));
const versionCount = (name) => sm.inspect(name).versions.length;
const keysOf = (alias) => kms.keys().filter((k) => k.tags['keyshift:alias'] === alias);

const SHARE = Number(process.env.KILL_CALL_SHARE ?? 0.5);
const SEED = process.env.KILL_CALL_SEED ? Number(process.env.KILL_CALL_SEED) : Math.floor(Date.now() / 86_400_000);
if (!(SHARE > 0 && SHARE <= 1) || !Number.isInteger(SEED)) throw new Error('KILL_CALL_SHARE must be in (0, 1] and KILL_CALL_SEED an integer');

/** The call indices 1..count this run kills after (SHARE of them, spread evenly, shifted by SEED). */
function callsToKill(count) {
  const calls = Array.from({ length: count }, (_, i) => i + 1);
  return calls.filter((n) => Math.floor((n + SEED) * SHARE) !== Math.floor((n + SEED - 1) * SHARE));
}

/**
 * Runs `rotate --all --force` in `dir` and kills it with SIGKILL once the fake has answered its
 * `crashAt`-th call; returns the case's label for the assertions that follow.
 */
async function killedAfterCall(fake, crashAt, dir) {
  const first = fake.calls.length;
  let child;
  const stopWatching = fake.afterCall(({ index }) => {
    if (index - first === crashAt - 1 && child) child.kill('SIGKILL');
  });
  const running = runCliAsync(['rotate', '--all', '--force', '--reason', 'crash'], { cwd: dir, env: awsEnv() });
  child = running.child;
  const crashed = await running.done;
  stopWatching();
  const label = `crash after call ${crashAt} (${fake.calls[first + crashAt - 1]?.op})`;
  assert.equal(crashed.signal, 'SIGKILL', `${label}: the run was killed`);
  return label;
}

test('aws-secrets-manager: kill -9 after a call (KILL_CALL_SHARE of them), then a rerun: one new version, one AWSCURRENT, evidence intact', async (t) => {
  // How many calls a rotation makes (it may change with the code: the test follows it).
  sm.seed('crash/probe', { value: 'probe' });
  const probe = smProject([{ name: 'probe', secretId: 'crash/probe' }]);
  const start = sm.calls.length;
  assert.equal((await run(probe, ['rotate', '--all', '--force', '--reason', 'probe'])).code, 0);
  const callsPerRotation = sm.calls.length - start;
  assert.ok(callsPerRotation >= 5, `a rotation makes ${callsPerRotation} calls`);

  const killed = callsToKill(callsPerRotation);
  t.diagnostic(`a rotation makes ${callsPerRotation} calls; killed after calls ${killed.join(', ')} (KILL_CALL_SHARE=${SHARE} KILL_CALL_SEED=${SEED})`);
  for (const crashAt of killed) {
    const name = `crash/at-${crashAt}`;
    sm.seed(name, { value: 'before-crash' });
    const [old] = sm.inspect(name).versions;
    const dir = smProject([{ name: 'victim', secretId: name }]);
    const label = await killedAfterCall(sm, crashAt, dir);
    assert.equal(Object.values(labelsOf(name)).filter((s) => s.includes('AWSCURRENT')).length, 1, `${label}: one AWSCURRENT at all times`);

    // The rerun resumes what the killed run started; if it died before writing anything, the
    // rotation is started again (forced, as the killed run was).
    const rerun = await run(dir, ['rotate', '--all', '--json']);
    assert.equal(rerun.code, 0, `${label}: ${rerun.stdout}${rerun.stderr}`);
    if (versionCount(name) === 1) assert.equal((await run(dir, ['rotate', '--all', '--force', '--reason', 'rerun'])).code, 0, label);
    const versions = sm.inspect(name).versions;
    assert.equal(versions.length, 2, `${label}: exactly one new version, got ${JSON.stringify(versions.map((v) => [v.id, v.stages]))}`);
    const fresh = versions.find((v) => v.id !== old.id);
    assert.deepEqual(labelsOf(name), { [old.id]: ['AWSPREVIOUS'], [fresh.id]: ['AWSCURRENT', 'AWSPENDING', 'KEYSHIFT_LEASE'] }, label);
    assert.equal((await run(dir, ['get', 'victim'])).stdout.trim(), fresh.value, label);
    const verify = await run(dir, ['evidence', 'verify']);
    assert.equal(verify.code, 0, `${label}: ${verify.stdout}${verify.stderr}`);
    const events = readEvidence(dir).map((r) => r.event);
    assert.equal(events.filter((e) => e === 'switched').length, 1, `${label}: ${events}`);
    assert.ok(events.includes('issued'), `${label}: ${events}`);
  }
});

test('aws-kms (mode alias): kill -9 after a call (KILL_CALL_SHARE of them), then a rerun: exactly one new key, the alias on it', async (t) => {
  const probeKey = kms.seedKey({ alias: 'alias/probe' });
  const probe = kmsProject([{ name: 'probe', alias: 'alias/probe' }]);
  const start = kms.calls.length;
  assert.equal((await run(probe, ['rotate', '--all', '--force', '--reason', 'probe'])).code, 0);
  const callsPerRotation = kms.calls.length - start;
  assert.ok(callsPerRotation >= 6, `a rotation makes ${callsPerRotation} calls`);
  assert.notEqual(kms.inspect('alias/probe').keyId, probeKey.keyId);

  const killed = callsToKill(callsPerRotation);
  t.diagnostic(`a rotation makes ${callsPerRotation} calls; killed after calls ${killed.join(', ')} (KILL_CALL_SHARE=${SHARE} KILL_CALL_SEED=${SEED})`);
  for (const crashAt of killed) {
    const alias = `alias/crash-${crashAt}`;
    const old = kms.seedKey({ alias });
    const dir = kmsProject([{ name: 'victim', alias }]);
    const label = await killedAfterCall(kms, crashAt, dir);
    assert.equal(kms.inspect(alias).state, 'Enabled', `${label}: the alias always points to an enabled key`);

    // Killed between the lease alias's CreateAlias and its holder tag, the lease names no holder to
    // check for life: it waits for its ttl (docs/stores/aws-kms.md#lease), here 1 ms for the reruns.
    const shortLease = awsEnv({ KEYSHIFT_LEASE_TTL_MS: '1' });
    const rerun = await run(dir, ['rotate', '--all', '--json'], shortLease);
    assert.equal(rerun.code, 0, `${label}: ${rerun.stdout}${rerun.stderr}`);
    if (keysOf(alias).length === 0) assert.equal((await run(dir, ['rotate', '--all', '--force', '--reason', 'rerun'], shortLease)).code, 0, label);
    const created = keysOf(alias);
    assert.equal(created.length, 1, `${label}: exactly one new key, got ${created.map((k) => k.keyId)}`);
    assert.equal(kms.inspect(alias).keyId, created[0].keyId, label);
    assert.equal(kms.inspect(old.keyId).state, 'Enabled', `${label}: the old key stays enabled through the fallback window`);
    const verify = await run(dir, ['evidence', 'verify']);
    assert.equal(verify.code, 0, `${label}: ${verify.stdout}${verify.stderr}`);
    const events = readEvidence(dir).map((r) => r.event);
    assert.equal(events.filter((e) => e === 'switched').length, 1, `${label}: ${events}`);
  }
});
