// LocalStore.queueApply and queueRoom (docs/local-store.md, "Queued writes"): the engine advances
// secrets with nothing outside to wait on one after another, without waiting for each write; the
// store writes them in batches meanwhile. Checked with the independent reader of the format.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openLocalStore } from '../../dist/stores/local/index.js';
import { AppendLog } from '../../dist/stores/local/append-log.js';
import { MasterKeyProvider } from '../../dist/stores/local/master-key.js';
import { SecretValue } from '../../dist/secret-value.js';
import { readStoreFile } from '../helpers/store-check.js';

const LOCK = { waitMs: 2_000, owner: 'queued-writes-test' };
const meta = () => ({ rotation: null, lastRotatedAt: null, pendingEvents: [] });
const create = (versionId, text, stage = 'CURRENT') => ({ type: 'create', versionId, value: SecretValue.fromString(text), stage });

function tempStore(t) {
  const dir = mkdtempSync(join(tmpdir(), 'keyshift-queued-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'dev.store');
  return { path, store: openLocalStore({ path }, {}) };
}

/** A log item as LocalStore encodes one: an entry with one CURRENT version. */
const entry = (key) => ({ type: 'entry', key, text: JSON.stringify(['e', key, [['v1', ['CURRENT'], '2026-01-01T00:00:00.000Z', 'dmFsdWU=']], [], null, null, []]) });
const onDisk = (path, key) => readStoreFile(path).entries.get(key)?.versions.map((v) => `${v.id}:${v.stages.join('+')}`) ?? [];

test('a queued write returns before its record is on disk; the writer reads it at once; `durable` resolves once the file holds it', async (t) => {
  const { path, store } = tempStore(t);
  const lock = await store.lock(LOCK);
  await store.apply('api', [create('v1', 'one')], meta());
  const { state, durable } = store.queueApply('api', [create('v2', 'two', 'PENDING'), { type: 'promote', versionId: 'v2' }], meta());
  assert.deepEqual(state.versions.map((v) => `${v.id}:${v.stages.join('+')}`), ['v1:PREVIOUS', 'v2:CURRENT']);
  assert.deepEqual(onDisk(path, 'api'), ['v1:CURRENT'], 'not written yet when queueApply returns');
  const read = await store.read('api');
  assert.equal(read.versions.find((v) => v.stages.includes('CURRENT')).id, 'v2', 'the writer reads its queued write');
  assert.equal((await store.readValue('api', 'v2')).reveal(), 'two');
  await durable;
  assert.deepEqual(onDisk(path, 'api'), ['v1:PREVIOUS', 'v2:CURRENT']);
  await lock.release();
  await store.close();
});

test('a writer that calls queueRoom before each queued write gets batches of many records', async (t) => {
  const { path, store } = tempStore(t);
  const lock = await store.lock(LOCK);
  const count = 2000;
  const writes = [];
  for (let i = 0; i < count; i++) {
    await store.queueRoom();
    writes.push(store.queueApply(`key-${i}`, [create('v1', `value ${i}`)], meta()).durable);
  }
  await Promise.all(writes);
  const { batches } = store.stats;
  // Grouped: not a write and an fsync per record, nor per turn of the event loop.
  assert.ok(batches <= count / 64, `${batches} batches for ${count} records: grouped`);
  assert.equal(readStoreFile(path).entries.size, count);
  await lock.release();
  await store.close();
});

test('room() waits while 256 records wait for a write: a slow disk does not make the queue take every record', async (t) => {
  const { path } = tempStore(t);
  const log = new AppendLog(path, new MasterKeyProvider(path, {}), { compactMinDead: 1000 });
  // Every batch's write takes 20 ms (its lock check waits): the producer is far faster.
  await log.startWriting(() => new Promise((resolve) => setTimeout(resolve, 20)));
  const count = 1500;
  let durable = 0;
  let mostWaiting = 0;
  const writes = [];
  for (let i = 0; i < count; i++) {
    await log.room(256);
    mostWaiting = Math.max(mostWaiting, i - durable);
    writes.push(log.commit(entry(`key-${i}`)).then(() => durable++));
  }
  await Promise.all(writes);
  await log.stopWriting();
  // At most the batch being written (≤ 256 + the records queued before room() last looked) and the
  // 256 waiting for the next one.
  assert.ok(mostWaiting <= 2 * 256 + 32, `${mostWaiting} records were waiting for a write at once`);
  assert.ok(log.stats.batches >= count / 300, `${log.stats.batches} batches`);
});

test('a queued write whose batch is not written rejects `durable`, and the writer reads what is on disk again', async (t) => {
  const { path, store } = tempStore(t);
  const lock = await store.lock(LOCK);
  await store.apply('api', [create('v1', 'one')], meta());
  rmSync(`${path}.lock`); // the next batch finds the writer lock gone: refused, nothing written
  const { durable } = store.queueApply('api', [create('v2', 'two', 'PENDING'), { type: 'promote', versionId: 'v2' }], meta());
  await assert.rejects(durable, (error) => /^ERR_LOCK/.test(error.code));
  assert.deepEqual(onDisk(path, 'api'), ['v1:CURRENT']);
  const read = await store.read('api');
  assert.deepEqual(read.versions.map((v) => v.id), ['v1'], 'the queued write is forgotten');
  await lock.release().catch(() => undefined);
  await store.close().catch(() => undefined);
});

/** How many of `calls` calls to `room` let the event loop turn (an immediate set before each ran). */
async function turnsOver(calls, room) {
  let turns = 0;
  for (let i = 0; i < calls; i++) {
    let turned = false;
    const before = setImmediate(() => (turned = true));
    await room();
    if (turned) turns += 1;
    else clearImmediate(before);
  }
  return turns;
}

test('queueRoom lets the event loop turn once every 32 calls: the batch being written goes on, and a secret is not a turn', async (t) => {
  const { store } = tempStore(t);
  const lock = await store.lock(LOCK);
  // Nothing is queued, so only the turns are seen: not at every call (a turn per secret) and not
  // never (the writer's own steps never wait on I/O: the batch being written would wait for them).
  assert.equal(await turnsOver(320, () => store.queueRoom()), 10);
  assert.equal(await turnsOver(31, () => store.queueRoom()), 0, 'the 31 calls after a turn do not turn');
  assert.equal(await turnsOver(1, () => store.queueRoom()), 1, 'the 32nd does');
  await lock.release();
  await store.close();
});

test('room(most) lets exactly `most` records wait while a batch is being written, then waits for it', async (t) => {
  const { path } = tempStore(t);
  const log = new AppendLog(path, new MasterKeyProvider(path, {}), { compactMinDead: 1000 });
  let release;
  const stuck = new Promise((resolve) => (release = resolve));
  await log.startWriting(() => stuck); // every batch's lock check waits until released
  const writes = [log.commit(entry('first'))];
  await new Promise((resolve) => setImmediate(resolve)); // the first batch (one record) is taken, and waits
  let queued = 0;
  let waiting = null;
  for (let i = 0; i < 10 && waiting === null; i++) {
    const room = log.room(4);
    const free = await Promise.race([room.then(() => true), new Promise((resolve) => setImmediate(() => resolve(false)))]);
    if (free) {
      writes.push(log.commit(entry(`key-${i}`)));
      queued += 1;
    } else waiting = room;
  }
  assert.equal(queued, 4, 'four records wait for the next batch; the fifth call waits');
  assert.ok(waiting, 'room() waits for the batch in flight');
  release();
  await waiting;
  await Promise.all(writes);
  await log.stopWriting();
  assert.equal(readStoreFile(path).entries.size, 5);
});
