import { createCipheriv, createDecipheriv, createSecretKey, randomFillSync, type KeyObject } from 'node:crypto';

/**
 * The `ks1` field format (docs/envelope.md), for keyshift and for applications (`keyshift/envelope`):
 *
 *   ks1:<versionId>:<base64 of 12-byte nonce ‖ ciphertext ‖ 16-byte GCM tag>
 *
 * AES-256-GCM under the raw 32 bytes of the key version named in the field. With `aad: row` the
 * associated data is `table NUL column NUL rowKey` (UTF-8), which binds a field to its cell: a
 * ciphertext copied to another row or column no longer opens. No keyshift internals here: this file
 * is what an application imports, and it must stay small and dependency-free.
 */

export const FIELD_PREFIX = 'ks1';
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;
const VERSION_PATTERN = /^[A-Za-z0-9._/+=@-]{1,200}$/;
const BASE64_PATTERN = /^[A-Za-z0-9+/]*={0,2}$/;

/** Where a field lives, when the policy says `aad: row`. */
export interface RowAad {
  table: string;
  column: string;
  key: string | number | bigint;
}

/** Key versions by id; `current` is the one `seal` uses. */
export interface Keyring {
  readonly current: string;
  readonly keys: ReadonlyMap<string, Buffer>;
}

/** A key: its raw 32 bytes, or a random generator's value as the store keeps it (base64 by default). */
export type KeyMaterial = Uint8Array | { value: string; encoding?: 'base64' | 'base64url' | 'hex' };

export interface KeyVersion {
  versionId: string;
  key: KeyMaterial;
}

export type EnvelopeErrorCode = 'ERR_ENVELOPE_MALFORMED' | 'ERR_ENVELOPE_UNKNOWN_VERSION' | 'ERR_ENVELOPE_AUTH' | 'ERR_ENVELOPE_KEY';

/** Why a field could not be opened. The message names the version at most, never a key or a value. */
export class EnvelopeError extends Error {
  readonly code: EnvelopeErrorCode;
  constructor(code: EnvelopeErrorCode, message: string) {
    super(message);
    this.name = 'EnvelopeError';
    this.code = code;
  }
}

/**
 * A keyring from CURRENT and (during the fallback window) PREVIOUS: `seal` writes under CURRENT,
 * `open` reads either. Ids come from `keyshift get <name> --json` (versionId) or `status --json`.
 */
export function keyring(current: KeyVersion, ...others: Array<KeyVersion | null | undefined>): Keyring {
  const keys = new Map<string, Buffer>();
  for (const version of [current, ...others]) {
    if (!version) continue;
    if (!VERSION_PATTERN.test(version.versionId)) throw new EnvelopeError('ERR_ENVELOPE_KEY', `version id ${JSON.stringify(version.versionId)} cannot appear in a ks1 field`);
    keys.set(version.versionId, keyBytes(version.key, version.versionId));
  }
  return { current: current.versionId, keys };
}

/** Encrypts `plaintext` under the keyring's CURRENT version (or `versionId`, for a rollback). */
export function seal(plaintext: string | Uint8Array, ring: Keyring, aad?: RowAad | null, versionId: string = ring.current): string {
  const key = ring.keys.get(versionId);
  if (!key) throw new EnvelopeError('ERR_ENVELOPE_UNKNOWN_VERSION', `key version ${versionId} is not in the keyring`);
  const input = typeof plaintext === 'string' ? Buffer.from(plaintext, 'utf8') : plaintext;
  const nonce = nextNonce();
  const cipher = createCipheriv('aes-256-gcm', keyObject(key), nonce);
  if (aad) cipher.setAAD(aadBytes(aad));
  // GCM is a stream mode: update() returns all of the ciphertext and final() nothing.
  const encrypted = cipher.update(input);
  cipher.final();
  const body = Buffer.allocUnsafe(NONCE_BYTES + encrypted.length + TAG_BYTES);
  nonce.copy(body, 0);
  encrypted.copy(body, NONCE_BYTES);
  cipher.getAuthTag().copy(body, NONCE_BYTES + encrypted.length);
  return `${FIELD_PREFIX}:${versionId}:${body.toString('base64')}`;
}

