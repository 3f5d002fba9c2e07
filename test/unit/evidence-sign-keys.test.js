// Signed evidence, called directly: where the signing key comes from and each way it is refused,
// the exact bytes signed, --public-key, the `signed` record, and every finding of checkSignatures
// (with its line and seq). Written for the mutation run of src/evidence (test/MUTATION.md).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createPublicKey, generateKeyPairSync, verify } from 'node:crypto';
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EvidenceLog } from '../../dist/evidence/index.js';
import {
  SIGNATURE_ALGORITHM, SIGNING_KEY_VARIABLE, checkSignatures, keyIdOf, readPublicKey, signEvidence, signatureError, signedMessage, signerFromEnv,
} from '../../dist/evidence/sign.js';

const base = mkdtempSync(join(tmpdir(), 'keyshift-sign-keys-'));
let counter = 0;
const newDir = () => {
  const dir = join(base, `case-${(counter += 1)}`);
  mkdirSync(dir);
  return dir;
};
const ed = generateKeyPairSync('ed25519');
const privatePem = ed.privateKey.export({ type: 'pkcs8', format: 'pem' });
const publicPem = ed.publicKey.export({ type: 'spki', format: 'pem' });
const KEY_ID = `sha256:${createHash('sha256').update(ed.publicKey.export({ type: 'spki', format: 'der' })).digest('hex')}`;
const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 });
const failure = async (promise) => {
  try {
    await promise;
    return null;
  } catch (error) {
    return { code: error.code, message: error.message, hint: error.hint, exitCode: error.exitCode };
  }
};
const GENPKEY = 'openssl genpkey -algorithm ed25519 -out evidence-signing.pem';
const PUBOUT = 'openssl pkey -in evidence-signing.pem -pubout -out evidence-signing.pub';
const draft = (i) => ({
  at: '2026-11-01T00:00:00.000Z', event: 'issued', rotationId: `r-${i}`, secret: 's', environment: 'dev', store: 'local', fromVersion: null, toVersion: null,
  fingerprint: null, operator: 'o', reason: 'scheduled', ticket: null, emergency: false, checks: [],
});
const run = { runId: 'run-1', operator: 'erin@host', reason: 'audit', ticket: 'CHG-9', emergency: true, now: () => new Date('2026-11-02T03:04:05.000Z') };

test('the signed bytes, the key id and a signer from a key file: each signature verifies with the public key', async () => {
  const dir = newDir();
  writeFileSync(join(dir, 'k.pem'), privatePem);
  const head = { chainId: 'sha256:' + 'a'.repeat(64), seq: 7, hash: 'sha256:' + 'b'.repeat(64) };
  assert.equal(signedMessage(head).toString('utf8'), `keyshift-evidence-head/1\nchain ${head.chainId}\nseq 7\nhash ${head.hash}\n`);
  assert.equal(keyIdOf(ed.publicKey), KEY_ID);
  assert.equal(keyIdOf(ed.privateKey), KEY_ID, 'a private key is named by its public key');
  assert.deepEqual([SIGNING_KEY_VARIABLE, SIGNATURE_ALGORITHM], ['KEYSHIFT_SIGNING_KEY', 'ed25519']);
  const signer = await signerFromEnv({ KEYSHIFT_SIGNING_KEY: 'k.pem' }, dir);
  assert.equal(signer.keyId, KEY_ID);
  const field = signer.sign(head);
  assert.deepEqual({ ...field, value: undefined }, { alg: 'ed25519', keyId: KEY_ID, chainId: head.chainId, seq: 7, hash: head.hash, value: undefined });
  assert.equal(verify(null, Buffer.from(`keyshift-evidence-head/1\nchain ${head.chainId}\nseq 7\nhash ${head.hash}\n`), ed.publicKey, Buffer.from(field.value, 'base64')), true);
});

