// Reading a local store file into memory (src/stores/local/log-reader.ts): the replay of the log
// (the newest record of each key and the newest meta win), the incremental read of appended bytes,
// where a torn tail begins, and the damage it refuses with the record's number and byte offset.
// Store files are built here byte by byte with the real header and record writers, in temp dirs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, truncateSync, utimesSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { closeReader, emptySnapshot, fileIdOf, readEntryText, refreshSnapshot } from '../../dist/stores/local/log-reader.js';
import { buildHeader, chainStart, recordTag, writeRecord, recordBytes } from '../../dist/stores/local/file-format.js';
import { deriveKeys } from '../../dist/stores/local/master-key.js';
import { encodeMeta } from '../../dist/stores/local/entry-codec.js';

const MiB = 1024 * 1024;
const keys = deriveKeys(randomBytes(32), 'the test key');
const K = () => keys;

function tempDir(t) {
  const dir = mkdtempSync(join(tmpdir(), 'keyshift-log-reader-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A format-2 entry text as entry-codec writes it: one version with `value`. */
const entry = (key, value = 'dmFsdWU=') => JSON.stringify(['e', key, [['v1', ['CURRENT'], '2026-01-01T00:00:00.000Z', value]], [], null, null, []]);
const meta = (runs) => encodeMeta({ evidenceAnchors: {}, confirmedRuns: runs });

/**
 * A store file: the header, then each text as a record (chained in format 3). `startIndex`/`prevTag`
 * continue a file. Returns the bytes and where each record starts and ends.
 */
function records(header, texts, startIndex = 0, prevTag = chainStart(header.header)) {
  const data = Buffer.alloc(texts.reduce((n, text) => n + recordBytes(text), 0));
  const offsets = [];
  let at = 0;
  let tag = prevTag;
  texts.forEach((text, i) => {
    offsets.push(at);
    at += writeRecord(keys, header.digest, startIndex + i, text, data, at, tag);
    if (tag !== null) tag = recordTag(data, at);
  });
  return { data, offsets, tag };
}

function storeFile(path, texts, { format = 3, name = 'dev.store', generation = 1 } = {}) {
  const header = buildHeader({ storeId: 'a'.repeat(32), generation, createdAt: '2026-12-01T10:00:00.000Z', name }, keys, format);
  const body = records(header, texts);
  writeFileSync(path, Buffer.concat([header.bytes, body.data]));
  return { header, start: header.bytes.length, offsets: body.offsets.map((o) => o + header.bytes.length), tag: body.tag, end: header.bytes.length + body.data.length };
}

/** Each key's newest text, as a store reads it back through the snapshot (sorted by key). */
const entryTexts = (snap) => [...snap.entries].map(([key, handle]) => [key, readEntryText(snap, handle, keys, 'dev.store')]).sort();
/** The same, each record read from the snapshot's file again (as for a text not kept). */
const rereadTexts = (snap) => [...snap.entries].map(([key, handle]) => [key, readEntryText(snap, { ...handle, text: null }, keys, 'dev.store')]).sort();
/** One key's newest text, read back through the snapshot. */
const textOf = (snap, key, path = 'dev.store') => readEntryText(snap, snap.entries.get(key), keys, path);

const damaged = (path, detail) => (error) => {
  assert.equal(error.code, 'ERR_STORE_CORRUPT');
  assert.equal(error.message, `store ${path} is damaged: ${detail}`);
  return true;
};

test('a store that does not exist is the empty snapshot, kept as it is while it stays missing', async (t) => {
  const path = join(tempDir(t), 'dev.store');
  const snap = emptySnapshot();
  assert.deepEqual(snap, { fileId: null, header: null, validEnd: 0, recordCount: 0, lastTag: null, entries: new Map(), meta: null, reader: null });
  assert.equal(await refreshSnapshot(path, snap, K), snap);
  // A store that was there and is gone now (deleted, or moved away) is read as empty again.
  storeFile(path, [entry('api')]);
  const read = await refreshSnapshot(path, snap, K);
  assert.equal(read.entries.size, 1);
  rmSync(path);
  const gone = await refreshSnapshot(path, read, K);
  assert.notEqual(gone, read);
  assert.deepEqual(gone, emptySnapshot());
  // keys are not asked for when there is nothing to read.
  assert.deepEqual(await refreshSnapshot(path, emptySnapshot(), () => assert.fail('no keys needed')), emptySnapshot());
});

test('a path that cannot be looked at is an error of its own, not an empty store', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'file'), 'x');
  await assert.rejects(refreshSnapshot(join(dir, 'file', 'dev.store'), emptySnapshot(), K), { code: 'ENOTDIR' });
});

