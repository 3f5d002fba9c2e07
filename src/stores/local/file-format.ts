import { createCipheriv, createDecipheriv, createHash, createHmac, randomFillSync, timingSafeEqual } from 'node:crypto';
import { KeyshiftError } from '../../errors.js';
import { corruptError } from './store-errors.js';
import { keyCheckValue, MASTER_KEY_ENV, type StoreKeys } from './master-key.js';

/**
 * The bytes of a local store file (docs/local-store.md is the reference):
 *   "KEYSHIFT" | u32 header length | header JSON | SHA-256 of everything before it
 *   then records: u32 length | u32 ~length | 12-byte nonce | AES-256-GCM ciphertext | 16-byte tag
 * A record's AAD is the header digest plus its index, so records cannot be reordered, duplicated,
 * or moved to another store or generation.
 */

/** Format 2 writes compact entry records; format 1 (JSON objects) is still read, and rewritten on the first write. */
export const FORMAT_VERSION = 2;
const OLDEST_READABLE_FORMAT = 1;
const MAGIC = Buffer.from('KEYSHIFT', 'ascii');
export const HEADER_PREFIX_BYTES = MAGIC.length + 4;
const DIGEST_BYTES = 32;
const MAX_HEADER_JSON = 64 * 1024;
export const FRAME_PREFIX_BYTES = 8;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const MAX_FRAME = 64 * 1024 * 1024;

export interface StoreHeader {
  format: number;
  storeId: string;
  generation: number;
  createdAt: string;
  keyCheck: string;
  mac: string;
}

export interface ParsedHeader {
  header: StoreHeader;
  /** SHA-256 of magic, length and JSON: the AAD prefix of every record. */
  digest: Buffer;
  /** The whole header block as on disk (records start right after it). */
  bytes: Buffer;
}

/** Total header block length from the first HEADER_PREFIX_BYTES bytes. */
export function headerBlockLength(prefix: Buffer, path: string): number {
  if (prefix.length < HEADER_PREFIX_BYTES || !prefix.subarray(0, MAGIC.length).equals(MAGIC)) {
    throw corruptError(path, 'it does not start with a keyshift local store header');
  }
  const jsonLength = prefix.readUInt32BE(MAGIC.length);
  if (jsonLength === 0 || jsonLength > MAX_HEADER_JSON) throw corruptError(path, 'its header length is invalid');
  return HEADER_PREFIX_BYTES + jsonLength + DIGEST_BYTES;
}

/** Structural checks only (no key needed), so damage is reported even without a key. */
export function parseHeader(block: Buffer, path: string): ParsedHeader {
  const end = block.length - DIGEST_BYTES;
  const digest = sha256(block.subarray(0, end));
  if (!digest.equals(block.subarray(end))) throw corruptError(path, 'its header checksum does not match');
  let header: StoreHeader;
  try {
    header = JSON.parse(block.subarray(HEADER_PREFIX_BYTES, end).toString('utf8')) as StoreHeader;
  } catch {
    throw corruptError(path, 'its header is not valid JSON');
  }
  if (typeof header.format === 'number' && header.format > FORMAT_VERSION) {
    throw new KeyshiftError('ERR_STORE_UNSUPPORTED', `store ${path} uses format ${header.format}, newer than this keyshift understands`, {
      hint: 'upgrade keyshift to the version that wrote this store',
    });
  }
  if (!isHeader(header)) throw corruptError(path, 'its header fields are invalid');
  return { header, digest, bytes: block };
}

/** A key check mismatch means the wrong key; a MAC mismatch with a matching key check means damage. */
export function verifyHeader(parsed: ParsedHeader, keys: StoreKeys, path: string): void {
  const { header } = parsed;
  if (!equalText(header.keyCheck, keyCheckValue(keys, header.storeId))) {
    throw new KeyshiftError('ERR_STORE_WRONG_KEY', `the master key from ${keys.source} does not open store ${path}`, {
      hint: `use the key this store was created with: restore ${path}.key from your backup or set ${MASTER_KEY_ENV} to it (${MASTER_KEY_ENV} takes precedence over the key file); the store file was left unchanged`,
    });
  }
  if (!equalText(header.mac, headerMac(keys, header))) throw corruptError(path, 'its header fails authentication');
}

/** `format` is for tests that need an older store; keyshift always writes FORMAT_VERSION. */
export function buildHeader(fields: { storeId: string; generation: number; createdAt: string }, keys: StoreKeys, format = FORMAT_VERSION): ParsedHeader {
  const unsigned = { format, ...fields, keyCheck: keyCheckValue(keys, fields.storeId), mac: '' };
  const header: StoreHeader = { ...unsigned, mac: headerMac(keys, unsigned) };
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const prefix = Buffer.alloc(HEADER_PREFIX_BYTES);
  MAGIC.copy(prefix);
  prefix.writeUInt32BE(json.length, MAGIC.length);
  const digest = sha256(Buffer.concat([prefix, json]));
  return { header, digest, bytes: Buffer.concat([prefix, json, digest]) };
}

