// keyshift reencrypt under kill -9 and under an application writing to the same tables, on SQLite
// and on PostgreSQL (a real server: KEYSHIFT_TEST_PG_URL, or those cases skip saying why).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildRoot, json, readEvidence, root, runCliAsync } from '../helpers/cli.js';
import { DRIVERS, SECRET, allFields, driverSkips, fieldCount, keyring, openText, plaintextOf, reencrypt, setupProject, versionOf } from '../helpers/reencrypt.js';

// 20 rounds in the full check (issue 16); CI's default keeps the file well under a minute.
const ROUNDS = Number(process.env.REENCRYPT_CRASH_ROUNDS ?? 6);
const ROWS = 6000;

for (const driver of DRIVERS) {
  const skip = driverSkips[driver];

  test(`${driver}: kill -9 at ${ROUNDS} random instants: the rerun completes, no row lost or encrypted twice`, { skip }, async (t) => {
    const p = await setupProject(t, driver, ROWS, { observe: '0s', batchSize: 200 });
    if (!p) return;
    let finished = false;
    let killed = 0;
    for (let round = 0; round < ROUNDS && !finished; round++) {
      const { child, done } = runCliAsync(['reencrypt', SECRET, '--max-rows-per-second', '4000'], { cwd: p.dir, env: p.env });
      const timer = setTimeout(() => child.kill('SIGKILL'), 300 + Math.random() * 2500);
      const result = await done;
      clearTimeout(timer);
      if (result.signal === 'SIGKILL') killed++;
      else {
        assert.equal(result.code, 0, result.stderr);
        finished = true;
      }
    }
    t.diagnostic(`${killed} run(s) killed before one completed`);
    // Each killed run's lock died with it: this run does not wait for any of them.
    const last = p.cli(['--lock-timeout', '2s', 'reencrypt', SECRET, '--json']);
    assert.equal(last.code, 0, last.stderr);

    const ring = keyring(p.fresh);
    const fields = await allFields(p);
    assert.equal(fields.length, fieldCount(ROWS), 'no row lost');
    for (const f of fields) {
      assert.equal(versionOf(f.value), p.fresh.versionId, `${f.table}.${f.column}#${f.key}`);
      // Encrypted twice would open to a ks1 field, not to the plaintext.
      assert.equal(openText(f.value, ring), plaintextOf(f.table, f.column, f.key), `opens to its plaintext (not encrypted twice): ${f.table}.${f.column}#${f.key}`);
    }
    assertStagesOnce(readEvidence(p.dir));
    assert.equal(p.cli(['evidence', 'verify']).code, 0);
  });

  // The instant between a stage record's append and the checkpoint write that notes it: a preload
  // (test/helpers/kill-after-append.js) kills the run right after the fsync of its n-th stage record.
  test(`${driver}: kill -9 right after a stage record is appended: the rerun logs that stage once`, { skip }, async (t) => {
    const p = await setupProject(t, driver, 1000, { observe: '0s', batchSize: 100 });
    if (!p) return;
    const killAfter = (n) => ({ NODE_OPTIONS: `--import ${join(root, 'test', 'helpers', 'kill-after-append.js')}`, KILL_AFTER_EVENT: 'reencrypt-stage', KILL_AFTER_COUNT: String(n) });
    // The first run dies after the canary's record; the rerun after its second record (the 50% one).
    for (const n of [1, 2]) {
      const killed = p.cli(['reencrypt', SECRET], killAfter(n));
      assert.equal(killed.signal, 'SIGKILL', `the run was killed after stage record ${n}: ${killed.stderr}`);
      assert.equal(readEvidence(p.dir).at(-1).event, 'reencrypt-stage', 'killed right after the append, before anything else');
    }
    const last = p.cli(['reencrypt', SECRET, '--json']);
    assert.equal(last.code, 0, last.stderr);
    const records = readEvidence(p.dir);
    assertStagesOnce(records);
    assert.equal(records.filter((r) => r.event === 'reencrypt-stage').length, 5, 'one record per stage');
    const verify = p.cli(['evidence', 'verify']);
    assert.equal(verify.code, 0, verify.stdout + verify.stderr);
  });

  test(`${driver}: an application writing throughout loses none of its writes, under either key`, { skip }, async (t) => {
    const p = await setupProject(t, driver, ROWS, { observe: '0s', batchSize: 100 });
    if (!p) return;
    const { fresh, old } = p;
    const stopFile = join(p.dir, 'stop');
    const writer = spawn(process.execPath, [join(root, 'test', 'fixtures', 'reencrypt-writer.js')], {
      env: { PATH: process.env.PATH, STOP_FILE: stopFile, ENVELOPE_MODULE: join(buildRoot, 'dist', 'public', 'envelope.js') },
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    writer.stdin.end(JSON.stringify({ database: p.db.writerConfig, fresh, old, rows: ROWS / 2 }));
    let out = '';
    writer.stdout.on('data', (d) => (out += d));
    const writerDone = new Promise((resolve) => writer.on('close', resolve));
    await new Promise((r) => setTimeout(r, 300));

    const run = await runCliAsync(['reencrypt', SECRET, '--json', '--max-rows-per-second', '3000'], { cwd: p.dir, env: p.env }).done;
    writeFileSync(stopFile, '');
    assert.equal(await writerDone, 0);
    assert.equal(run.code, 0, run.stderr);
    const report = JSON.parse(run.stdout);
    const written = JSON.parse(out);
    assert.ok(Object.keys(written).length > 50, `the application wrote ${Object.keys(written).length} rows`);
    assert.ok(report.stages.length === 5);
    t.diagnostic(`rows the application changed during their batch (retried): ${report.stages.reduce((n, s) => n + s.conflicts, 0)}`);

    // Rows the application wrote under the old key after the walk passed them: a rerun sweeps them.
    const sweep = reencrypt(p, ['--json']);
    assert.equal(sweep.code, 0, sweep.stderr);

    const ring = keyring(fresh);
    const fields = await allFields(p);
    const emails = new Map(fields.filter((f) => f.table === 'users' && f.column === 'email').map((f) => [String(f.key), f.value]));
    for (const [id, value] of Object.entries(written)) {
      const field = emails.get(id);
      assert.ok(field, `row ${id} the application wrote is there`);
      assert.equal(versionOf(field), fresh.versionId);
      assert.equal(openText(field, ring), value, `row ${id} keeps the application's last write`);
    }
    for (const f of fields) {
      assert.equal(versionOf(f.value), fresh.versionId);
      if (!(f.table === 'users' && f.column === 'email' && written[f.key])) assert.equal(openText(f.value, ring), plaintextOf(f.table, f.column, f.key));
    }
    // The old key can go now.
    await new Promise((r) => setTimeout(r, 1100));
    const retired = p.cli(['rotate', SECRET, '--json']);
    assert.equal(json(retired).results[0].outcome, 'decommissioned', retired.stderr);
  });
}

/** Every stage has its record, and no run recorded a stage twice (a rerun after a kill must not repeat the killed run's record). */
function assertStagesOnce(records) {
  const stages = records.filter((r) => r.event === 'reencrypt-stage');
  assert.deepEqual([...new Set(stages.map((r) => r.stage))], ['canary', '25%', '50%', '75%', '100%']);
  const seen = new Map();
  for (const r of stages) {
    const key = `${r.runId} ${r.stage} ${r.outcome}`;
    assert.ok(!seen.has(key), `stage ${r.stage} of run ${r.runId} is logged twice (seq ${seen.get(key)} and ${r.seq})`);
    seen.set(key, r.seq);
  }
}
