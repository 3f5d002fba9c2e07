// keyshift doctor on the local store: each check provoked for real (kill -9 mid-rotation, a lock
// naming a dead pid, a truncated or edited evidence log, an overdue secret, an entry no policy
// names, a wrong master key), nothing changed without --fix, safe repairs with evidence.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { baseEnv, cli, runCliAsync, tempProject, writeFiles, json, readEvidence, assertNoStackTrace } from '../helpers/cli.js';

const secret = (name, { interval = '30d', fallbackWindow = '1h', hooks = '' } = {}) =>
  `  - name: ${name}\n    interval: ${interval}\n    fallbackWindow: ${fallbackWindow}\n    generator: { type: random, bytes: 16, encoding: hex }\n    environments:\n      - name: dev\n        store: { type: local, path: .keyshift/dev.store }\n${hooks}`;
const policy = (...secrets) => `secrets:\n${secrets.join('')}`;
const run = (dir, args, env) => cli(args, { cwd: dir, env });
const doctor = async (dir, args = [], env) => {
  const result = await run(dir, ['doctor', '--json', ...args], env);
  assertNoStackTrace(assert, result.stderr);
  return { code: result.code, findings: json(result).findings, stderr: result.stderr };
};
const checks = (findings) => findings.map((f) => `${f.check} ${f.secret ?? '-'}${f.fixable ? ' fixable' : ''}${f.fixed ? ' fixed' : ''}`).sort();

/** Every file of the project (store, key, evidence, locks) with its bytes: "nothing changed" means equal. */
function snapshot(dir) {
  const files = {};
  const walk = (sub) => {
    for (const name of readdirSync(join(dir, sub))) {
      const path = join(sub, name);
      if (name === 'policies') continue;
      try {
        files[path] = readFileSync(join(dir, path)).toString('base64');
      } catch {
        walk(path);
      }
    }
  };
  walk('.');
  return files;
}

/** A lock file as src/util/file-lock.ts writes it. */
const lockFile = (pid, owner = 'keyshift rotate (test)') =>
  JSON.stringify({ pid, host: hostname(), owner, token: randomBytes(8).toString('hex'), acquiredAt: new Date().toISOString() });

/** Runs `args` (a policy whose deploy hook waits while `hold` exists) and kills it -9 inside that hook. */
async function killedInDeployHook(dir, args) {
  writeFileSync(join(dir, 'hold'), '');
  const { child, done } = runCliAsync(args, { cwd: dir });
  for (let i = 0; i < 400 && !existsSync(join(dir, 'hook.started')); i++) await sleep(25);
  assert.ok(existsSync(join(dir, 'hook.started')), 'the deploy hook started');
  // The run appends its `issued` line in the background while the hook runs (evidence is
  // pipelined): on a busy disk the hook can start first. Kill only once it is in the log.
  const log = join(dir, 'evidence', 'evidence.jsonl');
  const lastEvent = () => {
    const text = readFileSync(log, 'utf8');
    return text.endsWith('\n') ? JSON.parse(text.trim().split('\n').pop()).event : null; // null: mid-append
  };
  for (let i = 0; i < 400 && lastEvent() !== 'issued'; i++) await sleep(25);
  child.kill('SIGKILL');
  await done;
  rmSync(join(dir, 'hold')); // the orphaned hook ends
  return { child };
}

/** Takes the log's last line, the killed run's `event` record, out of the log; returns it. */
function dropLastRecord(file, event) {
  const lines = readFileSync(file, 'utf8').trim().split('\n');
  const last = lines.pop();
  assert.equal(JSON.parse(last).event, event);
  writeFileSync(file, `${lines.join('\n')}\n`);
  return last;
}

test('a healthy project: no findings, exit 0, and --fix changes nothing', async () => {
  const dir = tempProject();
  writeFiles(dir, { 'policies/p.yaml': policy(secret('api-key'), secret('jwt-secret')) });
  assert.equal((await run(dir, ['rotate', '--all', '-q'])).code, 0);
  assert.equal((await run(dir, ['rotate', '--all', '--force', '--reason', 'test', '-q'])).code, 0);
  const before = snapshot(dir);
  assert.deepEqual(await doctor(dir), { code: 0, findings: [], stderr: '' });
  assert.deepEqual((await doctor(dir, ['--fix'])).findings, []);
  assert.deepEqual(snapshot(dir), before, 'nothing was written, not even a lock file');
  const table = await run(dir, ['doctor']);
  assert.equal(table.code, 0);
  assert.match(table.stdout, /no problems found/);
  assert.equal((await run(dir, ['doctor', 'no-such-secret'])).code, 2);
});