/** Bytes the framed record of `plaintext` takes in the file. */
export function recordBytes(plaintext: string): number {
  return FRAME_PREFIX_BYTES + NONCE_BYTES + Buffer.byteLength(plaintext, 'utf8') + TAG_BYTES;
}

/**
 * Encrypts `plaintext` as one framed record straight into `target` at `at` and returns its size:
 * no frame or nonce buffer of its own, which for a compaction of 10,000s of records would be as
 * many megabytes of garbage outside the JS heap.
 */
export function writeRecord(keys: StoreKeys, headerDigest: Buffer, index: number, plaintext: string, target: Buffer, at: number): number {
  const size = recordBytes(plaintext);
  const length = size - FRAME_PREFIX_BYTES;
  target.writeUInt32BE(length, at);
  target.writeUInt32BE(~length >>> 0, at + 4);
  const nonce = randomFillSync(target, at + FRAME_PREFIX_BYTES, NONCE_BYTES).subarray(at + FRAME_PREFIX_BYTES, at + FRAME_PREFIX_BYTES + NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', keys.encryption, nonce);
  cipher.setAAD(recordAad(headerDigest, index));
  const body = at + FRAME_PREFIX_BYTES + NONCE_BYTES;
  const written = cipher.update(plaintext, 'utf8').copy(target, body);
  cipher.final(); // GCM is a stream mode: update returned all of the ciphertext
  if (body + written + TAG_BYTES !== at + size) throw new KeyshiftError('ERR_INTERNAL', 'a store record came out longer or shorter than its frame (this is a bug)');
  cipher.getAuthTag().copy(target, body + written);
  return size;
}

/** One framed record in a buffer of its own. */
export function encodeRecord(keys: StoreKeys, headerDigest: Buffer, index: number, plaintext: string): Buffer {
  const frame = Buffer.allocUnsafe(recordBytes(plaintext));
  writeRecord(keys, headerDigest, index, plaintext, frame, 0);
  return frame;
}

/** Body length from the frame prefix at `at`, or null when the prefix is damaged. */
export function frameBodyLength(bytes: Buffer, at = 0): number | null {
  const length = bytes.readUInt32BE(at);
  if ((~length >>> 0) !== bytes.readUInt32BE(at + 4)) return null;
  if (length < NONCE_BYTES + TAG_BYTES || length > MAX_FRAME) return null;
  return length;
}

/** The record's plaintext as text, or null when it fails authentication. */
export function decryptRecord(keys: StoreKeys, headerDigest: Buffer, index: number, body: Buffer): string | null {
  const nonce = body.subarray(0, NONCE_BYTES);
  const tag = body.subarray(body.length - TAG_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', keys.encryption, nonce);
  decipher.setAAD(recordAad(headerDigest, index));
  decipher.setAuthTag(tag);
  try {
    const plaintext = decipher.update(body.subarray(NONCE_BYTES, body.length - TAG_BYTES));
    decipher.final(); // checks the tag; GCM returns no further bytes
    return plaintext.toString('utf8');
  } catch {
    return null;
  }
}

/** A record whose tag is all zero bytes at the end of the file: an append cut short by a power loss. */
export function looksUnwritten(body: Buffer): boolean {
  return body.subarray(body.length - TAG_BYTES).every((byte) => byte === 0);
}


function headerMac(keys: StoreKeys, header: Omit<StoreHeader, 'mac'>): string {
  const fields = JSON.stringify([header.format, header.storeId, header.generation, header.createdAt, header.keyCheck]);
  return createHmac('sha256', keys.header).update(`keyshift header mac${fields}`).digest('base64');
}

/** One scratch buffer for every record: setAAD copies it at once, and records are many. */
const aadScratch = Buffer.alloc(DIGEST_BYTES + 8);

function recordAad(headerDigest: Buffer, index: number): Buffer {
  headerDigest.copy(aadScratch);
  aadScratch.writeUInt32BE(Math.floor(index / 2 ** 32), DIGEST_BYTES); // a u64, without a BigInt per record
  aadScratch.writeUInt32BE(index >>> 0, DIGEST_BYTES + 4);
  return aadScratch;
}

function isHeader(value: unknown): value is StoreHeader {
  const h = value as StoreHeader;
  return (
    typeof h === 'object' && h !== null && Number.isInteger(h.format) && h.format >= OLDEST_READABLE_FORMAT && h.format <= FORMAT_VERSION && typeof h.storeId === 'string' && h.storeId.length > 0 &&
    Number.isSafeInteger(h.generation) && h.generation >= 1 && typeof h.createdAt === 'string' &&
    typeof h.keyCheck === 'string' && typeof h.mac === 'string'
  );
}

function equalText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function sha256(bytes: Buffer): Buffer {
  return createHash('sha256').update(bytes).digest();
}
