// The key hierarchy with a local master, through the CLI: data keys stored wrapped, rows
// re-encrypted when a data key rotates, data keys re-wrapped (rows untouched) when the master
// rotates, and the master's old version held until no data key needs it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, watch, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { assertNoStackTrace, baseEnv, json, readEvidence, runCliAsync, tempProject, writeFiles } from '../helpers/cli.js';
import { driverSkips, openText, versionOf } from '../helpers/reencrypt.js';

// The hierarchy's rows are in SQLite (skipped on CI's Node 24 leg, whose addon was built for Node 20).
const driverSkip = driverSkips.sqlite;
import { DATA_KEY, MASTER, dataKeyPolicy, masterPolicy, fillTable, getVersion, keyring, ks, localHierarchyPolicy, rowsOf, tableOf, unwrapLocal } from '../helpers/hierarchy.js';

const ROWS = 300;
const masterKeyOf = (version) => Buffer.from(version.value, 'base64');

async function provisioned(policy) {
  const dir = tempProject('keyshift-hierarchy-');
  writeFiles(dir, { 'policies/keys.yaml': policy, 'data/.keep': '' });
  const master = await ks(dir, ['rotate', MASTER]);
  assert.equal(master.code, 0, master.stderr);
  return dir;
}

test('local master: a data-key rotation re-encrypts rows; a master rotation re-wraps the data keys, rows byte-identical; the old master is held until then', { skip: driverSkip }, async () => {
  const dir = await provisioned(localHierarchyPolicy());
  const outputs = [];
  // Every run at the most talkative log level: nothing it logs may hold a key.
  const run = async (args) => {
    const result = await ks(dir, args, baseEnv({ KEYSHIFT_LOG_LEVEL: 'trace' }));
    outputs.push(result.stdout, result.stderr);
    return result;
  };
  assert.equal((await run(['rotate', DATA_KEY])).code, 0);
  const master0 = await getVersion(dir, MASTER);
  const dk0 = await getVersion(dir, DATA_KEY);
  assert.match(dk0.value, new RegExp(`^ksdk1:local\\.${master0.versionId}:[A-Za-z0-9+/]+=*$`), 'the store holds the data key only wrapped');
  const raw0 = unwrapLocal(dk0.value, masterKeyOf(master0), `${DATA_KEY}/prod`);
  assert.equal(raw0.length, 32);
  fillTable(dir, tableOf(DATA_KEY), ROWS, keyring({ versionId: dk0.versionId, key: raw0 }));

  // Rotating the data key: a new wrapped key, and reencrypt moves every row to it.
  assert.equal((await run(['rotate', DATA_KEY, '--force', '--reason', 'test'])).code, 0);
  const dk1 = await getVersion(dir, DATA_KEY);
  const raw1 = unwrapLocal(dk1.value, masterKeyOf(master0), `${DATA_KEY}/prod`);
  assert.ok(!raw1.equals(raw0), 'a data-key rotation makes a new key');
  const moved = await run(['reencrypt', DATA_KEY, '--json']);
  assert.equal(moved.code, 0, moved.stderr);
  const ring1 = keyring({ versionId: dk1.versionId, key: raw1 });
  const before = rowsOf(dir, tableOf(DATA_KEY));
  assert.equal(before.length, ROWS);
  for (const [id, field] of before) {
    assert.equal(versionOf(field), dk1.versionId);
    assert.equal(openText(field, ring1), `${tableOf(DATA_KEY)}#${id}`);
  }

  // Rotating the master: the old version is held while a data key is wrapped only under it.
  assert.equal((await run(['rotate', MASTER, '--force', '--reason', 'test'])).code, 0);
  const master1 = await getVersion(dir, MASTER);
  await sleep(1100);
  const held = await run(['rotate', MASTER]);
  assert.equal(held.code, 3, held.stderr);
  assert.match(held.stdout, new RegExp(`data key version\\(s\\) still wrapped only under ${master0.versionId}.*run keyshift reencrypt ${MASTER} --env prod`));
  const status = json(await run(['status', MASTER, '--json']));
  assert.equal(status.secrets[0].previousVersion, master0.versionId);
  assert.equal(status.secrets[0].error.code, 'ERR_DECOMMISSION_HELD');
  const plan = json(await run(['plan', MASTER, '--json']));
  assert.match(plan.actions[0].reason, /held by decommissionCheck: data keys: 2 data key version/);

  const dry = json(await run(['reencrypt', MASTER, '--dry-run', '--json']));
  assert.deepEqual(dry.dataKeys.map((d) => d.rewrapped.length), [2]);
  assert.equal((await getVersion(dir, DATA_KEY)).value, dk1.value, '--dry-run changes nothing');

  const rewrap = await run(['reencrypt', MASTER, '--json']);
  assert.equal(rewrap.code, 0, rewrap.stderr);
  const report = json(rewrap);
  assert.deepEqual(report.dataKeys.map((d) => [d.secret, d.environment, [...d.rewrapped].sort()]), [[DATA_KEY, 'prod', [dk0.versionId, dk1.versionId].sort()]]);
  assert.deepEqual(rowsOf(dir, tableOf(DATA_KEY)), before, 'no row is touched by a master rotation');
  for (const [stage, raw] of [['current', raw1], ['previous', raw0]]) {
    const rewrapped = await getVersion(dir, DATA_KEY, stage);
    assert.match(rewrapped.value, new RegExp(`^ksdk1:local\\.${master1.versionId}:`));
    assert.ok(unwrapLocal(rewrapped.value, masterKeyOf(master1), `${DATA_KEY}/prod`).equals(raw), `the ${stage} data key keeps its bytes`);
  }
  const again = json(await run(['reencrypt', MASTER, '--json']));
  assert.deepEqual(again.dataKeys[0].rewrapped, [], 'a second run finds nothing to re-wrap');

  const retired = await run(['rotate', MASTER, '--json']);
  assert.equal(retired.code, 0, retired.stderr);
  assert.equal(json(retired).results[0].outcome, 'decommissioned');
  // The data key still opens through the new master: the sweep finds every row under CURRENT.
  const sweep = await run(['reencrypt', DATA_KEY, '--json']);
  assert.equal(sweep.code, 0, sweep.stderr);
  assert.deepEqual(rowsOf(dir, tableOf(DATA_KEY)), before);

  const records = readEvidence(dir).filter((r) => r.event === 'data-key-rewrapped');
  assert.equal(records.length, 1);
  assert.equal(records[0].secret, DATA_KEY);
  assert.equal(records[0].master, MASTER);
  assert.deepEqual([...records[0].versions].sort(), [dk0.versionId, dk1.versionId].sort());
  assert.equal((await run(['evidence', 'verify'])).code, 0);

  // No data key and no master key, in any encoding, in any output or in the evidence.
  const evidenceText = readFileSync(join(dir, 'evidence', 'evidence.jsonl'), 'utf8');
  const canaries = [raw0, raw1, masterKeyOf(master0), masterKeyOf(master1)].flatMap((key) => [key.toString('base64'), key.toString('hex'), key.toString('base64url')]);
  for (const text of [...outputs, evidenceText]) {
    for (const canary of canaries) assert.ok(!text.includes(canary), 'a key leaked into an output or the evidence');
  }
});