test('replays every record: the newest of each key and the newest meta win; the file id, end, count and last tag are the file\'s', async (t) => {
  const path = join(tempDir(t), 'dev.store');
  const texts = [meta(['run-1']), entry('api', 'b25l'), entry('db', 'ZGI='), entry('api', 'dHdv'), meta(['run-2']), entry('queue', 'cQ==')];
  const file = storeFile(path, texts);
  const snap = await refreshSnapshot(path, emptySnapshot(), K);
  const st = statSync(path);
  assert.deepEqual(snap.fileId, { dev: st.dev, ino: st.ino, size: st.size, mtimeMs: st.mtimeMs });
  assert.deepEqual(fileIdOf(st), snap.fileId);
  assert.equal(snap.header.header.storeId, 'a'.repeat(32));
  assert.ok(snap.header.bytes.equals(file.header.bytes));
  assert.equal(snap.validEnd, file.end);
  assert.equal(snap.validEnd, st.size);
  assert.equal(snap.recordCount, 6);
  assert.ok(snap.lastTag.equals(file.tag), 'the tag the next record chains to');
  assert.deepEqual(entryTexts(snap), [['api', entry('api', 'dHdv')], ['db', entry('db', 'ZGI=')], ['queue', entry('queue', 'cQ==')]]);
  assert.deepEqual(rereadTexts(snap), entryTexts(snap), 'each record read again from where the replay found it');
  assert.deepEqual(snap.meta, { evidenceAnchors: {}, confirmedRuns: ['run-2'] });
  // Nothing changed: the same snapshot comes back, without reading the file (keys are not asked for).
  assert.equal(await refreshSnapshot(path, snap, () => assert.fail('no read expected')), snap);
});

test('a store without meta has meta null; a format-2 store has no tag chain (lastTag null)', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'dev.store');
  storeFile(path, [entry('api'), entry('db'), entry('api', 'dHdv')], { format: 2 });
  const snap = await refreshSnapshot(path, emptySnapshot(), K);
  assert.equal(snap.meta, null, 'null, also with a replaced record of a key in the log');
  assert.equal(snap.lastTag, null);
  assert.equal(snap.recordCount, 3);
  assert.deepEqual(entryTexts(snap), [['api', entry('api', 'dHdv')], ['db', entry('db')]]);
  assert.deepEqual(rereadTexts(snap), entryTexts(snap), 'read again without a tag chain');
  // A format-3 store with only its header: its chain starts with 16 zero bytes.
  const empty = join(dir, 'empty.store');
  const file = storeFile(empty, [], { name: 'empty.store' });
  const none = await refreshSnapshot(empty, emptySnapshot(), K);
  assert.deepEqual({ validEnd: none.validEnd, recordCount: none.recordCount, entries: none.entries.size, meta: none.meta }, { validEnd: file.start, recordCount: 0, entries: 0, meta: null });
  assert.ok(none.lastTag.equals(Buffer.alloc(16)));
});

