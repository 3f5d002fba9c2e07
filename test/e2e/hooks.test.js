// Deploy and verify hooks during the overlap, rollback on failure, resume after kill -9, revoke at
// decommission: real shell hooks in temporary directories, driven through the CLI.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync, mkdirSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { baseEnv, runCli, runCliAsync, tempProject, writeFiles, json, readEvidence } from '../helpers/cli.js';

const env = (name, hooks = '') => `      - name: ${name}\n        store: { type: local, path: .keyshift/${name}.store }\n${hooks}`;
const policy = (environments, extra = '') =>
  `secrets:\n  - name: api-key\n    interval: 30d\n    fallbackWindow: 1h\n    generator: { type: random, bytes: 16, encoding: hex }\n${extra}    environments:\n${environments}`;
const logHook = (what) => `{ run: "echo ${what} $KEYSHIFT_ENVIRONMENT $KEYSHIFT_PHASE >> hooks.log" }`;
const hooksFor = (name, verify = logHook('verify')) => `        deploy: [${logHook('deploy')}]\n        verify: [${verify}]\n`;
const log = (dir) => (existsSync(join(dir, 'hooks.log')) ? readFileSync(join(dir, 'hooks.log'), 'utf8').trim().split('\n') : []);
const get = (dir, e) => runCli(['get', 'api-key', '--env', e], { cwd: dir }).stdout.trim();

test('environments are promoted in policy order: deploy, verify, switch, then the next', () => {
  const dir = tempProject();
  writeFiles(dir, { 'policies/p.yaml': policy(['dev', 'staging', 'prod'].map((e) => env(e, hooksFor(e))).join('')) });
  assert.equal(runCli(['rotate', '--all'], { cwd: dir }).code, 0);
  assert.deepEqual(log(dir), [], 'provisioning runs no hooks');
  const result = runCli(['rotate', '--all', '--force', '--reason', 'test', '--json'], { cwd: dir });
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(log(dir), ['deploy dev deploy', 'verify dev verify', 'deploy staging deploy', 'verify staging verify', 'deploy prod deploy', 'verify prod verify']);
  const events = readEvidence(dir).filter((e) => e.reason === 'test').map((e) => `${e.environment}:${e.event}`);
  assert.deepEqual(events, ['dev:issued', 'dev:deployed', 'dev:verified', 'dev:switched', 'staging:issued', 'staging:deployed', 'staging:verified', 'staging:switched', 'prod:issued', 'prod:deployed', 'prod:verified', 'prod:switched']);
  const verified = readEvidence(dir).find((e) => e.event === 'verified');
  assert.equal(verified.checks[0].ok, true);
  assert.equal(verified.checks[0].exitCode, 0);
});

test('a failing verify in staging: dev rotated, staging rolled back, prod untouched, exit 1', () => {
  const dir = tempProject();
  const environments = env('dev', hooksFor('dev')) + env('staging', hooksFor('staging', '{ run: "exit 7" }')) + env('prod', hooksFor('prod'));
  writeFiles(dir, { 'policies/p.yaml': policy(environments) });
  runCli(['rotate', '--all'], { cwd: dir });
  const before = { dev: get(dir, 'dev'), staging: get(dir, 'staging'), prod: get(dir, 'prod') };
  const result = runCli(['rotate', '--all', '--force', '--reason', 'test', '--json'], { cwd: dir });
  assert.equal(result.code, 1);
  const outcomes = json(result).results.map((r) => `${r.environment}:${r.outcome}`);
  assert.deepEqual(outcomes, ['dev:rotated', 'staging:failed', 'prod:skipped']);
  assert.match(json(result).results[1].error.message, /verify\[0\].*exited with status 7/);
  assert.notEqual(get(dir, 'dev'), before.dev);
  assert.equal(get(dir, 'staging'), before.staging, 'staging is back on the old value');
  assert.equal(get(dir, 'prod'), before.prod);
  assert.deepEqual(log(dir), ['deploy dev deploy', 'verify dev verify', 'deploy staging deploy', 'deploy staging rollback']);
  const status = json(runCli(['status', '--json'], { cwd: dir })).secrets;
  assert.deepEqual(status.map((s) => `${s.environment}:${s.phase}:${s.pendingVersion}`), ['dev:fallback:null', 'staging:idle:null', 'prod:idle:null']);
  const staging = readEvidence(dir).filter((e) => e.environment === 'staging' && e.reason === 'test').map((e) => e.event);
  assert.deepEqual(staging, ['issued', 'deployed', 'failed', 'rolled-back']);
  const failed = readEvidence(dir).find((e) => e.event === 'failed');
  assert.equal(failed.checks.at(-1).exitCode, 7);
  // The failed result names the rotation and its versions, as the failed record does.
  const failedResult = json(result).results[1];
  assert.deepEqual([failedResult.rotationId, failedResult.fromVersion, failedResult.toVersion], [failed.rotationId, failed.fromVersion, failed.toVersion]);
  assert.match(failedResult.toVersion ?? '', /^v-/);
  assert.equal(runCli(['evidence', 'verify'], { cwd: dir }).code, 0);
});

