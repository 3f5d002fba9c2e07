// Fault suite ("prove it cannot lose a key"): a rotation on aws-secrets-manager and on aws-kms
// (mode alias) is run once to record the calls it makes; then, for every call of that sequence and
// every fault kind, the same rotation runs on a fresh secret/key with the fault injected at that
// call, with the SDK's retries on (8 attempts) and off (AWS_MAX_ATTEMPTS=1). It must complete or
// fail cleanly, and `rotate --all` must then complete it: one new version, one CURRENT, no stuck
// PENDING, the old version kept for its fallback window, the evidence chain intact and holding one
// `issued` and one `switched`. docs/reliability.md describes the suite and its figures.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { tempProject, writeFiles, readEvidence } from '../helpers/cli.js';
import { awsEnv } from '../helpers/aws.js';
import { FAULT_STORES, evidenceProblems } from './fault-stores.js';
import { totalCalls } from '../../bench/call-counts.js';
import { cliWithin, createLanes, createTally, errorCodeOf, failureProblems, jsonOrNull } from './run-tools.js';

const FAULTS = [
  { label: 'throttle x3', kind: 'throttle', times: 3 },
  { label: '500', kind: '500' },
  { label: 'drop', kind: 'drop' },
  { label: 'timeout', kind: 'timeout' },
  { label: '500 after apply', kind: '500', afterApply: true },
  { label: 'drop after apply', kind: 'drop', afterApply: true },
];
const RETRIES = [
  { label: 'retries on', env: {} },
  { label: 'AWS_MAX_ATTEMPTS=1', env: { AWS_MAX_ATTEMPTS: '1' } },
];
// Batches run side by side, each against its own fakes (a fault counts calls from when it is armed).
// A throttling burst with the SDK's retries on mostly waits (adaptive backoff): those batches are cut
// in small chunks and get lanes of their own; the others are CPU-bound (CLI start-up) on 2 cores.
const FAST_LANES = createLanes(Number(process.env.KEYSHIFT_FAULTS_PARALLEL) || 4);
const SLOW_LANES = createLanes(4);
const SLOW_CHUNK = 4;
const ROTATE = (name) => ['rotate', name, '--force', '--reason', 'x', '--json'];
// The short client timeout only where a fault holds a request: elsewhere, on a loaded machine, it
// made slow but healthy calls time out and be retried, so the sequence differed from the recording.
const env = (retries, fault) => awsEnv({ ...(fault?.kind === 'timeout' ? { KEYSHIFT_AWS_TIMEOUT_MS: '300' } : {}), ...retries.env });
// One rotation's calls, from the one table (bench/call-counts.js); checked against the recorded sequences.
const CALLS = Object.fromEntries(Object.keys(FAULT_STORES).map((store) => [store, totalCalls(store)]));
// FAULT_OPS=CreateKey,PutSecretValue: fault only the calls of these operations (a fast slice; the
// negative control uses it). Unset in CI: every call.
const FAULT_OPS = process.env.FAULT_OPS ? process.env.FAULT_OPS.split(',') : null;
// FAULT_SHARE: the share of the (call × fault kind × retry setting) cases run, 1 = all. CI's default
// (0.5) fits its 30 minutes: every call is still faulted with half of the 12 kind × retry settings,
// and every setting hits half of the calls, in stripes that FAULT_SEED shifts; the seed defaults to
// the UTC day, so successive days' runs cover every case. FAULT_OPS runs all of its calls' cases.
const FAULT_SHARE = FAULT_OPS ? 1 : shareFromEnv(process.env.FAULT_SHARE ?? '0.5');
const FAULT_SEED = process.env.FAULT_SEED ? integerFromEnv('FAULT_SEED') : Math.floor(Date.now() / 86_400_000);

const sequences = {};
const tally = createTally();
const started = Date.now();

describe('fault suite: every call of a rotation, every fault kind', { concurrency: true }, () => {
  before(async () => {
    for (const [storeName, store] of Object.entries(FAULT_STORES)) sequences[storeName] = await recordSequence(store);
  });

  for (const unit of units()) {
    const name = `${unit.storeName}: ${unit.fault.label}, ${unit.retries.label}${unit.chunked ? `, calls ${unit.calls[0]}-${unit.calls.at(-1)}` : ''}`;
    test(name, { timeout: 900_000 }, async (t) => {
      assert.equal(sequences[unit.storeName].length, CALLS[unit.storeName], `a ${unit.storeName} rotation now makes ${sequences[unit.storeName].length} calls: update bench/call-counts.js`);
      const problems = await (unit.slow ? SLOW_LANES : FAST_LANES)(() => runBatch(unit, t));
      assert.deepEqual(problems, [], problems.join('\n'));
    });
  }
});

