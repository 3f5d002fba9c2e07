// `kill -9` at random instants during `rotate --all --force` on a file store (dotenv, k8s-secret)
// holding many secrets in one file, with a slow deploy hook so a rotation spans several writes.
// While the run writes, a consumer reads the file and the store (exactly one readable CURRENT at
// every observed instant); after each kill a plain rerun completes what was in flight, and then:
// one CURRENT, no PENDING, each rotation issued and switched once (never a second new version),
// the old value readable as PREVIOUS, untouched secrets unchanged, the evidence chain intact.
// CRASH_ROUNDS scales the rounds (CI default 1 = 10 kills per store).
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { baseEnv, cli, json, readEvidence, runCliAsync, tempProject, writeFiles } from './cli.js';
import { manyFileSecrets } from './file-stores.js';

export const CRASH_ROUNDS = Math.max(1, Math.round(10 * Number(process.env.CRASH_ROUNDS ?? 1)));

/**
 * kind: { name, count, files, store(i) → store line, consumerRead(dir, i) → CURRENT value (or
 * undefined), openStore(dir, env) → adapter, key(i) → entry key, env }
 */
export async function crashRounds(t, kind) {
  const dir = tempProject(`keyshift-${kind.name}-crash-`);
  const count = kind.count;
  writeFiles(dir, { 'policies/many.yaml': manyFileSecrets(count, kind.store, { hooks: '        deploy: [{ run: "sleep 0.02" }]\n' }), ...kind.files });
  kind.setup?.(dir);
  const env = baseEnv(kind.env);
  const first = await cli(['rotate', '--all', '-q'], { cwd: dir, env });
  assert.equal(first.code, 0, first.stderr);
  const started = Date.now();
  const calibrate = await cli(['rotate', '--all', '--force', '--reason', 'calibrate', '-q'], { cwd: dir, env });
  assert.equal(calibrate.code, 0, calibrate.stderr);
  let fullRunMs = Date.now() - started;

  const snapshot = async () => {
    const store = kind.openStore(dir, env);
    const out = [];
    try {
      for (let i = 0; i < count; i++) {
        const state = await store.read(kind.key(i));
        const stage = (s) => state.versions.filter((v) => v.stages.includes(s));
        const value = async (s) => (stage(s)[0] ? (await store.readValue(kind.key(i), stage(s)[0].id)).reveal() : null);
        out.push({ state, current: stage('CURRENT'), pending: stage('PENDING'), currentValue: await value('CURRENT'), previousValue: await value('PREVIOUS') });
      }
    } finally {
      await store.close();
    }
    return out;
  };
  let observations = 0;
  const observe = async () => {
    for (let i = 0; i < count; i++) assert.ok(kind.consumerRead(dir, i), `secret ${i}: the file holds a CURRENT value at every observed instant`);
    if (observations++ % 3 !== 0) return;
    // Through the store, as a second process reads it: one CURRENT, and its value. A read and the
    // value's read are two calls; a forced run may retire that version in between (emergency:
    // the old version goes at the switch), so a reader that finds it gone reads again.
    const store = kind.openStore(dir, env);
    try {
      for (let i = 0; i < count; i++) {
        for (let attempt = 0; ; attempt++) {
          const current = (await store.read(kind.key(i))).versions.filter((v) => v.stages.includes('CURRENT'));
          assert.equal(current.length, 1, `secret ${i}: exactly one CURRENT at every observed instant`);
          try {
            assert.ok((await store.readValue(kind.key(i), current[0].id)).reveal(), `secret ${i}: CURRENT readable at every observed instant`);
            break;
          } catch (error) {
            if (error.code !== 'ERR_VERSION_NOT_FOUND' || attempt >= 3) throw error;
          }
        }
      }
    } finally {
      await store.close();
    }
  };

  let midRun = 0;
  for (let round = 0; round < CRASH_ROUNDS; round++) {
    const reason = `crash-${round}`;
    const before = await snapshot();
    const from = readEvidence(dir).length;
    const runStarted = Date.now();
    const { child, done } = runCliAsync(['rotate', '--all', '--force', '--reason', reason, '-q'], { cwd: dir, env });
    let finishedMs = null;
    done.then(() => (finishedMs = Date.now() - runStarted));
    const deadline = runStarted + Math.floor(fullRunMs * Math.random());
    while (Date.now() < deadline && finishedMs === null) {
      await observe();
      await sleep(3);
    }
    child.kill('SIGKILL');
    const killed = await done;
    if (killed.signal === 'SIGKILL') midRun++;
    // It ended before the kill (a slow calibration): later kills are timed by this run.
    else if (killed.code === 0) fullRunMs = Math.min(fullRunMs, finishedMs);
    await observe();

    const rerun = await cli(['rotate', '--all', '--json'], { cwd: dir, env });
    assert.equal(rerun.code, 0, `round ${round} rerun: ${rerun.stdout.slice(0, 1500)}${rerun.stderr.slice(0, 1500)}`);
    assert.ok(json(rerun).results.every((r) => ['resumed', 'skipped'].includes(r.outcome)), 'the rerun only resumes');
    const events = readEvidence(dir);
    const switched = new Map();
    for (const e of events.filter((e) => e.event === 'switched')) switched.set(e.rotationId, (switched.get(e.rotationId) ?? 0) + 1);
    const issued = new Map();
    for (const e of events.slice(from).filter((e) => e.event === 'issued')) {
      assert.equal(switched.get(e.rotationId), 1, `${e.secret}: ${e.rotationId} issued and switched exactly once`);
      issued.set(e.secret, (issued.get(e.secret) ?? 0) + 1);
    }
    const after = await snapshot();
    for (let i = 0; i < count; i++) {
      const [a, b] = [after[i], before[i]];
      const secret = `secret-${String(i).padStart(5, '0')}`;
      assert.equal(a.current.length, 1, `${secret}: one CURRENT`);
      assert.equal(a.pending.length, 0, `${secret}: no PENDING left`);
      assert.ok(a.state.versions.length <= 2, `${secret}: CURRENT and PREVIOUS only, no second new version`);
      if (a.current[0].id !== b.current[0].id) {
        assert.equal(issued.get(secret), 1, `${secret}: its rotation was issued once`);
        assert.equal(a.previousValue, b.currentValue, `${secret}: the old value stays readable as PREVIOUS`);
      } else {
        assert.equal(issued.get(secret), undefined, `${secret}: not rotated, nothing issued`);
        assert.equal(a.currentValue, b.currentValue, `${secret}: untouched`);
      }
    }
    if (round % 5 === 4 || round === CRASH_ROUNDS - 1) {
      const verify = await cli(['evidence', 'verify'], { cwd: dir, env });
      assert.equal(verify.code, 0, `${reason}: ${verify.stdout}${verify.stderr}`);
    }
  }
  t.diagnostic(`${CRASH_ROUNDS} kills (${midRun} mid-run) over ${count} secrets in one file, ${observations} observations, 0 keys lost or stuck`);
}