test('hooks get the value on stdin and in a 0600 file, never on argv or in the environment', () => {
  const dir = tempProject();
  const recorder = `cat > "$PWD/stdin.txt"; cp "$KEYSHIFT_VALUE_FILE" "$PWD/file.txt"; stat -c %a "$KEYSHIFT_VALUE_FILE" > "$PWD/mode.txt"; echo "$KEYSHIFT_VALUE_FILE" > "$PWD/path.txt"; env > "$PWD/env.txt"; tr '\\\\0' ' ' < /proc/$$/cmdline > "$PWD/cmdline.txt"`;
  writeFiles(dir, { 'record.sh': recorder, 'policies/p.yaml': policy(env('dev', '        deploy: [{ run: [sh, record.sh] }]\n')) });
  runCli(['rotate', '--all'], { cwd: dir });
  assert.equal(runCli(['rotate', '--all', '--force', '--reason', 'test'], { cwd: dir }).code, 0);
  const value = get(dir, 'dev');
  assert.equal(readFileSync(join(dir, 'stdin.txt'), 'utf8'), value);
  assert.equal(readFileSync(join(dir, 'file.txt'), 'utf8'), value);
  assert.equal(readFileSync(join(dir, 'mode.txt'), 'utf8').trim(), '600');
  assert.ok(!existsSync(readFileSync(join(dir, 'path.txt'), 'utf8').trim()), 'the value file is removed afterwards');
  assert.ok(!readFileSync(join(dir, 'cmdline.txt'), 'utf8').includes(value));
  const environment = readFileSync(join(dir, 'env.txt'), 'utf8');
  assert.ok(!environment.includes(value));
  assert.match(environment, /KEYSHIFT_PHASE=deploy/);
  assert.match(environment, /KEYSHIFT_ROTATION_ID=r-/);
  assert.match(environment, /KEYSHIFT_NEW_VERSION=v-/);
});

