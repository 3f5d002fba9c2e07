// The bytes of a local store file (src/stores/local/file-format.ts, docs/local-store.md): header
// block, framed records, the AAD binding each record to its header, index and previous record. Each
// kind of damage must be reported as damage with its own reason (or a wrong key as a wrong key),
// never read as a record; these are checked on the functions directly, with real keys and bytes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import {
  buildHeader, chainStart, decryptRecord, encodeRecord, FORMAT_VERSION, FRAME_PREFIX_BYTES, frameBodyLength, HEADER_PREFIX_BYTES,
  headerBlockLength, looksUnwritten, parseHeader, recordBytes, recordTag, verifyHeader,
} from '../../dist/stores/local/file-format.js';
import { deriveKeys } from '../../dist/stores/local/master-key.js';

const PATH = '/stores/dev.store';
const keys = deriveKeys(randomBytes(32), 'the test key');
const FIELDS = { storeId: 'a'.repeat(32), generation: 3, createdAt: '2026-12-01T10:00:00.000Z', name: 'dev.store' };

const damaged = (detail) => ({ code: 'ERR_STORE_CORRUPT', message: `store ${PATH} is damaged: ${detail}` });

/** A header block with its JSON replaced (and the checksum made right again). */
function blockWith(json) {
  const body = Buffer.from(JSON.stringify(json));
  const prefix = Buffer.alloc(HEADER_PREFIX_BYTES);
  Buffer.from('KEYSHIFT').copy(prefix);
  prefix.writeUInt32BE(body.length, 8);
  const digest = createHash('sha256').update(Buffer.concat([prefix, body])).digest();
  return Buffer.concat([prefix, body, digest]);
}

test('a header block is "KEYSHIFT", its JSON length, the JSON and a SHA-256 of both; it parses and verifies back', () => {
  const built = buildHeader(FIELDS, keys);
  const json = JSON.parse(built.bytes.subarray(HEADER_PREFIX_BYTES, built.bytes.length - 32).toString('utf8'));
  assert.equal(built.bytes.subarray(0, 8).toString('ascii'), 'KEYSHIFT');
  assert.equal(built.bytes.readUInt32BE(8), built.bytes.length - HEADER_PREFIX_BYTES - 32);
  assert.equal(headerBlockLength(built.bytes.subarray(0, HEADER_PREFIX_BYTES), PATH), built.bytes.length);
  assert.deepEqual(Object.keys(json), ['format', 'storeId', 'generation', 'createdAt', 'keyCheck', 'mac', 'name']);
  assert.deepEqual({ ...json, keyCheck: undefined, mac: undefined }, { format: FORMAT_VERSION, ...FIELDS, keyCheck: undefined, mac: undefined });
  assert.ok(built.digest.equals(createHash('sha256').update(built.bytes.subarray(0, built.bytes.length - 32)).digest()));
  assert.ok(built.bytes.subarray(built.bytes.length - 32).equals(built.digest));
  const parsed = parseHeader(built.bytes, PATH);
  assert.deepEqual(parsed.header, json);
  verifyHeader(parsed, keys, PATH);
  // A format-2 header has no name, and its MAC does not cover one.
  const old = buildHeader(FIELDS, keys, 2);
  assert.equal(parseHeader(old.bytes, PATH).header.name, undefined);
  verifyHeader(parseHeader(old.bytes, '/elsewhere/other.store'), keys, '/elsewhere/other.store');
});

test('a header prefix that is short, not KEYSHIFT, or gives a JSON length of 0 or over 64 KiB is damage', () => {
  const good = buildHeader(FIELDS, keys).bytes.subarray(0, HEADER_PREFIX_BYTES);
  const withLength = (n) => { const p = Buffer.from(good); p.writeUInt32BE(n, 8); return p; };
  const notOurs = damaged('it does not start with a keyshift local store header');
  assert.throws(() => headerBlockLength(good.subarray(0, HEADER_PREFIX_BYTES - 1), PATH), notOurs);
  assert.throws(() => headerBlockLength(Buffer.concat([Buffer.from('KEYSHIFt'), good.subarray(8)]), PATH), notOurs);
  assert.throws(() => headerBlockLength(withLength(0), PATH), damaged('its header length is invalid'));
  assert.throws(() => headerBlockLength(withLength(64 * 1024 + 1), PATH), damaged('its header length is invalid'));
  assert.equal(headerBlockLength(withLength(64 * 1024), PATH), HEADER_PREFIX_BYTES + 64 * 1024 + 32);
  assert.equal(headerBlockLength(withLength(1), PATH), HEADER_PREFIX_BYTES + 1 + 32);
});