// HIERARCHY_KILL_ROUNDS scales the rounds (CI default 4). Even rounds kill at a random instant of a
// run's span (measured once on an uninterrupted run); odd rounds right after a random write of the
// store past the first data key's, where a later data key's draft is in the store and its record
// not yet logged while the run has already anchored the first.
test('kill -9 while re-wrapping: a rerun completes, every data key opens under the new master, the evidence is whole', { skip: driverSkip }, async () => {
  const names = Array.from({ length: 8 }, (_, i) => `dk-${String.fromCharCode(97 + i)}`);
  const dir = await provisioned(localHierarchyPolicy({ names }));
  for (const name of names) {
    fillTable(dir, tableOf(name), 0, null); // the row gate of each data key reads its (empty) table
    for (const args of [['rotate', name], ['rotate', name, '--force', '--reason', 'test']]) {
      const result = await ks(dir, args);
      assert.equal(result.code, 0, result.stderr);
    }
  }
  const raw = async (name, stage, master) => unwrapLocal((await getVersion(dir, name, stage)).value, masterKeyOf(master), `${name}/prod`);
  // Every CURRENT data key unwrapped with `master` (one `keyshift env` instead of a `get` each).
  const currentKeys = async (master) => {
    const values = json(await ks(dir, ['env', '--format', 'json', ...names]));
    return Object.fromEntries(names.map((name) => [name, unwrapLocal(values[name.toUpperCase().replaceAll('-', '_')], masterKeyOf(master), `${name}/prod`)]));
  };
  const rotateMaster = async () => {
    await sleep(1100);
    const retired = await ks(dir, ['rotate', MASTER, '--json']);
    assert.ok(['decommissioned', 'skipped'].includes(json(retired).results[0].outcome), retired.stdout + retired.stderr);
    assert.equal((await ks(dir, ['rotate', MASTER, '--force', '--reason', 'test'])).code, 0);
  };
  await rotateMaster();
  const started = Date.now();
  assert.equal((await ks(dir, ['reencrypt', MASTER])).code, 0);
  const fullRunMs = Date.now() - started;

  const rounds = Number(process.env.HIERARCHY_KILL_ROUNDS ?? 4);
  for (let round = 0; round < rounds; round++) {
    const oldMaster = await getVersion(dir, MASTER);
    const keys = await currentKeys(oldMaster);
    const previous = await raw(names[0], 'previous', oldMaster);
    await rotateMaster();
    const master = await getVersion(dir, MASTER);
    const { child, done } = runCliAsync(['reencrypt', MASTER], { cwd: dir, env: baseEnv() });
    const timer = setTimeout(() => child.kill('SIGKILL'), round % 2 === 0 ? fullRunMs * (0.3 + Math.random() * 0.7) : fullRunMs * 3);
    let writes = 0;
    const killAt = 4 + Math.floor(Math.random() * 12);
    const watcher = round % 2 === 1 ? watch(join(dir, '.keyshift'), (type, file) => file === 'prod.store' && ++writes === killAt && child.kill('SIGKILL')) : null;
    await done;
    watcher?.close();
    clearTimeout(timer);
    const rerun = await ks(dir, ['reencrypt', MASTER, '--json']);
    assert.equal(rerun.code, 0, rerun.stderr);
    const after = await currentKeys(master);
    for (const name of names) assert.ok(after[name].equals(keys[name]), `${name} CURRENT under the new master, same bytes (round ${round})`);
    assert.ok((await raw(names[0], 'previous', master)).equals(previous), `PREVIOUS under the new master, same bytes (round ${round})`);
    const verify = await ks(dir, ['evidence', 'verify']);
    assert.equal(verify.code, 0, verify.stdout + verify.stderr);
    // Every data key re-wrapped this round has its record (the killed run's drafts are recovered).
    const rewrapped = new Set(readEvidence(dir).filter((r) => r.event === 'data-key-rewrapped' && r.wrappedBy === `local master ${master.versionId}`).map((r) => r.secret));
    assert.deepEqual([...rewrapped].sort(), names, `round ${round}`);
  }
});

