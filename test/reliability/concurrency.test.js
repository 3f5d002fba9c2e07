// Concurrency suite: four processes run `rotate --all --force --reason r` on the same store at once,
// on the local store (40 secrets), Secrets Manager (20) and KMS (10 keys). (a) With the default lock
// timeout the runs take turns on the store lock: every one exits 0, their evidence records do not
// interleave, each secret is rotated once per run, nothing is corrupted. (b) With --lock-timeout 0s
// the runs that got the lock exit 0 and at least one other exits 3 naming the holder and its pid.
// CONCURRENCY_ROUNDS sets the rounds of (a) (default 2, sized for CI's 30 minutes). docs/reliability.md has figures.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readEvidence, runCliAsync } from '../helpers/cli.js';
import { CONCURRENCY_STORES } from './concurrency-stores.js';
import { cliWithin, createLanes, createTally, jsonOrNull } from './run-tools.js';

const PROCESSES = 4;
const ROUNDS = Number(process.env.CONCURRENCY_ROUNDS ?? 2);
const tally = createTally();
const started = Date.now();

for (const [storeName, store] of Object.entries(CONCURRENCY_STORES)) {
  describe(`concurrency on ${storeName} (${store.count} secrets)`, () => {
    let project;
    before(async () => {
      project = await store.setup();
    });
    after(async () => {
      await project?.close();
    });

    test(`${storeName} (a): ${PROCESSES} processes rotate --all --force at once, default lock timeout, ${ROUNDS} rounds`, { timeout: 300_000 }, async (t) => {
      for (let round = 1; round <= ROUNDS; round++) {
        const runs = await race(project, []);
        const problems = runs.filter((r) => r.code !== 0).map((r) => `pid ${r.pid} exited ${r.code} (want 0: the default lock timeout waits for the holder): ${r.stdout.slice(0, 400)} ${r.stderr.slice(0, 400)}`);
        problems.push(...takingTurns(runs, readEvidence(project.dir)));
        problems.push(...(await invariants(project, runs)));
        record(storeName, 'default lock timeout', runs);
        t.diagnostic(`round ${round}: exits ${runs.map((r) => r.code).join(' ')}`);
        assert.deepEqual(problems, [], `round ${round}:\n${problems.join('\n')}`);
      }
      assert.deepEqual(await getProblems(project), []);
    });

    test(`${storeName} (b): ${PROCESSES} processes with --lock-timeout 0s: the holder exits 0, the others exit 3 naming it`, { timeout: 300_000 }, async () => {
      const runs = await race(project, ['--lock-timeout', '0s']);
      const problems = [...blockedProblems(runs), ...(await invariants(project, runs))];
      record(storeName, 'lock timeout 0s', runs);
      assert.ok(runs.some((r) => r.code === 0), `no run got the lock: ${runs.map((r) => r.code)}`);
      assert.ok(runs.some((r) => r.code === 3), `no run was blocked, so nothing was checked: ${runs.map((r) => r.code)}`);
      assert.deepEqual(problems, [], problems.join('\n'));
      assert.deepEqual(await getProblems(project), []);
    });
  });
}

test('concurrency suite summary', (t) => {
  for (const [key, count] of tally.entries()) t.diagnostic(`${key}: ${count}`);
  t.diagnostic(`${((Date.now() - started) / 1000).toFixed(1)} s`);
});

/** PROCESSES identical runs started together; each with its pid, exit code and JSON report. */
async function race(project, extra) {
  const args = ['rotate', '--all', '--force', '--reason', 'r', '--json', ...extra];
  const spawned = Array.from({ length: PROCESSES }, () => runCliAsync(args, { cwd: project.dir, ...(project.env ? { env: project.env } : {}) }));
  return Promise.all(spawned.map(async ({ child, done }) => {
    const result = await done;
    return { ...result, pid: child.pid, report: jsonOrNull(result) };
  }));
}

/**
 * The runs took turns: the evidence each run wrote in this race forms one unbroken block of the
 * log (a run that had not waited for the lock would interleave its records with the holder's).
 */
function takingTurns(runs, records) {
  const ids = new Set(runs.map((r) => r.report?.runId).filter(Boolean));
  const order = records.filter((e) => ids.has(e.runId)).map((e) => e.runId);
  const blocks = order.filter((id, i) => i === 0 || order[i - 1] !== id);
  return blocks.length === new Set(blocks).size ? [] : [`the runs' evidence interleaves (they did not take turns): ${blocks.join(' ')}`];
}

function exitProblem(run) {
  if (run.code === 0 || run.code === 3) return null;
  return `a run exited ${run.code}: ${run.stdout.slice(0, 600)} ${run.stderr.slice(0, 600)}`;
}

/**
 * (b): every run exits 0 or 3; a run that exited 3 is blocked on every secret by ERR_LOCKED, names
 * a holder (its run id and pid) that is one of the runs that exited 0, and wrote no evidence.
 */