test('reads only the bytes appended to the same file, keeping the entries and meta read before', async (t) => {
  const path = join(tempDir(t), 'dev.store');
  const file = storeFile(path, [meta(['run-1']), entry('api', 'b25l'), entry('db', 'ZGI=')]);
  const first = await refreshSnapshot(path, emptySnapshot(), K);
  // Appended: a newer api and a new key, no meta: the meta read before stays.
  const more = records(file.header, [entry('api', 'dHdv'), entry('queue', 'cQ==')], 3, file.tag);
  appendFileSync(path, more.data);
  const second = await refreshSnapshot(path, first, K);
  const st = statSync(path);
  assert.deepEqual(second.fileId, fileIdOf(st));
  assert.equal(second.validEnd, st.size);
  assert.equal(second.recordCount, 5);
  assert.ok(second.lastTag.equals(more.tag));
  assert.deepEqual(entryTexts(second), [['api', entry('api', 'dHdv')], ['db', entry('db', 'ZGI=')], ['queue', entry('queue', 'cQ==')]]);
  assert.deepEqual(rereadTexts(second), entryTexts(second), 'the appended records read again too');
  assert.deepEqual(second.meta, { evidenceAnchors: {}, confirmedRuns: ['run-1'] });
  // Then a new meta: it replaces the one read before.
  const last = records(file.header, [meta(['run-2'])], 5, more.tag);
  appendFileSync(path, last.data);
  const third = await refreshSnapshot(path, second, K);
  assert.equal(third.recordCount, 6);
  assert.deepEqual(third.meta, { evidenceAnchors: {}, confirmedRuns: ['run-2'] });
  assert.equal(third.entries.size, 3);
});

test('an incremental read does not authenticate the header again; a full read does (another key is a wrong key)', async (t) => {
  const path = join(tempDir(t), 'dev.store');
  const file = storeFile(path, [entry('api')]);
  const first = await refreshSnapshot(path, emptySnapshot(), K);
  const other = deriveKeys(randomBytes(32), 'KEYSHIFT_MASTER_KEY');
  await assert.rejects(refreshSnapshot(path, emptySnapshot(), () => other), { code: 'ERR_STORE_WRONG_KEY', message: `the master key from KEYSHIFT_MASTER_KEY does not open store ${path}` });
  // Appended records are still authenticated: with another key they do not decrypt, and the full
  // replay then refuses the header.
  appendFileSync(path, records(file.header, [entry('db')], 1, file.tag).data);
  await assert.rejects(refreshSnapshot(path, first, () => other), { code: 'ERR_STORE_WRONG_KEY' });
  assert.equal((await refreshSnapshot(path, first, K)).entries.size, 2);
});

test('a file rewritten in place (same inode) is replayed whole: a shorter one, or one whose new bytes do not follow the old', async (t) => {
  const path = join(tempDir(t), 'dev.store');
  const file = storeFile(path, [entry('api', 'b25l'), entry('db', 'ZGI='), entry('queue', 'cQ==')]);
  const full = await refreshSnapshot(path, emptySnapshot(), K);
  // Cut back to its first record (a backup copied over it): shorter than what we read.
  truncateSync(path, file.offsets[1]);
  const cut = await refreshSnapshot(path, full, K);
  assert.equal(statSync(path).ino, full.fileId.ino);
  assert.equal(cut.recordCount, 1);
  assert.equal(cut.validEnd, file.offsets[1]);
  assert.deepEqual([...cut.entries.keys()], ['api']);
  // Now longer than what we read, but its bytes there are not the continuation of our records
  // (another history of the same store): the appended read fails, the full replay decides.
  const other = records(file.header, [entry('api', 'eA=='), entry('other', 'eQ=='), entry('third', 'eg=='), entry('fourth', 'dw==')]);
  writeFileSync(path, Buffer.concat([file.header.bytes, other.data]));
  const replaced = await refreshSnapshot(path, cut, K);
  assert.equal(replaced.recordCount, 4);
  assert.deepEqual(entryTexts(replaced), [['api', entry('api', 'eA==')], ['fourth', entry('fourth', 'dw==')], ['other', entry('other', 'eQ==')], ['third', entry('third', 'eg==')]]);
});

