// End-to-end checks any store runs through the real CLI (test/e2e/vault-kv2.test.js,
// test/e2e/command-store.test.js): the whole lifecycle with hooks, rollback, a canary value that
// never leaks, and `kill -9` at random instants (KEYSHIFT_CRASH_ROUNDS rounds, default 3).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { cli, json, readEvidence, runCliAsync, tempProject, writeFiles, assertNoStackTrace } from './cli.js';

export const CANARY = 'KSCANARY';
const issuer = `["node", "-e", "process.stdout.write('${CANARY}' + require('crypto').randomBytes(12).toString('hex'))"]`;

/** A policy whose secrets live in `storeOf(name)` (a YAML flow mapping), values from a canary issuer. */
export function storePolicy(names, storeOf, { fallbackWindow = '2s', hooks = true } = {}) {
  let text = 'secrets:\n';
  for (const name of names) {
    text += `  - name: ${name}\n    interval: 30d\n    fallbackWindow: ${fallbackWindow}\n    generator: { type: command, run: ${issuer} }\n    environments:\n      - name: prod\n        store: ${storeOf(name)}\n`;
    if (hooks) text += `        deploy: [{ run: "test -s \\"$KEYSHIFT_VALUE_FILE\\" && echo deployed-${name} >> hooks.log" }]\n        verify: [{ run: [sh, -c, "echo verified-${name} >> hooks.log"] }]\n`;
  }
  return text;
}

/**
 * provision → rotate with overlap hooks → fallback → decommission → rotate → rollback, all at trace
 * log level; every output but `get`'s stdout, and the evidence, must be free of the canary.
 * The fallback window is an hour, however slow the store; the runs from the decommission on see
 * the clock past it (KEYSHIFT_NOW) rather than wait.
 * `env` is the CLI's environment; returns the project directory and the outputs.
 */
export async function lifecycle({ storeOf, env: startEnv }) {
  const dir = tempProject('keyshift-store-e2e-');
  writeFiles(dir, { 'policies/p.yaml': storePolicy(['api-key'], storeOf, { fallbackWindow: '1h' }) });
  const outputs = [];
  let env = startEnv;
  const run = async (...args) => {
    const result = await cli([...args, '--log-level', 'trace'], { cwd: dir, env });
    outputs.push({ args, ...result });
    assertNoStackTrace(assert, result.stderr);
    return result;
  };
  const get = async (stage = 'current') => {
    const result = await cli(['get', 'api-key', '--stage', stage], { cwd: dir, env });
    return result.code === 0 ? result.stdout.trim() : null;
  };

  const provisioned = await run('rotate', '--all');
  assert.equal(provisioned.code, 0, provisioned.stderr);
  const first = await get();
  assert.match(first, new RegExp(`^${CANARY}[0-9a-f]{24}$`));

  const rotated = json(await run('rotate', '--all', '--force', '--reason', 'e2e', '--json'));
  assert.equal(rotated.results[0].outcome, 'rotated', JSON.stringify(rotated));
  assert.deepEqual(readFileSync(join(dir, 'hooks.log'), 'utf8').trim().split('\n'), ['deployed-api-key', 'verified-api-key']);
  const second = await get();
  assert.notEqual(second, first);
  assert.equal(await get('previous'), first, 'the old value stays readable during the fallback window');
  const status = json(await run('status', '--json')).secrets[0];
  assert.equal(status.phase, 'fallback');
  assert.equal(status.pendingVersion, null);

  // An hour and a minute later, the window has passed: decommission.
  env = { ...startEnv, KEYSHIFT_NOW: new Date(Date.now() + 61 * 60_000).toISOString() };
  const later = json(await run('rotate', '--all', '--json'));
  assert.deepEqual(later.results.map((r) => [r.action, r.outcome]), [['decommission', 'decommissioned']]);
  assert.equal(await get('previous'), null, 'the retired value is gone');
  assert.equal(await get(), second);

  assert.equal((await run('rotate', '--all', '--force', '--reason', 'again')).code, 0);
  const third = await get();
  const back = await run('rollback', 'api-key', '--json');
  assert.equal(back.code, 0, back.stderr);
  assert.equal(await get(), second, 'rollback puts the old value back as CURRENT');
  assert.ok(third !== second);

  assert.equal((await run('evidence', 'verify')).code, 0);
  const events = readEvidence(dir).map((r) => r.event);
  const main = ['provisioned', 'issued', 'deployed', 'verified', 'switched', 'decommissioned'];
  assert.deepEqual(events.filter((e) => main.includes(e)).slice(0, 6), main);
  assert.ok(events.includes('rolled-back'));
  for (const o of outputs) {
    assert.ok(!o.stdout.includes(CANARY), `stdout of ${o.args.join(' ')}`);
    assert.ok(!o.stderr.includes(CANARY), `stderr of ${o.args.join(' ')}`);
  }
  assert.ok(outputs.some((o) => /"level":(10|20)/.test(o.stderr)), 'trace logging was on');
  assert.ok(!readFileSync(join(dir, 'evidence', 'evidence.jsonl'), 'utf8').includes(CANARY), 'evidence holds no value');
  return { dir, values: [first, second, third] };
}

