// `reencrypt --threads`: the worker threads decide for each row exactly what the main thread would
// (sealed under the target, left alone, or a decrypt error with its code), in the rows' order, and
// the work is really spread over the threads. A thread that fails fails the batch, never a row
// silently, and says nothing of the rows.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { keyring, open, seal } from '../../dist/reencrypt/envelope.js';
import { inlineSealer, threadSealer } from '../../dist/reencrypt/sealer.js';

const oldKey = { versionId: 'v-old', key: randomBytes(32) };
const newKey = { versionId: 'v-new', key: randomBytes(32) };
const stranger = keyring({ versionId: 'v-gone', key: randomBytes(32) });
const ring = keyring(newKey, oldKey);
const table = { table: 'items', key: 'id', columns: ['a', 'b'] };
const old = keyring(oldKey);
// The old version's id with another key: fields that fail authentication.
const forged = keyring({ versionId: 'v-old', key: randomBytes(32) });

/** 1,000 rows: most to move, some already moved, NULLs, and each kind of decrypt error. */
function rows(aad) {
  const cell = (key, column) => (aad ? { table: 'items', column, key } : null);
  return Array.from({ length: 1000 }, (_, i) => {
    const key = i + 1;
    const a = i % 97 === 0 ? 'not a field' : i % 89 === 0 ? seal(`a${key}`, stranger, cell(key, 'a')) : seal(`a${key}`, old, cell(key, 'a'));
    const b = i % 10 === 0 ? null : i % 7 === 0 ? seal(`b${key}`, ring, cell(key, 'b')) : i % 83 === 0 ? seal(`b${key}`, forged, cell(key, 'b')) : seal(`b${key}`, old, cell(key, 'b'));
    return { key, values: { a, b } };
  });
}

for (const aad of [null, 'row']) {
  test(`aad ${aad ?? 'none'}: two threads give each row the outcome the main thread gives it, in order, and both threads work`, async () => {
    const spec = { aad };
    const batch = rows(aad);
    const sealer = await threadSealer(ring, spec, 2);
    try {
      const [threaded, inline] = [await sealer.move(batch, table, 'v-new'), await inlineSealer(ring, spec).move(batch, table, 'v-new')];
      assert.equal(threaded.length, batch.length);
      assert.deepEqual(threaded.map((o) => o.kind), inline.map((o) => o.kind));
      assert.deepEqual(threaded.map((o) => o.code), inline.map((o) => o.code));
      const kinds = new Set(threaded.map((o) => (o.kind === 'error' ? o.code : o.kind)));
      assert.deepEqual([...kinds].sort(), ['ERR_ENVELOPE_AUTH', 'ERR_ENVELOPE_MALFORMED', 'ERR_ENVELOPE_UNKNOWN_VERSION', 'change'].sort());
      for (const [i, outcome] of threaded.entries()) {
        if (outcome.kind !== 'change') continue;
        const row = batch[i];
        assert.equal(outcome.change.key, row.key);
        assert.equal(outcome.change.before, row.values, 'the compare-and-set compares what the database sent');
        for (const column of table.columns) {
          const value = outcome.change.after[column];
          if (row.values[column] === null) assert.equal(value, null);
          else {
            assert.match(value, /^ks1:v-new:/, `${row.key}.${column}`);
            assert.equal(open(value, ring, aad ? { table: 'items', column, key: row.key } : null).toString(), `${column}${row.key}`);
          }
        }
      }
      assert.equal(sealer.rowsPerThread.length, 2);
      assert.ok(sealer.rowsPerThread.every((n) => n > 0), `rows per thread: ${sealer.rowsPerThread}`);
      assert.equal(sealer.rowsPerThread.reduce((a, b) => a + b, 0), batch.length);
      // Back: a rollback moves the same rows under the old version.
      const moved = threaded.filter((o) => o.kind === 'change').map((o) => ({ key: o.change.key, values: o.change.after }));
      const back = await sealer.move(moved, table, 'v-old');
      assert.ok(back.every((o) => o.kind === 'change' && Object.values(o.change.after).every((v) => v === null || v.startsWith('ks1:v-old:'))));
    } finally {
      await sealer.close();
    }
  });
}

test('a small batch goes to one thread; an empty one to none', async () => {
  const sealer = await threadSealer(ring, { aad: null }, 4);
  try {
    assert.deepEqual(await sealer.move([], table, 'v-new'), []);
    const few = rows(null).slice(1, 41);
    const outcomes = await sealer.move(few, table, 'v-new');
    assert.equal(outcomes.length, 40);
    assert.deepEqual(sealer.rowsPerThread, [40, 0, 0, 0]);
  } finally {
    await sealer.close();
  }
});

test('a thread that fails rejects the batch with ERR_REENCRYPT_THREAD, naming no row, key or value; later batches are refused', async () => {
  const sealer = await threadSealer(ring, { aad: null }, 2);
  const canary = 'CANARY-ROW-VALUE';
  try {
    // A table without columns breaks moveRow itself (not a decrypt error of a row).
    const error = await sealer.move([{ key: canary, values: { a: canary } }], { table: 'items', key: 'id', columns: null }, 'v-new').then(() => null, (e) => e);
    assert.ok(error, 'the batch is rejected');
    assert.equal(error.code, 'ERR_REENCRYPT_THREAD');
    assert.match(error.message, /^a re-encryption thread failed: TypeError$/);
    assert.match(error.hint, /rerun without --threads/);
    assert.ok(!JSON.stringify({ message: error.message, hint: error.hint }).includes(canary));
    await assert.rejects(sealer.move(rows(null), table, 'v-new'), { code: 'ERR_REENCRYPT_THREAD' });
  } finally {
    await sealer.close();
  }
});