test('a new file at the path (a compaction) is replayed whole, without the entries of the old one', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'dev.store');
  storeFile(path, [entry('api'), entry('gone')]);
  const before = await refreshSnapshot(path, emptySnapshot(), K);
  const next = join(dir, 'next');
  const file = storeFile(next, [entry('api', 'bmV3')], { generation: 2, name: 'dev.store' });
  renameSync(next, path); // a new inode at the path, as a compaction's rename leaves
  const after = await refreshSnapshot(path, before, K);
  assert.notEqual(after.fileId.ino, before.fileId.ino);
  assert.equal(after.header.header.generation, 2);
  assert.equal(after.recordCount, 1);
  assert.equal(after.validEnd, file.end);
  assert.deepEqual(entryTexts(after), [['api', entry('api', 'bmV3')]]);
  assert.equal(before.entries.size, 2, 'the old snapshot is not changed');
  // …and still reads its records from the file it was read from, which the rename did not change.
  assert.deepEqual(rereadTexts(before), [['api', entry('api')], ['gone', entry('gone')]]);
  assert.deepEqual(rereadTexts(after), [['api', entry('api', 'bmV3')]]);
});

test('the same inode with another header (rewritten in place by a compaction of another copy) is replayed whole', async (t) => {
  const path = join(tempDir(t), 'dev.store');
  storeFile(path, [entry('api'), entry('db')]);
  const before = await refreshSnapshot(path, emptySnapshot(), K);
  const ino = before.fileId.ino;
  // Generation 2 with more records after its header, written over the same inode.
  const header = buildHeader({ storeId: 'a'.repeat(32), generation: 2, createdAt: '2026-12-01T10:00:00.000Z', name: 'dev.store' }, keys);
  const body = records(header, [entry('x'), entry('y'), entry('z'), entry('w')]);
  writeFileSync(path, Buffer.concat([header.bytes, body.data]));
  assert.equal(statSync(path).ino, ino);
  const after = await refreshSnapshot(path, before, K);
  assert.equal(after.header.header.generation, 2);
  assert.equal(after.recordCount, 4);
  assert.deepEqual([...after.entries.keys()].sort(), ['w', 'x', 'y', 'z']);
});

test('a torn tail is where the log ends: part of a frame prefix, part of a body, or zero bytes', async (t) => {
  const dir = tempDir(t);
  const texts = [entry('api'), entry('db'), entry('queue')];
  for (const [what, cut] of [['5 bytes of a frame prefix', (f) => f.offsets[2] + 5], ['a whole prefix and part of the body', (f) => f.offsets[2] + 20], ['the last byte missing', (f) => f.end - 1]]) {
    const path = join(dir, 'dev.store');
    const file = storeFile(path, texts);
    truncateSync(path, cut(file));
    const snap = await refreshSnapshot(path, emptySnapshot(), K);
    assert.equal(snap.validEnd, file.offsets[2], what);
    assert.equal(snap.recordCount, 2, what);
    assert.deepEqual([...snap.entries.keys()].sort(), ['api', 'db'], what);
    assert.ok(snap.lastTag.equals(readFileSync(path).subarray(file.offsets[2] - 16, file.offsets[2])), `${what}: the tag of the last complete record`);
  }
  // Zero bytes after the last record (space a crash allocated), short or over a MiB.
  for (const zeros of [8, 100, MiB + 10]) {
    const path = join(dir, 'dev.store');
    const file = storeFile(path, texts);
    appendFileSync(path, Buffer.alloc(zeros));
    const snap = await refreshSnapshot(path, emptySnapshot(), K);
    assert.equal(snap.validEnd, file.end, `${zeros} zero bytes`);
    assert.equal(snap.recordCount, 3);
  }
});

