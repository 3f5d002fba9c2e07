// The reencrypt database contract (src/reencrypt/databases/contract.ts), the same cases against
// every driver this build has: PostgreSQL on a real server (KEYSHIFT_TEST_PG_URL, started by
// .ci/run) and SQLite when its driver is built. A driver that cannot run here skips, saying why.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { openDatabase } from '../../dist/reencrypt/databases/index.js';
import { postgresFixture, sqliteFixture } from '../helpers/database-fixtures.js';
import { passwordOf, PG_URL } from '../helpers/postgres.js';

const FIXTURES = { postgres: postgresFixture, sqlite: sqliteFixture };
const CT = (n, tag = 'v1') => `ks1:${tag}:${Buffer.from(`row-${n}-${tag}`).toString('base64')}`;

for (const [driver, makeFixture] of Object.entries(FIXTURES)) {
  describe(`${driver} driver`, () => {
    // Opens the fixture and the driver, closes the driver after the test; null when skipped.
    async function setup(t) {
      const fx = await makeFixture(t, openDatabase);
      if (!fx) return null;
      const db = await fx.open();
      t.after(() => db.close());
      return { fx, db };
    }

    test('keyset batches walk integer keys in numeric order, each row once, gaps and all', async (t) => {
      const s = await setup(t);
      if (!s) return;
      const keys = Array.from({ length: 250 }, (_, i) => (i < 200 ? i + 1 : 1000 + i * 7));
      const table = { table: 'accounts', key: 'id', columns: ['secret'] };
      await s.fx.createTable('accounts', { columns: ['secret'], rows: keys.map((k) => ({ key: k, values: { secret: CT(k) } })).reverse() });
      const seen = [];
      let after = null;
      for (;;) {
        const batch = await s.db.readBatch(table, after, 64);
        if (batch.length === 0) break;
        assert.ok(batch.length <= 64);
        seen.push(...batch.map((r) => Number(r.key)));
        for (const row of batch) assert.equal(row.values.secret, CT(Number(row.key)));
        after = batch.at(-1).key;
      }
      assert.deepEqual(seen, keys, 'every key once, in numeric order (2 before 10)');
    });

    test('keyset batches walk text keys in order', async (t) => {
      const s = await setup(t);
      if (!s) return;
      const keys = Array.from({ length: 130 }, (_, i) => `user-${String(i).padStart(4, '0')}`);
      const table = { table: 'users', key: 'email', columns: ['token'] };
      await s.fx.createTable('users', { key: 'email', keyType: 'text', columns: ['token'], rows: [...keys].reverse().map((k) => ({ key: k, values: { token: `ks1:v1:${k}` } })) });
      const batches = [];
      for (let after = null; ; ) {
        const batch = await s.db.readBatch(table, after, 50);
        if (batch.length === 0) break;
        batches.push(batch.map((r) => r.key));
        after = batch.at(-1).key;
      }
      assert.deepEqual(batches.map((b) => b.length), [50, 50, 30]);
      assert.deepEqual(batches.flat(), keys);
    });

    test('readRows returns the rows asked for, missing keys absent; countRows counts', async (t) => {
      const s = await setup(t);
      if (!s) return;
      const table = { table: 'notes', key: 'id', columns: ['body', 'title'] };
      await s.fx.createTable('notes', { columns: ['body', 'title'], rows: [1, 2, 3, 4, 5].map((k) => ({ key: k, values: { body: CT(k), title: k === 4 ? null : CT(k, 't') } })) });
      const rows = await s.db.readRows(table, [5, 2, 99, 4]);
      const byKey = new Map(rows.map((r) => [Number(r.key), r.values]));
      assert.deepEqual([...byKey.keys()].sort(), [2, 4, 5]);
      assert.deepEqual(byKey.get(4), { body: CT(4), title: null });
      assert.deepEqual(await s.db.readRows(table, []), []);
      assert.equal(await s.db.countRows(table), 5);
      const text = { table: 'tags', key: 'name', columns: ['v'] };
      await s.fx.createTable('tags', { key: 'name', keyType: 'text', columns: ['v'], rows: [{ key: 'a', values: { v: 'x' } }, { key: "b'; --", values: { v: 'y' } }] });
      assert.deepEqual((await s.db.readRows(text, ["b'; --", 'zz'])).map((r) => r.key), ["b'; --"]);
    });

    test('applyChanges writes every change whose columns still hold `before`, other columns untouched', async (t) => {
      const s = await setup(t);
      if (!s) return;
      const table = { table: 'cards', key: 'id', columns: ['pan', 'cvv'] };
      const keys = Array.from({ length: 2500 }, (_, i) => i + 1);
      await s.fx.createTable('cards', { columns: ['pan', 'cvv'], rows: keys.map((k) => ({ key: k, values: { pan: CT(k), cvv: CT(k, 'c') } })) });
      const batch = await s.db.readBatch(table, null, 2500);
      const changes = batch.map((r) => ({ key: r.key, before: r.values, after: { pan: CT(Number(r.key), 'v2'), cvv: CT(Number(r.key), 'c2') } }));
      assert.deepEqual(await s.db.applyChanges(table, changes), { applied: 2500, conflicts: [] });
      const raw = await s.fx.rows('cards', { columns: ['pan', 'cvv'] });
      for (const k of keys) assert.deepEqual(raw.get(String(k)), { pan: CT(k, 'v2'), cvv: CT(k, 'c2'), other: 'untouched' });
      assert.deepEqual(await s.db.applyChanges(table, []), { applied: 0, conflicts: [] });
    });

    test('a row an application changed after the read is not overwritten: its key comes back as a conflict', async (t) => {
      const s = await setup(t);
      if (!s) return;
      const table = { table: 'profiles', key: 'id', columns: ['ssn', 'dob'] };
      await s.fx.createTable('profiles', { columns: ['ssn', 'dob'], rows: [1, 2, 3, 4].map((k) => ({ key: k, values: { ssn: CT(k), dob: CT(k, 'd') } })) });
      const batch = await s.db.readBatch(table, null, 10);
      // The application writes row 2's ssn and row 4's dob (the column the change would not touch
      // is compared too) between keyshift's read and its write.
      await s.fx.write('profiles', { column: 'ssn', at: 2, value: 'ks1:app:written-by-the-app' });
      await s.fx.write('profiles', { column: 'dob', at: 4, value: 'ks1:app:dob-by-the-app' });
      const changes = batch.map((r) => ({ key: r.key, before: r.values, after: { ssn: CT(Number(r.key), 'v2'), dob: r.values.dob } }));
      const result = await s.db.applyChanges(table, changes);
      assert.equal(result.applied, 2);
      assert.deepEqual(result.conflicts.map(Number).sort(), [2, 4]);
      const raw = await s.fx.rows('profiles', { columns: ['ssn', 'dob'] });
      assert.equal(raw.get('2').ssn, 'ks1:app:written-by-the-app');
      assert.equal(raw.get('4').dob, 'ks1:app:dob-by-the-app');
      assert.equal(raw.get('4').ssn, CT(4), 'a conflicting row is left whole');
      assert.equal(raw.get('1').ssn, CT(1, 'v2'));
    });

    test('NULL columns: read as null, matched by a null `before`, and a value written over NULL is a conflict', async (t) => {
      const s = await setup(t);
      if (!s) return;
      const table = { table: 'contacts', key: 'id', columns: ['phone', 'email'] };
      await s.fx.createTable('contacts', { columns: ['phone', 'email'], rows: [1, 2, 3].map((k) => ({ key: k, values: { phone: k === 3 ? CT(k) : null, email: CT(k, 'e') } })) });
      const batch = await s.db.readBatch(table, null, 10);
      assert.equal(batch[0].values.phone, null);
      await s.fx.write('contacts', { column: 'phone', at: 2, value: 'ks1:app:new-phone' });
      const changes = batch.map((r) => ({ key: r.key, before: r.values, after: { phone: r.values.phone === null ? null : CT(Number(r.key), 'v2'), email: CT(Number(r.key), 'e2') } }));
      const result = await s.db.applyChanges(table, changes);
      assert.deepEqual({ applied: result.applied, conflicts: result.conflicts.map(Number) }, { applied: 2, conflicts: [2] });
      const raw = await s.fx.rows('contacts', { columns: ['phone', 'email'] });
      assert.deepEqual(raw.get('1'), { phone: null, email: CT(1, 'e2'), other: 'untouched' });
      assert.deepEqual(raw.get('2'), { phone: 'ks1:app:new-phone', email: CT(2, 'e'), other: 'untouched' });
      assert.deepEqual(raw.get('3'), { phone: CT(3, 'v2'), email: CT(3, 'e2'), other: 'untouched' });
    });

    test('a filtered batch returns only the rows still to move (or, starts: true, those under the prefix), the key walk unchanged', async (t) => {
      const s = await setup(t);
      if (!s) return;
      const table = { table: 'wallets', key: 'id', columns: ['a', 'b'] };
      // Row k: a under v2 when k % 3 === 0, b NULL when k % 4 === 0 and under v2 when k % 5 === 0.
      const keys = Array.from({ length: 90 }, (_, i) => i + 1);
      const values = (k) => ({ a: CT(k, k % 3 === 0 ? 'v2' : 'v1'), b: k % 4 === 0 ? null : CT(k, k % 5 === 0 ? 'v2' : 'v1') });
      await s.fx.createTable('wallets', { columns: ['a', 'b'], rows: keys.map((k) => ({ key: k, values: values(k) })) });
      const walk = async (filter) => {
        const seen = [];
        for (let after = null; ; ) {
          const batch = await s.db.readBatch(table, after, 7, filter);
          if (batch.length === 0) break;
          for (const row of batch) assert.deepEqual(row.values, values(Number(row.key)), 'a selected row comes whole');
          seen.push(...batch.map((r) => Number(r.key)));
          after = batch.at(-1).key;
        }
        return seen;
      };
      const under = (v) => v !== null && v.startsWith('ks1:v2:');
      const rest = keys.filter((k) => Object.values(values(k)).some((v) => v !== null && !under(v)));
      const moved = keys.filter((k) => Object.values(values(k)).some(under));
      assert.ok(rest.length > 0 && rest.length < keys.length && moved.length > 0 && moved.length < keys.length);
      assert.deepEqual(await walk({ prefix: 'ks1:v2:', starts: false }), rest, 'rows with a non-NULL column not under v2, in key order');
      assert.deepEqual(await walk({ prefix: 'ks1:v2:', starts: true }), moved, 'rows with a column under v2');
      assert.deepEqual(await walk(undefined), keys);
      // `keep` (a stage's share): every kept row comes, in order; SQLite runs it inside the
      // database and sends nothing else, another driver may send the rest for the caller to drop.
      const keep = (key) => Number(key) % 2 === 0;
      const kept = await walk({ prefix: 'ks1:v2:', starts: false, keep });
      assert.deepEqual(kept.filter(keep), rest.filter(keep));
      if (driver === 'sqlite') assert.deepEqual(kept, rest.filter(keep), 'SQLite sends only the kept rows');
    });

    test('a batch and its checkpoint commit together: a checkpoint that fails leaves the rows as they were', async (t) => {
      const s = await setup(t);
      if (!s) return;
      await s.db.ensureCheckpointTable();
      const table = { table: 'ledgers', key: 'id', columns: ['secret'] };
      await s.fx.createTable('ledgers', { columns: ['secret'], rows: [1, 2, 3].map((k) => ({ key: k, values: { secret: CT(k) } })) });
      const batch = await s.db.readBatch(table, null, 10);
      const changes = batch.map((r) => ({ key: r.key, before: r.values, after: { secret: CT(Number(r.key), 'v2') } }));
      await assert.rejects(s.db.applyChanges(table, changes, () => ({ id: 'ledger/prod', state: null, updatedAt: 'now' })));
      const untouched = await s.fx.rows('ledgers', { columns: ['secret'] });
      for (const k of [1, 2, 3]) assert.equal(untouched.get(String(k)).secret, CT(k), 'the batch rolled back with its checkpoint');
      assert.equal(await s.db.readCheckpoint('ledger/prod'), null);
      let seen = null;
      const result = await s.db.applyChanges(table, changes, (outcome) => {
        seen = outcome;
        return { id: 'ledger/prod', state: JSON.stringify({ applied: outcome.applied }), updatedAt: '2026-12-02T09:00:00.000Z' };
      });
      assert.deepEqual(result, { applied: 3, conflicts: [] });
      assert.deepEqual(seen, result, 'the checkpoint is made from the batch\'s outcome');
      assert.deepEqual(await s.db.readCheckpoint('ledger/prod'), { id: 'ledger/prod', state: '{"applied":3}', updatedAt: '2026-12-02T09:00:00.000Z' });
      const moved = await s.fx.rows('ledgers', { columns: ['secret'] });
      for (const k of [1, 2, 3]) assert.equal(moved.get(String(k)).secret, CT(k, 'v2'));
    });

    test('checkpoints round-trip in keyshift_reencrypt; ensureCheckpointTable is idempotent', async (t) => {
      const s = await setup(t);
      if (!s) return;
      await s.db.ensureCheckpointTable();
      await s.db.ensureCheckpointTable();
      assert.equal(await s.db.readCheckpoint('payments/prod'), null);
      const first = { id: 'payments/prod', state: JSON.stringify({ stage: 'canary', after: { cards: 41 } }), updatedAt: '2026-12-02T08:00:00.000Z' };
      await s.db.writeCheckpoint(first);
      assert.deepEqual(await s.db.readCheckpoint('payments/prod'), first);
      const second = { ...first, state: JSON.stringify({ stage: '25%', after: { cards: "o'brien" } }), updatedAt: '2026-12-02T08:01:00.000Z' };
      await s.db.writeCheckpoint(second);
      await s.db.writeCheckpoint({ id: 'other', state: '{}', updatedAt: second.updatedAt });
      // Another machine (a new connection) resumes from it.
      const again = await s.fx.open();
      t.after(() => again.close());
      assert.deepEqual(await again.readCheckpoint('payments/prod'), second);
    });

    test('lockRun: one holder at a time; another waits waitMs, then ERR_LOCKED (exit 3) naming the holder; a release lets it in', async (t) => {
      const s = await setup(t);
      if (!s) return;
      // Another machine: a connection of its own.
      const other = await s.fx.open();
      t.after(() => other.close());
      const held = await s.db.lockRun('payments/prod', { owner: 'keyshift reencrypt payments (alice@host-a)', waitMs: 0 });
      const started = Date.now();
      const error = await other.lockRun('payments/prod', { owner: 'keyshift reencrypt payments (bob@host-b)', waitMs: 300 }).catch((e) => e);
      assert.ok(Date.now() - started >= 300, `gave up after ${Date.now() - started} ms, not waitMs`);
      assert.equal(error.code, 'ERR_LOCKED', error.message);
      assert.equal(error.exitCode, 3);
      assert.match(error.message, new RegExp(`re-encryption of .*${s.db.describe.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is locked by keyshift reencrypt payments \\(alice@host-a\\)`));
      assert.match(error.hint, /--lock-timeout/);
      const waiting = other.lockRun('payments/prod', { owner: 'keyshift reencrypt payments (bob@host-b)', waitMs: 10_000 });
      await new Promise((resolve) => setTimeout(resolve, 100));
      await held.release();
      await (await waiting).release();
    });
  });
}

