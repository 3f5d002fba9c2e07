import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fillRandom, randomBytesFromPool } from '../../dist/util/random-pool.js';

test('random bytes drawn from the pool never repeat, across many refills', () => {
  const seen = new Set();
  for (let i = 0; i < 20_000; i++) {
    const nonce = randomBytesFromPool(12).toString('hex'); // 240 KB: the 16 KiB pool refilled ~15 times
    assert.ok(!seen.has(nonce), `nonce ${i} repeated an earlier one`);
    seen.add(nonce);
  }
  const big = randomBytesFromPool(64 * 1024); // larger than the pool: drawn directly
  assert.equal(big.length, 64 * 1024);
  assert.notEqual(big.subarray(0, 32).toString('hex'), big.subarray(32, 64).toString('hex'));
});

test('fillRandom writes only its slice of the target and returns that slice', () => {
  const target = Buffer.alloc(40);
  const slice = fillRandom(target, 8, 12);
  assert.equal(slice.length, 12);
  assert.equal(slice.buffer, target.buffer);
  assert.ok(target.subarray(0, 8).every((b) => b === 0) && target.subarray(20).every((b) => b === 0));
  assert.ok(slice.some((b) => b !== 0));
});