test('a damaged frame length is refused with the record number and offset, unless only zero bytes follow', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'dev.store');
  const texts = [entry('api'), entry('db'), entry('queue')];
  const file = storeFile(path, texts);
  const bytes = Buffer.from(readFileSync(path));
  bytes[file.offsets[1] + 1] ^= 0x40;
  writeFileSync(path, bytes);
  await assert.rejects(refreshSnapshot(path, emptySnapshot(), K), damaged(path, `record 1 at byte ${file.offsets[1]} has a damaged length`));
  // Zeros, then one non-zero byte more than a MiB further: still damage, not a torn tail.
  const tail = Buffer.alloc(MiB + 100);
  tail[MiB + 50] = 1;
  storeFile(path, texts);
  appendFileSync(path, tail);
  await assert.rejects(refreshSnapshot(path, emptySnapshot(), K), damaged(path, `record 3 at byte ${file.end} has a damaged length`));
  // The same with the non-zero byte in the first MiB.
  const near = Buffer.alloc(64);
  near[63] = 7;
  storeFile(path, texts);
  appendFileSync(path, near);
  await assert.rejects(refreshSnapshot(path, emptySnapshot(), K), damaged(path, `record 3 at byte ${file.end} has a damaged length`));
});

test('a record that fails authentication is refused with its number and offset; an appended one is numbered from the count read before', async (t) => {
  const path = join(tempDir(t), 'dev.store');
  const texts = [entry('api'), entry('db'), entry('queue')];
  const file = storeFile(path, texts);
  const bytes = Buffer.from(readFileSync(path));
  bytes[file.offsets[1] + 30] ^= 1;
  writeFileSync(path, bytes);
  await assert.rejects(refreshSnapshot(path, emptySnapshot(), K), damaged(path, `record 1 at byte ${file.offsets[1]} fails authentication`));
  // The first record damaged.
  const first = storeFile(path, texts);
  const b0 = Buffer.from(readFileSync(path));
  b0[first.offsets[0] + 25] ^= 1;
  writeFileSync(path, b0);
  await assert.rejects(refreshSnapshot(path, emptySnapshot(), K), damaged(path, `record 0 at byte ${first.offsets[0]} fails authentication`));
  // Appended after a read: the damaged record is number 3, at its offset in the file.
  storeFile(path, texts);
  const snap = await refreshSnapshot(path, emptySnapshot(), K);
  const more = records(file.header, [entry('x'), entry('y')], 3, file.tag);
  more.data[more.offsets[1] + 25] ^= 1;
  appendFileSync(path, more.data);
  await assert.rejects(refreshSnapshot(path, snap, K), damaged(path, `record 4 at byte ${file.end + more.offsets[1]} fails authentication`));
});

test('records in the wrong order or from another position fail authentication (the index and chain are in the AAD)', async (t) => {
  const path = join(tempDir(t), 'dev.store');
  const header = buildHeader({ storeId: 'a'.repeat(32), generation: 1, createdAt: '2026-12-01T10:00:00.000Z', name: 'dev.store' }, keys);
  // Record 1 written as if it were record 0 (right chain start, wrong index).
  const a = records(header, [entry('api')]);
  const b = records(header, [entry('db')]);
  writeFileSync(path, Buffer.concat([header.bytes, a.data, b.data]));
  await assert.rejects(refreshSnapshot(path, emptySnapshot(), K), damaged(path, `record 1 at byte ${header.bytes.length + a.data.length} fails authentication`));
  // Format 2 (no chain): the index alone.
  const h2 = buildHeader({ storeId: 'a'.repeat(32), generation: 1, createdAt: '2026-12-01T10:00:00.000Z', name: 'dev.store' }, keys, 2);
  const c = records(h2, [entry('api')]);
  const d = records(h2, [entry('db')]);
  writeFileSync(path, Buffer.concat([h2.bytes, c.data, d.data]));
  await assert.rejects(refreshSnapshot(path, emptySnapshot(), K), damaged(path, `record 1 at byte ${h2.bytes.length + c.data.length} fails authentication`));
});