test('a master that is missing, not a 32-byte key, or the wrong one: one clean line, nothing changed', { skip: driverSkip }, async () => {
  // Policy errors: file, line, field and fix.
  const cases = [
    [dataKeyPolicy(DATA_KEY, '{ type: local, secret: nowhere }'), /keys\.yaml:\d+:\d+: secrets\[0\]\.generator\.master\.secret: names no secret of these policies \("nowhere"\); add the master secret/],
    [localHierarchyPolicy().replace('{ type: random, bytes: 32 }', '{ type: random, length: 40 }'), /secrets\[1\]\.generator\.master\.secret: "app-master" cannot be a master: a local master is a secret with generator: \{ type: random, bytes: 32 \}/],
    [localHierarchyPolicy().replace('        store: { type: local, path: .keyshift/prod.store }\n', '        store: { type: local, path: .keyshift/prod.store }\n    reencrypt:\n      database: { type: sqlite, path: data/m.db }\n      tables: [{ table: t, key: id, columns: [c] }]\n'), /secrets\[1\]\.generator\.master\.secret: "app-master" has reencrypt:, but a master wraps data keys and encrypts no rows/],
    [dataKeyPolicy(DATA_KEY, '{ type: aws-kms, keyId: app-master }'), /secrets\[0\]\.generator\.master\.keyId: must be a KMS key id, key ARN or alias, e\.g\. keyId: alias\/app-master/],
    [dataKeyPolicy(DATA_KEY, `{ type: local, secret: ${MASTER} }`).replace('{ type: local, path: .keyshift/prod.store }', '{ type: dotenv, path: .env }') + masterPolicy(MASTER), /secrets\[0\]\.environments\[0\]\.store\.type: dotenv cannot hold a data key .*; use a local store/],
  ];
  for (const [policy, message] of cases) {
    const dir = tempProject('keyshift-hierarchy-');
    writeFiles(dir, { 'policies/keys.yaml': policy.startsWith('secrets:') ? policy : `secrets:\n${policy}` });
    const result = await ks(dir, ['validate']);
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, message);
    assertNoStackTrace(assert, result.stderr);
  }

  // The master has no value yet: the data key is not made, and says what to run.
  const dir = tempProject('keyshift-hierarchy-');
  writeFiles(dir, { 'policies/keys.yaml': localHierarchyPolicy(), 'data/.keep': '' });
  const early = await ks(dir, ['rotate', DATA_KEY, '--json']);
  assert.equal(early.code, 1, early.stderr);
  assert.equal(json(early).results[0].error.code, 'ERR_MASTER_KEY_MISSING');
  assert.match(json(early).results[0].error.hint, /run keyshift rotate app-master --env prod first/);
  assert.equal(json(await ks(dir, ['status', DATA_KEY, '--json'])).secrets[0].currentVersion, null, 'nothing was stored');

  // The wrong master: a data key wrapped by app-master, the policy now naming another master.
  assert.equal((await ks(dir, ['rotate', MASTER])).code, 0);
  assert.equal((await ks(dir, ['rotate', DATA_KEY])).code, 0);
  const dk = await getVersion(dir, DATA_KEY);
  fillTable(dir, tableOf(DATA_KEY), 10, keyring({ versionId: dk.versionId, key: unwrapLocal(dk.value, masterKeyOf(await getVersion(dir, MASTER)), `${DATA_KEY}/prod`) }));
  const other = localHierarchyPolicy({ masterName: 'other-master' }) + masterPolicy('other-master', '.keyshift/other.store');
  writeFiles(dir, { 'policies/keys.yaml': other });
  assert.equal((await ks(dir, ['rotate', 'other-master'])).code, 0);
  const before = rowsOf(dir, tableOf(DATA_KEY));
  const wrong = await ks(dir, ['reencrypt', DATA_KEY]);
  assert.equal(wrong.code, 1, wrong.stderr);
  assert.match(wrong.stderr, new RegExp(`data key of ${DATA_KEY}/prod cannot be unwrapped by local master v-[a-z0-9-]+: it is wrapped by master version ${json(await ks(dir, ['get', MASTER, '--json'])).versionId}`));
  assert.equal(wrong.stderr.trim().split('\n').filter((line) => line.startsWith('keyshift:')).length, 1);
  assertNoStackTrace(assert, wrong.stderr);
  assert.deepEqual(rowsOf(dir, tableOf(DATA_KEY)), before, 'nothing changed');
});