test('kill -9 mid-rotation: dead locks, unappended evidence and a stuck rotation; --fix repairs all with evidence', { timeout: 30_000 }, async () => {
  const dir = tempProject();
  const hook = '        deploy: [{ run: "echo $$ > hook.started; while [ -f hold ]; do sleep 0.05; done" }]\n';
  writeFiles(dir, { 'policies/p.yaml': policy(secret('api-key', { hooks: hook }), secret('jwt-secret')) });
  assert.equal((await run(dir, ['rotate', '--all', '-q'])).code, 0);
  const old = (await run(dir, ['get', 'api-key'])).stdout.trim();

  // Let the run issue the new version and start its deploy hook, then kill it, and take its
  // `issued` line out of the log: the state a kill between the store write and its evidence append
  // leaves (too short a window to hit by timing). Its store still holds the record as a draft.
  const { child } = await killedInDeployHook(dir, ['rotate', 'api-key', '--force', '--reason', 'crash']);
  dropLastRecord(join(dir, 'evidence', 'evidence.jsonl'), 'issued');
  // The evidence lock now names the dead run, as if it had died appending.
  writeFileSync(join(dir, 'evidence', 'evidence.lock'), lockFile(child.pid, 'keyshift evidence writer'));
  assert.ok(existsSync(join(dir, '.keyshift', 'dev.store.lock')), 'kill -9 left the store lock behind');

  const before = snapshot(dir);
  const found = await doctor(dir);
  assert.equal(found.code, 1);
  assert.deepEqual(checks(found.findings), ['dead-lock - fixable', 'dead-lock - fixable', 'evidence-gap api-key fixable', 'stale-pending api-key fixable']);
  const byCheck = Object.fromEntries(found.findings.map((f) => [`${f.check}:${f.store === null ? 'log' : f.secret ?? 'store'}`, f]));
  assert.match(byCheck['dead-lock:log'].message, new RegExp(`evidence\\.lock was left by .*pid ${child.pid}.*not running`));
  assert.match(byCheck['dead-lock:store'].message, /dev\.store\.lock/);
  assert.match(byCheck['evidence-gap:api-key'].message, /1 evidence record\(s\) announced by run-\w+ \(issued\) never reached the log/);
  assert.match(byCheck['stale-pending:api-key'].message, /stuck in overlap .*the run that held the store died/);
  assert.match(byCheck['stale-pending:api-key'].hint, /keyshift rotate api-key/);
  for (const f of found.findings) assert.deepEqual(Object.keys(f), ['secret', 'environment', 'store', 'check', 'severity', 'message', 'hint', 'fixable', 'fixed']);
  assert.deepEqual(snapshot(dir), before, 'doctor without --fix changed nothing');

  const fixed = await doctor(dir, ['--fix']);
  assert.equal(fixed.code, 0, JSON.stringify(fixed.findings, null, 2));
  assert.ok(fixed.findings.length === 4 && fixed.findings.every((f) => f.fixed), JSON.stringify(fixed.findings, null, 2));
  assert.ok(!existsSync(join(dir, '.keyshift', 'dev.store.lock')) && !existsSync(join(dir, 'evidence', 'evidence.lock')), 'the dead locks are gone');

  const events = readEvidence(dir).filter((e) => e.reason !== 'scheduled');
  assert.deepEqual(
    events.map((e) => `${e.event}${e.checks[0]?.check ? `:${e.checks[0].check}` : ''}`),
    ['repaired:dead-lock', 'repaired:dead-lock', 'issued', 'repaired:evidence-gap', 'deployed', 'switched', 'repaired:stale-pending'],
  );
  const repaired = events.filter((e) => e.event === 'repaired');
  assert.ok(repaired.every((e) => e.reason === 'doctor --fix' && typeof e.checks[0].action === 'string'));
  assert.deepEqual(repaired.slice(0, 2).map((e) => [e.secret, e.environment]), [['*', '*'], ['*', '*']]);
  assert.equal(events.find((e) => e.event === 'issued').reason, 'crash', 'the crashed run\'s own record');
  const resumed = repaired.at(-1);
  assert.equal(resumed.secret, 'api-key');
  assert.equal(resumed.rotationId, events.find((e) => e.event === 'issued').rotationId);
  assert.equal((await run(dir, ['evidence', 'verify'])).code, 0);
  assert.equal((await run(dir, ['get', 'api-key', '--stage', 'previous'])).stdout.trim(), old);
  assert.equal(json(await run(dir, ['status', 'api-key', '--json'])).secrets[0].phase, 'fallback');
  assert.deepEqual(await doctor(dir), { code: 0, findings: [], stderr: '' });
});

