// The whole life of a secret on the local store, driven through the real CLI.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync, statSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { baseEnv, runCli, tempProject, writeFiles, json, readEvidence, assertNoStackTrace } from '../helpers/cli.js';

test('init, rotate, status, get, decommission after the window, evidence verify', async () => {
  const dir = tempProject();
  const init = runCli(['init'], { cwd: dir });
  assert.equal(init.code, 0, init.stderr);
  assert.ok(existsSync(join(dir, 'policies', 'example.yaml')));
  assert.equal(runCli(['init'], { cwd: dir }).code, 2, 'init refuses to overwrite');

  assert.equal(runCli(['validate'], { cwd: dir }).code, 0);
  const plan = json(runCli(['plan', '--json'], { cwd: dir }));
  assert.deepEqual(plan.actions.map((a) => a.action), ['provision']);
  assert.ok(!existsSync(join(dir, '.keyshift')), 'plan creates no store, key or lock');

  const first = json(runCli(['rotate', '--all', '--json'], { cwd: dir }));
  assert.equal(first.results[0].outcome, 'provisioned');
  assert.equal(statSync(join(dir, '.keyshift', 'dev.store')).mode & 0o777, 0o600);
  const original = runCli(['get', 'example-api-key'], { cwd: dir }).stdout.trim();
  assert.equal(Buffer.from(original, 'base64').length, 32);

  const rotated = json(runCli(['rotate', 'example-api-key', '--force', '--reason', 'test', '--json'], { cwd: dir }));
  const result = rotated.results.find((r) => r.action === 'rotate');
  assert.equal(result.outcome, 'rotated');
  assert.equal(result.fromVersion, first.results[0].toVersion);
  assert.match(result.rotationId, /^r-/);

  const current = runCli(['get', 'example-api-key', '--env', 'dev'], { cwd: dir }).stdout.trim();
  const previous = runCli(['get', 'example-api-key', '--stage', 'previous'], { cwd: dir }).stdout.trim();
  assert.notEqual(current, original);
  assert.equal(previous, original, 'the old value stays readable as PREVIOUS during the fallback window');

  const status = json(runCli(['status', '--json'], { cwd: dir }));
  assert.equal(status.secrets.length, 1);
  const row = status.secrets[0];
  assert.equal(row.phase, 'fallback');
  assert.equal(row.currentVersion, result.toVersion);
  assert.equal(row.previousVersion, result.fromVersion);
  assert.equal(row.pendingVersion, null);
  assert.equal(row.overdue, false);
  assert.ok(Date.parse(row.nextDueAt) > Date.now() + 89 * 86400_000);

  // Shorten the window, let it pass (the test clock, 2 hours on: a real wait of a few seconds
  // failed on a loaded machine, where the CLI runs before it took longer than the window): the
  // next run decommissions and rotates nothing new.
  const policy = readFileSync(join(dir, 'policies', 'example.yaml'), 'utf8').replace('fallbackWindow: 48h', 'fallbackWindow: 1h');
  writeFileSync(join(dir, 'policies', 'example.yaml'), policy);
  const early = json(runCli(['rotate', '--all', '--json'], { cwd: dir }));
  assert.deepEqual(early.results.map((r) => r.outcome), ['skipped'], 'nothing happens inside the fallback window');
  const later = json(runCli(['rotate', '--all', '--json'], { cwd: dir, env: { ...baseEnv(), KEYSHIFT_NOW: new Date(Date.now() + 2 * 3600_000).toISOString() } }));
  assert.deepEqual(later.results.map((r) => [r.action, r.outcome]), [['decommission', 'decommissioned']]);
  assert.equal(runCli(['get', 'example-api-key', '--stage', 'previous'], { cwd: dir }).code, 1);
  assert.equal(runCli(['get', 'example-api-key'], { cwd: dir }).stdout.trim(), current);
  assert.equal(json(runCli(['status', '--json'], { cwd: dir })).secrets[0].phase, 'idle');

  const events = readEvidence(dir).map((r) => r.event);
  assert.deepEqual(events, ['provisioned', 'issued', 'switched', 'decommissioned']);
  const verify = runCli(['evidence', 'verify'], { cwd: dir });
  assert.equal(verify.code, 0, verify.stdout + verify.stderr);
  assert.match(verify.stdout, /4 records, chain intact/);

  const rollback = runCli(['rollback', 'example-api-key'], { cwd: dir });
  assert.equal(rollback.code, 2);
  assert.match(rollback.stderr, /nothing to roll back; .*was removed at \d{4}-\S+ by a decommission or a rollback/);
});

test('rollback during the fallback window restores the old value', () => {
  const dir = tempProject();
  runCli(['init'], { cwd: dir });
  runCli(['rotate', '--all'], { cwd: dir });
  const original = runCli(['get', 'example-api-key'], { cwd: dir }).stdout;
  assert.equal(runCli(['rotate', '--all', '--force', '--reason', 'test'], { cwd: dir }).code, 0);
  assert.notEqual(runCli(['get', 'example-api-key'], { cwd: dir }).stdout, original);
  const rolled = json(runCli(['rollback', 'example-api-key', '--json'], { cwd: dir }));
  assert.equal(rolled.results[0].outcome, 'rolled-back');
  assert.equal(runCli(['get', 'example-api-key'], { cwd: dir }).stdout, original);
  const status = json(runCli(['status', '--json'], { cwd: dir })).secrets[0];
  assert.equal(status.phase, 'idle');
  assert.equal(status.previousVersion, null);
  assert.equal(readEvidence(dir).at(-1).event, 'rolled-back');
  assert.equal(runCli(['evidence', 'verify'], { cwd: dir }).code, 0);
});

