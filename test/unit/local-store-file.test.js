// Whole-file writes of the local store (src/stores/local/store-file.ts): creating a store and
// compacting it. Each goes through a temp file (mode 0600) next to the store and is put in place
// in one step, so the store is always either the old file or the complete new one; a create never
// replaces a store another process made, and a compaction refused at the last moment leaves the
// old file as it was. Real files, real encryption (the records writer is the one append-log uses).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, existsSync, fstatSync, mkdtempSync, promises as fsPromises, readdirSync, readFileSync, readSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compactInto, createStoreFile, removeStaleTemps } from '../../dist/stores/local/store-file.js';
import { buildHeader, chainStart, decryptRecord, frameBodyLength, FRAME_PREFIX_BYTES, parseHeader, recordBytes, recordTag, verifyHeader, writeRecord } from '../../dist/stores/local/file-format.js';
import { deriveKeys } from '../../dist/stores/local/master-key.js';

const MiB = 1024 * 1024;
const keys = deriveKeys(randomBytes(32), 'test');

function tempDir(t) {
  const dir = mkdtempSync(join(tmpdir(), 'keyshift-store-file-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const tempsIn = (dir) => readdirSync(dir).filter((name) => name.includes('.tmp-'));

/** The records writer of append-log's compaction: chained, numbered from 0. */
function recordsWriter(header) {
  let index = 0;
  let tag = chainStart(header.header);
  return {
    size: recordBytes,
    write(text, target, at) {
      const size = writeRecord(keys, header.digest, index++, text, target, at, tag);
      tag = recordTag(target, at + size);
      return size;
    },
  };
}

/** The plaintexts of a store file, read back frame by frame; throws on anything but whole records. */
function readRecords(bytes, header) {
  assert.ok(bytes.subarray(0, header.bytes.length).equals(header.bytes), 'the file starts with the header');
  const texts = [];
  let at = header.bytes.length;
  let tag = chainStart(header.header);
  while (at < bytes.length) {
    const length = frameBodyLength(bytes, at);
    assert.notEqual(length, null, `a damaged frame at ${at}`);
    const end = at + FRAME_PREFIX_BYTES + length;
    const text = decryptRecord(keys, header.digest, texts.length, bytes.subarray(at + FRAME_PREFIX_BYTES, end), tag);
    assert.notEqual(text, null, `record ${texts.length} does not authenticate`);
    texts.push(text);
    tag = recordTag(bytes, end);
    at = end;
  }
  assert.equal(at, bytes.length, 'the file ends with a whole record');
  return texts;
}

const newHeader = (generation = 2) => buildHeader({ storeId: 'a'.repeat(32), generation, createdAt: '2026-12-01T10:00:00.000Z', name: 'dev.store' }, keys);

test('a new store is its header only, generation 1, named after its file, mode 0600, in a new directory of mode 0700', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'nested', 'dev.store');
  const before = Date.now();
  const header = await createStoreFile(path, keys, 'b'.repeat(32));
  const bytes = readFileSync(path);
  assert.ok(bytes.equals(header.bytes), 'the file holds exactly the header');
  const parsed = parseHeader(bytes, path);
  verifyHeader(parsed, keys, path);
  assert.equal(parsed.header.storeId, 'b'.repeat(32));
  assert.equal(parsed.header.generation, 1);
  assert.equal(parsed.header.name, 'dev.store');
  const created = Date.parse(parsed.header.createdAt);
  assert.ok(created >= before - 1000 && created <= Date.now() + 1000, parsed.header.createdAt);
  assert.equal(statSync(path).mode & 0o777, 0o600);
  assert.equal(statSync(join(dir, 'nested')).mode & 0o777, 0o700);
  assert.deepEqual(tempsIn(join(dir, 'nested')), []);
});

test('creating a store where one appeared meanwhile is refused and leaves that store as it was', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'dev.store');
  writeFileSync(path, 'made by another process');
  await assert.rejects(createStoreFile(path, keys, 'b'.repeat(32)), (error) => {
    assert.equal(error.code, 'ERR_STORE_CHANGED');
    assert.equal(error.message, `store ${path} was created by another process while this run held its lock`);
    assert.equal(error.hint, 'rerun; if it happens again, check that every writer uses keyshift (which locks the store)');
    assert.equal(error.retryable, true);
    return true;
  });
  assert.equal(readFileSync(path, 'utf8'), 'made by another process');
  assert.deepEqual(tempsIn(dir), []);
});

