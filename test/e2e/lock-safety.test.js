// A lock holder that is alive but paused (SIGSTOP: a GC pause, a suspended laptop, a throttled
// container) keeps its lock; a holder on another host loses it only when its heartbeat stops, and
// then notices before it writes again. Real CLI runs, real stores, real signals.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { runCli, runCliAsync, tempProject, writeFiles, json, readEvidence, assertNoStackTrace } from '../helpers/cli.js';

const secret = (name, hooks = '') =>
  `  - name: ${name}\n    interval: 30d\n    fallbackWindow: 1h\n    generator: { type: random, bytes: 16, encoding: hex }\n    environments:\n      - name: dev\n        store: { type: local, path: .keyshift/dev.store }\n${hooks}`;
// alpha's deploy hook says it started, then takes a while: long enough to stop its run mid-rotation.
const POLICY = `secrets:\n${secret('alpha', '        deploy: [{ run: "touch deploy-started; sleep 2" }]\n')}${secret('beta')}`;
const LOCK = ['.keyshift', 'dev.store.lock'];
const get = (dir, name) => runCli(['get', name, '--env', 'dev'], { cwd: dir }).stdout.trim();

function project() {
  const dir = tempProject('keyshift-lock-');
  writeFiles(dir, { 'policies/p.yaml': POLICY });
  const provisioned = runCli(['rotate', '--all', '-q'], { cwd: dir });
  assert.equal(provisioned.code, 0, provisioned.stderr);
  return { dir, before: { alpha: get(dir, 'alpha'), beta: get(dir, 'beta') } };
}

/** Starts `rotate alpha --force` and stops it (SIGSTOP) inside its deploy hook, holding the store lock. */
async function stoppedRun(dir) {
  const run = runCliAsync(['rotate', 'alpha', '--force', '--reason', 'run-a', '--json'], { cwd: dir });
  for (let i = 0; !existsSync(join(dir, 'deploy-started')); i++) {
    assert.ok(i < 400, 'the deploy hook never started');
    await sleep(25);
  }
  run.child.kill('SIGSTOP');
  // A stopped process refreshes nothing: its heartbeat is as old as the pause (here: a minute).
  const old = new Date(Date.now() - 60_000);
  utimesSync(join(dir, ...LOCK), old, old);
  return run;
}

function backdate(path, ms) {
  const then = new Date(Date.now() - ms);
  utimesSync(path, then, then);
}

test('a paused holder on this host keeps its lock: the other run waits, exits 3 naming it, and no acknowledged rotation is lost', { timeout: 60_000 }, async () => {
  const { dir, before } = project();
  const a = await stoppedRun(dir);
  let resumed = false;
  try {
    const b = runCli(['rotate', 'beta', '--force', '--reason', 'run-b', '--lock-timeout', '1s', '--json'], { cwd: dir });
    assert.equal(b.code, 3, `B must not take over a live holder's lock: exit ${b.code}\n${b.stderr}`);
    const blocked = json(b).results[0];
    assert.equal(blocked.outcome, 'blocked');
    assert.match(blocked.error.message, new RegExp(`pid ${a.child.pid} on `), 'names the holder');
    assert.equal(get(dir, 'beta'), before.beta, 'B changed nothing');
  } finally {
    a.child.kill('SIGCONT');
    resumed = true;
  }
  const done = await a.done;
  assert.ok(resumed);
  assert.equal(done.code, 0, done.stderr);
  assert.equal(json(done).results[0].outcome, 'rotated');
  // B's rerun now gets the lock; afterwards both acknowledged rotations are in the store.
  const b2 = runCli(['rotate', 'beta', '--force', '--reason', 'run-b', '--json'], { cwd: dir });
  assert.equal(b2.code, 0, b2.stderr);
  const alphaNow = get(dir, 'alpha');
  const betaNow = get(dir, 'beta');
  assert.notEqual(alphaNow, before.alpha, "A's rotation is in the store");
  assert.notEqual(betaNow, before.beta, "B's rotation is in the store");
  const status = json(runCli(['status', '--json'], { cwd: dir })).secrets;
  assert.deepEqual(status.map((s) => `${s.secret}:${s.phase}`), ['alpha:fallback', 'beta:fallback']);
  const switched = readEvidence(dir).filter((e) => e.event === 'switched').map((e) => `${e.secret}:${e.reason}`);
  assert.deepEqual(switched, ['alpha:run-a', 'beta:run-b']);
  assert.equal(runCli(['evidence', 'verify'], { cwd: dir }).code, 0);
  assert.ok(!existsSync(join(dir, ...LOCK)), 'the lock is released');
});