/** A project whose example secret was provisioned and rotated once: three evidence lines. */
function rotatedOnce() {
  const dir = tempProject();
  runCli(['init'], { cwd: dir });
  runCli(['rotate', '--all'], { cwd: dir });
  runCli(['rotate', '--all', '--force', '--reason', 'test'], { cwd: dir });
  const file = join(dir, 'evidence', 'evidence.jsonl');
  return { dir, file, lines: readFileSync(file, 'utf8').trimEnd().split('\n') };
}

test('a tampered evidence line makes evidence verify exit 1 naming the line', () => {
  const { dir, file, lines } = rotatedOnce();
  lines[1] = lines[1].replace('"operator":"test@keyshift"', '"operator":"mallory@keyshift"');
  writeFileSync(file, `${lines.join('\n')}\n`);
  const verify = runCli(['evidence', 'verify'], { cwd: dir });
  assert.equal(verify.code, 1);
  assert.match(verify.stdout, /evidence\.jsonl:2: /);
  assertNoStackTrace(assert, verify.stderr);
});

test('cutting off the last evidence records is caught by the store anchor', () => {
  const { dir, file, lines } = rotatedOnce();
  writeFileSync(file, `${lines.slice(0, -1).join('\n')}\n`);
  const verify = runCli(['evidence', 'verify'], { cwd: dir });
  assert.equal(verify.code, 1, verify.stdout);
  assert.match(verify.stdout, /cut off/);
  rmSync(file);
  const deleted = runCli(['evidence', 'verify'], { cwd: dir });
  assert.equal(deleted.code, 1, 'a deleted log is caught by the anchors too');
  assert.match(deleted.stdout, /deleted or replaced/);
});

test('usage errors exit 2 with one line and a hint', () => {
  const dir = tempProject();
  runCli(['init'], { cwd: dir });
  for (const args of [['rotate'], ['rotate', 'nope'], ['rotate', '--all', '--concurrency', 'x'], ['plan', '--horizon', '2 weeks'], ['bogus'], ['get', 'example-api-key', '--stage', 'old']]) {
    const result = runCli(args, { cwd: dir });
    assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
    assertNoStackTrace(assert, result.stderr);
  }
});

test('rotate --all touches only what is due; --dry-run changes nothing', () => {
  const dir = tempProject();
  writeFiles(dir, {
    'policies/a.yaml': 'secrets:\n  - name: alpha\n    interval: 30d\n    fallbackWindow: 1h\n    generator: { type: random, length: 24, charset: alphanumeric }\n    environments:\n      - name: dev\n        store: { type: local, path: .keyshift/dev.store }\n      - name: prod\n        store: { type: local, path: .keyshift/prod.store }\n',
  });
  assert.equal(runCli(['rotate', '--all'], { cwd: dir }).code, 0);
  const password = runCli(['get', 'alpha', '--env', 'prod'], { cwd: dir }).stdout.trim();
  assert.match(password, /^[A-Za-z0-9]{24}$/);
  const before = readFileSync(join(dir, '.keyshift', 'dev.store'));
  const dry = json(runCli(['rotate', '--all', '--force', '--reason', 'test', '--dry-run', '--json'], { cwd: dir }));
  assert.deepEqual(dry.actions.map((a) => `${a.environment}:${a.action}`), ['dev:rotate', 'prod:rotate']);
  assert.deepEqual(readFileSync(join(dir, '.keyshift', 'dev.store')), before);
  assert.ok(!existsSync(join(dir, '.keyshift', 'dev.store.lock')));
  const again = json(runCli(['rotate', '--all', '--json'], { cwd: dir }));
  assert.deepEqual(again.results.map((r) => r.outcome), ['skipped', 'skipped']);
  assert.deepEqual(readFileSync(join(dir, '.keyshift', 'dev.store')), before, 'a run with nothing due writes nothing');
  const plan = json(runCli(['plan', '--horizon', '31d', '--json'], { cwd: dir }));
  assert.deepEqual(plan.actions.map((a) => a.action), ['rotate', 'rotate']);
  assert.ok(Date.parse(plan.actions[0].at) > Date.now() + 29 * 86400_000);
});

test('a failing issuer leaves nothing issued, exits 1 with one line, and is recorded as failed', () => {
  const dir = tempProject();
  const policy = (run) =>
    `secrets:\n  - name: vendor-key\n    interval: 30d\n    fallbackWindow: 1h\n    generator: { type: command, run: ${run} }\n    environments:\n      - name: dev\n        store: { type: local, path: .keyshift/dev.store }\n`;
  writeFiles(dir, { 'policies/p.yaml': policy('["node", "-e", "console.log(\'first-value\')"]') });
  assert.equal(runCli(['rotate', '--all'], { cwd: dir }).code, 0);
  writeFiles(dir, { 'policies/p.yaml': policy('["node", "-e", "process.exit(4)"]') });
  const failed = runCli(['rotate', '--all', '--force', '--reason', 'test', '--json'], { cwd: dir });
  assert.equal(failed.code, 1);
  assertNoStackTrace(assert, failed.stderr);
  const result = json(failed).results[0];
  assert.equal(result.outcome, 'failed');
  assert.match(result.error.message, /exited with status 4; nothing was issued/);
  const status = json(runCli(['status', '--json'], { cwd: dir })).secrets[0];
  assert.equal(status.phase, 'idle');
  assert.equal(status.pendingVersion, null);
  assert.equal(runCli(['get', 'vendor-key'], { cwd: dir }).stdout, 'first-value\n');
  assert.deepEqual(readEvidence(dir).map((e) => e.event), ['provisioned', 'failed']);
  assert.equal(runCli(['evidence', 'verify'], { cwd: dir }).code, 0);
});
