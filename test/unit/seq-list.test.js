// SeqList (src/evidence/seq-list.ts): the compact (name, seq) list of an expected state behaves as
// the Map it replaced, for every operation the fold and the rollback check use.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SeqList } from '../../dist/evidence/seq-list.js';

test('any sequence of set, delete and drop-the-oldest gives what a Map gives', () => {
  let seed = 7;
  const random = (n) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
  for (let round = 0; round < 2000; round++) {
    const list = new SeqList();
    const map = new Map();
    for (let step = 0; step < 30; step++) {
      const name = `v${random(6)}`;
      const op = random(4);
      if (op === 0) assert.equal(list.delete(name), map.delete(name));
      else if (op === 1 && map.size > 0) {
        const first = map.keys().next().value;
        assert.equal(list.oldest(), first);
        list.delete(list.oldest());
        map.delete(first);
      } else {
        const seq = random(1000);
        assert.equal(list.set(name, seq), list, 'set returns the list, as Map.set does');
        map.set(name, seq);
      }
      assert.equal(list.size, map.size);
      assert.deepEqual([...list], [...map]);
      assert.equal(list.has(name), map.has(name));
      assert.equal(list.get(name), map.get(name));
    }
  }
});

test('made from pairs, a name given twice keeps its first place and its last seq', () => {
  const list = new SeqList([['a', 1], ['b', 2], ['a', 3]]);
  assert.deepEqual([...list], [...new Map([['a', 1], ['b', 2], ['a', 3]])]);
  assert.equal(new SeqList().oldest(), undefined);
});

test('made from any pairs (a checkpoint row, names repeated or not), it holds what a Map made from them holds', () => {
  let seed = 11;
  const random = (n) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
  for (let round = 0; round < 2000; round++) {
    const pairs = Array.from({ length: random(10) }, () => [`v${random(round % 2 === 0 ? 40 : 5)}`, random(1000)]);
    const list = new SeqList(pairs);
    const map = new Map(pairs);
    assert.deepEqual([...list], [...map]);
    assert.equal(list.size, map.size);
    assert.equal(list.oldest(), map.keys().next().value);
  }
});
