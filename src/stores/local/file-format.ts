import { createCipheriv, createDecipheriv, createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { fillRandom } from '../../util/random-pool.js';
import { basename } from 'node:path';
import { KeyshiftError } from '../../errors.js';
import { corruptError } from './store-errors.js';
import { keyCheckValue, MASTER_KEY_ENV, type StoreKeys } from './master-key.js';

/**
 * The bytes of a local store file (docs/local-store.md is the reference):
 *   "KEYSHIFT" | u32 header length | header JSON | SHA-256 of everything before it
 *   then records: u32 length | u32 ~length | 12-byte nonce | AES-256-GCM ciphertext | 16-byte tag
 * A record's AAD is the header digest, its index and (format 3) the previous record's GCM tag, so
 * records cannot be reordered, duplicated, moved to another store or generation, or spliced from
 * two copies of one generation. Format 3 also binds the store's file name into the header MAC.
 */

/** Format 3: chained AAD and the store's name; formats 1 and 2 are still read, and rewritten on the first write. */
export const FORMAT_VERSION = 3;
/** The first format whose records chain to the previous record's tag and whose header names the store. */
const CHAINED_FORMAT = 3;
const OLDEST_READABLE_FORMAT = 1;
const MAGIC = Buffer.from('KEYSHIFT', 'ascii');
export const HEADER_PREFIX_BYTES = MAGIC.length + 4;
const DIGEST_BYTES = 32;
const MAX_HEADER_JSON = 64 * 1024;
export const FRAME_PREFIX_BYTES = 8;
const NONCE_BYTES = 12;
export const TAG_BYTES = 16;
const MAX_FRAME = 64 * 1024 * 1024;

export interface StoreHeader {
  format: number;
  storeId: string;
  generation: number;
  createdAt: string;
  keyCheck: string;
  mac: string;
  /** Format 3: the store file's name when it was created (docs/local-store.md#identity). */
  name?: string;
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
  if (typeof header !== 'object' || header === null) throw corruptError(path, 'its header fields are invalid');
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
  if (header.format >= CHAINED_FORMAT && header.name !== basename(path)) {
    throw new KeyshiftError('ERR_STORE_MISPLACED', `store ${path} holds the store created as ${header.name} (id ${header.storeId}), not ${basename(path)}: it was copied or renamed over this one`, {
      hint: `put the right file back at ${path} (from your backup), or move this one back to ${header.name}; keyshift does not read a store under another store's name`,
    });
  }
}

/** The tag chain a file starts with: 16 zero bytes before its first record (format 3), none before. */
export function chainStart(header: StoreHeader): Buffer | null {
  return header.format >= CHAINED_FORMAT ? Buffer.alloc(TAG_BYTES) : null;
}

/** The GCM tag of the framed record that ends at `end` in `bytes` (the next record's chain link). */
export function recordTag(bytes: Buffer, end: number): Buffer {
  return Buffer.from(bytes.subarray(end - TAG_BYTES, end));
}

/** `format` is for tests that need an older store; keyshift always writes FORMAT_VERSION. */
export function buildHeader(fields: { storeId: string; generation: number; createdAt: string; name: string }, keys: StoreKeys, format = FORMAT_VERSION): ParsedHeader {
  const { name, ...rest } = fields;
  const unsigned = { format, ...rest, keyCheck: keyCheckValue(keys, fields.storeId), mac: '', ...(format >= CHAINED_FORMAT ? { name } : {}) };
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
/** `prevTag`: the previous record's tag (chainStart for the first), or null in formats 1 and 2. */
export function writeRecord(keys: StoreKeys, headerDigest: Buffer, index: number, plaintext: string, target: Buffer, at: number, prevTag: Buffer | null): number {
  const size = recordBytes(plaintext);
  const length = size - FRAME_PREFIX_BYTES;
  target.writeUInt32BE(length, at);
  target.writeUInt32BE(~length >>> 0, at + 4);
  const nonce = fillRandom(target, at + FRAME_PREFIX_BYTES, NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', keys.encryption, nonce);
  cipher.setAAD(recordAad(headerDigest, index, prevTag));
  const body = at + FRAME_PREFIX_BYTES + NONCE_BYTES;
  const written = cipher.update(plaintext, 'utf8').copy(target, body);
  cipher.final(); // GCM is a stream mode: update returned all of the ciphertext
  if (body + written + TAG_BYTES !== at + size) throw new KeyshiftError('ERR_INTERNAL', 'a store record came out longer or shorter than its frame (this is a bug)');
  cipher.getAuthTag().copy(target, body + written);
  return size;
}

/** One framed record in a buffer of its own. */
export function encodeRecord(keys: StoreKeys, headerDigest: Buffer, index: number, plaintext: string, prevTag: Buffer | null = null): Buffer {
  const frame = Buffer.allocUnsafe(recordBytes(plaintext));
  writeRecord(keys, headerDigest, index, plaintext, frame, 0, prevTag);
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
export function decryptRecord(keys: StoreKeys, headerDigest: Buffer, index: number, body: Buffer, prevTag: Buffer | null): string | null {
  const nonce = body.subarray(0, NONCE_BYTES);
  const tag = body.subarray(body.length - TAG_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', keys.encryption, nonce);
  decipher.setAAD(recordAad(headerDigest, index, prevTag));
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
  const list: unknown[] = [header.format, header.storeId, header.generation, header.createdAt, header.keyCheck];
  if (header.format >= CHAINED_FORMAT) list.push(header.name);
  const fields = JSON.stringify(list);
  return createHmac('sha256', keys.header).update(`keyshift header mac${fields}`).digest('base64');
}

/** One scratch buffer for every record: setAAD copies it at once, and records are many. */
const aadScratch = Buffer.alloc(DIGEST_BYTES + 8 + TAG_BYTES);

function recordAad(headerDigest: Buffer, index: number, prevTag: Buffer | null): Buffer {
  headerDigest.copy(aadScratch);
  aadScratch.writeUInt32BE(Math.floor(index / 2 ** 32), DIGEST_BYTES); // a u64, without a BigInt per record
  aadScratch.writeUInt32BE(index >>> 0, DIGEST_BYTES + 4);
  if (prevTag === null) return aadScratch.subarray(0, DIGEST_BYTES + 8);
  prevTag.copy(aadScratch, DIGEST_BYTES + 8);
  return aadScratch;
}

function isHeader(value: unknown): value is StoreHeader {
  const h = value as StoreHeader;
  return (
    typeof h === 'object' && h !== null && Number.isInteger(h.format) && h.format >= OLDEST_READABLE_FORMAT && h.format <= FORMAT_VERSION && typeof h.storeId === 'string' && h.storeId.length > 0 &&
    Number.isSafeInteger(h.generation) && h.generation >= 1 && typeof h.createdAt === 'string' &&
    typeof h.keyCheck === 'string' && typeof h.mac === 'string' && (h.format < CHAINED_FORMAT || (typeof h.name === 'string' && h.name.length > 0))
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
