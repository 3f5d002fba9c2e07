// Re-wrap runs (`keyshift reencrypt <master>`) with KEYSHIFT_SIGNING_KEY end like a rotate: a
// `signed` record over their data-key-rewrapped records, the head anchored in the store; so
// `evidence verify --public-key` checks them, finds one rewritten, and a run killed before its
// signature is signed by the rerun.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { baseEnv, buildRoot, json, readEvidence, root, tempProject, writeFiles } from '../helpers/cli.js';
import { driverSkips } from '../helpers/reencrypt.js';
import { MASTER, fillTable, ks, localHierarchyPolicy, tableOf } from '../helpers/hierarchy.js';

const { recordHash } = await import(join(buildRoot, 'dist', 'evidence', 'index.js'));
const names = ['dk-a', 'dk-b', 'dk-c'];
const KILL_HOOK = join(root, 'test', 'helpers', 'kill-after-append.js');

test('a re-wrap run ends signed: verify --public-key checks its records, finds one rewritten, and a rerun signs for a run killed before its signature', { skip: driverSkips.sqlite }, async () => {
  const dir = tempProject('keyshift-hierarchy-signed-');
  writeFiles(dir, { 'policies/keys.yaml': localHierarchyPolicy({ names }), 'data/.keep': '' });
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  writeFileSync(join(dir, 'signing.pem'), privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  writeFileSync(join(dir, 'signing.pub'), publicKey.export({ type: 'spki', format: 'pem' }));
  const env = (extra = {}) => baseEnv({ KEYSHIFT_SIGNING_KEY: join(dir, 'signing.pem'), ...extra });
  const run = async (args, extra) => {
    const result = await ks(dir, args, env(extra));
    assert.equal(result.code, 0, `${args.join(' ')}: ${result.stdout}${result.stderr}`);
    return result;
  };
  const verify = (args = []) => ks(dir, ['evidence', 'verify', '--public-key', 'signing.pub', '--json', ...args], env());
  await run(['rotate', MASTER]);
  for (const name of names) {
    fillTable(dir, tableOf(name), 0, null); // the row gate of each data key reads its (empty) table
    await run(['rotate', name]);
  }
  const rotateMaster = async () => {
    await sleep(1100); // the 1s fallback window: the old master version goes first
    await run(['rotate', MASTER]);
    await run(['rotate', MASTER, '--force', '--reason', 'test']);
  };

  await rotateMaster();
  const from = readEvidence(dir).length;
  await run(['reencrypt', MASTER]);
  const records = readEvidence(dir).slice(from);
  assert.deepEqual(records.map((r) => r.event), [...names.map(() => 'data-key-rewrapped'), 'signed'], 'the run ends with a signed record over its records');
  const signed = records.at(-1);
  assert.deepEqual([signed.signature.seq, signed.signature.hash], [records.at(-2).seq, records.at(-2).hash]);
  const ok = await verify();
  assert.equal(ok.code, 0, ok.stdout + ok.stderr);
  assert.equal(json(ok).signatures.signedUpTo, signed.seq, 'every record is signed');
  // The store's anchor is the head the run left: its signed record.
  const anchors = json(await ks(dir, ['evidence', 'anchors', '--json'])).stores.flatMap((s) => s.anchors);
  assert.ok(anchors.some((a) => a.seq === signed.seq && a.hash === signed.hash), `the run anchored its signed head: ${JSON.stringify(anchors)}`);

  // A data-key-rewrapped record edited and every hash after it recomputed (what someone who can
  // write the files does): the chain holds, the signature does not. Checked without the stores'
  // anchors (-p to no policies): the signature alone must catch it.
  const copy = join(dir, 'rewritten');
  cpSync(join(dir, 'evidence'), copy, { recursive: true });
  rechain(join(copy, 'evidence.jsonl'), records[1].seq, (r) => ({ ...r, versions: [] }));
  const plain = await ks(dir, ['evidence', 'verify', copy, '-p', 'no-policies', '--json'], env());
  assert.equal(plain.code, 0, `the re-chained copy passes without the key: ${plain.stdout}`);
  const caught = await verify([copy, '-p', 'no-policies']);
  assert.equal(caught.code, 1, caught.stdout);
  assert.equal(json(caught).code, 'ERR_SIGNATURE_INVALID');

  // Killed right after the last data key's record is fsynced, before the signature: the log ends
  // unsigned; the rerun has nothing left to re-wrap and still signs and anchors the run's records.
  await rotateMaster();
  const before = readEvidence(dir).length;
  const killed = await ks(dir, ['reencrypt', MASTER], env({ NODE_OPTIONS: `--import ${KILL_HOOK}`, KILL_AFTER_EVENT: 'data-key-rewrapped', KILL_AFTER_COUNT: String(names.length) }));
  assert.equal(killed.signal, 'SIGKILL', `killed after the last record: ${killed.stderr}`);
  assert.equal(readEvidence(dir).at(-1).event, 'data-key-rewrapped');
  assert.equal(json(await verify()).code, 'ERR_SIGNATURE_MISSING', 'the killed run left its records unsigned');
  const rerun = json(await run(['reencrypt', MASTER, '--json']));
  assert.deepEqual(rerun.dataKeys.map((d) => d.rewrapped), names.map(() => []), 'nothing left to re-wrap');
  const after = readEvidence(dir).slice(before);
  assert.deepEqual(after.map((r) => r.event), [...names.map(() => 'data-key-rewrapped'), 'signed'], 'each record once, then the rerun\'s signature');
  const resigned = await verify();
  assert.equal(resigned.code, 0, resigned.stdout + resigned.stderr);
  const anchorsAfter = json(await ks(dir, ['evidence', 'anchors', '--json'])).stores.flatMap((s) => s.anchors);
  assert.ok(anchorsAfter.some((a) => a.seq === after.at(-1).seq), 'the rerun anchored the head');
  // And the run after that has nothing to sign for: no record at all.
  await run(['reencrypt', MASTER]);
  assert.equal(readEvidence(dir).length, before + after.length);
});

/** Edits the record at `seq` and recomputes every hash after it; a signed record names the forged head (its signature cannot follow). */
function rechain(file, seq, edit) {
  let prev = null;
  const lines = readFileSync(file, 'utf8').trim().split('\n').map((line) => {
    let record = JSON.parse(line);
    if (record.seq < seq) {
      prev = record.hash;
      return line;
    }
    if (record.seq === seq) record = edit(record);
    if (record.signature) record = { ...record, signature: { ...record.signature, hash: prev } };
    const { hash: _old, ...body } = { ...record, prevHash: prev };
    const sealed = { ...body, hash: recordHash(body) };
    prev = sealed.hash;
    return JSON.stringify(sealed);
  });
  writeFileSync(file, `${lines.join('\n')}\n`);
}
