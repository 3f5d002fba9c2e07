import { createHash, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { resolve } from 'node:path';
import { ExitCode, KeyshiftError, usageError } from '../errors.js';
import { evidenceFile, readLines } from './log-file.js';
import type { EvidenceHead, EvidenceRecord } from './record.js';
import type { EvidenceDraft } from '../stores/contract.js';
import type { EvidenceLog } from './writer.js';

/**
 * Signed evidence (Ed25519, node:crypto only). With a signing key, every run that wrote evidence
 * ends with a `signed` record whose `signature` signs the chain head before it: chain id, seq and
 * hash of the previous record, which covers every record before it through the chain. Someone who
 * can edit the log and the stores can re-chain every hash and rewrite the anchors, but cannot make
 * a signature without the private key: `evidence verify --public-key` finds the rewrite.
 *
 * The private key is read from KEYSHIFT_SIGNING_KEY (a PEM file's path, or the PEM itself, as a CI
 * secret is usually given) and lives only in a KeyObject: never in a log line, an error, evidence
 * or a child's environment (KEYSHIFT_* variables are never passed to children).
 */

export const SIGNING_KEY_VARIABLE = 'KEYSHIFT_SIGNING_KEY';
export const SIGNATURE_ALGORITHM = 'ed25519';

export interface EvidenceSigner {
  /** `sha256:` + hex SHA-256 of the public key's DER (SPKI): names the key in each signature. */
  keyId: string;
  /** The `signature` field of a `signed` record for this head. */
  sign(head: EvidenceHead): SignatureField;
}

export interface SignatureField {
  alg: typeof SIGNATURE_ALGORITHM;
  keyId: string;
  chainId: string;
  seq: number;
  hash: string;
  /** base64 of the 64-byte Ed25519 signature of signedMessage(chainId, seq, hash). */
  value: string;
}

/** The exact bytes signed: documented in docs/evidence.md so that openssl can check them. */
export function signedMessage(head: EvidenceHead): Buffer {
  return Buffer.from(`keyshift-evidence-head/1\nchain ${head.chainId}\nseq ${head.seq}\nhash ${head.hash}\n`, 'utf8');
}

export function keyIdOf(key: KeyObject): string {
  const publicKey = key.type === 'private' ? createPublicKey(key) : key;
  return `sha256:${createHash('sha256').update(publicKey.export({ format: 'der', type: 'spki' })).digest('hex')}`;
}

/**
 * The signer of KEYSHIFT_SIGNING_KEY, else of the policies' `signing: { key }`, or null when neither
 * is set. A bad key is exit 2, before any change.
 */
export async function signerFromEnv(env: NodeJS.ProcessEnv, cwd: string, policyKey?: string | null): Promise<EvidenceSigner | null> {
  const fromEnv = env[SIGNING_KEY_VARIABLE];
  const setting = fromEnv !== undefined && fromEnv !== '' ? fromEnv : policyKey;
  if (setting === undefined || setting === null || setting === '') return null;
  const inline = setting.trimStart().startsWith('-----BEGIN');
  if (inline && setting !== fromEnv) {
    // signing.key is a path: never quote a key pasted there in an error.
    throw usageError('signing.key (policies) holds a PEM, not the path of a key file: a private key does not belong in a policy file', 'put the key in a file outside the repository and give its path, or pass the PEM in KEYSHIFT_SIGNING_KEY');
  }
  const where = inline ? `${SIGNING_KEY_VARIABLE} (a PEM given inline)` : setting === fromEnv ? `${SIGNING_KEY_VARIABLE}=${setting}` : `signing.key ${setting} (policies)`;
  const pem = inline ? setting.trimStart() : await fs.readFile(resolve(cwd, setting), 'utf8').catch((error: NodeJS.ErrnoException) => {
    throw usageError(`${where}: cannot read the signing key (${error.code ?? 'unreadable'})`, 'point it at an Ed25519 private key PEM file: openssl genpkey -algorithm ed25519 -out evidence-signing.pem');
  });
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: 'pem' });
  } catch {
    // Never the parser's message: it may quote the input.
    throw usageError(`${where}: not a PEM private key`, 'use an Ed25519 private key PEM: openssl genpkey -algorithm ed25519 -out evidence-signing.pem');
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw usageError(`${where}: a ${key.asymmetricKeyType ?? 'non-asymmetric'} key, not Ed25519`, 'signed evidence uses Ed25519: openssl genpkey -algorithm ed25519 -out evidence-signing.pem');
  }
  const keyId = keyIdOf(key);
  return {
    keyId,
    sign: (head) => ({ alg: SIGNATURE_ALGORITHM, keyId, chainId: head.chainId, seq: head.seq, hash: head.hash, value: sign(null, signedMessage(head), key).toString('base64') }),
  };
}

/**
 * Ends a run: appends the `signed` record for the head it follows (under the evidence lock, so a
 * concurrent writer's records are signed too). `secret` and `environment` are `*` and `store` is
 * `evidence`, like a repair of the evidence lock: it concerns the whole log.
 */
