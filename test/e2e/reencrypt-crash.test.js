// keyshift reencrypt under kill -9 and under an application writing to the same tables.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { baseEnv, buildRoot, json, readEvidence, root, runCli, runCliAsync } from '../helpers/cli.js';
import { SECRET, allFields, keyring, openText, plaintextOf, reencrypt, setupProject, versionOf, driverSkip } from '../helpers/reencrypt.js';

// 20 rounds in the full check (issue 16); CI's default keeps the file well under a minute.
const ROUNDS = Number(process.env.REENCRYPT_CRASH_ROUNDS ?? 6);
const ROWS = 6000;

test(`kill -9 at ${ROUNDS} random instants: the rerun completes, no row lost or encrypted twice`, { skip: driverSkip }, async () => {
  const { dir, fresh } = setupProject(ROWS, { observe: '0s', batchSize: 200 });
  let finished = false;
  for (let round = 0; round < ROUNDS && !finished; round++) {
    const { child, done } = runCliAsync(['reencrypt', SECRET, '--max-rows-per-second', '4000'], { cwd: dir, env: baseEnv() });
    const timer = setTimeout(() => child.kill('SIGKILL'), 300 + Math.random() * 2500);
    const result = await done;
    clearTimeout(timer);
    if (result.signal !== 'SIGKILL') {
      assert.equal(result.code, 0, result.stderr);
      finished = true;
    }
  }
  const last = reencrypt(dir, ['--json']);
  assert.equal(last.code, 0, last.stderr);

  const ring = keyring(fresh);
  const fields = allFields(dir);
  assert.equal(fields.length, ROWS + ROWS / 2 - Math.floor(ROWS / 2 / 7), 'no row lost');
  for (const f of fields) {
    assert.equal(versionOf(f.value), fresh.versionId, `${f.table}.${f.column}#${f.key}`);
    // Encrypted twice would open to a ks1 field, not to the plaintext.
    assert.equal(openText(f.value, ring), plaintextOf(f.table, f.column, f.key), `opens to its plaintext (not encrypted twice): ${f.table}.${f.column}#${f.key}`);
  }
  const stages = new Set(readEvidence(dir).filter((r) => r.event === 'reencrypt-stage').map((r) => r.stage));
  assert.deepEqual([...stages], ['canary', '25%', '50%', '75%', '100%']);
  assert.equal(runCli(['evidence', 'verify'], { cwd: dir, env: baseEnv() }).code, 0);
});

test('an application writing throughout loses none of its writes, under either key', { skip: driverSkip }, async (t) => {
  const { dir, fresh, old } = setupProject(ROWS, { observe: '0s', batchSize: 100 });
  const stopFile = join(dir, 'stop');
  const writer = spawn(process.execPath, [join(root, 'test', 'fixtures', 'reencrypt-writer.js')], {
    env: { PATH: process.env.PATH, STOP_FILE: stopFile, ENVELOPE_MODULE: join(buildRoot, 'dist', 'public', 'envelope.js') },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  writer.stdin.end(JSON.stringify({ dbPath: join(dir, 'data', 'app.db'), fresh, old, rows: ROWS / 2 }));
  let out = '';
  writer.stdout.on('data', (d) => (out += d));
  const writerDone = new Promise((resolve) => writer.on('close', resolve));
  await new Promise((r) => setTimeout(r, 300));

  const run = await runCliAsync(['reencrypt', SECRET, '--json', '--max-rows-per-second', '3000'], { cwd: dir, env: baseEnv() }).done;
  writeFileSync(stopFile, '');
  assert.equal(await writerDone, 0);
  assert.equal(run.code, 0, run.stderr);
  const report = JSON.parse(run.stdout);
  const written = JSON.parse(out);
  assert.ok(Object.keys(written).length > 50, `the application wrote ${Object.keys(written).length} rows`);
  assert.ok(report.stages.length === 5);
  t.diagnostic(`rows the application changed during their batch (retried): ${report.stages.reduce((n, s) => n + s.conflicts, 0)}`);

  // Rows the application wrote under the old key after the walk passed them: a rerun sweeps them.
  const sweep = reencrypt(dir, ['--json']);
  assert.equal(sweep.code, 0, sweep.stderr);

  const ring = keyring(fresh);
  const emails = new Map(allFields(dir).filter((f) => f.table === 'users' && f.column === 'email').map((f) => [String(f.key), f.value]));
  for (const [id, value] of Object.entries(written)) {
    const field = emails.get(id);
    assert.ok(field, `row ${id} the application wrote is there`);
    assert.equal(versionOf(field), fresh.versionId);
    assert.equal(openText(field, ring), value, `row ${id} keeps the application's last write`);
  }
  for (const f of allFields(dir)) {
    assert.equal(versionOf(f.value), fresh.versionId);
    if (!(f.table === 'users' && f.column === 'email' && written[f.key])) assert.equal(openText(f.value, ring), plaintextOf(f.table, f.column, f.key));
  }
  // The old key can go now.
  await new Promise((r) => setTimeout(r, 1100));
  const retired = runCli(['rotate', SECRET, '--json'], { cwd: dir, env: baseEnv() });
  assert.equal(json(retired).results[0].outcome, 'decommissioned', retired.stderr);
});

test('a second run on the same database waits for the first (--lock-timeout), then exits 3', { skip: driverSkip }, async () => {
  const { dir, fresh } = setupProject(2000, { observe: '0s' });
  const first = runCliAsync(['reencrypt', SECRET, '--max-rows-per-second', '400'], { cwd: dir, env: baseEnv() });
  await new Promise((r) => setTimeout(r, 1500));
  const second = runCli(['--lock-timeout', '0s', 'reencrypt', SECRET], { cwd: dir, env: baseEnv() });
  assert.equal(second.code, 3, second.stderr);
  assert.match(second.stderr, /re-encryption of sqlite:.*app\.db is locked by keyshift reencrypt data-key/);
  const done = await first.done;
  assert.equal(done.code, 0, done.stderr);
  for (const f of allFields(dir)) assert.equal(versionOf(f.value), fresh.versionId);
});