test('a last record with a zero tag at the very end is an unfinished append, dropped; anywhere else it is damage', async (t) => {
  const path = join(tempDir(t), 'dev.store');
  const texts = [entry('api'), entry('db'), entry('queue')];
  const zeroTag = () => {
    const file = storeFile(path, texts);
    const bytes = Buffer.from(readFileSync(path));
    return { file, bytes };
  };
  // The last record's tag zeroed: dropped, the log ends before it.
  let { file, bytes } = zeroTag();
  bytes.fill(0, file.end - 16, file.end);
  writeFileSync(path, bytes);
  let snap = await refreshSnapshot(path, emptySnapshot(), K);
  assert.equal(snap.validEnd, file.offsets[2]);
  assert.equal(snap.recordCount, 2);
  assert.deepEqual([...snap.entries.keys()].sort(), ['api', 'db']);
  assert.ok(snap.lastTag.equals(bytes.subarray(file.offsets[2] - 16, file.offsets[2])), 'the tag of the record before it');
  // All of its body zero too (the usual shape): the same.
  ({ file, bytes } = zeroTag());
  bytes.fill(0, file.offsets[2] + 8, file.end);
  writeFileSync(path, bytes);
  snap = await refreshSnapshot(path, emptySnapshot(), K);
  assert.equal(snap.validEnd, file.offsets[2]);
  assert.equal(snap.recordCount, 2);
  // Followed by part of another frame: not at the end, so damage.
  ({ file, bytes } = zeroTag());
  bytes.fill(0, file.end - 16, file.end);
  writeFileSync(path, Buffer.concat([bytes, Buffer.from([0, 0, 0, 40, 255])]));
  await assert.rejects(refreshSnapshot(path, emptySnapshot(), K), damaged(path, `record 2 at byte ${file.offsets[2]} fails authentication`));
  // A record before the last with a zero tag: damage.
  ({ file, bytes } = zeroTag());
  bytes.fill(0, file.offsets[2] - 16, file.offsets[2]);
  writeFileSync(path, bytes);
  await assert.rejects(refreshSnapshot(path, emptySnapshot(), K), (error) => error.code === 'ERR_STORE_CORRUPT' && /fails authentication/.test(error.message));
  // The last record's tag only partly zero: damage.
  ({ file, bytes } = zeroTag());
  bytes.fill(0, file.end - 16, file.end - 1);
  bytes[file.end - 1] = 1;
  writeFileSync(path, bytes);
  await assert.rejects(refreshSnapshot(path, emptySnapshot(), K), damaged(path, `record 2 at byte ${file.offsets[2]} fails authentication`));
});

test('an authenticated record of unknown layout is damage, with its number and offset', async (t) => {
  const path = join(tempDir(t), 'dev.store');
  const file = storeFile(path, [entry('api'), '["x", 1]', entry('db')]);
  await assert.rejects(refreshSnapshot(path, emptySnapshot(), K), damaged(path, `record 1 at byte ${file.offsets[1]} has an unknown layout`));
  // The same text replaced by a newer record of the same key is still read: an entry is only
  // skipped when it is well formed.
  const again = storeFile(path, [entry('api'), '["e","api"', entry('api', 'eA==')]);
  await assert.rejects(refreshSnapshot(path, emptySnapshot(), K), damaged(path, `record 1 at byte ${again.offsets[1]} has an unknown layout`));
});

test('a header cut short, or a file too short for a header, is damage', async (t) => {
  const path = join(tempDir(t), 'dev.store');
  const file = storeFile(path, [entry('api')]);
  truncateSync(path, file.start - 1);
  await assert.rejects(refreshSnapshot(path, emptySnapshot(), K), damaged(path, 'its header is cut short'));
  truncateSync(path, 20);
  await assert.rejects(refreshSnapshot(path, emptySnapshot(), K), damaged(path, 'its header is cut short'));
  for (const size of [11, 5, 0]) {
    truncateSync(path, size);
    await assert.rejects(refreshSnapshot(path, emptySnapshot(), K), damaged(path, 'it does not start with a keyshift local store header'), `${size} bytes`);
  }
  // An exactly complete header with no records is a store.
  storeFile(path, []);
  assert.equal((await refreshSnapshot(path, emptySnapshot(), K)).recordCount, 0);
});

