import { randomFillSync } from 'node:crypto';

/**
 * Random bytes drawn in bulk: one randomFillSync fills POOL_BYTES, and each request takes the next
 * unused bytes, so a 10,000-secret run makes a few hundred calls into the CSPRNG instead of
 * tens of thousands. Every byte is handed out once and wiped as it is taken: two requests never
 * share bytes (a nonce never repeats), and what was given out is no longer in the pool.
 */

const POOL_BYTES = 16 * 1024;
const pool = Buffer.alloc(POOL_BYTES);
let used = POOL_BYTES; // filled on first use: a command that draws nothing pays nothing

/** Writes `length` fresh random bytes into `target` at `at`; returns that slice of `target`. */
export function fillRandom(target: Buffer, at: number, length: number): Buffer {
  if (length > POOL_BYTES / 4) return randomFillSync(target, at, length).subarray(at, at + length);
  if (used + length > POOL_BYTES) {
    randomFillSync(pool);
    used = 0;
  }
  pool.copy(target, at, used, used + length);
  pool.fill(0, used, used + length);
  used += length;
  return target.subarray(at, at + length);
}

/** `length` fresh random bytes in a buffer of their own. */
export function randomBytesFromPool(length: number): Buffer {
  return fillRandom(Buffer.allocUnsafe(length), 0, length);
}