test('a truncated or edited evidence log: reported with its line, never repaired', async () => {
  const dir = tempProject();
  writeFiles(dir, { 'policies/p.yaml': policy(secret('api-key')) });
  await run(dir, ['rotate', '--all', '-q']);
  await run(dir, ['rotate', '--all', '--force', '--reason', 'one', '-q']);
  const file = join(dir, 'evidence', 'evidence.jsonl');
  const whole = readFileSync(file, 'utf8');
  const lines = whole.trim().split('\n');
  writeFileSync(file, `${lines.slice(0, -1).join('\n')}\n`);
  writeFileSync(join(dir, '.keyshift', 'dev.store.lock'), lockFile(2 ** 22 + 12345)); // no such pid

  const before = snapshot(dir);
  const cut = await doctor(dir, ['--fix']);
  assert.equal(cut.code, 1);
  assert.deepEqual(checks(cut.findings), ['dead-lock -', 'evidence-gap -']);
  const gap = cut.findings.find((f) => f.check === 'evidence-gap');
  assert.match(gap.message, /^evidence\/evidence\.jsonl:3: log ends at seq 2 but store .*dev\.store recorded seq 3 \(records were cut off\)/);
  assert.match(gap.hint, /never repairs evidence/);
  assert.match(cut.findings.find((f) => f.check === 'dead-lock').message, /not repaired while the evidence log is damaged/);
  assert.deepEqual(snapshot(dir), before, '--fix repairs nothing while the log is damaged: every repair is recorded there');
  rmSync(join(dir, '.keyshift', 'dev.store.lock'));

  // rotate and rollback build nothing on a log cut short of the store's anchor, whole lines or in the
  // middle of the anchored record: appending would give the store a new anchor and hide the cut.
  for (const cutLog of [`${lines.slice(0, -1).join('\n')}\n`, whole.slice(0, -40)]) {
    writeFileSync(file, cutLog);
    const untouched = snapshot(dir);
    for (const args of [['rotate', '--all', '--force', '--reason', 'after-cut'], ['rollback', 'api-key', '--reason', 'after-cut']]) {
      const refused = await run(dir, args);
      assert.equal(refused.code, 1, refused.stderr);
      assertNoStackTrace(assert, refused.stderr);
      assert.match(refused.stderr, /^keyshift: evidence log .*evidence\.jsonl is damaged at line 3: it ends at seq 2 but store .*dev\.store recorded seq 3 \(records were cut off\); nothing was appended\n/);
      assert.deepEqual(snapshot(dir), untouched, `${args[0]}: no store write, no evidence, no cut`);
    }
  }

  writeFileSync(file, whole.replace('"reason":"one"', '"reason":"two"'));
  const edited = await doctor(dir);
  assert.equal(edited.code, 1);
  assert.match(edited.findings[0].message, /^evidence\/evidence\.jsonl:2: hash mismatch/);
});

test('a run killed while appending evidence leaves an incomplete last line: doctor --fix cuts it (recorded), or the next rotate does', { timeout: 60_000 }, async () => {
  const hook = '        deploy: [{ run: "echo $$ > hook.started; while [ -f hold ]; do sleep 0.05; done" }]\n';
  for (const repair of ['doctor --fix', 'rotate']) {
    const dir = tempProject();
    writeFiles(dir, { 'policies/p.yaml': policy(secret('api-key', { hooks: hook })) });
    assert.equal((await run(dir, ['rotate', '--all', '-q'])).code, 0);
    // Killed in the deploy hook; then its `issued` line cut where a kill in the middle of its append
    // would have cut it (the draft stays in the store, as after such a kill).
    await killedInDeployHook(dir, ['rotate', 'api-key', '--force', '--reason', 'killed']);
    const file = join(dir, 'evidence', 'evidence.jsonl');
    const issued = dropLastRecord(file, 'issued');
    const complete = readFileSync(file, 'utf8');
    writeFileSync(file, complete + issued.slice(0, 120));
    const line = complete.split('\n').length;

    const verify = await run(dir, ['evidence', 'verify']);
    assert.equal(verify.code, 1);
    assert.match(verify.stdout, new RegExp(`evidence\\.jsonl:${line}: the line is incomplete \\(no newline at the end\\): a run was killed while appending it; the next run that writes evidence \\(rotate, or doctor --fix\\) cuts it`));
    const found = await doctor(dir);
    assert.deepEqual(checks(found.findings), ['dead-lock - fixable', 'evidence-gap - fixable', 'evidence-gap api-key fixable', 'stale-pending api-key fixable']);
    const log = found.findings.find((f) => f.check === 'evidence-gap' && f.store === null);
    assert.equal(log.hint, 'keyshift doctor --fix (or the next keyshift rotate) cuts it');

    const fixed = await run(dir, repair === 'rotate' ? ['rotate', '--all'] : ['doctor', '--fix', '-q']);
    assert.equal(fixed.code, 0, fixed.stderr);
    assert.equal(readFileSync(file, 'utf8').slice(0, complete.length), complete, 'every complete record stays');
    assert.equal((await run(dir, ['evidence', 'verify'])).code, 0);
    const events = readEvidence(dir);
    const recovered = events.find((e) => e.reason === 'killed' && e.event === 'issued');
    assert.equal(recovered.recoveredBy, events.at(-1).runId, 'the cut record is appended again from the store by the repairing run');
    const cutRecord = events.find((e) => e.event === 'repaired' && e.checks[0].action.startsWith('cut the incomplete last line'));
    if (repair === 'doctor --fix') {
      assert.deepEqual([cutRecord.store, cutRecord.checks[0]], ['evidence', { check: 'evidence-gap', action: `cut the incomplete last line ${line} of evidence/evidence.jsonl that a killed run left` }]);
    } else {
      assert.equal(cutRecord, undefined);
      assert.match(fixed.stderr, /cut the incomplete last line of the evidence log that a killed run left/);
    }
    assert.deepEqual(await doctor(dir), { code: 0, findings: [], stderr: '' });
  }
});