test('a store of format 1 is replayed with its own record layout', async (t) => {
  const path = join(tempDir(t), 'dev.store');
  const legacy = (key, value) => JSON.stringify({ type: 'entry', key, versions: [{ id: 'v1', stages: ['CURRENT'], createdAt: '2026-01-01T00:00:00.000Z', value }], retired: [], meta: '{}' });
  storeFile(path, [legacy('api', 'b25l'), JSON.stringify({ type: 'meta', meta: { evidenceAnchors: {}, confirmedRuns: ['r'] } }), legacy('api', 'dHdv')], { format: 1 });
  const snap = await refreshSnapshot(path, emptySnapshot(), K);
  assert.equal(snap.header.header.format, 1);
  assert.equal(snap.lastTag, null);
  assert.equal(snap.recordCount, 3);
  assert.deepEqual(snap.meta, { evidenceAnchors: {}, confirmedRuns: ['r'] });
  assert.match(textOf(snap, 'api'), /"dHdv"/);
  // A format-3 reader does not accept format-1 records.
  storeFile(path, [legacy('api', 'b25l')]);
  await assert.rejects(refreshSnapshot(path, emptySnapshot(), K), { code: 'ERR_STORE_CORRUPT' });
});

test('a log over several MiB, with records larger than a read, is replayed and then followed incrementally', async (t) => {
  const path = join(tempDir(t), 'dev.store');
  const big = (n) => randomBytes(n).toString('base64');
  // 300 records of ~12 KiB (about 3.6 MiB), a 1.5 MiB record in the middle and one at the end.
  const texts = [];
  for (let i = 0; i < 300; i++) texts.push(entry(`k${i % 40}`, big(9000 + i)));
  texts.splice(150, 0, entry('huge', big(1.5 * MiB)));
  texts.push(entry('last', big(1.2 * MiB)));
  const file = storeFile(path, texts);
  const snap = await refreshSnapshot(path, emptySnapshot(), K);
  assert.equal(snap.recordCount, texts.length);
  assert.equal(snap.validEnd, file.end);
  assert.ok(snap.lastTag.equals(file.tag));
  assert.equal(snap.entries.size, 42);
  for (let k = 0; k < 40; k++) {
    const newest = texts.filter((text) => text.startsWith(`["e","k${k}",`)).at(-1);
    assert.equal(textOf(snap, `k${k}`), newest, `k${k}`);
  }
  assert.equal(textOf(snap, 'huge'), texts[150]);
  assert.equal(textOf(snap, 'last'), texts.at(-1));
  // Appended: a batch over a MiB.
  const added = [entry('k1', big(MiB)), entry('new', 'bmV3')];
  const more = records(file.header, added, texts.length, file.tag);
  appendFileSync(path, more.data);
  const next = await refreshSnapshot(path, snap, K);
  assert.equal(next.recordCount, texts.length + 2);
  assert.equal(textOf(next, 'k1'), added[0]);
  assert.equal(textOf(next, 'new'), added[1]);
  assert.equal(next.entries.get('k2'), snap.entries.get('k2'), 'the same handle: not read again');
  // Read again from the file: records larger than the read-ahead window, and small ones around them.
  const reread = (key) => readEntryText(next, { ...next.entries.get(key), text: null }, keys, path);
  for (const key of ['huge', 'last', 'k1', 'new', 'k0', 'k39']) assert.equal(reread(key), textOf(next, key), key);
  assert.equal(next.reader, snap.reader, 'the same descriptor: the same file');
  // A record damaged deep in the file is still found.
  const bytes = Buffer.from(readFileSync(path));
  bytes[file.offsets[7] + 40] ^= 1;
  writeFileSync(path, bytes);
  await assert.rejects(refreshSnapshot(path, emptySnapshot(), K), damaged(path, `record 7 at byte ${file.offsets[7]} fails authentication`));
});