describe('postgres driver only', () => {
  test("the run lock is per secret and environment, and ends with its holder's connection", async (t) => {
    const fx = await postgresFixture(t, openDatabase);
    if (!fx) return;
    const [holder, other] = [await fx.open(), await fx.open()];
    t.after(() => Promise.all([holder.close(), other.close()]));
    await holder.lockRun('payments/prod', { owner: 'keyshift reencrypt payments (alice@host-a)', waitMs: 0 });
    const staging = await other.lockRun('payments/staging', { owner: 'keyshift reencrypt payments (bob@host-b)', waitMs: 0 });
    await staging.release();
    // The holder names itself to the server, for a blocked run's message and for a DBA.
    const { rows } = await fx.sql("select pid from pg_stat_activity where application_name = 'keyshift reencrypt payments (alice@host-a)'");
    assert.equal(rows.length, 1, 'the holder is named in pg_stat_activity');
    // A killed holder: its connection ends without a release, and the lock with it.
    await fx.sql('select pg_terminate_backend($1)', [rows[0].pid]);
    const next = await other.lockRun('payments/prod', { owner: 'keyshift reencrypt payments (bob@host-b)', waitMs: 5000 });
    await next.release();
  });

  test('a writer holding the row when the UPDATE arrives wins: the UPDATE waits, re-checks, reports the conflict', async (t) => {
    const fx = await postgresFixture(t, openDatabase);
    if (!fx) return;
    const db = await fx.open();
    t.after(() => db.close());
    const table = { table: 'orders', key: 'id', columns: ['card'] };
    await fx.createTable('orders', { columns: ['card'], rows: [1, 2].map((k) => ({ key: k, values: { card: CT(k) } })) });
    const batch = await db.readBatch(table, null, 10);
    // The application's transaction has row 1 locked and changed, not yet committed.
    await fx.sql('begin');
    await fx.sql(`update ${fx.schema}.orders set card = 'ks1:app:pending' where id = 1`);
    const applying = db.applyChanges(table, batch.map((r) => ({ key: r.key, before: r.values, after: { card: CT(Number(r.key), 'v2') } })));
    await waitForLockWait(fx);
    await fx.sql('commit');
    const result = await applying;
    assert.deepEqual({ applied: result.applied, conflicts: result.conflicts.map(Number) }, { applied: 1, conflicts: [1] });
    const raw = await fx.rows('orders', { columns: ['card'] });
    assert.equal(raw.get('1').card, 'ks1:app:pending');
    assert.equal(raw.get('2').card, CT(2, 'v2'));
  });

  test('a connection lost in the middle of a batch applies none of it and says so, retryable', async (t) => {
    const fx = await postgresFixture(t, openDatabase);
    if (!fx) return;
    const db = await fx.open();
    t.after(() => db.close());
    const table = { table: 'ledger', key: 'id', columns: ['acct'] };
    const keys = Array.from({ length: 500 }, (_, i) => i + 1);
    await fx.createTable('ledger', { columns: ['acct'], rows: keys.map((k) => ({ key: k, values: { acct: CT(k) } })) });
    const batch = await db.readBatch(table, null, 500);
    // Row 400 is locked: the UPDATE has changed rows before it when it stops to wait, and dies there.
    await fx.sql('begin');
    await fx.sql(`select 1 from ${fx.schema}.ledger where id = 400 for update`);
    const applying = db.applyChanges(table, batch.map((r) => ({ key: r.key, before: r.values, after: { acct: CT(Number(r.key), 'v2') } }))).catch((e) => e);
    const pid = await waitForLockWait(fx);
    await fx.sql('select pg_terminate_backend($1)', [pid]);
    await fx.sql('rollback');
    const error = await applying;
    assert.equal(error.code, 'ERR_DATABASE_UNAVAILABLE', error.message);
    assert.equal(error.retryable, true);
    assert.ok(error.message.startsWith(`updating ledger: PostgreSQL at ${db.describe}`), error.message);
    const raw = await fx.rows('ledger', { columns: ['acct'] });
    assert.deepEqual(keys.filter((k) => raw.get(String(k)).acct !== CT(k)), [], 'no row of the batch changed');
  });

  test('schema.table names and reserved words are quoted; anything else is refused before any SQL', async (t) => {
    const fx = await postgresFixture(t, openDatabase);
    if (!fx) return;
    const db = await fx.open();
    t.after(() => db.close());
    await fx.sql(`create table ${fx.schema}."order" ("user" bigint primary key, "select" text)`);
    await fx.sql(`insert into ${fx.schema}."order" values (1, 'ks1:v1:a'), (2, null)`);
    const table = { table: `${fx.schema}.order`, key: 'user', columns: ['select'] };
    const rows = await db.readBatch(table, null, 10);
    assert.deepEqual(rows.map((r) => [Number(r.key), r.values.select]), [[1, 'ks1:v1:a'], [2, null]]);
    assert.deepEqual(await db.applyChanges(table, [{ key: '1', before: { select: 'ks1:v1:a' }, after: { select: 'ks1:v2:b' } }]), { applied: 1, conflicts: [] });
    for (const bad of [{ table: 'order; drop table x', key: 'user', columns: ['select'] }, { table: 'a.b.c', key: 'id', columns: ['v'] }, { table: 'order', key: 'user"', columns: ['select'] }]) {
      await assert.rejects(db.readBatch(bad, null, 1), (e) => e.code === 'ERR_POLICY_INVALID' && e.exitCode === 2);
    }
    await assert.rejects(db.readRows({ table: 'missing_table', key: 'id', columns: ['v'] }, [1]), (e) => e.code === 'ERR_DATABASE_SCHEMA' && e.exitCode === 2 && /missing_table/.test(e.message));
    await assert.rejects(db.readBatch({ table: 'order', key: 'user', columns: ['nope'] }, null, 1), (e) => e.code === 'ERR_DATABASE_SCHEMA' && /nope/.test(e.message));
  });

  test('describe and every error name the server without its password', async (t) => {
    const fx = await postgresFixture(t, openDatabase);
    if (!fx) return;
    const db = await fx.open();
    t.after(() => db.close());
    const url = new URL(PG_URL);
    assert.equal(db.describe, `postgres://${url.hostname}:${url.port}${url.pathname}`);
    const password = passwordOf(PG_URL);
    assert.ok(password.length > 0, 'the test URL has a password to leak');
    const wrong = new URL(fx.spec.url);
    wrong.password = 'wrong-password-canary';
    const error = await openDatabase({ type: 'postgres', url: wrong.toString() }).catch((e) => e);
    assert.equal(error.code, 'ERR_DATABASE_AUTH');
    assert.match(error.message, new RegExp(`PostgreSQL at postgres://${url.hostname}:${url.port}`));
    assert.match(error.hint, /PGPASSWORD/);
    for (const text of [db.describe, error.message, error.hint]) {
      assert.ok(!text.includes(password) && !text.includes('wrong-password-canary'), text);
    }
    const noDatabase = new URL(PG_URL);
    noDatabase.pathname = '/no_such_database';
    const missing = await openDatabase({ type: 'postgres', url: noDatabase.toString() }).catch((e) => e);
    assert.deepEqual([missing.code, missing.exitCode], ['ERR_DATABASE_NOT_FOUND', 2]);
    assert.match(missing.message, new RegExp(`PostgreSQL at postgres://${url.hostname}:${url.port}/no_such_database: database "no_such_database" does not exist`));
    assert.ok(!missing.message.includes(password));
    const notUrl = await openDatabase({ type: 'postgres', url: 'host=db password=canary-pw' }).catch((e) => e);
    assert.equal(notUrl.code, 'ERR_POLICY_INVALID');
    assert.ok(!notUrl.message.includes('canary-pw'));
  });
});

