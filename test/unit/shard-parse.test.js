// `--shard k/n` and `--quota-share` (src/engine/shard.ts, docs/scale-out.md): which shard a secret
// belongs to is reproducible by other tools from its name alone, and anything but 1 ≤ k ≤ n or a
// share in (0, 1] is a usage error (exit 2) that names the option and shows an example.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inShard, parseQuotaShare, parseShard, shardOf } from '../../dist/engine/shard.js';

test('a secret\'s shard is the first 4 bytes of SHA-256 of its UTF-8 name, big-endian, mod n, plus 1', () => {
  // Computed independently (Python: int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], 'big')).
  const vectors = { 'api-key': [1, 2, 3, 2, 2, 150], 'db-password': [1, 1, 2, 3, 4, 787], 'ünï': [1, 2, 2, 2, 7, 322] };
  for (const [name, shards] of Object.entries(vectors)) {
    assert.deepEqual([1, 2, 3, 4, 7, 1000].map((n) => shardOf(name, n)), shards, name);
    assert.equal(inShard(name, { index: shards[3], count: 4 }), true);
    assert.equal(inShard(name, { index: (shards[3] % 4) + 1, count: 4 }), false);
    assert.equal(inShard(name, undefined), true, 'no --shard: every secret');
  }
});

test('--shard accepts k/n with 1 ≤ k ≤ n, spaces around it too', () => {
  assert.deepEqual(parseShard('1/4'), { index: 1, count: 4 });
  assert.deepEqual(parseShard('4/4'), { index: 4, count: 4 });
  assert.deepEqual(parseShard(' 1/1 '), { index: 1, count: 1 });
  assert.deepEqual(parseShard('999999/999999'), { index: 999999, count: 999999 });
});

const usage = (option, value) => (error) => {
  assert.equal(error.exitCode, 2, `${error.code}: ${error.message}`);
  assert.ok(error.message.includes(`${option} "${value}"`), error.message);
  assert.match(error.hint, new RegExp(`e\\.g\\. ${option} `));
  return true;
};

test('--shard outside 1 ≤ k ≤ n, or not k/n, is a usage error naming the value', () => {
  for (const text of ['0/3', '4/3', '1/0', '0/0', 'a/b', '1/', '/3', '1/3/4', '-1/3', '1.5/3', '1 / 3', 'x1/3', '1/3x', '1234567/1234567', '']) {
    assert.throws(() => parseShard(text), usage('--shard', text), text);
  }
});

test('--quota-share accepts a number above 0 and at most 1; without it there is none', () => {
  assert.equal(parseQuotaShare(undefined), undefined);
  assert.equal(parseQuotaShare('1'), 1);
  assert.equal(parseQuotaShare('0.25'), 0.25);
  assert.equal(parseQuotaShare('1e-3'), 0.001);
  for (const text of ['0', '-0.5', '1.01', '2', '', '  ', 'half', 'Infinity', 'NaN', '0x']) {
    assert.throws(() => parseQuotaShare(text), usage('--quota-share', text), text);
  }
});