test('fault suite summary', (t) => {
  for (const [storeName, sequence] of Object.entries(sequences)) t.diagnostic(`${storeName}: a rotation makes ${sequence.length} calls: ${sequence.join(' ')}`);
  for (const [key, count] of tally.entries()) t.diagnostic(`${key}: ${count}`);
  const total = Object.keys(FAULT_STORES).reduce((sum, s) => sum + tally.get(s, 'cases'), 0);
  t.diagnostic(`fault cases: ${total} (FAULT_SHARE=${FAULT_SHARE} FAULT_SEED=${FAULT_SEED} repeats them); keys lost or stuck: ${tally.get('lost or stuck')}; ${((Date.now() - started) / 1000).toFixed(1)} s`);
  assert.ok(total > 0, 'no fault case ran');
});

/** Every store × retry setting × fault kind, over its share of the call indices; the slow ones first. */
function units() {
  const all = [];
  const settings = RETRIES.length * FAULTS.length;
  const kept = Math.max(1, Math.round(settings * FAULT_SHARE));
  for (const storeName of Object.keys(FAULT_STORES)) {
    const everyCall = Array.from({ length: CALLS[storeName] }, (_, i) => i + 1);
    for (const [r, retries] of RETRIES.entries()) {
      for (const [f, fault] of FAULTS.entries()) {
        // Call n runs with the settings n + seed .. n + seed + kept - 1 (mod 12).
        const setting = r * FAULTS.length + f;
        const calls = everyCall.filter((n) => (((setting - n - FAULT_SEED) % settings) + settings) % settings < kept);
        if (calls.length === 0) continue;
        const slow = fault.kind === 'throttle' && !retries.env.AWS_MAX_ATTEMPTS;
        const size = slow ? SLOW_CHUNK : calls.length;
        for (let i = 0; i < calls.length; i += size) all.push({ storeName, retries, fault, slow, chunked: size < calls.length, calls: calls.slice(i, i + size) });
      }
    }
  }
  // Longest first: the slow chunks, then KMS (25 calls), then Secrets Manager (12).
  return all.sort((a, b) => Number(b.slow) - Number(a.slow) || b.calls.length - a.calls.length);
}

/** The calls one unfaulted `rotate <name> --force` makes, in order. */
async function recordSequence(store) {
  const fake = await store.start();
  try {
    const victim = store.seed(fake, 'probe', 1);
    const dir = tempProject('keyshift-faults-probe-');
    writeFiles(dir, { 'policies/victims.yaml': store.policy(fake, [victim]) });
    const result = await cliWithin(ROTATE(victim.name), { cwd: dir, env: env(RETRIES[0]) });
    assert.equal(result.code, 0, result.stdout + result.stderr);
    return fake.calls.map((c) => c.op);
  } finally {
    await fake.close();
  }
}

/**
 * One store, one fault kind, one retry setting, some call indices: a project with one victim per
 * index; victim n is rotated with the fault at call n. Then `rotate --all` until it exits 0, and the
 * end state of every victim is checked. Returns every problem found, each labelled with its case.
 */
