// The writer side of the local store (src/stores/local/append-log.ts): commits queued and written
// as one batch, what is durable and what is still pending, the figures in `stats`, compaction
// thresholds and back-off, the upgrade of an older store, and how failures reach each commit.
// Real files in temp dirs; the "lock check" is the callback a LocalStore passes (file-lock verify).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppendLog } from '../../dist/stores/local/append-log.js';
import { MasterKeyProvider } from '../../dist/stores/local/master-key.js';
import { closeReader, emptySnapshot, readEntryText, refreshSnapshot } from '../../dist/stores/local/log-reader.js';
import { buildHeader, encodeRecord, recordBytes, writeRecord } from '../../dist/stores/local/file-format.js';

const masterKey = randomBytes(32).toString('base64');
const env = { KEYSHIFT_MASTER_KEY: masterKey };

function tempPath(t) {
  const dir = mkdtempSync(join(tmpdir(), 'keyshift-append-log-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return { dir, path: join(dir, 'dev.store') };
}

function openLog(path, compactMinDead = 1000) {
  const keys = new MasterKeyProvider(path, env);
  return { log: new AppendLog(path, keys, { compactMinDead }), keys };
}

const entry = (key, value = 'dmFsdWU=') => ({ type: 'entry', key, text: JSON.stringify(['e', key, [['v1', ['CURRENT'], '2026-01-01T00:00:00.000Z', value]], [], null, null, []]) });
const metaItem = (runs) => ({ type: 'meta', meta: { evidenceAnchors: {}, confirmedRuns: runs } });
const ok = async () => undefined;
/** A key's durable text, and the text its next apply builds on (commits not yet durable included). */
const durableText = (log, key) => {
  const handle = log.entryHandle(key);
  return handle && log.textOf(handle);
};
const latestText = (log, key) => {
  const handle = log.latestHandle(key);
  return handle && log.textOf(handle);
};

/** A store with one entry, written and let go of by a log of its own. */
async function storeWithApi(path) {
  const { log } = openLog(path);
  await log.startWriting(ok);
  await log.commit(entry('api'));
  await log.stopWriting();
  log.reset();
}

/** Bytes of a torn append: a frame prefix claiming `claimed` bytes, then `length` - 8 bytes of 9s. */
function tornTail(length, claimed) {
  const torn = Buffer.alloc(length, 9);
  torn.writeUInt32BE(claimed, 0);
  torn.writeUInt32BE(~claimed >>> 0, 4);
  return torn;
}

/** What another reader finds in the file. */
async function onDisk(path) {
  const keys = new MasterKeyProvider(path, env).forExistingStore();
  const snap = await refreshSnapshot(path, emptySnapshot(), () => keys);
  const entries = Object.fromEntries([...snap.entries].map(([key, handle]) => [key, readEntryText(snap, handle, keys, path)]).sort());
  closeReader(snap);
  return { entries, meta: snap.meta, records: snap.recordCount, generation: snap.header?.header.generation ?? 0, format: snap.header?.header.format };
}

test('a new log has nothing, figures of zero, and the id its first write will give the store', async (t) => {
  const { path } = tempPath(t);
  const { log } = openLog(path);
  await log.refresh();
  assert.deepEqual(log.stats, { records: 0, live: 0, bytes: 0, generation: 0, batches: 0 });
  assert.deepEqual(log.entryKeys(), []);
  assert.equal(log.meta(), null);
  assert.equal(durableText(log, 'api'), undefined);
  assert.equal(latestText(log, 'api'), undefined);
  const id = log.storeId();
  assert.match(id, /^[0-9a-f]{32}$/);
  assert.equal(log.storeId(), id, 'drawn once');
  assert.ok(!existsSync(path), 'nothing created by reading');
  await log.startWriting(ok);
  await log.commit(entry('api'));
  await log.stopWriting();
  assert.equal(JSON.parse(readFileSync(path).subarray(12).toString('utf8').split('}')[0] + '}').storeId, id);
  const other = openLog(path).log;
  await other.refresh();
  assert.equal(other.storeId(), id, 'read from the header');
});

test('commits made together are one batch (one write); each resolves once durable; stats count records, live entries, bytes and batches', async (t) => {
  const { path } = tempPath(t);
  const { log } = openLog(path);
  await log.startWriting(ok);
  const first = [log.commit(entry('api', 'b25l')), log.commit(entry('db')), log.commit(metaItem(['run-1']))];
  // Queued, not durable yet: the next apply builds on the pending text; readers see the durable one.
  assert.equal(latestText(log, 'api'), entry('api', 'b25l').text);
  assert.equal(durableText(log, 'api'), undefined);
  await Promise.all(first);
  assert.equal(durableText(log, 'api'), entry('api', 'b25l').text);
  assert.deepEqual(log.stats, { records: 3, live: 3, bytes: statSync(path).size, generation: 1, batches: 1 });
  await log.commit(entry('api', 'dHdv'));
  await Promise.all([log.commit(entry('api', 'dGhyZWU=')), log.commit(metaItem(['run-2']))]);
  assert.deepEqual(log.stats, { records: 6, live: 3, bytes: statSync(path).size, generation: 1, batches: 3 });
  assert.deepEqual(log.entryKeys().sort(), ['api', 'db']);
  assert.equal(durableText(log, 'api'), entry('api', 'dGhyZWU=').text);
  assert.equal(latestText(log, 'api'), entry('api', 'dGhyZWU=').text);
  assert.deepEqual(log.meta(), { evidenceAnchors: {}, confirmedRuns: ['run-2'] });
  await log.idle();
  await log.stopWriting();
  assert.deepEqual(await onDisk(path), { entries: { api: entry('api', 'dGhyZWU=').text, db: entry('db').text }, meta: { evidenceAnchors: {}, confirmedRuns: ['run-2'] }, records: 6, generation: 1, format: 3 });
});

test('a pending text newer than the one being written stays pending until its own write', async (t) => {
  const { path } = tempPath(t);
  const { log } = openLog(path);
  await log.startWriting(ok);
  const one = log.commit(entry('api', 'b25l'));
  await null;
  await null;
  const two = log.commit(entry('api', 'dHdv')); // after the first batch was taken
  assert.equal(latestText(log, 'api'), entry('api', 'dHdv').text);
  await one;
  assert.equal(latestText(log, 'api'), entry('api', 'dHdv').text, 'not the older durable text');
  await two;
  assert.equal(durableText(log, 'api'), entry('api', 'dHdv').text);
  await log.stopWriting();
});

test('a failed write fails every commit waiting with it, as ERR_STORE_WRITE naming the cause; pending texts are dropped', async (t) => {
  const { path } = tempPath(t);
  const { log } = openLog(path);
  let fail = false;
  await log.startWriting(async () => {
    if (fail) throw Object.assign(new Error('disk on fire'), { code: 'EIO' });
  });
  await log.commit(entry('api', 'b25l'));
  fail = true;
  const results = await Promise.allSettled([log.commit(entry('api', 'dHdv')), log.commit(entry('db'))]);
  for (const r of results) {
    assert.equal(r.status, 'rejected');
    assert.equal(r.reason.code, 'ERR_STORE_WRITE');
    assert.equal(r.reason.message, `cannot write store ${path}: EIO`);
    assert.equal(r.reason.retryable, true);
  }
  assert.equal(results[0].reason, results[1].reason, 'one error for the batch');
  assert.equal(latestText(log, 'api'), entry('api', 'b25l').text, 'back to what is durable');
  assert.equal(latestText(log, 'db'), undefined);
  // A keyshift error (the lock lost) reaches the caller as it is.
  const lost = Object.assign(new Error('lock lost'), { code: 'ERR_LOCK_LOST' });
  const { KeyshiftError } = await import('../../dist/errors.js');
  const keyshiftLost = new KeyshiftError('ERR_LOCK_LOST', 'the lock was taken over');
  await log.stopWriting();
  const again = openLog(path).log;
  await again.startWriting(async () => { throw keyshiftLost; });
  await assert.rejects(again.commit(entry('db')), (error) => error === keyshiftLost);
  // A later commit after the failure works again.
  fail = false;
  await log.startWriting(ok);
  await log.commit(entry('db'));
  await log.stopWriting();
  assert.deepEqual(Object.keys((await onDisk(path)).entries), ['api', 'db']);
  assert.ok(lost);
  await again.stopWriting();
});

test('commits queued while a batch fails are failed with it, not written on top of it', async (t) => {
  const { path } = tempPath(t);
  const { log } = openLog(path);
  let calls = 0;
  let release;
  const gate = new Promise((resolve) => (release = resolve));
  await log.startWriting(async () => {
    calls += 1;
    if (calls === 2) {
      await gate;
      throw Object.assign(new Error('gone'), { code: 'ENOSPC' });
    }
  });
  await log.commit(entry('base'));
  const failing = log.commit(entry('api'));
  await new Promise((resolve) => setTimeout(resolve, 20));
  const queued = log.commit(entry('later'));
  release();
  await assert.rejects(failing, { code: 'ERR_STORE_WRITE', message: `cannot write store ${path}: ENOSPC` });
  await assert.rejects(queued, { code: 'ERR_STORE_WRITE' });
  await log.stopWriting();
  assert.deepEqual(Object.keys((await onDisk(path)).entries), ['base']);
  assert.equal(calls, 2, 'the queued commit was not tried on its own');
});

test('compacts once dead records exceed max(compactMinDead, live), not at the boundary', async (t) => {
  const { path } = tempPath(t);
  const { log } = openLog(path, 3);
  await log.startWriting(ok);
  await log.commit(entry('a', 'MQ=='));
  await log.commit(entry('b', 'Mg=='));
  // 2 live: compaction needs more than 3 dead.
  for (let i = 0; i < 3; i++) await log.commit(entry('a', `x${i}==`));
  assert.deepEqual(log.stats, { records: 5, live: 2, bytes: statSync(path).size, generation: 1, batches: 5 });
  await log.commit(entry('a', 'eTM='));
  await log.idle();
  assert.deepEqual(log.stats, { records: 2, live: 2, bytes: statSync(path).size, generation: 2, batches: 6 });
  // With more live entries than compactMinDead, the live count is the bar.
  for (const k of ['c', 'd', 'e', 'f']) await log.commit(entry(k));
  for (let i = 0; i < 6; i++) await log.commit(entry('a', `z${i}==`));
  await log.idle();
  assert.equal(log.stats.generation, 2, `6 dead, 6 live: no compaction (${JSON.stringify(log.stats)})`);
  await log.commit(entry('a', 'ZW5k'));
  await log.idle();
  assert.deepEqual(log.stats, { records: 6, live: 6, bytes: statSync(path).size, generation: 3, batches: 17 });
  await log.commit(metaItem(['r']));
  await log.stopWriting();
  const disk = await onDisk(path);
  assert.equal(disk.records, 7);
  assert.equal(disk.entries.a, entry('a', 'ZW5k').text);
  assert.deepEqual(disk.meta, { evidenceAnchors: {}, confirmedRuns: ['r'] });
});

test('a writer lets go of the file compacted when it leaves more dead records than half its live ones', async (t) => {
  // A forced run of every secret leaves one dead record per secret: the next reader (plan, status,
  // the next run) would decrypt them all again before anything compacted them.
  const leave = async (path, rewrites) => {
    const { log } = openLog(path, 2);
    await log.startWriting(ok);
    for (const k of ['a', 'b', 'c', 'd']) await log.commit(entry(k));
    for (let i = 0; i < rewrites; i++) await log.commit(entry('a', `w${i}==`));
    await log.idle();
    const during = log.stats.generation;
    await log.stopWriting();
    log.reset();
    return { during, disk: await onDisk(path) };
  };
  // 4 live, 3 dead: under the bar while writing (more than 4 dead), over half the live ones at the end.
  const over = tempPath(t);
  const compacted = await leave(over.path, 3);
  assert.equal(compacted.during, 1, 'not compacted while writing');
  assert.deepEqual({ records: compacted.disk.records, generation: compacted.disk.generation }, { records: 4, generation: 2 });
  assert.equal(compacted.disk.entries.a, entry('a', 'w2==').text);
  assert.deepEqual(readdirSync(over.dir), ['dev.store']);
  // 4 live, 2 dead: not more than half of them (nor than compactMinDead): left as it is.
  const under = tempPath(t);
  const kept = await leave(under.path, 2);
  assert.deepEqual({ records: kept.disk.records, generation: kept.disk.generation }, { records: 6, generation: 1 });
});

test('a compaction keeps the meta and every entry, and appends go on in the new file', async (t) => {
  const { path } = tempPath(t);
  const { log } = openLog(path, 2);
  await log.startWriting(ok);
  await log.commit(metaItem(['m1']));
  await log.commit(entry('a'));
  for (let i = 0; i < 3; i++) await log.commit(entry('a', `v${i}==`));
  await log.idle();
  assert.equal(log.stats.generation, 2);
  assert.equal(log.stats.records, 2);
  await log.commit(entry('b'));
  await log.stopWriting();
  assert.deepEqual(await onDisk(path), { entries: { a: entry('a', 'v2==').text, b: entry('b').text }, meta: { evidenceAnchors: {}, confirmedRuns: ['m1'] }, records: 3, generation: 2, format: 3 });
  assert.deepEqual(readdirSync(join(path, '..')).sort(), ['dev.store']);
});

test('a compaction that fails is retried only after compactMinDead more records; the writes it followed stand', async (t) => {
  const { path } = tempPath(t);
  const { log } = openLog(path, 2);
  let calls = 0;
  const failAt = new Set([5]);
  await log.startWriting(async () => {
    calls += 1;
    if (failAt.has(calls)) throw Object.assign(new Error('lock check failed'), { code: 'EIO' });
  });
  // Calls 1–4 are the four writes; the compaction after the fourth (3 dead > 2) checks the lock: call 5.
  await log.commit(entry('a'));
  for (let i = 0; i < 3; i++) await log.commit(entry('a', `v${i}==`));
  await log.idle();
  assert.equal(calls, 5);
  assert.deepEqual({ records: log.stats.records, generation: log.stats.generation }, { records: 4, generation: 1 }, 'not compacted');
  // Backed off until 4 + 2 = 6 records: the fifth write does not compact…
  await log.commit(entry('a', 'djU='));
  await log.idle();
  assert.deepEqual({ records: log.stats.records, generation: log.stats.generation, calls }, { records: 5, generation: 1, calls: 6 });
  // …the sixth does (a compaction checks the lock twice: before it starts and before its rename).
  await log.commit(entry('a', 'djY='));
  await log.idle();
  assert.deepEqual({ records: log.stats.records, generation: log.stats.generation, calls }, { records: 1, generation: 2, calls: 9 });
  await log.stopWriting();
  assert.equal((await onDisk(path)).entries.a, entry('a', 'djY=').text);
});

test('startWriting upgrades an older store to the current format, keeping its id and naming it; a failed upgrade is ERR_STORE_WRITE', async (t) => {
  const { dir, path } = tempPath(t);
  const keys = new MasterKeyProvider(path, env).forExistingStore();
  const header = buildHeader({ storeId: 'b'.repeat(32), generation: 4, createdAt: '2026-01-01T00:00:00.000Z', name: 'ignored' }, keys, 2);
  const texts = [entry('api').text, entry('api', 'dHdv').text];
  writeFileSync(path, Buffer.concat([header.bytes, ...texts.map((text, i) => encodeRecord(keys, header.digest, i, text))]));
  const original = readFileSync(path);
  // The lock check fails during the upgrade: nothing changes, the error says it could not write.
  const failing = openLog(path).log;
  await assert.rejects(failing.startWriting(async () => { throw Object.assign(new Error('x'), { code: 'EROFS' }); }), { code: 'ERR_STORE_WRITE', message: `cannot write store ${path}: EROFS` });
  assert.deepEqual(readFileSync(path), original);
  const { log } = openLog(path);
  await log.startWriting(ok);
  assert.deepEqual(log.stats, { records: 1, live: 1, bytes: statSync(path).size, generation: 5, batches: 0 });
  await log.commit(entry('db'));
  await log.stopWriting();
  const disk = await onDisk(path);
  assert.deepEqual(disk, { entries: { api: entry('api', 'dHdv').text, db: entry('db').text }, meta: null, records: 2, generation: 5, format: 3 });
  const json = JSON.parse(readFileSync(path).subarray(12, 12 + readFileSync(path).readUInt32BE(8)).toString('utf8'));
  assert.equal(json.storeId, 'b'.repeat(32));
  assert.equal(json.name, 'dev.store');
  assert.equal(json.createdAt, '2026-01-01T00:00:00.000Z');
  assert.deepEqual(readdirSync(dir).sort(), ['dev.store']);
  // A store already in the current format is left as it is.
  const before = readFileSync(path);
  const same = openLog(path).log;
  await same.startWriting(ok);
  await same.stopWriting();
  assert.deepEqual(readFileSync(path), before);
});

test('startWriting removes the temp files a crashed writer left next to the store', async (t) => {
  const { dir, path } = tempPath(t);
  const { log } = openLog(path);
  await log.startWriting(ok);
  await log.commit(entry('api'));
  await log.stopWriting();
  writeFileSync(`${path}.tmp-999999-abcdef012345`, 'half a compaction');
  writeFileSync(join(dir, 'other.store.tmp-1-aa'), 'not ours');
  await log.startWriting(ok);
  await log.stopWriting();
  assert.deepEqual(readdirSync(dir).sort(), ['dev.store', 'other.store.tmp-1-aa']);
});

test('while writing it trusts the lock: refresh does not read the file; after stopWriting it does', async (t) => {
  const { path } = tempPath(t);
  const { log } = openLog(path);
  await log.startWriting(ok);
  await log.commit(entry('api'));
  // Another writer appends behind our back (its lock moved aside).
  const other = openLog(path).log;
  await other.startWriting(ok);
  await other.commit(entry('intruder'));
  await other.stopWriting();
  await log.refresh();
  assert.equal(durableText(log, 'intruder'), undefined);
  // The next write finds out and refuses (the file grew by a complete record).
  await assert.rejects(log.commit(entry('db')), { code: 'ERR_STORE_CHANGED' });
  await log.stopWriting();
  await log.refresh();
  assert.equal(durableText(log, 'intruder'), entry('intruder').text);
});

test('a store file that cannot be read is ERR_STORE_READ naming the cause', async (t) => {
  const { path } = tempPath(t);
  mkdirSync(path); // a directory where the store should be
  const { log } = openLog(path);
  await assert.rejects(log.refresh(), (error) => {
    assert.equal(error.code, 'ERR_STORE_READ');
    assert.equal(error.message, `cannot read store ${path}: EISDIR`);
    return true;
  });
});

test('appends after a torn tail cut it off; a writer whose file was replaced reloads and refuses', async (t) => {
  const { path } = tempPath(t);
  const { log } = openLog(path);
  await log.startWriting(ok);
  await log.commit(entry('api'));
  await log.stopWriting();
  const size = statSync(path).size;
  const torn = tornTail(30, 200);
  appendFileSync(path, torn);
  await log.startWriting(ok);
  await log.commit(entry('db'));
  assert.equal(statSync(path).size, size + recordBytes(entry('db').text));
  await log.stopWriting();
  // Replaced by a copy (a new inode) after the writer read it: refused, then the next commit builds on it.
  await log.startWriting(ok);
  writeFileSync(`${path}.copy`, readFileSync(path)); // created while the store exists: another inode
  renameSync(`${path}.copy`, path);
  await assert.rejects(log.commit(entry('queue')), { code: 'ERR_STORE_CHANGED' });
  await log.commit(entry('queue'));
  await log.stopWriting();
  assert.deepEqual(Object.keys((await onDisk(path)).entries), ['api', 'db', 'queue']);
  // Cut shorter than what we wrote: refused too, nothing written over it.
  await log.startWriting(ok);
  const cut = readFileSync(path).subarray(0, size);
  writeFileSync(path, cut);
  await assert.rejects(log.commit(entry('x')), { code: 'ERR_STORE_CHANGED' });
  await log.stopWriting();
});

test('after a compaction every entry is read back from the new file, whatever order the log met them in', async (t) => {
  const { path } = tempPath(t);
  const { log } = openLog(path, 2);
  await log.startWriting(ok);
  // The log meets d first, but d's newest record ends up last in the file: the compaction writes
  // the records in file order, and each entry must then point into the new file where its went.
  for (const key of ['d', 'a', 'b', 'c']) await log.commit(entry(key));
  for (let i = 0; i < 6; i++) await log.commit(entry('d', `djAx${i}A==`));
  await log.idle();
  assert.equal(log.stats.generation, 2, 'compacted');
  const want = [entry('a').text, entry('b').text, entry('c').text, entry('d', 'djAx5A==').text];
  assert.deepEqual(['a', 'b', 'c', 'd'].map((key) => durableText(log, key)), want);
  await log.stopWriting();
  log.reset();
  assert.deepEqual(Object.values((await onDisk(path)).entries), want);
});

test('a record appended where a torn tail was is read back, not the torn bytes a read ahead saw there', async (t) => {
  const { path } = tempPath(t);
  await storeWithApi(path);
  const torn = tornTail(300, 400);
  appendFileSync(path, torn);
  const { log: writer } = openLog(path);
  await writer.startWriting(ok);
  assert.equal(durableText(writer, 'api'), entry('api').text); // its read reaches over the torn tail
  await writer.commit(entry('db'));
  assert.equal(durableText(writer, 'db'), entry('db').text);
  assert.equal(durableText(writer, 'api'), entry('api').text);
  await writer.stopWriting();
  writer.reset();
});

test('reset forgets what was read; the next refresh reads the file again', async (t) => {
  const { path } = tempPath(t);
  const { log } = openLog(path);
  await log.startWriting(ok);
  await log.commit(entry('api'));
  await log.commit(metaItem(['r']));
  await log.stopWriting();
  log.reset();
  assert.deepEqual(log.stats, { records: 0, live: 0, bytes: 0, generation: 0, batches: 1 + 1 });
  assert.equal(durableText(log, 'api'), undefined);
  assert.equal(log.meta(), null);
  await log.refresh();
  assert.equal(durableText(log, 'api'), entry('api').text);
  assert.deepEqual(log.stats.records, 2);
});

test('once durable, a commit is no longer "latest" over what another writer wrote later', async (t) => {
  const { path } = tempPath(t);
  const { log } = openLog(path);
  await log.startWriting(ok);
  await log.commit(entry('api', 'b25l'));
  await log.stopWriting();
  const other = openLog(path).log;
  await other.startWriting(ok);
  await other.commit(entry('api', 'dHdv'));
  await other.stopWriting();
  await log.refresh();
  assert.equal(durableText(log, 'api'), entry('api', 'dHdv').text);
  assert.equal(latestText(log, 'api'), entry('api', 'dHdv').text);
});

test('idle waits for commits still queued, not only for the write in progress', async (t) => {
  const { path } = tempPath(t);
  const { log } = openLog(path);
  await log.startWriting(ok);
  const pending = [log.commit(entry('api')), log.commit(entry('db'))];
  await log.idle();
  assert.equal(durableText(log, 'api'), entry('api').text);
  assert.equal(log.stats.records, 2);
  await Promise.all(pending);
  await log.stopWriting();
});

test('stopWriting lets go of the file for writing; the one descriptor its entries are read through stays until reset', async (t) => {
  const { path } = tempPath(t);
  const open = () => readdirSync('/proc/self/fd').length;
  const before = open();
  const logs = [];
  for (let i = 0; i < 5; i++) {
    const { log } = openLog(path, 2); // compacts along the way: the new file's reader replaces the old
    await log.startWriting(ok);
    for (let n = 0; n < 4; n++) await log.commit(entry(`k${i}`, `djAx${n}A==`));
    await log.stopWriting();
    logs.push(log);
    assert.equal(open(), before + logs.length, `after log ${i}`);
    assert.equal(durableText(log, `k${i}`), entry(`k${i}`, 'djAx3A==').text);
  }
  assert.ok(logs[4].stats.generation >= 3, `compacted along the way: generation ${logs[4].stats.generation}`);
  for (const log of logs) log.reset();
  assert.equal(open(), before);
});

/**
 * A compaction checks, just before its rename, that the file is still the one it replayed: the
 * second lock check of a compaction is the moment to change the file behind its back.
 */
async function compactWhile(t, change) {
  const { path } = tempPath(t);
  const { log } = openLog(path, 2);
  let calls = 0;
  let compacting = false;
  await log.startWriting(async () => {
    calls += 1;
    if (compacting && calls === 6) await change(path);
  });
  // Writes are calls 1–4; the compaction after the fourth checks the lock at 5 (start) and 6 (rename).
  await log.commit(entry('a'));
  await log.commit(entry('a', 'djA='));
  await log.commit(entry('a', 'djE='));
  compacting = true;
  await log.commit(entry('a', 'djI='));
  await log.idle();
  await log.stopWriting();
  return { path, log, calls };
}

/** Another writer appends one complete record (as if it had got past the lock), byte by byte. */
async function intruderAppends(path) {
  const keys = new MasterKeyProvider(path, env).forExistingStore();
  const snap = await refreshSnapshot(path, emptySnapshot(), () => keys);
  const text = entry('intruder').text;
  const record = Buffer.alloc(recordBytes(text));
  writeRecord(keys, snap.header.digest, snap.recordCount, text, record, 0, snap.lastTag);
  closeReader(snap);
  appendFileSync(path, record);
}

test('a compaction is not renamed over records another writer appended meanwhile', async (t) => {
  const { path, calls } = await compactWhile(t, intruderAppends);
  assert.equal(calls, 6);
  const disk = await onDisk(path);
  assert.equal(disk.generation, 1, 'not compacted');
  assert.equal(disk.entries.intruder, entry('intruder').text);
  assert.equal(disk.entries.a, entry('a', 'djI=').text);
});

test('a compaction is not renamed over a file replaced or cut meanwhile', async (t) => {
  const replaced = await compactWhile(t, async (path) => {
    writeFileSync(`${path}.copy`, readFileSync(path));
    renameSync(`${path}.copy`, path);
  });
  assert.equal((await onDisk(replaced.path)).generation, 1);
  let cutTo = 0;
  const cut = await compactWhile(t, async (path) => {
    cutTo = statSync(path).size - 10;
    writeFileSync(path, readFileSync(path).subarray(0, cutTo));
  });
  assert.equal(statSync(cut.path).size, cutTo, 'the cut file was left as it was');
});

test('a torn tail appended meanwhile does not stop a compaction (the new file leaves it out)', async (t) => {
  const { path } = await compactWhile(t, async (p) => {
    const torn = tornTail(30, 200);
    appendFileSync(p, torn);
  });
  const disk = await onDisk(path);
  assert.deepEqual({ generation: disk.generation, records: disk.records, a: disk.entries.a }, { generation: 2, records: 1, a: entry('a', 'djI=').text });
  assert.equal(statSync(path).size, (await refreshSnapshot(path, emptySnapshot(), () => new MasterKeyProvider(path, env).forExistingStore())).validEnd);
});