test('where the signing key comes from: the variable (a path or the PEM itself), else the policies\' signing.key', async () => {
  const dir = newDir();
  writeFileSync(join(dir, 'env.pem'), privatePem);
  const other = generateKeyPairSync('ed25519');
  writeFileSync(join(dir, 'policy.pem'), other.privateKey.export({ type: 'pkcs8', format: 'pem' }));
  const policyId = keyIdOf(other.publicKey);
  assert.equal((await signerFromEnv({ KEYSHIFT_SIGNING_KEY: 'env.pem' }, dir, 'policy.pem')).keyId, KEY_ID, 'the variable wins');
  assert.equal((await signerFromEnv({ KEYSHIFT_SIGNING_KEY: '' }, dir, 'policy.pem')).keyId, policyId, 'an empty variable is unset');
  assert.equal((await signerFromEnv({}, dir, 'policy.pem')).keyId, policyId);
  assert.equal((await signerFromEnv({ KEYSHIFT_SIGNING_KEY: join(dir, 'env.pem') }, '/'))?.keyId, KEY_ID, 'an absolute path');
  assert.equal((await signerFromEnv({ KEYSHIFT_SIGNING_KEY: privatePem }, '/nonexistent')).keyId, KEY_ID, 'inline PEM');
  assert.equal((await signerFromEnv({ KEYSHIFT_SIGNING_KEY: `\n  ${privatePem}` }, '/nonexistent')).keyId, KEY_ID, 'inline PEM after blank space');
  for (const policyKey of [undefined, null, '']) assert.equal(await signerFromEnv({ KEYSHIFT_SIGNING_KEY: '' }, dir, policyKey), null, String(policyKey));
  assert.equal(await signerFromEnv({}, dir), null);
});

test('a signing key that cannot be used is a usage error (exit 2) naming where it came from, never quoting it', async () => {
  const dir = newDir();
  writeFileSync(join(dir, 'garbage.pem'), 'not a key at all\n');
  writeFileSync(join(dir, 'rsa.pem'), rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }));
  const unreadable = (where, code) => ({ code: 'ERR_USAGE', message: `${where}: cannot read the signing key (${code})`, hint: `point it at an Ed25519 private key PEM file: ${GENPKEY}`, exitCode: 2 });
  const notPem = (where) => ({ code: 'ERR_USAGE', message: `${where}: not a PEM private key`, hint: `use an Ed25519 private key PEM: ${GENPKEY}`, exitCode: 2 });
  const notEd = (where, type) => ({ code: 'ERR_USAGE', message: `${where}: a ${type} key, not Ed25519`, hint: `signed evidence uses Ed25519: ${GENPKEY}`, exitCode: 2 });
  assert.deepEqual(await failure(signerFromEnv({ KEYSHIFT_SIGNING_KEY: 'missing.pem' }, dir)), unreadable('KEYSHIFT_SIGNING_KEY=missing.pem', 'ENOENT'));
  assert.deepEqual(await failure(signerFromEnv({}, dir, 'missing.pem')), unreadable('signing.key missing.pem (policies)', 'ENOENT'));
  assert.deepEqual(await failure(signerFromEnv({ KEYSHIFT_SIGNING_KEY: '.' }, dir)), unreadable('KEYSHIFT_SIGNING_KEY=.', 'EISDIR'));
  assert.deepEqual(await failure(signerFromEnv({ KEYSHIFT_SIGNING_KEY: 'garbage.pem' }, dir)), notPem('KEYSHIFT_SIGNING_KEY=garbage.pem'));
  assert.deepEqual(await failure(signerFromEnv({}, dir, 'garbage.pem')), notPem('signing.key garbage.pem (policies)'));
  assert.deepEqual(await failure(signerFromEnv({ KEYSHIFT_SIGNING_KEY: '-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n-----END PRIVATE KEY-----\n' }, dir)), notPem('KEYSHIFT_SIGNING_KEY (a PEM given inline)'));
  assert.deepEqual(await failure(signerFromEnv({ KEYSHIFT_SIGNING_KEY: 'rsa.pem' }, dir)), notEd('KEYSHIFT_SIGNING_KEY=rsa.pem', 'rsa'));
  assert.deepEqual(await failure(signerFromEnv({ KEYSHIFT_SIGNING_KEY: rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }) }, dir)), notEd('KEYSHIFT_SIGNING_KEY (a PEM given inline)', 'rsa'));
  assert.deepEqual(await failure(signerFromEnv({}, dir, 'rsa.pem')), notEd('signing.key rsa.pem (policies)', 'rsa'));
  // A PEM pasted into a policy file's signing.key (a path) is refused without quoting the key.
  for (const pem of [privatePem, `  ${privatePem}`]) {
    const refused = await failure(signerFromEnv({}, dir, pem));
    assert.deepEqual(refused, {
      code: 'ERR_USAGE', message: 'signing.key (policies) holds a PEM, not the path of a key file: a private key does not belong in a policy file',
      hint: 'put the key in a file outside the repository and give its path, or pass the PEM in KEYSHIFT_SIGNING_KEY', exitCode: 2,
    });
  }
});

