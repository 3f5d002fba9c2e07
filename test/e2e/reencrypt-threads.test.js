// keyshift reencrypt --threads, end to end on SQLite and on PostgreSQL (a real server:
// KEYSHIFT_TEST_PG_URL, or those cases skip saying why): worker threads seal the rows, the main
// thread writes them; the outcome is the serial run's: every row under the new key, aad: row kept,
// decrypt errors counted and rolled back, kill -9 resumable, nothing secret in any output.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { assertNoStackTrace, json, readEvidence, runCliAsync } from '../helpers/cli.js';
import { DRIVERS, SECRET, allFields, driverSkips, fieldCount, keyring, openText, plaintextOf, reencrypt, setupProject, versionOf } from '../helpers/reencrypt.js';

const ROWS = 6000;

for (const driver of DRIVERS) {
  const skip = driverSkips[driver];

  test(`${driver}: --threads 2 moves every row through every stage, each field bound to its cell (aad: row), opening to its plaintext`, { skip }, async (t) => {
    const p = await setupProject(t, driver, ROWS, { observe: '0s', aad: true, batchSize: 500 });
    if (!p) return;
    const result = reencrypt(p, ['--threads', '2', '--json', '--log-level', 'info']);
    assert.equal(result.code, 0, result.stderr);
    const report = json(result);
    // The threads did the sealing: each of the two, and every moved row, counted by the thread that sealed it.
    const logged = result.stderr.split('\n').filter((line) => line.includes('"msg":"re-encryption threads"')).map((line) => JSON.parse(line));
    assert.equal(logged.length, 1, result.stderr);
    assert.equal(logged[0].rowsPerThread.length, 2);
    assert.ok(logged[0].rowsPerThread.every((n) => n > ROWS / 10), `rows per thread: ${logged[0].rowsPerThread}`);
    assert.ok(logged[0].rowsPerThread.reduce((a, b) => a + b, 0) >= ROWS, `rows per thread: ${logged[0].rowsPerThread}`);
    assert.equal(report.outcome, 'done');
    assert.deepEqual(report.stages.map((s) => [s.stage, s.outcome, s.errors]), ['canary', '25%', '50%', '75%', '100%'].map((s) => [s, 'passed', 0]));
    assert.equal(report.stages.reduce((n, s) => n + s.rows, 0), ROWS);
    const ring = keyring(p.fresh);
    const fields = await allFields(p);
    assert.equal(fields.length, fieldCount(ROWS));
    for (const f of fields) {
      assert.equal(versionOf(f.value), p.fresh.versionId, `${f.table}.${f.column}#${f.key}`);
      assert.equal(openText(f.value, ring, { table: f.table, column: f.column, key: f.key }), plaintextOf(f.table, f.column, f.key));
    }
    const records = readEvidence(p.dir).filter((r) => r.event === 'reencrypt-stage');
    assert.equal(records.reduce((n, r) => n + r.rowsDone, 0), ROWS);
    assert.equal(p.cli(['evidence', 'verify']).code, 0);
    const evidenceText = readFileSync(join(p.dir, 'evidence', 'evidence.jsonl'), 'utf8');
    for (const text of [result.stdout, result.stderr, evidenceText]) {
      for (const secret of [p.old.key.value, p.fresh.key.value, plaintextOf('users', 'email', 1), plaintextOf('orders', 'card', 'o-0000001'), p.env.PGPASSWORD].filter(Boolean)) assert.ok(!text.includes(secret), 'a key, a plaintext or the password leaked');
    }
  });

  test(`${driver}: --threads 2 counts tampered rows by row key, rolls the stage back over the SLO and exits 1`, { skip }, async (t) => {
    const p = await setupProject(t, driver, 4000, { observe: '0s' });
    if (!p) return;
    const corrupted = new Set();
    for (const { id, email } of (await p.db.rowsOf('users')).filter((row) => row.id % 33 === 0)) {
      await p.db.setField('users', 'email', id, email.slice(0, -6) + (email.at(-6) === 'A' ? 'B' : 'A') + email.slice(-5));
      corrupted.add(id);
    }
    const result = reencrypt(p, ['--threads', '2', '--json']);
    assert.equal(result.code, 1, result.stderr);
    assertNoStackTrace(assert, result.stderr);
    const failed = json(result).stages.at(-1);
    assert.equal(failed.outcome, 'rolled-back');
    assert.match(failed.reason, /decrypt error rate .* over the SLO of 0\.1%/);
    assert.ok(failed.errorRows.length > 0 && failed.errorRows.every((row) => /^users:(\d+) \(ERR_ENVELOPE_AUTH\)$/.test(row) && corrupted.has(Number(row.match(/\d+/)[0]))), failed.errorRows.join());
    const passed = readEvidence(p.dir).filter((r) => r.event === 'reencrypt-stage' && r.outcome === 'passed');
    const ring = keyring(p.fresh, p.old);
    const underNew = new Set();
    for (const f of await allFields(p)) {
      if (versionOf(f.value) === p.fresh.versionId) underNew.add(`${f.table}:${f.key}`);
      if (f.table === 'users' && f.column === 'email' && corrupted.has(f.key)) continue;
      assert.equal(openText(f.value, ring), plaintextOf(f.table, f.column, f.key));
    }
    assert.equal(underNew.size, passed.reduce((n, r) => n + r.rowsDone, 0), "the failed stage's rows are back under the old version");
  });

  test(`${driver}: kill -9 of --threads runs at random instants: a serial rerun completes, no row lost or encrypted twice`, { skip }, async (t) => {
    const p = await setupProject(t, driver, ROWS, { observe: '0s', batchSize: 200 });
    if (!p) return;
    let killed = 0;
    for (let round = 0; round < 3; round++) {
      const { child, done } = runCliAsync(['reencrypt', SECRET, '--threads', '2', '--max-rows-per-second', '4000'], { cwd: p.dir, env: p.env });
      const timer = setTimeout(() => child.kill('SIGKILL'), 300 + Math.random() * 1200);
      const result = await done;
      clearTimeout(timer);
      if (result.signal !== 'SIGKILL') {
        assert.equal(result.code, 0, result.stderr);
        break;
      }
      killed++;
    }
    t.diagnostic(`${killed} run(s) killed`);
    const last = p.cli(['--lock-timeout', '2s', 'reencrypt', SECRET, '--json']);
    assert.equal(last.code, 0, last.stderr);
    const ring = keyring(p.fresh);
    const fields = await allFields(p);
    assert.equal(fields.length, fieldCount(ROWS), 'no row lost');
    for (const f of fields) assert.equal(openText(f.value, ring), plaintextOf(f.table, f.column, f.key), `under the new key, encrypted once: ${f.table}.${f.column}#${f.key}`);
    assert.equal(p.cli(['evidence', 'verify']).code, 0);
  });
}

const anyDriver = DRIVERS.find((d) => !driverSkips[d]) ?? DRIVERS[0];
test(`${anyDriver}: --threads that is not a whole number from 0 to 64 exits 2 naming the fix, before any change`, { skip: driverSkips[anyDriver] }, async (t) => {
  const p = await setupProject(t, anyDriver, 200, { observe: '0s' });
  if (!p) return;
  for (const value of ['two', '-1', '1.5', '65', '']) {
    const result = reencrypt(p, ['--threads', value]);
    assert.equal(result.code, 2, `--threads ${JSON.stringify(value)}: ${result.stderr}`);
    assert.match(result.stderr, /--threads ".*" must be a whole number from 0 to 64/);
    assert.equal(result.stderr.trim().split('\n').length, 2, `one line and its hint: ${result.stderr}`);
  }
  for (const f of await allFields(p)) assert.equal(versionOf(f.value), p.old.versionId);
  // --threads 0 is the serial run.
  assert.equal(reencrypt(p, ['--threads', '0']).code, 0);
  for (const f of await allFields(p)) assert.equal(versionOf(f.value), p.fresh.versionId);
});
