// Signed evidence: with KEYSHIFT_SIGNING_KEY every run ends with a `signed` record over the chain
// head, and `evidence verify --public-key` checks them. The attack it stops: someone who can edit
// the log and the stores re-chains every hash after an edit and lets a run rewrite the anchors;
// the chain and the anchors then agree, the signatures do not.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { assertNoStackTrace, baseEnv, cli, json, readEvidence, tempProject, writeFiles } from '../helpers/cli.js';
import { recordHash } from '../../dist/evidence/record.js';
import { openLocalStore } from '../../dist/stores/local/index.js';

const policy = (hook = '') => 'secrets:\n' + ['a', 'b'].map((name) => `  - name: ${name}\n    interval: 30d\n    fallbackWindow: 1h\n    generator: { type: random, bytes: 16 }\n    environments:\n      - name: dev\n        store: { type: local, path: .keyshift/dev.store }\n${hook}`).join('');

function keys(dir) {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' });
  writeFileSync(join(dir, 'signing.pem'), pem, { mode: 0o600 });
  writeFileSync(join(dir, 'signing.pub'), publicKey.export({ type: 'spki', format: 'pem' }));
  return { pem, canary: pem.split('\n')[1] };
}
function project(hook) {
  const dir = tempProject('keyshift-signed-');
  writeFiles(dir, { 'policies/p.yaml': policy(hook) });
  return { dir, ...keys(dir) };
}
const env = (extra = {}) => baseEnv({ KEYSHIFT_MASTER_KEY: Buffer.alloc(32, 5).toString('base64'), ...extra });
const signing = (extra = {}) => env({ KEYSHIFT_SIGNING_KEY: 'signing.pem', ...extra });
const verify = (dir, args = []) => cli(['evidence', 'verify', '--public-key', 'signing.pub', ...args], { cwd: dir, env: env() });

/** What an attacker with write access does: edit a record, then recompute every prevHash and hash after it. */
function rechain(dir, edit) {
  const file = join(dir, 'evidence', 'evidence.jsonl');
  let records = readFileSync(file, 'utf8').trim().split('\n').map((line) => JSON.parse(line));
  records = edit(records);
  let prev = `sha256:${'0'.repeat(64)}`;
  const lines = records.map((record, i) => {
    // A signed record is made to name the forged head too (its signature value cannot follow).
    const signature = record.signature ? { ...record.signature, seq: i, hash: prev } : undefined;
    const { hash: _old, ...body } = { ...record, seq: i + 1, prevHash: prev, ...(signature ? { signature } : {}) };
    const sealed = { ...body, hash: recordHash(body) };
    prev = sealed.hash;
    return JSON.stringify(sealed);
  });
  writeFileSync(file, `${lines.join('\n')}\n`);
}

test('every run ends with a signed record over the head before it; verify --public-key checks each one', async () => {
  const { dir } = project();
  for (const args of [['rotate', '--all'], ['rotate', '--all', '--force', '--reason', 'drill']]) {
    const run = await cli(args, { cwd: dir, env: signing() });
    assert.equal(run.code, 0, run.stderr);
  }
  const records = readEvidence(dir);
  const signed = records.filter((r) => r.event === 'signed');
  assert.equal(signed.length, 2);
  assert.equal(records.at(-1).event, 'signed');
  for (const s of signed) {
    const before = records[s.seq - 2];
    assert.deepEqual({ seq: s.signature.seq, hash: s.signature.hash, chainId: s.signature.chainId }, { seq: before.seq, hash: before.hash, chainId: records[0].hash });
    assert.equal(s.signature.alg, 'ed25519');
  }
  const ok = await verify(dir, ['--json']);
  assert.equal(ok.code, 0, ok.stdout + ok.stderr);
  assert.deepEqual(json(ok).signatures, { keyId: signed[0].signature.keyId, checked: 2, signedUpTo: records.at(-1).seq });
  const text = await verify(dir);
  assert.match(text.stdout, /signatures: 2 valid with key sha256:[0-9a-f]{64}; every record is signed\n/);
  // A rollback is a run too: it ends signed.
  const rollback = await cli(['rollback', 'a', '--reason', 'clients fail'], { cwd: dir, env: signing() });
  assert.equal(rollback.code, 0, rollback.stderr);
  assert.deepEqual(readEvidence(dir).slice(-2).map((r) => r.event), ['rolled-back', 'signed']);
  assert.equal(json(await verify(dir, ['--json'])).signatures.checked, 3);
});