test('a header block with a wrong checksum, bad JSON, a newer format or invalid fields is refused, each with its reason', () => {
  const built = buildHeader(FIELDS, keys);
  const flipped = Buffer.from(built.bytes);
  flipped[20] ^= 1;
  assert.throws(() => parseHeader(flipped, PATH), damaged('its header checksum does not match'));
  const json = JSON.parse(built.bytes.subarray(HEADER_PREFIX_BYTES, built.bytes.length - 32).toString('utf8'));
  const notJson = Buffer.from(blockWith(json));
  assert.doesNotThrow(() => parseHeader(notJson, PATH));
  const bodyless = (() => {
    const body = Buffer.from('{"format":3,');
    const prefix = Buffer.alloc(HEADER_PREFIX_BYTES);
    Buffer.from('KEYSHIFT').copy(prefix);
    prefix.writeUInt32BE(body.length, 8);
    return Buffer.concat([prefix, body, createHash('sha256').update(Buffer.concat([prefix, body])).digest()]);
  })();
  assert.throws(() => parseHeader(bodyless, PATH), damaged('its header is not valid JSON'));
  assert.throws(() => parseHeader(blockWith({ ...json, format: FORMAT_VERSION + 1 }), PATH), {
    code: 'ERR_STORE_UNSUPPORTED',
    message: `store ${PATH} uses format ${FORMAT_VERSION + 1}, newer than this keyshift understands`,
    hint: 'upgrade keyshift to the version that wrote this store',
  });
  const invalid = damaged('its header fields are invalid');
  const bad = [
    { ...json, format: 0 }, { ...json, format: 2.5 }, { ...json, format: '3' }, { ...json, storeId: '' }, { ...json, storeId: 7 },
    { ...json, generation: 0 }, { ...json, generation: 1.5 }, { ...json, generation: 2 ** 53 }, { ...json, createdAt: null },
    { ...json, keyCheck: 1 }, { ...json, mac: null }, { ...json, name: '' }, { ...json, name: undefined },
    // Not a newer format: a format that is not a number is invalid, even one that reads as 4.
    { ...json, format: String(FORMAT_VERSION + 1) }, { ...json, storeId: ['abc'] },
  ];
  for (const header of bad) assert.throws(() => parseHeader(blockWith(header), PATH), invalid, JSON.stringify(header));
  assert.throws(() => parseHeader(blockWith([]), PATH), invalid);
  // JSON that is no object at all (with a right checksum) is damage too, not a crash.
  for (const header of [null, 7, 'KEYSHIFT', true]) assert.throws(() => parseHeader(blockWith(header), PATH), invalid, JSON.stringify(header));
  // The oldest readable format, generation 1 and format 2 without a name are fields a store may have.
  for (const header of [{ ...json, format: 1, name: undefined }, { ...json, format: 2, name: undefined }, { ...json, generation: 1 }]) {
    assert.equal(parseHeader(blockWith(header), PATH).header.format, header.format);
  }
});

test('a header opened with another key is a wrong key; with the right key but an edited field, damage; under another name, misplaced', () => {
  const built = buildHeader(FIELDS, keys);
  const other = deriveKeys(randomBytes(32), 'KEYSHIFT_MASTER_KEY');
  assert.throws(() => verifyHeader(parseHeader(built.bytes, PATH), other, PATH), (error) => {
    assert.equal(error.code, 'ERR_STORE_WRONG_KEY');
    assert.equal(error.message, `the master key from KEYSHIFT_MASTER_KEY does not open store ${PATH}`);
    assert.equal(error.hint, `use the key this store was created with: restore ${PATH}.key from your backup or set KEYSHIFT_MASTER_KEY to it (KEYSHIFT_MASTER_KEY takes precedence over the key file); the store file was left unchanged`);
    return true;
  });
  const json = parseHeader(built.bytes, PATH).header;
  for (const edit of [{ generation: 4 }, { createdAt: '2026-12-01T10:00:00.001Z' }, { format: 2, name: undefined }, { mac: `${json.mac.slice(0, -2)}${json.mac.at(-2) === 'A' ? 'Q' : 'A'}=` }]) {
    assert.throws(() => verifyHeader(parseHeader(blockWith({ ...json, ...edit }), PATH), keys, PATH), damaged('its header fails authentication'), JSON.stringify(edit));
  }
  assert.throws(() => verifyHeader(parseHeader(built.bytes, '/stores/prod.store'), keys, '/stores/prod.store'), (error) => {
    assert.equal(error.code, 'ERR_STORE_MISPLACED');
    assert.equal(error.message, `store /stores/prod.store holds the store created as dev.store (id ${'a'.repeat(32)}), not prod.store: it was copied or renamed over this one`);
    assert.equal(error.hint, 'put the right file back at /stores/prod.store (from your backup), or move this one back to dev.store; keyshift does not read a store under another store\'s name');
    return true;
  });
  // A key check or MAC of another length is compared too (not a crash of the constant-time compare).
  assert.throws(() => verifyHeader(parseHeader(blockWith({ ...json, keyCheck: 'short' }), PATH), keys, PATH), { code: 'ERR_STORE_WRONG_KEY' });
  assert.throws(() => verifyHeader(parseHeader(blockWith({ ...json, mac: `${json.mac}AAAA` }), PATH), keys, PATH), damaged('its header fails authentication'));
  // A name changed in the JSON is caught by the MAC (the name is inside it).
  assert.throws(() => verifyHeader(parseHeader(blockWith({ ...json, name: 'prod.store' }), '/stores/prod.store'), keys, '/stores/prod.store'), { code: 'ERR_STORE_CORRUPT', message: 'store /stores/prod.store is damaged: its header fails authentication' });
});