test('--public-key: an Ed25519 public key PEM; a private key, another type or no key is refused', async () => {
  const dir = newDir();
  writeFileSync(join(dir, 'k.pub'), publicPem);
  writeFileSync(join(dir, 'k.pem'), privatePem);
  writeFileSync(join(dir, 'junk.pub'), 'junk\n');
  writeFileSync(join(dir, 'rsa.pub'), rsa.publicKey.export({ type: 'spki', format: 'pem' }));
  const key = await readPublicKey('k.pub', dir);
  assert.deepEqual([key.type, key.asymmetricKeyType, keyIdOf(key)], ['public', 'ed25519', KEY_ID]);
  assert.deepEqual(await failure(readPublicKey('none.pub', dir)), { code: 'ERR_USAGE', message: '--public-key none.pub: cannot read it (ENOENT)', hint: `pass the PEM of the public key: ${PUBOUT}`, exitCode: 2 });
  assert.deepEqual(await failure(readPublicKey('k.pem', dir)), { code: 'ERR_USAGE', message: '--public-key k.pem is a private key', hint: `verify with the public key only: ${PUBOUT}`, exitCode: 2 });
  assert.deepEqual(await failure(readPublicKey('junk.pub', dir)), { code: 'ERR_USAGE', message: '--public-key junk.pub is not a PEM public key', hint: PUBOUT, exitCode: 2 });
  assert.deepEqual(await failure(readPublicKey('rsa.pub', dir)), { code: 'ERR_USAGE', message: '--public-key rsa.pub is a rsa key, not Ed25519', hint: undefined, exitCode: 2 });
});

/** A log of `before` records, a signed record, then `after` records; returns its parsed lines. */
async function signedLog(dir, before, after) {
  const signer = await signerFromEnv({ KEYSHIFT_SIGNING_KEY: privatePem }, dir);
  const log = new EvidenceLog(dir);
  await log.append(Array.from({ length: before }, (_, i) => draft(i)));
  const signed = await signEvidence(log, signer, run);
  if (after > 0) await log.append(Array.from({ length: after }, (_, i) => draft(100 + i)));
  await log.close();
  return { signed, records: readFileSync(join(dir, 'evidence.jsonl'), 'utf8').trim().split('\n').map((line) => JSON.parse(line)) };
}
const rewrite = (dir, records) => writeFileSync(join(dir, 'evidence.jsonl'), records.map((r) => `${JSON.stringify(r)}\n`).join(''));

test('the signed record: a record of the whole log that signs the record before it', async () => {
  const dir = newDir();
  const { signed, records } = await signedLog(dir, 2, 0);
  assert.deepEqual(signed, records[2]);
  const { signature, prevHash, hash, ...rest } = signed;
  assert.deepEqual(rest, {
    seq: 3, at: '2026-11-02T03:04:05.000Z', event: 'signed', rotationId: null, secret: '*', environment: '*', store: 'evidence',
    fromVersion: null, toVersion: null, fingerprint: null, operator: 'erin@host', reason: 'audit', ticket: 'CHG-9', emergency: true, checks: [], runId: 'run-1',
  });
  assert.equal(prevHash, records[1].hash);
  assert.deepEqual({ ...signature, value: undefined }, { alg: 'ed25519', keyId: KEY_ID, chainId: records[0].hash, seq: 2, hash: records[1].hash, value: undefined });
  assert.deepEqual(await checkSignatures(dir, ed.publicKey), { ok: true, keyId: KEY_ID, signatures: 1, signedUpTo: 3 });
});

test('checkSignatures: no log, a log without a signature, records after the last signature', async () => {
  assert.deepEqual(await checkSignatures(newDir(), ed.publicKey), { ok: true, keyId: KEY_ID, signatures: 0, signedUpTo: 0 });
  const unsigned = newDir();
  const log = new EvidenceLog(unsigned);
  await log.append([draft(1), draft(2), draft(3)]);
  await log.close();
  assert.deepEqual(await checkSignatures(unsigned, ed.publicKey), {
    ok: false, code: 'ERR_SIGNATURE_MISSING', keyId: KEY_ID, line: 1, seq: 1, problem: 'no record is signed: the log holds 3 record(s) and no signed record', signatures: 0,
  });
  const dir = newDir();
  await signedLog(dir, 2, 3); // seq 1-2, signed 3, 4-6
  const missing = await checkSignatures(dir, ed.publicKey);
  assert.deepEqual(missing, {
    ok: false, code: 'ERR_SIGNATURE_MISSING', keyId: KEY_ID, line: 4, seq: 4, problem: 'records seq 4..6 are not covered by a signature (the log must end with a signed record)', signatures: 1,
  });
  const error = signatureError(missing, 'audit/evidence.jsonl');
  assert.deepEqual([error.code, error.message, error.exitCode], ['ERR_SIGNATURE_MISSING', 'audit/evidence.jsonl:4: records seq 4..6 are not covered by a signature (the log must end with a signed record)', 1]);
  // A torn last line is not a record: the signature still covers the log.
  const torn = newDir();
  await signedLog(torn, 1, 0);
  appendFileSync(join(torn, 'evidence.jsonl'), '{"seq":3,"hash":"sha256:');
  assert.deepEqual(await checkSignatures(torn, ed.publicKey), { ok: true, keyId: KEY_ID, signatures: 1, signedUpTo: 2 });
});