test('a re-chained log whose anchors were rewritten passes the chain and the anchors, and fails with the key (ERR_SIGNATURE_INVALID)', async () => {
  const { dir } = project();
  assert.equal((await cli(['rotate', '--all'], { cwd: dir, env: signing() })).code, 0);
  rechain(dir, (records) => records.map((r) => (r.seq === 2 ? { ...r, operator: 'someone-else@host' } : r)));
  // A keyshift run does not build on it: the store's anchor names another record at the same seq.
  const cover = await cli(['rotate', '--all', '--force', '--reason', 'cover'], { cwd: dir, env: env() });
  assert.equal(cover.code, 1);
  assert.match(cover.stderr, /is damaged at line \d+: record seq \d+ is not the one store .*dev\.store recorded \(its hash differs\): the log was rewritten; nothing was appended/);
  // The attacker has the store's master key but no signing key: they rewrite the anchors themselves.
  const forged = readEvidence(dir).at(-1);
  const store = openLocalStore({ path: join(dir, '.keyshift', 'dev.store') }, env());
  const lock = await store.lock({ waitMs: 1000, owner: 'attacker' });
  const meta = await store.readMeta();
  await store.writeMeta({ ...meta, evidenceAnchors: { [readEvidence(dir)[0].hash]: { seq: forged.seq, hash: forged.hash, at: new Date().toISOString() } } });
  await lock.release();
  await store.close?.();
  const plain = await cli(['evidence', 'verify'], { cwd: dir, env: env() });
  assert.equal(plain.code, 0, `without the key the forgery passes: ${plain.stdout}${plain.stderr}`);
  const caught = await verify(dir, ['--json']);
  assert.equal(caught.code, 1, caught.stdout);
  const out = json(caught);
  assert.equal(out.code, 'ERR_SIGNATURE_INVALID');
  assert.equal(out.line, readEvidence(dir).find((r) => r.event === 'signed').seq);
  assert.match(out.problem, /does not verify with sha256:[0-9a-f]{64}: the log was rewritten or the signature forged/);
  const text = await verify(dir);
  assert.match(text.stdout, /^evidence\/evidence\.jsonl:\d+: ERR_SIGNATURE_INVALID: /);
  assert.match(text.stderr, /a bad signature in evidence\/evidence\.jsonl \(ERR_SIGNATURE_INVALID\)/);
});

test('signed records removed and the log re-chained, or a run without the key: ERR_SIGNATURE_MISSING', async () => {
  const { dir } = project();
  assert.equal((await cli(['rotate', '--all'], { cwd: dir, env: signing() })).code, 0);
  assert.equal((await cli(['rotate', '--all', '--force', '--reason', 'unsigned'], { cwd: dir, env: env() })).code, 0);
  const tail = json(await verify(dir, ['--json']));
  assert.equal(tail.code, 'ERR_SIGNATURE_MISSING');
  assert.match(tail.problem, /^records seq \d+\.\.\d+ are not covered by a signature/);
  rechain(dir, (records) => records.filter((r) => r.event !== 'signed'));
  const none = json(await verify(dir, ['--json', '-p', 'no-policies']));
  assert.equal(none.code, 'ERR_SIGNATURE_MISSING');
  assert.match(none.problem, /^no record is signed/);
  // A signature by another key is not this key's.
  const other = project();
  assert.equal((await cli(['rotate', '--all'], { cwd: other.dir, env: signing() })).code, 0);
  writeFileSync(join(other.dir, 'signing.pub'), generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }));
  const wrong = json(await verify(other.dir, ['--json']));
  assert.equal(wrong.code, 'ERR_SIGNATURE_INVALID');
  assert.match(wrong.problem, /^signed by key sha256:[0-9a-f]{64}, not by the given public key/);
});