test('a record frame is its length, the length inverted, a 12-byte nonce, the ciphertext and a 16-byte tag', () => {
  const header = buildHeader(FIELDS, keys);
  const plaintext = 'ünïcödé record';
  const frame = encodeRecord(keys, header.digest, 0, plaintext, chainStart(header.header));
  const bodyLength = 12 + Buffer.byteLength(plaintext) + 16;
  assert.equal(recordBytes(plaintext), FRAME_PREFIX_BYTES + bodyLength);
  assert.equal(frame.length, recordBytes(plaintext));
  assert.equal(frame.readUInt32BE(0), bodyLength);
  assert.equal(frame.readUInt32BE(4), (~bodyLength) >>> 0);
  assert.equal(frameBodyLength(frame), bodyLength);
  assert.ok(recordTag(frame, frame.length).equals(frame.subarray(frame.length - 16)));
  assert.equal(decryptRecord(keys, header.digest, 0, frame.subarray(8), chainStart(header.header)), plaintext);
  // Two records of the same text differ (a fresh nonce each).
  assert.ok(!frame.equals(encodeRecord(keys, header.digest, 0, plaintext, chainStart(header.header))));
  assert.ok(chainStart(header.header).equals(Buffer.alloc(16)));
  assert.equal(chainStart({ ...header.header, format: 2 }), null);
});

test('a record is read only at its own index, after its own previous record, in its own store generation', () => {
  const header = buildHeader(FIELDS, keys);
  const prev = encodeRecord(keys, header.digest, 0, 'first', chainStart(header.header));
  const tag = recordTag(prev, prev.length);
  const frame = encodeRecord(keys, header.digest, 1, 'second', tag);
  const body = frame.subarray(8);
  assert.equal(decryptRecord(keys, header.digest, 1, body, tag), 'second');
  assert.equal(decryptRecord(keys, header.digest, 0, body, tag), null, 'another index');
  assert.equal(decryptRecord(keys, header.digest, 2 ** 32 + 1, body, tag), null, 'an index that differs only above 32 bits');
  assert.equal(decryptRecord(keys, header.digest, 1, body, chainStart(header.header)), null, 'another previous record');
  assert.equal(decryptRecord(keys, header.digest, 1, body, null), null, 'no chain (format 2)');
  assert.equal(decryptRecord(keys, buildHeader({ ...FIELDS, generation: 4 }, keys).digest, 1, body, tag), null, 'another generation');
  assert.equal(decryptRecord(deriveKeys(randomBytes(32), 'x'), header.digest, 1, body, tag), null, 'another key');
  for (const at of [0, 12, body.length - 1]) {
    const edited = Buffer.from(body);
    edited[at] ^= 1;
    assert.equal(decryptRecord(keys, header.digest, 1, edited, tag), null, `a byte flipped at ${at}`);
  }
  // Format 2 records: no chain; index above 32 bits works.
  const big = encodeRecord(keys, header.digest, 2 ** 32 + 1, 'far', null);
  assert.equal(decryptRecord(keys, header.digest, 2 ** 32 + 1, big.subarray(8), null), 'far');
  assert.equal(decryptRecord(keys, header.digest, 1, big.subarray(8), null), null);
});

test('a frame prefix whose inverted copy does not match, or whose length is below nonce + tag or over 64 MiB, is damaged', () => {
  const prefix = (length, check = (~length) >>> 0) => { const b = Buffer.alloc(8); b.writeUInt32BE(length, 0); b.writeUInt32BE(check, 4); return b; };
  assert.equal(frameBodyLength(prefix(28)), 28);
  assert.equal(frameBodyLength(prefix(27)), null);
  assert.equal(frameBodyLength(prefix(64 * 1024 * 1024)), 64 * 1024 * 1024);
  assert.equal(frameBodyLength(prefix(64 * 1024 * 1024 + 1)), null);
  assert.equal(frameBodyLength(prefix(100, 100)), null);
  assert.equal(frameBodyLength(prefix(100, (((~100) >>> 0) ^ 1) >>> 0)), null);
  // At an offset inside a larger buffer.
  assert.equal(frameBodyLength(Buffer.concat([Buffer.alloc(5), prefix(40)]), 5), 40);
});

test('a record whose tag is all zero bytes looks unwritten (a torn append); one non-zero byte does not', () => {
  const body = Buffer.concat([randomBytes(20), Buffer.alloc(16)]);
  assert.equal(looksUnwritten(body), true);
  for (const at of [body.length - 16, body.length - 1]) {
    const written = Buffer.from(body);
    written[at] = 1;
    assert.equal(looksUnwritten(written), false);
  }
  // The bytes before the tag do not matter.
  assert.equal(looksUnwritten(Buffer.concat([Buffer.alloc(19, 0xff), Buffer.alloc(16)])), true);
});