// A file system without hard links (some network and FUSE mounts, vfat) fails link() with one of
// these codes; none is mountable here, so link() is made to fail as such a file system's does.
const withoutLinks = (t, code) => t.mock.method(fsPromises, 'link', async () => {
  throw Object.assign(new Error(`${code}: operation not permitted, link`), { code });
});

test('without hard links a store is created by a rename, and one that appeared meanwhile is still refused', async (t) => {
  for (const code of ['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS']) {
    await t.test(code, async (t) => {
      const link = withoutLinks(t, code);
      const dir = tempDir(t);
      const path = join(dir, 'dev.store');
      const header = await createStoreFile(path, keys, 'b'.repeat(32));
      assert.equal(link.mock.callCount(), 1, 'link was tried first');
      assert.ok(readFileSync(path).equals(header.bytes));
      assert.equal(statSync(path).mode & 0o777, 0o600);
      assert.deepEqual(tempsIn(dir), [], 'the temp file became the store');

      const other = join(dir, 'other.store');
      writeFileSync(other, 'made by another process');
      await assert.rejects(createStoreFile(other, keys, 'c'.repeat(32)), { code: 'ERR_STORE_CHANGED' });
      assert.equal(readFileSync(other, 'utf8'), 'made by another process');
      assert.deepEqual(tempsIn(dir), []);
    });
  }
});

test('any other failure of link() is reported as it is, and leaves no store and no temp file', async (t) => {
  withoutLinks(t, 'EIO');
  const dir = tempDir(t);
  const path = join(dir, 'dev.store');
  await assert.rejects(createStoreFile(path, keys, 'b'.repeat(32)), { code: 'EIO' });
  assert.equal(existsSync(path), false);
  assert.deepEqual(tempsIn(dir), []);
});

test('a compaction writes the header and every record in order, across write chunks and records over a chunk', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'dev.store');
  writeFileSync(path, 'the old generation');
  const header = newHeader();
  // ~3 MiB of small records (several chunk flushes), one record of 1.5 MiB in the middle and one at the end.
  const texts = [];
  for (let i = 0; i < 1500; i++) texts.push(`record ${i} ${'x'.repeat(1000 + (i % 7))}`);
  texts.splice(700, 0, `big ${'y'.repeat(1.5 * MiB)}`);
  texts.push(`last ${'z'.repeat(1.25 * MiB)}`);
  const renamed = [];
  let seenBeforeRename = null;
  await compactInto(path, header, texts, recordsWriter(header), async () => {
    seenBeforeRename = { store: readFileSync(path, 'utf8'), temps: tempsIn(dir) };
  }, (fileId) => renamed.push(fileId));
  const bytes = readFileSync(path);
  assert.deepEqual(readRecords(bytes, header), texts);
  // Until the rename the store is the old file; the new one is a single temp file beside it.
  assert.equal(seenBeforeRename.store, 'the old generation');
  assert.equal(seenBeforeRename.temps.length, 1);
  assert.match(seenBeforeRename.temps[0], new RegExp(`^dev\\.store\\.tmp-${process.pid}-[0-9a-f]{12}$`));
  // The file id handed over is the new file's, taken before the rename (same inode, size, mtime).
  const st = statSync(path);
  assert.deepEqual(renamed, [{ dev: st.dev, ino: st.ino, size: st.size, mtimeMs: st.mtimeMs }]);
  assert.equal(st.size, bytes.length);
  assert.equal(st.mode & 0o777, 0o600);
  assert.deepEqual(tempsIn(dir), []);
});