test('a run killed after its last record, before its signature: the rerun, with nothing left to rotate, signs those records', async () => {
  const { dir } = project();
  assert.equal((await cli(['rotate', '--all'], { cwd: dir, env: signing() })).code, 0);
  // Killed right after the second `switched` record (a's and b's) is fsynced: the rotations are done,
  // the run's signature and its store anchor never came.
  const killHook = fileURLToPath(new URL('../helpers/kill-after-append.js', import.meta.url));
  const killed = await cli(['rotate', '--all', '--force', '--reason', 'kill'], { cwd: dir, env: signing({ NODE_OPTIONS: `--import ${killHook}`, KILL_AFTER_EVENT: 'switched', KILL_AFTER_COUNT: '2' }) });
  assert.equal(killed.signal, 'SIGKILL', `the run was killed: ${killed.stdout}${killed.stderr}`);
  assert.equal(json(await verify(dir, ['--json'])).code, 'ERR_SIGNATURE_MISSING', 'the killed run left its records unsigned');
  const rerun = json(await cli(['rotate', '--all', '--json'], { cwd: dir, env: signing() }));
  assert.deepEqual(rerun.results.map((r) => r.outcome), ['skipped', 'skipped'], 'nothing was left to rotate');
  const checked = await verify(dir);
  assert.equal(checked.code, 0, checked.stdout + checked.stderr);
  assert.equal(readEvidence(dir).at(-1).event, 'signed');
  const quiet = await cli(['rotate', '--all'], { cwd: dir, env: signing() });
  assert.equal(quiet.code, 0);
  assert.equal(readEvidence(dir).filter((r) => r.event === 'signed').length, 2, 'a run after that, with nothing to do, signs nothing more (the first run and the rerun signed)');
});

test('canary: the private key (file or inline PEM) never reaches output, debug logs, evidence, a hook\'s environment or any argv', async () => {
  const hook = '        deploy: [{ run: "env > hook-env.txt; cat /proc/[0-9]*/cmdline > cmdlines.txt 2>/dev/null; true" }]\n';
  const { dir, pem, canary } = project(hook);
  const outputs = [];
  for (const [args, extra] of [[['rotate', '--all'], {}], [['rotate', '--all', '--force', '--reason', 'canary', '--log-level', 'debug'], { KEYSHIFT_SIGNING_KEY: pem }]]) {
    const run = await cli(args, { cwd: dir, env: signing(extra) });
    assert.equal(run.code, 0, run.stderr);
    outputs.push(run.stdout, run.stderr);
  }
  assert.ok(existsSync(join(dir, 'hook-env.txt')) && existsSync(join(dir, 'cmdlines.txt')), 'the hook ran');
  assert.equal((await verify(dir)).code, 0, 'the inline PEM signed too');
  const places = { output: outputs.join(''), evidence: readFileSync(join(dir, 'evidence', 'evidence.jsonl'), 'utf8'), hookEnv: readFileSync(join(dir, 'hook-env.txt'), 'utf8'), argv: readFileSync(join(dir, 'cmdlines.txt'), 'latin1') };
  for (const [where, text] of Object.entries(places)) {
    assert.ok(!text.includes(canary), `the private key reached ${where}`);
    assert.ok(!text.includes('PRIVATE KEY'), `a PEM reached ${where}`);
  }
  assert.doesNotMatch(places.hookEnv, /KEYSHIFT_SIGNING_KEY/);
});