test('rollback of a master puts its data keys back under the old version first; no row is touched', { skip: driverSkip }, async () => {
  const dir = await provisioned(localHierarchyPolicy({ fallbackWindow: '1h' }));
  assert.equal((await ks(dir, ['rotate', DATA_KEY])).code, 0);
  const master0 = await getVersion(dir, MASTER);
  const dk = await getVersion(dir, DATA_KEY);
  const raw = unwrapLocal(dk.value, masterKeyOf(master0), `${DATA_KEY}/prod`);
  fillTable(dir, tableOf(DATA_KEY), 20, keyring({ versionId: dk.versionId, key: raw }));
  const rows = rowsOf(dir, tableOf(DATA_KEY));
  assert.equal((await ks(dir, ['rotate', MASTER, '--force', '--reason', 'test'])).code, 0);
  assert.equal((await ks(dir, ['reencrypt', MASTER])).code, 0);
  assert.doesNotMatch((await getVersion(dir, DATA_KEY)).value, new RegExp(`^ksdk1:local\\.${master0.versionId}:`));

  const rolledBack = await ks(dir, ['rollback', MASTER, '--reason', 'test']);
  assert.equal(rolledBack.code, 0, rolledBack.stderr);
  assert.match(rolledBack.stderr, new RegExp(`${DATA_KEY}/prod: 1 data key version\\(s\\) back under the old master version`));
  assert.equal((await getVersion(dir, MASTER)).versionId, master0.versionId);
  const back = await getVersion(dir, DATA_KEY);
  assert.match(back.value, new RegExp(`^ksdk1:local\\.${master0.versionId}:`));
  assert.ok(unwrapLocal(back.value, masterKeyOf(master0), `${DATA_KEY}/prod`).equals(raw));
  const sweep = await ks(dir, ['reencrypt', DATA_KEY]);
  assert.equal(sweep.code, 0, sweep.stderr);
  assert.deepEqual(rowsOf(dir, tableOf(DATA_KEY)), rows);
  assert.equal((await ks(dir, ['evidence', 'verify'])).code, 0);
});

test('a re-wrap on a log cut short of the store\'s anchor is refused before a data key changes', { skip: driverSkip }, async () => {
  const dir = await provisioned(localHierarchyPolicy());
  assert.equal((await ks(dir, ['rotate', DATA_KEY])).code, 0);
  assert.equal((await ks(dir, ['rotate', MASTER, '--force', '--reason', 'test'])).code, 0);
  const file = join(dir, 'evidence', 'evidence.jsonl');
  const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
  const cut = `${lines.slice(0, -2).join('\n')}\n`;
  writeFileSync(file, cut);
  const dataKey = await getVersion(dir, DATA_KEY);

  // Appending the re-wrap's records after the cut and anchoring them would hide it.
  const refused = await ks(dir, ['reencrypt', MASTER, '--json']);
  assert.equal(refused.code, 1, refused.stdout + refused.stderr);
  assertNoStackTrace(assert, refused.stderr);
  assert.match(`${refused.stdout}${refused.stderr}`, /evidence log .*evidence\.jsonl is damaged at line \d+: it ends at seq \d+ but store .*prod\.store recorded seq \d+ \(records were cut off\)/);
  assert.equal(readFileSync(file, 'utf8'), cut, 'nothing appended');
  assert.equal((await getVersion(dir, DATA_KEY)).value, dataKey.value, 'the data key is not re-wrapped');
});