test('a holder on another host: taken over only after its heartbeat stops', () => {
  const { dir, before } = project();
  const lock = join(dir, ...LOCK);
  writeFileSync(lock, JSON.stringify({ pid: 4242, host: 'build-7.other.example', owner: 'keyshift rotate (ci@build-7, run-x)', token: 'feedfacefeedface', acquiredAt: new Date().toISOString() }));
  const waiting = runCli(['rotate', 'beta', '--force', '--reason', 'x', '--lock-timeout', '1s', '--json'], { cwd: dir });
  assert.equal(waiting.code, 3, waiting.stderr);
  assert.match(json(waiting).results[0].error.message, /pid 4242 on build-7\.other\.example/);
  assert.equal(get(dir, 'beta'), before.beta);
  backdate(lock, 60_000); // its heartbeat stopped a minute ago
  const took = runCli(['rotate', 'beta', '--force', '--reason', 'x', '--lock-timeout', '1s', '--json'], { cwd: dir });
  assert.equal(took.code, 0, took.stderr);
  assert.notEqual(get(dir, 'beta'), before.beta);
});

test('a paused holder whose lock was taken over from another host fails cleanly before its next write, and a rerun completes', { timeout: 60_000 }, async () => {
  const { dir, before } = project();
  const a = await stoppedRun(dir);
  const lock = join(dir, ...LOCK);
  const store = join(dir, '.keyshift', 'dev.store');
  // While A is stopped, a run on another host sees a dead heartbeat and takes the lock over.
  const other = { pid: 4242, host: 'build-7.other.example', owner: 'keyshift rotate (ci@build-7, run-x)', token: 'feedfacefeedface', acquiredAt: new Date().toISOString() };
  writeFileSync(lock, JSON.stringify(other));
  const storeBytes = readFileSync(store);
  a.child.kill('SIGCONT');
  const done = await a.done;
  assert.equal(done.code, 1, `A must fail, not write: exit ${done.code}\n${done.stderr}`);
  assertNoStackTrace(assert, done.stderr);
  const result = json(done).results[0];
  assert.equal(result.outcome, 'failed');
  assert.equal(result.error.code, 'ERR_LOCK_LOST');
  assert.match(result.error.message, /build-7\.other\.example/);
  assert.deepEqual(readFileSync(store), storeBytes, 'A wrote nothing to the store after losing its lock');
  assert.deepEqual(JSON.parse(readFileSync(lock, 'utf8')), other, "A left the new holder's lock alone");
  assert.equal(get(dir, 'alpha'), before.alpha);
  // The other host's run finishes and releases; a rerun resumes A's rotation and completes it.
  writeFileSync(lock, '');
  backdate(lock, 60_000);
  const rerun = runCli(['rotate', 'alpha', '--json'], { cwd: dir });
  assert.equal(rerun.code, 0, rerun.stderr);
  const issued = readEvidence(dir).filter((e) => e.event === 'issued' && e.secret === 'alpha');
  assert.deepEqual(issued.map((e) => e.reason), ['run-a'], 'one issued version, by run A');
  assert.deepEqual(json(rerun).results.map((r) => `${r.action}:${r.outcome}:${r.rotationId}`), [`resume:resumed:${issued[0].rotationId}`], 'the rerun resumed A\'s rotation');
  assert.notEqual(get(dir, 'alpha'), before.alpha);
  assert.equal(runCli(['evidence', 'verify'], { cwd: dir }).code, 0);
});

test('a dangling evidence.jsonl symlink is refused with one line naming it; its target is not created', () => {
  const dir = tempProject('keyshift-lock-');
  writeFiles(dir, { 'policies/p.yaml': `secrets:\n${secret('beta')}` });
  mkdirSync(join(dir, 'evidence'));
  const target = join(dir, 'planted-target');
  symlinkSync(target, join(dir, 'evidence', 'evidence.jsonl'));
  const result = runCli(['rotate', '--all'], { cwd: dir });
  assert.notEqual(result.code, 0);
  assertNoStackTrace(assert, result.stderr);
  assert.match(result.stderr, /evidence[/\\]evidence\.jsonl.*symbolic link/);
  assert.ok(!existsSync(target), 'the symlink target was not created');
});