/**
 * `kill -9` at a random instant of a forced rotation, then: exactly one readable CURRENT right
 * after the kill, and a rerun that completes with each secret issued at most once this round.
 */
export async function crashRounds({ storeOf, env, names = ['crash-a', 'crash-b', 'crash-c'], rounds = Number(process.env.KEYSHIFT_CRASH_ROUNDS || 3) }) {
  const dir = tempProject('keyshift-store-crash-');
  writeFiles(dir, { 'policies/p.yaml': storePolicy(names, storeOf, { fallbackWindow: '1h', hooks: false }) });
  assert.equal((await cli(['rotate', '--all', '-q'], { cwd: dir, env })).code, 0);
  const values = async () => {
    const out = new Map();
    for (const name of names) {
      const got = await cli(['get', name], { cwd: dir, env });
      assert.equal(got.code, 0, `${name}: CURRENT is readable (${got.stderr})`);
      out.set(name, got.stdout.trim());
    }
    return out;
  };
  const started = Date.now();
  assert.equal((await cli(['rotate', '--all', '--force', '--reason', 'calibrate', '-q'], { cwd: dir, env })).code, 0);
  let fullRunMs = Date.now() - started;
  let killsMidRun = 0;
  for (let round = 0; round < rounds; round++) {
    const before = await values();
    const seen = readEvidence(dir).length;
    const runStarted = Date.now();
    const { child, done } = runCliAsync(['rotate', '--all', '--force', '--reason', `crash-${round}`, '-q'], { cwd: dir, env });
    await sleep(Math.floor(fullRunMs * Math.random()));
    child.kill('SIGKILL');
    const killed = await done;
    if (killed.signal === 'SIGKILL') killsMidRun++;
    // It ended before the kill (a slow calibration): later kills are timed by this run.
    else if (killed.code === 0) fullRunMs = Math.min(fullRunMs, Date.now() - runStarted);
    await values(); // one readable CURRENT right after the kill
    const rerun = await cli(['rotate', '--all', '--json'], { cwd: dir, env });
    assert.equal(rerun.code, 0, `round ${round}: ${rerun.stdout}${rerun.stderr}`);
    const after = await values();
    const status = json(await cli(['status', '--json'], { cwd: dir, env })).secrets;
    // Every issue of this round (by the killed run, or by the rerun resuming its rotation: that
    // event carries the rerun's reason), whichever run recorded it.
    const issued = readEvidence(dir).slice(seen).filter((e) => e.event === 'issued');
    for (const name of names) {
      const count = issued.filter((e) => e.secret === name).length;
      assert.ok(count <= 1, `${name}: issued ${count} times in round ${round}`);
      assert.equal(status.find((s) => s.secret === name).pendingVersion, null, `${name}: no PENDING left`);
      if (after.get(name) !== before.get(name)) {
        assert.equal(count, 1, `${name}: a changed value was issued once`);
        const previous = await cli(['get', name, '--stage', 'previous'], { cwd: dir, env });
        assert.equal(previous.stdout.trim(), before.get(name), `${name}: the old value is PREVIOUS`);
      }
    }
    assert.equal((await cli(['evidence', 'verify'], { cwd: dir, env })).code, 0, `round ${round}: evidence verifies`);
  }
  return { killsMidRun, rounds };
}