/** Decrypts a ks1 field with whichever version of the keyring it names; throws EnvelopeError. */
export function open(field: string, ring: Keyring, aad?: RowAad | null): Buffer {
  const { versionId, body } = parseField(field);
  const key = ring.keys.get(versionId);
  if (!key) throw new EnvelopeError('ERR_ENVELOPE_UNKNOWN_VERSION', `key version ${versionId} is not in the keyring (retired, or from another environment)`);
  const decipher = createDecipheriv('aes-256-gcm', keyObject(key), body.subarray(0, NONCE_BYTES));
  decipher.setAuthTag(body.subarray(body.length - TAG_BYTES));
  if (aad) decipher.setAAD(aadBytes(aad));
  try {
    const plaintext = decipher.update(body.subarray(NONCE_BYTES, body.length - TAG_BYTES));
    decipher.final(); // checks the tag; GCM returns no further bytes here
    return plaintext;
  } catch {
    throw new EnvelopeError('ERR_ENVELOPE_AUTH', `field under ${versionId} failed authentication (tampered, wrong key or wrong row)`);
  }
}

/** `open` as UTF-8 text. */
export function openText(field: string, ring: Keyring, aad?: RowAad | null): string {
  return open(field, ring, aad).toString('utf8');
}

/** The key version a field names, or null when it is not a well-formed ks1 field. */
export function versionOf(field: string): string | null {
  try {
    return parseField(field).versionId;
  } catch {
    return null;
  }
}

/** The associated data of `aad: row`: table, column and row key, NUL-separated UTF-8. */
export function aadBytes(aad: RowAad): Buffer {
  return Buffer.from(`${aad.table}\0${aad.column}\0${String(aad.key)}`, 'utf8');
}

// One KeyObject per key, made on first use: the key is imported once, not on every field.
const keyObjects = new WeakMap<Buffer, KeyObject>();

function keyObject(key: Buffer): KeyObject {
  let object = keyObjects.get(key);
  if (!object) {
    object = createSecretKey(key);
    keyObjects.set(key, object);
  }
  return object;
}

// Nonces come from the CSPRNG in blocks: one call per 1,024 fields instead of one per field (the
// per-call cost dominated re-encryption). Each nonce is still 96 fresh random bits, used once.
const NONCE_BLOCK = NONCE_BYTES * 1024;
let nonces = Buffer.alloc(0);
let nonceOffset = 0;

function nextNonce(): Buffer {
  if (nonceOffset + NONCE_BYTES > nonces.length) {
    nonces = randomFillSync(Buffer.allocUnsafe(NONCE_BLOCK));
    nonceOffset = 0;
  }
  const nonce = nonces.subarray(nonceOffset, nonceOffset + NONCE_BYTES);
  nonceOffset += NONCE_BYTES;
  return nonce;
}

function parseField(field: string): { versionId: string; body: Buffer } {
  if (typeof field !== 'string' || !field.startsWith(`${FIELD_PREFIX}:`)) throw new EnvelopeError('ERR_ENVELOPE_MALFORMED', 'not a ks1 field');
  const end = field.indexOf(':', FIELD_PREFIX.length + 1);
  const versionId = end < 0 ? '' : field.slice(FIELD_PREFIX.length + 1, end);
  if (!VERSION_PATTERN.test(versionId)) throw new EnvelopeError('ERR_ENVELOPE_MALFORMED', 'ks1 field without a valid version id');
  const encoded = field.slice(end + 1);
  if (encoded.length % 4 !== 0 || !BASE64_PATTERN.test(encoded)) throw new EnvelopeError('ERR_ENVELOPE_MALFORMED', `ks1 field under ${versionId} is not base64`);
  const body = Buffer.from(encoded, 'base64');
  if (body.length < NONCE_BYTES + TAG_BYTES) throw new EnvelopeError('ERR_ENVELOPE_MALFORMED', `ks1 field under ${versionId} is too short for a nonce and a tag`);
  return { versionId, body };
}

function keyBytes(material: KeyMaterial, versionId: string): Buffer {
  const bytes = material instanceof Uint8Array ? Buffer.from(material) : decodeValue(material.value, material.encoding ?? 'base64');
  if (bytes.length !== KEY_BYTES) {
    throw new EnvelopeError('ERR_ENVELOPE_KEY', `key version ${versionId} is ${bytes.length} bytes, not ${KEY_BYTES}; AES-256 needs a 32-byte key (generator: { type: random, bytes: 32 })`);
  }
  return bytes;
}

function decodeValue(value: string, encoding: 'base64' | 'base64url' | 'hex'): Buffer {
  const text = value.trim();
  const valid = encoding === 'hex' ? /^([0-9a-fA-F]{2})*$/.test(text) : encoding === 'base64url' ? /^[A-Za-z0-9_-]*={0,2}$/.test(text) : BASE64_PATTERN.test(text);
  return valid ? Buffer.from(text, encoding) : Buffer.alloc(0);
}