test('a compaction with nothing to keep is the header alone; a record of exactly one chunk and one filling the rest of the first', async (t) => {
  const dir = tempDir(t);
  const header = newHeader();
  const empty = join(dir, 'empty.store');
  await compactInto(empty, header, [], recordsWriter(header), async () => {}, () => {});
  assert.ok(readFileSync(empty).equals(header.bytes));
  // Record sizes at the chunk boundaries: the first fills the chunk after the header exactly,
  // the second is exactly one chunk, the third needs a fresh chunk.
  const overhead = recordBytes('');
  const texts = [
    'a'.repeat(MiB - header.bytes.length - overhead),
    'b'.repeat(MiB - overhead),
    'c'.repeat(10),
    'd'.repeat(MiB - overhead - recordBytes('c'.repeat(10)) + 1),
  ];
  const path = join(dir, 'dev.store');
  await compactInto(path, header, texts, recordsWriter(header), async () => {}, () => {});
  assert.deepEqual(readRecords(readFileSync(path), header), texts);
});

test('a compaction refused just before the rename leaves the old store, no temp file, and does not switch', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'dev.store');
  writeFileSync(path, 'the old generation');
  const header = newHeader();
  const refused = new Error('the store changed');
  const renamed = [];
  await assert.rejects(
    compactInto(path, header, ['one', 'two'], recordsWriter(header), async () => { throw refused; }, (fileId) => renamed.push(fileId)),
    (error) => error === refused,
  );
  assert.equal(readFileSync(path, 'utf8'), 'the old generation');
  assert.deepEqual(renamed, []);
  assert.deepEqual(tempsIn(dir), []);
});

test('a compaction whose records cannot be written leaves the old store and no temp file', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'dev.store');
  writeFileSync(path, 'the old generation');
  const header = newHeader();
  function* failing() {
    yield 'one';
    throw new Error('no more records');
  }
  let asked = false;
  await assert.rejects(compactInto(path, header, failing(), recordsWriter(header), async () => { asked = true; }, () => {}), /no more records/);
  assert.equal(asked, false, 'not asked to rename');
  assert.equal(readFileSync(path, 'utf8'), 'the old generation');
  assert.deepEqual(tempsIn(dir), []);
});

test('creating and compacting leave no file descriptor open but the new file\'s reader, which the caller keeps', { skip: !existsSync('/proc/self/fd') && 'counts descriptors in /proc (Linux)' }, async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'dev.store');
  const open = () => readdirSync('/proc/self/fd').length;
  const before = open();
  await createStoreFile(path, keys, 'b'.repeat(32));
  const header = newHeader();
  let reader = null;
  await compactInto(path, header, ['one', 'two'], recordsWriter(header), async () => {}, (fileId, fd) => { reader = fd; });
  assert.equal(open(), before + 1);
  // The reader is open on the renamed file: what is at the path now, from its first byte.
  const first = Buffer.alloc(header.bytes.length);
  readSync(reader, first, 0, first.length, 0);
  assert.deepEqual(first, readFileSync(path).subarray(0, header.bytes.length));
  assert.equal(fstatSync(reader).ino, statSync(path).ino);
  closeSync(reader);
  await assert.rejects(compactInto(path, header, ['three'], recordsWriter(header), async () => { throw new Error('refused'); }, () => assert.fail('not renamed')));
  assert.equal(open(), before);
});

test('stale temp files of this store are removed, nothing else; a missing directory is no error', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'dev.store');
  const keep = ['dev.store', 'dev.store.key', 'other.store.tmp-1-abc', 'dev.storetmp-1', 'dev.store.tmp'];
  for (const name of [...keep, 'dev.store.tmp-1-abc', 'dev.store.tmp-2-def']) writeFileSync(join(dir, name), 'x');
  await removeStaleTemps(path);
  assert.deepEqual(readdirSync(dir).sort(), [...keep].sort());
  await removeStaleTemps(join(dir, 'missing', 'dev.store'));
});
