// One `keyshift reencrypt` at a time per secret and environment, across machines: two real
// processes (the second as another operator, as from another machine) on SQLite and on PostgreSQL
// (a real server: KEYSHIFT_TEST_PG_URL, or those cases skip saying why).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { json, runCliAsync } from '../helpers/cli.js';
import { DRIVERS, SECRET, allFields, driverSkips, setupProject, versionOf } from '../helpers/reencrypt.js';

for (const driver of DRIVERS) {
  const skip = driverSkips[driver];

  test(`${driver}: a second run while the first works exits 3 naming it; once the first is killed, the next run takes over at once`, { skip }, async (t) => {
    const p = await setupProject(t, driver, 2000, { observe: '0s', fallbackWindow: '1h' });
    if (!p) return;
    const first = runCliAsync(['reencrypt', SECRET, '--max-rows-per-second', '50'], { cwd: p.dir, env: p.env });
    t.after(() => first.child.kill('SIGKILL'));
    await until(async () => (await p.db.checkpoint()) !== null, 'the first run wrote its first checkpoint');

    const elsewhere = { KEYSHIFT_OPERATOR: 'bob@other-machine' };
    const second = p.cli(['--lock-timeout', '0s', 'reencrypt', SECRET, '--json'], elsewhere);
    // Held by the re-encryption lock itself: another lock (the evidence writer's, taken briefly
    // while the first run appends a record) may hold a run too, but it does not guard the rows.
    const held = new RegExp(`^re-encryption of .*${p.db.describes.source} is locked by keyshift reencrypt data-key \\(test@keyshift\\)`);
    const { error } = second.code === 3 ? json(second) : {};
    assert.ok(error?.code === 'ERR_LOCKED' && held.test(error.message),
      `the second run must be held by the first's re-encryption lock (exit ${second.code}): ${second.stdout}${second.stderr}`);
    assert.match(error.message, driver === 'postgres' ? /\(server pid \d+, from 127\.0\.0\.1, connected since \d{4}-/ : /\(pid \d+ on /);
    assert.match(error.hint, /--lock-timeout/);
    // A rollback would move rows back under the first run's feet: it is held too, and changes nothing.
    const rollback = p.cli(['--lock-timeout', '0s', 'rollback', SECRET], elsewhere);
    assert.equal(rollback.code, 3, rollback.stderr);
    assert.match(rollback.stderr, /is locked by keyshift reencrypt data-key/);
    assert.equal(json(p.cli(['status', SECRET, '--json'])).secrets[0].currentVersion, p.fresh.versionId);
    // Waiting --lock-timeout before giving up.
    const started = Date.now();
    assert.equal(p.cli(['--lock-timeout', '2s', 'reencrypt', SECRET], elsewhere).code, 3);
    assert.ok(Date.now() - started >= 2000, `waited ${Date.now() - started} ms`);

    first.child.kill('SIGKILL');
    assert.equal((await first.done).signal, 'SIGKILL');
    // The killed holder's lock does not outlive it: no waiting for an expiry.
    const next = p.cli(['--lock-timeout', '3s', 'reencrypt', SECRET, '--json'], elsewhere);
    assert.equal(next.code, 0, next.stderr);
    for (const f of await allFields(p)) assert.equal(versionOf(f.value), p.fresh.versionId, `${f.table}.${f.column}#${f.key}`);
  });
}

async function until(condition, what, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