async function runBatch({ storeName, fault, retries, calls }, t) {
  const store = FAULT_STORES[storeName];
  const sequence = sequences[storeName];
  const fake = await store.start();
  const problems = [];
  const batchStarted = Date.now();
  const batch = `${storeName} ${fault.label}, ${retries.label}`;
  try {
    const tag = `${fault.kind}${fault.afterApply ? '-after' : ''}-${retries.env.AWS_MAX_ATTEMPTS ?? 'retried'}`;
    const picked = FAULT_OPS ? calls.filter((at) => FAULT_OPS.includes(sequence[at - 1])) : calls;
    if (picked.length === 0) return problems;
    const victims = picked.map((at) => ({ at, ...store.seed(fake, tag, at) }));
    const dir = tempProject('keyshift-faults-');
    writeFiles(dir, { 'policies/victims.yaml': store.policy(fake, victims) });
    const options = { cwd: dir, env: env(retries, fault) };
    // Recovery runs as an operator would rerun: no faults, the default timeout and retries. A lease
    // whose call failed after it applied names no live holder and is held until its ttl
    // (docs/workflow.md#leases, a known gap): the reruns use a short ttl rather than wait 10 minutes.
    const calm = { cwd: dir, env: awsEnv({ KEYSHIFT_LEASE_TTL_MS: '1' }) };

    const cases = [];
    for (const victim of victims) {
      const at = victim.at;
      const label = `${batch}, at call ${at} (${sequence[at - 1]})`;
      fake.clearFaults();
      const first = fake.calls.length;
      const armed = fake.injectFault({ nth: at, kind: fault.kind, times: fault.times ?? 1, afterApply: fault.afterApply ?? false });
      const result = await cliWithin(ROTATE(victim.name), options);
      const fired = armed.fired;
      fake.clearFaults();
      const ops = fake.calls.slice(first).map((c) => c.op);
      if (fired === 0) problems.push(`${label}: the fault never fired (${ops.length} calls: ${ops.join(' ')})`);
      // The SDK's own retries of a slow call (a timeout on a loaded machine) are not keyshift's sequence.
      const firstAttempts = fake.calls.slice(first).filter((c) => (c.attempt ?? 1) === 1).map((c) => c.op);
      if (firstAttempts.slice(0, at - 1).join() !== sequence.slice(0, at - 1).join() && ops.slice(0, at - 1).join() !== sequence.slice(0, at - 1).join()) {
        problems.push(`${label}: the calls before the fault differ from the recorded sequence: ${ops.slice(0, at).join(' ')}`);
      }
      if (result.killed) problems.push(`${label}: still running after 90 s (killed)`);
      else if (result.code === 1) problems.push(...failureProblems(result).map((p) => `${label}: ${p}`));
      else if (result.code === 3 && leaseLost(result)) tally.add(storeName, 'blocked by its own lease after a lost reply (exit 3, nothing changed)');
      else if (result.code !== 0) problems.push(`${label}: exit ${result.code} (want 0 or 1): ${result.stdout.slice(0, 300)} ${result.stderr.slice(0, 300)}`);
      cases.push({ victim, label, code: result.code, errorCode: result.code === 1 ? errorCodeOf(result) : null, ms: result.ms });
    }

    // Recovery, as an operator would: `rotate --all` until it exits 0 (at most 3 reruns).
    const resumed = new Set();
    let rerun;
    let reruns = 0;
    while (reruns < 3) {
      reruns += 1;
      rerun = await cliWithin(['rotate', '--all', '--json'], calm);
      for (const r of jsonOrNull(rerun)?.results ?? []) if (r.outcome === 'resumed' || r.outcome === 'rotated') resumed.add(r.secret);
      if (rerun.code === 0) break;
    }
    tally.add(storeName, `reruns of rotate --all needed: ${reruns}`);
    if (rerun.code !== 0) problems.push(`${batch}: rotate --all still exits ${rerun.code} after 3 reruns: ${rerun.stdout.slice(0, 600)} ${rerun.stderr.slice(0, 300)}`);
    // A run that failed before writing anything left nothing to resume: the forced rotate is repeated.
    const untouched = cases.filter((c) => !store.started(fake, c.victim));
    if (untouched.length > 0) {
      const forced = await cliWithin(['rotate', ...untouched.map((c) => c.victim.name), '--force', '--reason', 'rerun', '--json'], calm);
      if (forced.code !== 0) problems.push(`${batch}: the repeated forced rotate exits ${forced.code}: ${forced.stdout.slice(0, 600)}`);
    }

    const status = jsonOrNull(await cliWithin(['status', '--json'], calm));
    const statusOf = new Map((status?.secrets ?? []).map((s) => [s.secret, s]));
    const verify = await cliWithin(['evidence', 'verify'], calm);
    if (verify.code !== 0) problems.push(`${batch}: evidence verify exits ${verify.code}: ${verify.stdout}${verify.stderr}`);
    const records = readEvidence(dir);
    for (const c of cases) {
      const end = store.endState(fake, c.victim, statusOf.get(c.victim.name));
      const found = [...end.problems, ...evidenceProblems(records, c.victim, statusOf.get(c.victim.name), end)];
      if (c.code === 0 && resumed.has(c.victim.name)) found.push('the first run exited 0, yet a rerun had to resume the rotation');
      problems.push(...found.map((p) => `${c.label}: ${p}`));
      const path = c.code === 0 ? 'completed in the first run' : untouched.includes(c) ? 'failed before any write: forced again' : 'failed cleanly, completed by rotate --all';
      tally.add(storeName, 'cases');
      tally.add(storeName, fault.label, retries.label, path);
      tally.add(storeName, 'all kinds', path);
      if (c.errorCode) tally.add(storeName, 'first-run error', c.errorCode);
      if (end.problems.length > 0) tally.add('lost or stuck');
    }
    t.diagnostic(`${batch}: ${cases.length} cases, ${cases.filter((c) => c.code === 0).length} completed in the first run, ${untouched.length} failed before any write, ${reruns} rerun(s); ${((Date.now() - batchStarted) / 1000).toFixed(1)} s, first runs ${Math.round(cases.reduce((sum, c) => sum + c.ms, 0) / cases.length)} ms on average`);
  } finally {
    fake.clearFaults();
    await fake.close();
  }
  return problems;
}

/**
 * A lease call whose reply was lost leaves a lease naming no live holder (docs/workflow.md#leases):
 * the run is blocked, every result `blocked` with ERR_LEASED, and nothing else changed. The reruns
 * below must still complete the rotation.
 */
function leaseLost(result) {
  const results = jsonOrNull(result)?.results ?? [];
  return results.length > 0 && results.every((r) => r.outcome === 'skipped' || (r.outcome === 'blocked' && r.error?.code === 'ERR_LEASED')) && results.some((r) => r.outcome === 'blocked');
}

function shareFromEnv(text) {
  const share = Number(text);
  if (!(share > 0 && share <= 1)) throw new Error(`FAULT_SHARE must be a number in (0, 1], got ${text}`);
  return share;
}

function integerFromEnv(name) {
  const value = Number(process.env[name]);
  if (!Number.isInteger(value)) throw new Error(`${name} must be an integer, got ${process.env[name]}`);
  return value;
}