function blockedProblems(runs) {
  const problems = runs.map(exitProblem).filter(Boolean);
  const winners = runs.filter((r) => r.code === 0);
  for (const run of runs.filter((r) => r.code === 3)) {
    const results = run.report?.results ?? [];
    const locked = results.filter((r) => r.outcome === 'blocked' && r.error?.code === 'ERR_LOCKED');
    if (results.length === 0 || locked.length !== results.length) problems.push(`pid ${run.pid} exited 3, but not blocked by the lock on every secret: ${run.stdout.slice(0, 400)}`);
    const message = locked[0]?.error.message ?? '';
    const holder = winners.find((w) => message.includes(`pid ${w.pid} `) && message.includes(w.report?.runId));
    if (!holder) problems.push(`pid ${run.pid} exited 3 naming a holder that is not a run that exited 0 (${winners.map((w) => `${w.pid}/${w.report?.runId}`)}): ${message}`);
    if (!/is locked by keyshift rotate \(.+, run-[0-9a-f]+\) \(pid \d+ on /.test(message)) problems.push(`the lock message does not name the holder and its pid: ${message}`);
  }
  return problems;
}

/**
 * After a race: status works, every secret has one CURRENT, no stuck PENDING, evidence verifies;
 * each run that exited 0 rotated every secret exactly once and a blocked run wrote nothing; every
 * rotation's records come from one run; the store holds no version the evidence does not explain.
 */
async function invariants(project, runs) {
  const problems = [];
  const status = await cliWithin(['status', '--json'], { cwd: project.dir, env: project.env });
  const statusOf = new Map((jsonOrNull(status)?.secrets ?? []).map((s) => [s.secret, s]));
  if (status.code !== 0 || statusOf.size !== project.secrets.length) problems.push(`status --json exits ${status.code} with ${statusOf.size} secrets: ${status.stderr.slice(0, 300)}`);
  const verify = await cliWithin(['evidence', 'verify'], { cwd: project.dir, env: project.env });
  if (verify.code !== 0) problems.push(`evidence verify exits ${verify.code}: ${verify.stdout}${verify.stderr}`);

  const records = readEvidence(project.dir);
  const winners = runs.filter((r) => r.code === 0).map((r) => r.report?.runId);
  for (const run of runs.filter((r) => r.code !== 0)) {
    const written = records.filter((e) => e.runId === run.report?.runId);
    if (written.length > 0) problems.push(`pid ${run.pid} exited ${run.code} yet wrote ${written.length} evidence records`);
  }
  const byRotation = new Map();
  for (const e of records.filter((r) => ['issued', 'switched', 'failed'].includes(r.event) && r.rotationId)) {
    byRotation.set(e.rotationId, (byRotation.get(e.rotationId) ?? new Set()).add(e.runId));
  }
  for (const [rotationId, runIds] of byRotation) if (runIds.size !== 1) problems.push(`rotation ${rotationId} has records from ${runIds.size} runs: ${[...runIds]}`);

  const snapshot = await project.snapshot();
  for (const name of project.secrets) {
    const mine = records.filter((e) => e.secret === name);
    const switched = mine.filter((e) => e.event === 'switched');
    for (const runId of winners) {
      const inRun = switched.filter((e) => e.runId === runId).length;
      if (inRun !== 1) problems.push(`${name}: run ${runId} (exit 0) switched it ${inRun} times`);
    }
    const s = snapshot.get(name);
    if (s.currents.length !== 1) problems.push(`${name}: ${s.currents.length} CURRENT versions`);
    if (s.pending.length > 0) problems.push(`${name}: PENDING stuck on ${s.pending}`);
    if (s.currents[0] !== switched.at(-1)?.toVersion) problems.push(`${name}: CURRENT is ${s.currents[0]}, the last switch went to ${switched.at(-1)?.toVersion}`);
    if (!s.currentValue) problems.push(`${name}: the CURRENT version has no readable value`);
    if (s.created !== null && s.created !== switched.length) problems.push(`${name}: ${s.created} new versions for ${switched.length} completed rotations`);
    if (s.enabledKeys !== undefined && s.enabledKeys !== 2) problems.push(`${name}: ${s.enabledKeys} enabled keys (want the current one and the one in its fallback window)`);
    const explained = new Set([...mine.filter((e) => e.event === 'provisioned' || e.event === 'issued').map((e) => e.toVersion), ...switched.map((e) => e.fromVersion)]);
    const unexplained = s.versionIds.filter((id) => !explained.has(id));
    if (unexplained.length > 0) problems.push(`${name}: versions no evidence explains: ${unexplained}`);
    const st = statusOf.get(name);
    if (st && (st.phase !== 'fallback' || st.currentVersion !== s.currents[0])) problems.push(`${name}: status says ${st.phase} on ${st.currentVersion}`);
  }
  return problems;
}

/** `get` of every secret prints the value its store holds as CURRENT. */
async function getProblems(project) {
  const snapshot = await project.snapshot();
  const lanes = createLanes(4);
  const problems = await Promise.all(project.secrets.map((name) => lanes(async () => {
    const got = await cliWithin(['get', name], { cwd: project.dir, env: project.env });
    const want = snapshot.get(name).currentValue;
    if (got.code !== 0) return `get ${name} exits ${got.code}: ${got.stderr.slice(0, 200)}`;
    return got.stdout.trimEnd() === want ? null : `get ${name} prints another value than the store's CURRENT`;
  })));
  return problems.filter(Boolean);
}

function record(storeName, phase, runs) {
  for (const run of runs) {
    tally.add(storeName, phase, 'processes');
    tally.add(storeName, phase, `exit ${run.code}`);
    const rotated = (run.report?.results ?? []).filter((r) => r.outcome === 'rotated').length;
    for (let i = 0; i < rotated; i++) tally.add(storeName, phase, 'rotations');
  }
}