test('postgres: a server that refuses the connection is one line naming it and the fix, exit 1, retryable', async () => {
  const port = await closedPort();
  const error = await openDatabase({ type: 'postgres', url: `postgres://app:canary-secret@127.0.0.1:${port}/payments` }).catch((e) => e);
  assert.equal(error.name, 'KeyshiftError');
  assert.equal(error.code, 'ERR_DATABASE_UNAVAILABLE');
  assert.equal(error.exitCode, 1);
  assert.equal(error.retryable, true);
  assert.equal(error.message, `connecting: PostgreSQL at postgres://127.0.0.1:${port}/payments did not answer (ECONNREFUSED)`);
  assert.match(error.hint, /start the server or correct host and port in reencrypt.database.url/);
  assert.ok(!`${error.message} ${error.hint}`.includes('canary-secret'));
});

/** A port nothing listens on: bound, then released. */
async function closedPort() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** The pid of the driver's backend once its statement waits on the fixture's row lock. */
async function waitForLockWait(fx) {
  for (let i = 0; i < 200; i++) {
    const { rows } = await fx.client.query("select pid from pg_stat_activity where application_name = 'keyshift-reencrypt' and pg_backend_pid() = any(pg_blocking_pids(pid))");
    if (rows.length > 0) return rows[0].pid;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error('the driver never waited on the row lock');
}
