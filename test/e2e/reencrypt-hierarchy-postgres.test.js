// The key hierarchy with a local master and the data key's rows in PostgreSQL (a real server, the
// same one the reencrypt tests use): a data-key rotation re-encrypts the rows, a master rotation
// re-wraps the data keys without touching a row, and the old master is retired only after that.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { baseEnv, json, readEvidence, tempProject, writeFiles } from '../helpers/cli.js';
import { appDatabase } from '../helpers/reencrypt-app-db.js';
import { driverSkips, openText, seal, versionOf } from '../helpers/reencrypt.js';
import { DATA_KEY, MASTER, dataKeyPolicy, getVersion, keyring, ks, masterPolicy, tableOf, unwrapLocal } from '../helpers/hierarchy.js';

const ROWS = 300;
const TABLE = tableOf(DATA_KEY);
const masterKeyOf = (version) => Buffer.from(version.value, 'base64');

test('local master, rows in PostgreSQL: a data-key rotation re-encrypts every row; a master rotation re-wraps the data keys, rows untouched', { skip: driverSkips.postgres }, async (t) => {
  const dir = tempProject('keyshift-hierarchy-pg-');
  const db = await appDatabase(t, 'postgres', dir);
  if (!db) return;
  // The master's window outlasts its forced rotation below; the data key is never retired here.
  writeFiles(dir, { 'policies/keys.yaml': `secrets:\n${masterPolicy(MASTER, '.keyshift/prod.store', '2s')}${dataKeyPolicy(DATA_KEY, `{ type: local, secret: ${MASTER} }`, '1h', db.policyDatabase)}` });
  const env = baseEnv(db.env);
  const run = (args) => ks(dir, args, env);
  const rows = async () => (await db.sql(`SELECT id, secret FROM ${TABLE} ORDER BY id`)).rows.map((r) => [r.id, r.secret]);

  assert.equal((await run(['rotate', MASTER])).code, 0);
  assert.equal((await run(['rotate', DATA_KEY])).code, 0);
  const master0 = await getVersion(dir, MASTER, 'current', env);
  const dk0 = await getVersion(dir, DATA_KEY, 'current', env);
  const raw0 = unwrapLocal(dk0.value, masterKeyOf(master0), `${DATA_KEY}/prod`);
  const ring0 = keyring({ versionId: dk0.versionId, key: raw0 });
  await db.sql(`CREATE TABLE ${TABLE} (id integer PRIMARY KEY, secret text)`);
  const ids = Array.from({ length: ROWS }, (_, i) => i + 1);
  await db.sql(`INSERT INTO ${TABLE} SELECT * FROM unnest($1::int[], $2::text[])`, [ids, ids.map((id) => seal(`${TABLE}#${id}`, ring0))]);

  assert.equal((await run(['rotate', DATA_KEY, '--force', '--reason', 'test'])).code, 0);
  const dk1 = await getVersion(dir, DATA_KEY, 'current', env);
  const raw1 = unwrapLocal(dk1.value, masterKeyOf(master0), `${DATA_KEY}/prod`);
  assert.ok(!raw1.equals(raw0), 'a data-key rotation makes a new key');
  const moved = await run(['reencrypt', DATA_KEY, '--json']);
  assert.equal(moved.code, 0, moved.stderr);
  assert.equal(json(moved).outcome, 'done');
  const ring1 = keyring({ versionId: dk1.versionId, key: raw1 });
  const before = await rows();
  assert.equal(before.length, ROWS);
  for (const [id, field] of before) {
    assert.equal(versionOf(field), dk1.versionId);
    assert.equal(openText(field, ring1), `${TABLE}#${id}`);
  }

  assert.equal((await run(['rotate', MASTER, '--force', '--reason', 'test'])).code, 0);
  const master1 = await getVersion(dir, MASTER, 'current', env);
  const rewrap = await run(['reencrypt', MASTER, '--json']);
  assert.equal(rewrap.code, 0, rewrap.stderr);
  assert.deepEqual(json(rewrap).dataKeys.map((d) => [d.secret, [...d.rewrapped].sort()]), [[DATA_KEY, [dk0.versionId, dk1.versionId].sort()]]);
  assert.deepEqual(await rows(), before, 'no row is touched by a master rotation');
  const rewrapped = await getVersion(dir, DATA_KEY, 'current', env);
  assert.match(rewrapped.value, new RegExp(`^ksdk1:local\\.${master1.versionId}:`));
  assert.ok(unwrapLocal(rewrapped.value, masterKeyOf(master1), `${DATA_KEY}/prod`).equals(raw1), 'the data key keeps its bytes');

  await new Promise((resolve) => setTimeout(resolve, 2100)); // past the master's fallback window
  const retired = await run(['rotate', MASTER, '--json']);
  assert.equal(retired.code, 0, retired.stderr);
  assert.equal(json(retired).results[0].outcome, 'decommissioned');
  const sweep = await run(['reencrypt', DATA_KEY, '--json']);
  assert.equal(sweep.code, 0, sweep.stderr);
  assert.deepEqual(await rows(), before, 'every row was already under CURRENT');
  assert.ok(readEvidence(dir).some((r) => r.event === 'data-key-rewrapped' && r.secret === DATA_KEY));
  assert.equal((await run(['evidence', 'verify'])).code, 0);
});