test('checkSignatures: each way a signed record is wrong, with its line and seq', async () => {
  const dir = newDir();
  const { records } = await signedLog(dir, 2, 1); // seq 1-2, signed 3, seq 4
  const [r1, r2, s3] = records;
  const check = async (edit) => {
    const copy = JSON.parse(JSON.stringify(records));
    edit(copy);
    rewrite(dir, copy);
    return checkSignatures(dir, ed.publicKey);
  };
  const bad = (problem, over = {}) => ({ ok: false, code: 'ERR_SIGNATURE_INVALID', keyId: KEY_ID, line: 3, seq: 3, problem, signatures: 0, ...over });
  assert.deepEqual(await check((c) => { delete c[2].signature; }), bad('the signed record has no signature'));
  assert.deepEqual(await check((c) => { c[2].signature = 'sig'; }), bad('the signed record has no signature'));
  assert.deepEqual(await check((c) => { c[2].signature = null; }), bad('the signed record has no signature'));
  assert.deepEqual(await check((c) => { c[2].signature.value = 12; }), bad('the signed record has no signature'));
  assert.deepEqual(await check((c) => { c[2].signature.alg = 'rsa'; }), bad('signature algorithm "rsa" is not ed25519'));
  assert.deepEqual(await check((c) => { delete c[2].signature.alg; }), bad('signature algorithm "undefined" is not ed25519'));
  assert.deepEqual(await check((c) => { c[2].signature.keyId = 'sha256:other'; }), bad(`signed by key sha256:other, not by the given public key ${KEY_ID}`));
  const notBefore = (seq, hash) => bad(`the signature names seq ${seq} ${hash}, not the record before it (seq 2 ${r2.hash}): the log was rewritten`);
  assert.deepEqual(await check((c) => { c[2].signature.seq = 1; }), notBefore(1, r2.hash));
  assert.deepEqual(await check((c) => { c[2].signature.hash = r1.hash; }), notBefore(2, r1.hash));
  assert.deepEqual(await check((c) => { c[2].signature.chainId = r2.hash; }), notBefore(2, r2.hash));
  assert.deepEqual(await check((c) => { c[2].signature.value = Buffer.alloc(64, 1).toString('base64'); }), bad(`the signature of seq 2 ${r2.hash} does not verify with ${KEY_ID}: the log was rewritten or the signature forged`));
  // The signed record moved to the top: it signs nothing before it.
  assert.deepEqual(await check((c) => { c.splice(0, 2); }), bad(`the signature names seq 2 ${r2.hash}, not the record before it: the log was rewritten`, { line: 1 }));
  // A second, valid signature after a first one: both are counted.
  const twice = newDir();
  const signer = await signerFromEnv({ KEYSHIFT_SIGNING_KEY: privatePem }, twice);
  const log = new EvidenceLog(twice);
  await log.append([draft(1)]);
  await signEvidence(log, signer, run);
  await log.append([draft(2)]);
  await signEvidence(log, signer, run);
  await log.close();
  assert.deepEqual(await checkSignatures(twice, ed.publicKey), { ok: true, keyId: KEY_ID, signatures: 2, signedUpTo: 4 });
  const other = generateKeyPairSync('ed25519').publicKey;
  const otherId = keyIdOf(other);
  assert.deepEqual(await checkSignatures(twice, other), { ok: false, code: 'ERR_SIGNATURE_INVALID', keyId: otherId, line: 2, seq: 2, problem: `signed by key ${KEY_ID}, not by the given public key ${otherId}`, signatures: 0 });
  const later = JSON.parse(JSON.stringify(readFileSync(join(twice, 'evidence.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l))));
  later[3].signature.value = Buffer.alloc(64, 2).toString('base64');
  rewrite(twice, later);
  const second = await checkSignatures(twice, ed.publicKey);
  assert.deepEqual([second.ok, second.line, second.seq, second.signatures], [false, 4, 4, 1]);
  assert.equal(s3.event, 'signed');
});