test('kill -9 during a slow deploy hook, then a rerun: one issued version, the hook resumes', { timeout: 60_000 }, async () => {
  const dir = tempProject();
  const slow = '{ run: "echo started >> starts.log; sleep 2; echo done >> done.log" }';
  writeFiles(dir, { 'policies/p.yaml': policy(env('dev', `        deploy: [${logHook('deploy')}, ${slow}]\n`)) });
  // A temp directory of its own: any keyshift run removes a dead run's value files from its temp
  // directory, and other test files run keyshift at the same time.
  const temp = join(dir, 'tmp');
  mkdirSync(temp);
  const withTemp = baseEnv({ TMPDIR: temp });
  runCli(['rotate', '--all'], { cwd: dir, env: withTemp });
  const old = get(dir, 'dev');
  const { child, done } = runCliAsync(['rotate', '--all', '--force', '--reason', 'crash'], { cwd: dir, env: withTemp });
  // A loaded machine may take seconds to get there: wait for the slow hook itself, not a fixed time.
  for (let i = 0; i < 1200 && !existsSync(join(dir, 'starts.log')); i++) await sleep(25);
  child.kill('SIGKILL');
  await done;
  assert.ok(existsSync(join(dir, 'starts.log')), 'the slow deploy hook never started within 30 s');
  assert.equal(json(runCli(['status', '--json'], { cwd: dir })).secrets[0].phase, 'overlap');
  const killedValueDirs = () => readdirSync(temp).filter((name) => name.startsWith(`keyshift-hook-${child.pid}-`));
  assert.equal(killedValueDirs().length, 1, 'kill -9 left the running hook value file behind');
  const rerun = runCli(['rotate', '--all', '--json'], { cwd: dir, env: withTemp });
  assert.equal(rerun.code, 0, rerun.stderr);
  assert.equal(json(rerun).results[0].outcome, 'resumed');
  assert.deepEqual(killedValueDirs(), [], 'the next run removes the dead run value files');
  assert.deepEqual(log(dir), ['deploy dev deploy'], 'the finished hook is not run again');
  assert.equal(readFileSync(join(dir, 'starts.log'), 'utf8').trim().split('\n').length, 2, 'the interrupted hook runs again');
  const issued = readEvidence(dir).filter((e) => e.event === 'issued');
  assert.equal(issued.length, 1);
  assert.equal(runCli(['get', 'api-key', '--stage', 'previous'], { cwd: dir }).stdout.trim(), old);
  assert.equal(json(runCli(['status', '--json'], { cwd: dir })).secrets[0].currentVersion, issued[0].toVersion);
});

test('an HTTP verify hook: 200 passes, 503 rolls back', async () => {
  let status = 200;
  const server = createServer((req, res) => res.writeHead(req.url === '/health' ? status : 404).end()).listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const url = `http://127.0.0.1:${server.address().port}/health`;
  try {
    const dir = tempProject();
    writeFiles(dir, { 'policies/p.yaml': policy(env('dev', `        verify: [{ http: { url: "${url}" } }]\n`)) });
    runCli(['rotate', '--all'], { cwd: dir });
    const pass = await runCliAsync(['rotate', '--all', '--force', '--reason', 'ok'], { cwd: dir }).done;
    assert.equal(pass.code, 0, pass.stderr);
    status = 503;
    const fail = await runCliAsync(['rotate', '--all', '--force', '--reason', 'bad', '--json'], { cwd: dir }).done;
    assert.equal(fail.code, 1);
    assert.match(JSON.parse(fail.stdout).results.at(-1).error.message, /503, expected 200/);
  } finally {
    server.close();
  }
});

test('revoke hooks run at decommission; while one fails the old version stays PREVIOUS', async () => {
  const dir = tempProject();
  writeFiles(dir, { 'policies/p.yaml': policy(env('dev'), '    revoke: [{ run: "test -f allow-revoke && cat > revoked.txt" }]\n').replace('fallbackWindow: 1h', 'fallbackWindow: 1s') });
  runCli(['rotate', '--all'], { cwd: dir });
  const old = get(dir, 'dev');
  runCli(['rotate', '--all', '--force', '--reason', 'test'], { cwd: dir });
  await sleep(1100);
  const blocked = runCli(['rotate', '--all', '--json'], { cwd: dir });
  assert.equal(blocked.code, 1);
  assert.equal(runCli(['get', 'api-key', '--stage', 'previous'], { cwd: dir }).stdout.trim(), old);
  writeFileSync(join(dir, 'allow-revoke'), '');
  const later = runCli(['rotate', '--all', '--json'], { cwd: dir });
  assert.equal(later.code, 0, later.stderr);
  assert.equal(json(later).results[0].outcome, 'decommissioned');
  assert.equal(readFileSync(join(dir, 'revoked.txt'), 'utf8'), old, 'the revoke hook got the old value on stdin');
  assert.equal(readEvidence(dir).at(-1).checks[0].phase, 'revoke');
});

