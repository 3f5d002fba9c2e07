// The `signed` record is built under the evidence lock from the head it follows, so a writer in
// another process appending at the same moment can never leave a signature naming a stale head.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EvidenceLog } from '../../dist/evidence/writer.js';
import { checkSignatures, signEvidence, signerFromEnv } from '../../dist/evidence/sign.js';
import { verifyEvidence } from '../../dist/evidence/verify.js';

const draft = (i) => ({ at: new Date(0).toISOString(), event: 'issued', rotationId: `r-${i}`, secret: 's', environment: 'dev', store: 'local', fromVersion: null, toVersion: null, fingerprint: null, operator: 'o', reason: 'scheduled', ticket: null, emergency: false, checks: [], runId: 'run-a' });
const run = { runId: 'run-b', operator: 'o', reason: 'scheduled', ticket: null, emergency: false, now: () => new Date(0) };

function keyPair(dir) {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  writeFileSync(join(dir, 'k.pem'), privateKey.export({ type: 'pkcs8', format: 'pem' }));
  return publicKey;
}

test('signed records interleaved with another writer\'s appends each sign the record right before them', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'keyshift-sign-'));
  const publicKey = keyPair(dir);
  const signer = await signerFromEnv({ KEYSHIFT_SIGNING_KEY: 'k.pem' }, dir);
  // Two instances: the file lock between them is what two processes share.
  const writer = new EvidenceLog(dir);
  const other = new EvidenceLog(dir);
  // A chain to sign first: a signing on an empty log writes nothing, and whether the first
  // signings ran before the first append was a race (CI once saw 7 of 9).
  await writer.append([draft(-1)]);
  const work = [];
  for (let i = 0; i < 40; i++) {
    work.push(writer.append([draft(i), draft(i + 1000)]));
    if (i % 5 === 0) work.push(signEvidence(other, signer, run));
  }
  await Promise.all(work);
  await signEvidence(other, signer, run);
  await writer.close();
  await other.close();
  const records = readFileSync(join(dir, 'evidence.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const signed = records.filter((r) => r.event === 'signed');
  assert.equal(signed.length, 9, 'one signed record per signing');
  for (const s of signed) assert.deepEqual([s.signature.seq, s.signature.hash], [s.seq - 1, s.prevHash]);
  assert.equal((await verifyEvidence(dir)).ok, true);
  assert.deepEqual(await checkSignatures(dir, publicKey), { ok: true, keyId: signer.keyId, signatures: signed.length, signedUpTo: records.length });
});

test('nothing to sign in an empty log', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'keyshift-sign-'));
  keyPair(dir);
  const signer = await signerFromEnv({ KEYSHIFT_SIGNING_KEY: 'k.pem' }, dir);
  const log = new EvidenceLog(dir);
  assert.equal(await signEvidence(log, signer, run), null);
  await log.close();
  assert.equal(await signerFromEnv({}, dir), null);
});