test('overdue secrets and entries no policy names are reported, not fixed', async () => {
  const dir = tempProject();
  writeFiles(dir, { 'policies/p.yaml': policy(secret('api-key', { interval: '2s', fallbackWindow: '1s' }), secret('retired-key')) });
  await run(dir, ['rotate', '--all', '-q']);
  writeFiles(dir, { 'policies/p.yaml': policy(secret('api-key', { interval: '2s', fallbackWindow: '1s' }), secret('never-provisioned')) });
  await sleep(2100);
  const before = snapshot(dir);
  const found = await doctor(dir, ['--fix']);
  assert.equal(found.code, 1);
  assert.deepEqual(checks(found.findings), ['overdue api-key', 'overdue never-provisioned', 'unknown-versions -']);
  const byCheck = Object.fromEntries(found.findings.map((f) => [`${f.check}:${f.secret}`, f]));
  assert.match(byCheck['overdue:api-key'].message, /^due since .* \(interval 2s\)/);
  assert.equal(byCheck['overdue:api-key'].hint, 'keyshift rotate api-key');
  assert.match(byCheck['overdue:never-provisioned'].message, /not provisioned yet/);
  assert.match(byCheck['unknown-versions:null'].message, /holds entry "retired-key", which no policy names/);
  assert.equal(byCheck['unknown-versions:null'].severity, 'warning');
  assert.deepEqual(snapshot(dir), before, 'report only');
  const only = await doctor(dir, ['api-key']);
  assert.deepEqual(checks(only.findings), ['overdue api-key', 'unknown-versions -'], 'names narrow the secrets; the store is still checked');
});

test('a store that cannot be read is a store-error with its own message and hint', async () => {
  const dir = tempProject();
  writeFiles(dir, { 'policies/p.yaml': policy(secret('api-key')) });
  await run(dir, ['rotate', '--all', '-q']);
  const wrong = baseEnv({ KEYSHIFT_MASTER_KEY: randomBytes(32).toString('base64') });
  const found = await doctor(dir, [], wrong);
  assert.equal(found.code, 1);
  assert.deepEqual(checks(found.findings), ['store-error -']);
  assert.match(found.findings[0].message, /does not open|wrong|key/i);
  assert.match(found.findings[0].hint, /KEYSHIFT_MASTER_KEY/);
  const table = await run(dir, ['doctor'], wrong);
  assert.equal(table.code, 1);
  assertNoStackTrace(assert, table.stdout + table.stderr);
});

test('a store held by a live run: not judged without --fix; --fix waits --lock-timeout, then exits 3', async () => {
  const dir = tempProject();
  writeFiles(dir, { 'policies/p.yaml': policy(secret('api-key')) });
  await run(dir, ['rotate', '--all', '-q']);
  writeFileSync(join(dir, '.keyshift', 'dev.store.lock'), lockFile(process.pid));
  const look = await doctor(dir);
  assert.equal(look.code, 0);
  assert.match(look.stderr, /locked by a live run .*not judged/);
  const fix = await doctor(dir, ['--fix', '--lock-timeout', '1s']);
  assert.equal(fix.code, 3);
  assert.deepEqual(checks(fix.findings), ['locked -']);
  assert.match(fix.findings[0].message, /locked by keyshift rotate \(test\)/);
  rmSync(join(dir, '.keyshift', 'dev.store.lock'));
});
