// An independent reader of the local store file, written from docs/local-store.md (not from
// src/): the oracle of the store-damage fuzz test. Given the bytes of a store and its master key
// it says what keyshift must do: refuse the file as damaged, or read it as the state its
// complete, authenticated records give (a torn tail is ignored).
import { createDecipheriv, createHash, createHmac, hkdfSync } from 'node:crypto';

const MAGIC = Buffer.from('KEYSHIFT', 'ascii');
const MAX_HEADER_JSON = 64 * 1024;
const MAX_RECORD = 64 * 1024 * 1024;

export function storeKeys(masterKeyText) {
  const master = Buffer.from(masterKeyText.trim(), 'base64');
  const derive = (info) => Buffer.from(hkdfSync('sha256', master, Buffer.alloc(0), info, 32));
  return { encryption: derive('keyshift local-store encryption v1'), header: derive('keyshift header v1') };
}

/**
 * `{ corrupt: reason }` when keyshift must refuse the file, else
 * `{ records, validEnd, entries: Map(key → entry), meta, frames: [{ start, end }] }`.
 */
export function readStore(bytes, keys) {
  if (bytes.length < 12 || !bytes.subarray(0, 8).equals(MAGIC)) return { corrupt: 'no header' };
  const jsonLength = bytes.readUInt32BE(8);
  if (jsonLength === 0 || jsonLength > MAX_HEADER_JSON) return { corrupt: 'header length' };
  const headerEnd = 12 + jsonLength + 32;
  if (bytes.length < headerEnd) return { corrupt: 'header cut short' };
  const digest = createHash('sha256').update(bytes.subarray(0, 12 + jsonLength)).digest();
  if (!digest.equals(bytes.subarray(12 + jsonLength, headerEnd))) return { corrupt: 'header checksum' };
  let header;
  try {
    header = JSON.parse(bytes.subarray(12, 12 + jsonLength).toString('utf8'));
  } catch {
    return { corrupt: 'header JSON' };
  }
  // The SHA-256 matched, so the header is as keyshift wrote it: key check and MAC must hold.
  const keyCheck = createHmac('sha256', keys.header).update(`keyshift key check${header.storeId}`).digest('base64');
  if (keyCheck !== header.keyCheck) throw new Error('the oracle was given the wrong master key');

  const entries = new Map();
  const frames = [];
  let meta = null;
  let offset = headerEnd;
  // Format 3: each record's AAD ends with the previous record's GCM tag (16 zero bytes for the first).
  let prevTag = header.format >= 3 ? Buffer.alloc(16) : null;
  for (let index = 0; ; index++) {
    const rest = bytes.length - offset;
    if (rest < 8) break; // torn: not even a length prefix
    const length = bytes.readUInt32BE(offset);
    const lengthOk = (~length >>> 0) === bytes.readUInt32BE(offset + 4) && length >= 28 && length <= MAX_RECORD;
    if (!lengthOk) {
      // Space a crash allocated but never filled reads as zeros; anything else is damage.
      if (bytes.subarray(offset).every((b) => b === 0)) break;
      return { corrupt: `record ${index} length` };
    }
    if (rest < 8 + length) break; // torn: shorter than its length prefix
    const body = bytes.subarray(offset + 8, offset + 8 + length);
    const plaintext = decrypt(keys, digest, index, body, prevTag);
    if (plaintext === null) {
      // A final record whose tag was never written (all zeros) is a torn append, not damage.
      if (offset + 8 + length === bytes.length && body.subarray(body.length - 16).every((b) => b === 0)) break;
      return { corrupt: `record ${index} authentication` };
    }
    const item = JSON.parse(plaintext);
    if (Array.isArray(item)) {
      // Formats 2 and 3: ["m", meta] or ["e", key, versions, retired, rotation, lastRotatedAt, drafts].
      if (item[0] === 'm') meta = item[1];
      else entries.set(item[1], { key: item[1], versions: versionsOfFormat2(item[2]) });
    } else if (item.type === 'meta') meta = item.meta;
    else entries.set(item.key, item);
    if (prevTag) prevTag = Buffer.from(body.subarray(body.length - 16));
    frames.push({ start: offset, end: offset + 8 + length });
    offset += 8 + length;
  }
  return { records: frames.length, validEnd: offset, entries, meta, frames };
}

/** The version of `key` at `stage` (CURRENT, PREVIOUS or PENDING) with its value as text, or null. */
export function versionAt(state, key, stage) {
  const version = state.entries.get(key)?.versions.find((v) => v.stages.includes(stage));
  return version ? { id: version.id, value: Buffer.from(version.value, 'base64').toString('utf8') } : null;
}

function decrypt(keys, headerDigest, index, body, prevTag) {
  const aad = Buffer.alloc(prevTag ? 56 : 40);
  headerDigest.copy(aad);
  aad.writeBigUInt64BE(BigInt(index), 32);
  if (prevTag) prevTag.copy(aad, 40);
  try {
    const decipher = createDecipheriv('aes-256-gcm', keys.encryption, body.subarray(0, 12));
    decipher.setAAD(aad);
    decipher.setAuthTag(body.subarray(body.length - 16));
    return Buffer.concat([decipher.update(body.subarray(12, body.length - 16)), decipher.final()]).toString('utf8');
  } catch {
    return null;
  }
}

/**
 * Format 2's versions: [id, stages, createdAt, value]. Strings are written once per entry, a repeat
 * is the number of the string in the order first written; the versions come first, id before time.
 */
function versionsOfFormat2(versions) {
  const strings = [];
  const text = (value) => (typeof value === 'number' ? strings[value] : (strings.push(value), value));
  return versions.map(([id, stages, createdAt, value]) => ({ id: text(id), stages, createdAt: text(createdAt), value }));
}