test('a missing or wrong signing key is exit 2 before anything changes, without quoting the file', async () => {
  const { dir, canary } = project();
  const missing = await cli(['rotate', '--all'], { cwd: dir, env: signing({ KEYSHIFT_SIGNING_KEY: 'nope.pem' }) });
  assert.equal(missing.code, 2, missing.stderr);
  assert.match(missing.stderr, /KEYSHIFT_SIGNING_KEY=nope\.pem: cannot read the signing key \(ENOENT\)/);
  writeFileSync(join(dir, 'garbage.pem'), `-----BEGIN PRIVATE KEY-----\n${canary}x\n-----END PRIVATE KEY-----\n`);
  const garbage = await cli(['rotate', '--all'], { cwd: dir, env: signing({ KEYSHIFT_SIGNING_KEY: 'garbage.pem' }) });
  assert.equal(garbage.code, 2);
  assert.match(garbage.stderr, /KEYSHIFT_SIGNING_KEY=garbage\.pem: not a PEM private key/);
  assert.ok(!garbage.stderr.includes(canary));
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const ec = await cli(['rotate', '--all', '--dry-run'], { cwd: dir, env: signing({ KEYSHIFT_SIGNING_KEY: privateKey.export({ type: 'pkcs8', format: 'pem' }) }) });
  assert.equal(ec.code, 2);
  assert.match(ec.stderr, /KEYSHIFT_SIGNING_KEY \(a PEM given inline\): a ec key, not Ed25519/);
  for (const run of [missing, garbage, ec]) assertNoStackTrace(assert, run.stderr);
  assert.equal(existsSync(join(dir, 'evidence')), false, 'no evidence written');
  assert.equal(existsSync(join(dir, '.keyshift', 'dev.store')), false, 'no store created');
  const privateAsPublic = await cli(['evidence', 'verify', '--public-key', 'signing.pem'], { cwd: dir, env: env() });
  assert.equal(privateAsPublic.code, 2);
  assert.match(privateAsPublic.stderr, /--public-key signing\.pem is a private key/);
});

test('signing: { key } at the top of a policy file signs like KEYSHIFT_SIGNING_KEY; a typo in it is a policy error', async () => {
  const { dir } = project();
  writeFiles(dir, { 'policies/p.yaml': `signing: { key: signing.pem }\n${policy()}` });
  const run = await cli(['rotate', '--all'], { cwd: dir, env: env() });
  assert.equal(run.code, 0, run.stderr);
  assert.equal(readEvidence(dir).at(-1).event, 'signed');
  assert.equal((await verify(dir)).code, 0);
  writeFiles(dir, { 'policies/p.yaml': `signing: { kee: signing.pem }\n${policy()}` });
  const typo = await cli(['validate'], { cwd: dir, env: env() });
  assert.equal(typo.code, 2);
  assert.match(typo.stderr, /^policies\/p\.yaml:1:\d+: .*kee/m);
  writeFiles(dir, { 'policies/p.yaml': `signing: { key: missing.pem }\n${policy()}` });
  const missing = await cli(['rotate', '--all', '--force', '--reason', 'x'], { cwd: dir, env: env() });
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /signing\.key missing\.pem \(policies\): cannot read the signing key \(ENOENT\)/);
});

test('several logs (one per runner): each is checked with the key, an unsigned one named with its code', async () => {
  const { dir } = project();
  assert.equal((await cli(['rotate', 'a', '--evidence-dir', 'evidence/one'], { cwd: dir, env: signing() })).code, 0);
  assert.equal((await cli(['rotate', 'b', '--evidence-dir', 'evidence/two'], { cwd: dir, env: env() })).code, 0);
  const result = await cli(['evidence', 'verify', 'evidence/one', 'evidence/two', '--public-key', 'signing.pub', '--json'], { cwd: dir, env: env() });
  assert.equal(result.code, 1, result.stdout + result.stderr);
  const out = json(result);
  assert.equal(out.logs[0].ok, true);
  assert.equal(out.logs[0].signatures, 1);
  assert.equal(out.logs[1].code, 'ERR_SIGNATURE_MISSING');
});