export async function signEvidence(
  log: EvidenceLog,
  signer: EvidenceSigner,
  run: { runId: string; operator: string; reason: string; ticket: string | null; emergency: boolean; now: () => Date },
): Promise<EvidenceRecord | null> {
  return log.appendAtHead((head) => {
    const draft: EvidenceDraft & { signature: SignatureField } = {
      at: run.now().toISOString(), event: 'signed', rotationId: null, secret: '*', environment: '*', store: 'evidence',
      fromVersion: null, toVersion: null, fingerprint: null, operator: run.operator, reason: run.reason, ticket: run.ticket,
      emergency: run.emergency, checks: [], runId: run.runId, signature: signer.sign(head),
    };
    return draft;
  });
}

/** `--public-key <pem>`: an Ed25519 public key PEM (a private key is refused: do not hand it around). */
export async function readPublicKey(file: string, cwd: string): Promise<KeyObject> {
  const pem = await fs.readFile(resolve(cwd, file), 'utf8').catch((error: NodeJS.ErrnoException) => {
    throw usageError(`--public-key ${file}: cannot read it (${error.code ?? 'unreadable'})`, 'pass the PEM of the public key: openssl pkey -in evidence-signing.pem -pubout -out evidence-signing.pub');
  });
  if (/PRIVATE KEY/.test(pem)) throw usageError(`--public-key ${file} is a private key`, 'verify with the public key only: openssl pkey -in evidence-signing.pem -pubout -out evidence-signing.pub');
  let key: KeyObject;
  try {
    key = createPublicKey({ key: pem, format: 'pem' });
  } catch {
    throw usageError(`--public-key ${file} is not a PEM public key`, 'openssl pkey -in evidence-signing.pem -pubout -out evidence-signing.pub');
  }
  if (key.asymmetricKeyType !== 'ed25519') throw usageError(`--public-key ${file} is a ${key.asymmetricKeyType} key, not Ed25519`);
  return key;
}

export type SignatureCheck =
  | { ok: true; keyId: string; signatures: number; signedUpTo: number }
  | { ok: false; code: 'ERR_SIGNATURE_INVALID' | 'ERR_SIGNATURE_MISSING'; keyId: string; line: number; seq: number | null; problem: string; signatures: number };

/**
 * Every `signed` record of an intact chain (verify it first) against `publicKey`: each must sign
 * the record right before it with this key, and the log must end with one (records after the last
 * signature are not covered: a run died before signing, or records were appended by hand).
 */
export async function checkSignatures(dir: string, publicKey: KeyObject): Promise<SignatureCheck> {
  const keyId = keyIdOf(publicKey);
  const file = evidenceFile(dir);
  const size = await fs.stat(file).then((s) => s.size, () => 0);
  let previous: { seq: number; hash: string } | null = null;
  let chainId: string | null = null;
  let signatures = 0;
  let signedUpTo = 0;
  let lines = 0;
  for await (const line of readLines(file, size)) {
    if (!line.terminated) break;
    lines = line.number;
    const record = JSON.parse(line.bytes.toString('utf8')) as { seq: number; hash: string; event: string; signature?: Partial<SignatureField> };
    chainId ??= record.hash;
    if (record.event === 'signed') {
      const bad = (problem: string): SignatureCheck => ({ ok: false, code: 'ERR_SIGNATURE_INVALID', keyId, line: line.number, seq: record.seq, problem, signatures });
      const s = record.signature;
      if (!s || typeof s !== 'object' || typeof s.value !== 'string') return bad('the signed record has no signature');
      if (s.alg !== SIGNATURE_ALGORITHM) return bad(`signature algorithm "${String(s.alg)}" is not ${SIGNATURE_ALGORITHM}`);
      if (s.keyId !== keyId) return bad(`signed by key ${String(s.keyId)}, not by the given public key ${keyId}`);
      if (!previous || s.seq !== previous.seq || s.hash !== previous.hash || s.chainId !== chainId) {
        return bad(`the signature names seq ${String(s.seq)} ${String(s.hash)}, not the record before it${previous ? ` (seq ${previous.seq} ${previous.hash})` : ''}: the log was rewritten`);
      }
      if (!verify(null, signedMessage({ chainId, seq: previous.seq, hash: previous.hash }), publicKey, Buffer.from(s.value, 'base64'))) {
        return bad(`the signature of seq ${previous.seq} ${previous.hash} does not verify with ${keyId}: the log was rewritten or the signature forged`);
      }
      signatures += 1;
      signedUpTo = record.seq;
    }
    previous = { seq: record.seq, hash: record.hash };
  }
  if (previous && signedUpTo < previous.seq) {
    const first = signedUpTo + 1;
    return {
      ok: false,
      code: 'ERR_SIGNATURE_MISSING',
      keyId,
      line: signedUpTo === 0 ? 1 : lines - (previous.seq - first),
      seq: first,
      problem: signedUpTo === 0 ? `no record is signed: the log holds ${previous.seq} record(s) and no signed record` : `records seq ${first}..${previous.seq} are not covered by a signature (the log must end with a signed record)`,
      signatures,
    };
  }
  return { ok: true, keyId, signatures, signedUpTo };
}

export function signatureError(check: Extract<SignatureCheck, { ok: false }>, shown: string): KeyshiftError {
  return new KeyshiftError(check.code, `${shown}:${check.line}: ${check.problem}`, { exitCode: ExitCode.failed });
}