test('decommissionCheck and revoke hooks are told their phase and the rotation they end', async () => {
  const dir = tempProject();
  const seen = (what) => `{ run: "echo ${what} $KEYSHIFT_PHASE $KEYSHIFT_SECRET $KEYSHIFT_ROTATION_ID $KEYSHIFT_OLD_VERSION $KEYSHIFT_NEW_VERSION >> hooks.log" }`;
  writeFiles(dir, { 'policies/p.yaml': policy(env('dev'), `    decommissionCheck: [${seen('check')}]\n    revoke: [${seen('revoke')}]\n`).replace('fallbackWindow: 1h', 'fallbackWindow: 1s') });
  runCli(['rotate', '--all'], { cwd: dir });
  const rotated = json(runCli(['rotate', '--all', '--force', '--reason', 'test', '--json'], { cwd: dir })).results[0];
  await sleep(1100);
  const later = runCli(['rotate', '--all', '--json'], { cwd: dir });
  assert.equal(later.code, 0, later.stderr);
  assert.equal(json(later).results[0].outcome, 'decommissioned');
  const ids = `api-key ${rotated.rotationId} ${rotated.fromVersion} ${rotated.toVersion}`;
  assert.deepEqual(log(dir), [`check decommission-check ${ids}`, `revoke revoke ${ids}`]);
});

test('Ctrl-C during a hook stops the hook and removes its value file; a rerun completes', { timeout: 60_000 }, async () => {
  const dir = tempProject();
  const slow = '{ run: "echo $$ > hook.pid; sleep 30" }';
  writeFiles(dir, { 'policies/p.yaml': policy(env('dev', `        deploy: [${slow}]\n`)) });
  runCli(['rotate', '--all'], { cwd: dir });
  const { child, done } = runCliAsync(['rotate', '--all', '--force', '--reason', 'interrupt'], { cwd: dir });
  for (let i = 0; i < 200 && !existsSync(join(dir, 'hook.pid')); i++) await sleep(25);
  await sleep(100);
  child.kill('SIGINT');
  const result = await done;
  assert.equal(result.code, 130);
  assert.match(result.stderr, /interrupted \(SIGINT\); a rerun resumes/);
  const hookPid = Number(readFileSync(join(dir, 'hook.pid'), 'utf8'));
  await sleep(200);
  // Gone, or a zombie: PID 1 in a container may never reap the orphan.
  const stat = existsSync(`/proc/${hookPid}/stat`) ? readFileSync(`/proc/${hookPid}/stat`, 'utf8') : '';
  assert.ok(stat === '' || /^\d+ \(.*\) Z/.test(stat), `the hook was stopped: ${stat}`);
  assert.deepEqual(readdirSync(tmpdir()).filter((name) => name.startsWith(`keyshift-hook-${child.pid}-`)), [], 'its value file is gone');
  writeFiles(dir, { 'policies/p.yaml': policy(env('dev', '        deploy: [{ run: "true" }]\n')) });
  const rerun = runCli(['rotate', '--all', '--json'], { cwd: dir });
  assert.equal(json(rerun).results[0].outcome, 'resumed');
});

test('rollback after kill -9 during a hook: the crashed run is evidenced once, then rolled back', { timeout: 60_000 }, async () => {
  const dir = tempProject();
  writeFiles(dir, { 'policies/p.yaml': policy(env('dev', '        deploy: [{ run: "echo started >> starts.log; sleep 5" }]\n')) });
  runCli(['rotate', '--all'], { cwd: dir });
  const old = get(dir, 'dev');
  const { child, done } = runCliAsync(['rotate', '--all', '--force', '--reason', 'crash'], { cwd: dir });
  // A loaded machine may take seconds to get there: wait for the slow hook itself, not a fixed time.
  for (let i = 0; i < 1200 && !existsSync(join(dir, 'starts.log')); i++) await sleep(25);
  child.kill('SIGKILL');
  await done;
  assert.ok(existsSync(join(dir, 'starts.log')), 'the slow deploy hook never started within 30 s');
  const rolled = runCli(['rollback', 'api-key', '--json'], { cwd: dir });
  assert.equal(rolled.code, 0, rolled.stderr);
  assert.equal(get(dir, 'dev'), old);
  const events = readEvidence(dir).filter((e) => e.reason === 'crash' || e.event === 'rolled-back').map((e) => e.event);
  assert.deepEqual(events, ['issued', 'rolled-back']);
  assert.equal(runCli(['evidence', 'verify'], { cwd: dir }).code, 0);
});