test('an appended read does not read the records it already has again: damage among them shows only in a full replay', async (t) => {
  const path = join(tempDir(t), 'dev.store');
  const file = storeFile(path, [entry('api', 'b25l'), entry('db', 'ZGI=')]);
  const first = await refreshSnapshot(path, emptySnapshot(), K);
  const bytes = readFileSync(path);
  bytes[file.offsets[0] + 30] ^= 1;
  writeFileSync(path, bytes); // in place: same inode, same size, a newer mtime
  utimesSync(path, new Date(), new Date(Date.now() + 5000));
  const touched = await refreshSnapshot(path, first, K);
  assert.deepEqual(touched.fileId, fileIdOf(statSync(path)), 'the file as it is now');
  assert.notEqual(touched.fileId.mtimeMs, first.fileId.mtimeMs);
  assert.deepEqual([...touched.entries.keys()].sort(), ['api', 'db']);
  appendFileSync(path, records(file.header, [entry('queue', 'cQ==')], 2, file.tag).data);
  const grown = await refreshSnapshot(path, touched, K);
  assert.equal(grown.recordCount, 3);
  assert.equal(textOf(grown, 'api'), entry('api', 'b25l'), 'the text the first replay kept');
  assert.equal(textOf(grown, 'queue'), entry('queue', 'cQ=='));
  await assert.rejects(refreshSnapshot(path, emptySnapshot(), K), damaged(path, `record 0 at byte ${file.offsets[0]} fails authentication`));
});

test('another file at the path with the same header (a copy of the same generation) is replayed whole, not continued', async (t) => {
  // Format 2 has no tag chain: only the file's identity tells the copies apart.
  const dir = tempDir(t);
  const path = join(dir, 'dev.store');
  const header = buildHeader({ storeId: 'a'.repeat(32), generation: 1, createdAt: '2026-12-01T10:00:00.000Z', name: 'dev.store' }, keys, 2);
  writeFileSync(path, Buffer.concat([header.bytes, records(header, [entry('api', 'QUFB'), entry('db', 'QkJC')]).data]));
  const mine = await refreshSnapshot(path, emptySnapshot(), K);
  const copy = join(dir, 'copy');
  writeFileSync(copy, Buffer.concat([header.bytes, records(header, [entry('api', 'Q0ND'), entry('db', 'RERE'), entry('new', 'RUVF')]).data]));
  renameSync(copy, path);
  const theirs = await refreshSnapshot(path, mine, K);
  assert.deepEqual(entryTexts(theirs), [['api', entry('api', 'Q0ND')], ['db', entry('db', 'RERE')], ['new', entry('new', 'RUVF')]]);
});

test('a snapshot holds one descriptor, for reading its entries; a failed read or an unchanged check leaves none', async (t) => {
  const path = join(tempDir(t), 'dev.store');
  const file = storeFile(path, [entry('api')]);
  const open = () => readdirSync('/proc/self/fd').length;
  const before = open();
  let snap = emptySnapshot();
  for (let i = 0; i < 20; i++) {
    snap = await refreshSnapshot(path, snap, K);
    assert.equal(await refreshSnapshot(path, snap, K), snap);
    appendFileSync(path, records(file.header, [entry('x')], 1 + i, snap.lastTag).data);
  }
  assert.equal(open(), before + 1, 'the appended reads go on with the first read\'s descriptor');
  closeReader(snap);
  assert.equal(open(), before);
  const bytes = readFileSync(path);
  bytes[file.offsets[0] + 30] ^= 1;
  writeFileSync(path, bytes);
  for (let i = 0; i < 20; i++) await assert.rejects(refreshSnapshot(path, emptySnapshot(), K), { code: 'ERR_STORE_CORRUPT' });
  assert.equal(open(), before);
});

test('a file that grew is read again even when its modification time was put back', async (t) => {
  const path = join(tempDir(t), 'dev.store');
  const file = storeFile(path, [entry('api')]);
  const when = new Date('2026-06-01T00:00:00.000Z');
  utimesSync(path, when, when);
  const first = await refreshSnapshot(path, emptySnapshot(), K);
  appendFileSync(path, records(file.header, [entry('db')], 1, file.tag).data);
  utimesSync(path, when, when); // a copy tool that keeps times, or a clock set back
  assert.equal(statSync(path).mtimeMs, first.fileId.mtimeMs);
  const next = await refreshSnapshot(path, first, K);
  assert.equal(next.recordCount, 2);
  assert.equal(textOf(next, 'db'), entry('db'));
});
