// kill -9 at random instants during a 500-secret forced rotation, then a rerun: nothing lost,
// nothing rotated twice, exactly one CURRENT everywhere, no PENDING left, evidence complete.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { runCli, runCliAsync, tempProject, writeFiles, readEvidence, manySecretsPolicy } from '../helpers/cli.js';
import { inspectStore } from '../helpers/store-check.js';

const COUNT = 500;
const ROUNDS = 4;
const keys = Array.from({ length: COUNT }, (_, i) => `secret-${String(i).padStart(5, '0')}`);

test(`kill -9 during rotate --all --force over ${COUNT} secrets, then a rerun, loses nothing`, { timeout: 300_000 }, async () => {
  const dir = tempProject();
  writeFiles(dir, { 'policies/many.yaml': manySecretsPolicy(COUNT, { fallbackWindow: '1h' }) });
  const storePath = join(dir, '.keyshift', 'dev.store');
  assert.equal(runCli(['rotate', '--all', '-q'], { cwd: dir }).code, 0);

  // How long an uninterrupted forced run takes, to spread the kills over it: timed on the second
  // forced run, which (as every killed round) also decommissions the versions the first replaced.
  // The first alone ran longer than the later ones on a fast runtime (Node 24), so kills timed by it
  // landed after a run's end.
  assert.equal(runCli(['rotate', '--all', '--force', '--reason', 'warm-up', '-q'], { cwd: dir }).code, 0);
  const started = Date.now();
  assert.equal(runCli(['rotate', '--all', '--force', '--reason', 'calibrate', '-q'], { cwd: dir }).code, 0);
  let fullRunMs = Date.now() - started;

  let killsMidRun = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const before = await inspectStore(storePath, keys);
    const runStarted = Date.now();
    const { child, done } = runCliAsync(['rotate', '--all', '--force', '--reason', `crash-${round}`, '-q'], { cwd: dir });
    await sleep(Math.floor(fullRunMs * (0.1 + 0.6 * Math.random())));
    child.kill('SIGKILL');
    const killed = await done;
    if (killed.signal === 'SIGKILL') killsMidRun++;
    else {
      assert.equal(killed.code, 0, `round ${round}: the run was not killed, yet failed: ${killed.stderr}`);
      // It ended before the kill (the machine got faster): later kills are timed by this run.
      fullRunMs = Math.min(fullRunMs, Date.now() - runStarted);
    }

    const rerun = runCli(['rotate', '--all', '--json'], { cwd: dir });
    assert.equal(rerun.code, 0, rerun.stderr);
    const after = await inspectStore(storePath, keys);
    const events = readEvidence(dir);
    const issuedThisRound = new Map();
    for (const e of events.filter((e) => e.reason === `crash-${round}` && e.event === 'issued')) {
      issuedThisRound.set(e.secret, (issuedThisRound.get(e.secret) ?? 0) + 1);
    }
    for (const key of keys) {
      const b = before.get(key);
      const a = after.get(key);
      assert.equal(a.current.length, 1, `${key}: exactly one CURRENT`);
      assert.equal(a.pending.length, 0, `${key}: no PENDING left`);
      assert.ok(a.currentValue, `${key}: CURRENT is readable`);
      const rotated = a.current[0].id !== b.current[0].id;
      assert.ok((issuedThisRound.get(key) ?? 0) <= 1, `${key}: rotated at most once in round ${round}`);
      if (rotated) {
        assert.equal(a.previousValue, b.currentValue, `${key}: the old value is still readable as PREVIOUS`);
        assert.equal(issuedThisRound.get(key), 1, `${key}: its rotation was issued once`);
      } else {
        assert.equal(a.currentValue, b.currentValue, `${key}: untouched secret keeps its value`);
      }
    }
    const verify = runCli(['evidence', 'verify'], { cwd: dir });
    assert.equal(verify.code, 0, `round ${round}: ${verify.stdout}${verify.stderr}`);
    const switched = new Set(events.filter((e) => e.event === 'switched').map((e) => e.rotationId));
    for (const e of events.filter((e) => e.event === 'issued')) assert.ok(switched.has(e.rotationId), `${e.secret}: issued and switched recorded for ${e.rotationId}`);
  }
  assert.ok(killsMidRun >= ROUNDS / 2, `at least half the kills landed mid-run (${killsMidRun}/${ROUNDS})`);
});
