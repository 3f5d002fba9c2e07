// The client-side quota bucket of the AWS stores (src/stores/aws/token-bucket.ts), on a clock whose
// timers fire late, as Node's do on a busy event loop: a runner must still make its full share of
// calls (a sharded emergency is bounded by the quota, so every call lost to timer lateness is wall
// time), and never more than its share plus the bucket's burst.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TokenBucket } from '../../dist/stores/aws/token-bucket.js';

/** A clock that only moves when slept on; each sleep ends `lateMs` after its time. */
function lateClock(lateMs) {
  let now = 0;
  return {
    now: () => now,
    sleep: async (ms) => {
      now += ms + lateMs;
    },
    advance: (ms) => {
      now += ms;
    },
  };
}

/** Takes `calls` tokens back to back (a queue that is never empty), returns when each was granted. */
async function grants(bucket, clock, calls) {
  const at = [];
  await Promise.all(Array.from({ length: calls }, () => bucket.take().then(() => at.push(clock.now()))));
  return at;
}

test('a queue that never empties gets the full rate even when every timer fires 4 ms late', async () => {
  const clock = lateClock(4);
  const bucket = new TokenBucket(12.5, clock); // a quarter of a 50/s quota: capacity 1, 80 ms a call
  const at = await grants(bucket, clock, 1001);
  const seconds = (at.at(-1) - at[0]) / 1000;
  // 1,000 calls after the first at 12.5/s: 80 s. Dropping the lateness made it 1,000 × 84 ms = 84 s.
  assert.ok(seconds <= 80.1, `1,000 calls took ${seconds.toFixed(2)} s at 12.5/s (80 s is the rate)`);
  assert.ok(seconds >= 79.9, `1,000 calls in ${seconds.toFixed(2)} s: faster than the rate`);
});

test('never more than the burst plus one call at once, however late the timer', async () => {
  for (const lateMs of [0, 4, 79, 500, 5000]) {
    const clock = lateClock(lateMs);
    const bucket = new TokenBucket(12.5, clock);
    const at = await grants(bucket, clock, 200);
    // In any window of w ms: at most rate × w + capacity (1) + the one carried token.
    for (let i = 0; i < at.length; i++) {
      for (let j = i; j < at.length; j++) {
        const allowed = (12.5 * (at[j] - at[i])) / 1000 + 2;
        assert.ok(j - i + 1 <= allowed + 1e-9, `late ${lateMs} ms: ${j - i + 1} calls in ${at[j] - at[i]} ms`);
      }
    }
  }
});

test('an idle bucket refills to its burst only: after a pause, one call goes at once, the next waits', async () => {
  const clock = lateClock(0);
  const bucket = new TokenBucket(12.5, clock);
  await grants(bucket, clock, 3);
  clock.advance(10_000);
  const before = clock.now();
  const at = await grants(bucket, clock, 2);
  assert.equal(at[0], before);
  assert.ok(at[1] - before >= 80 - 1e-9, `second call ${at[1] - before} ms after the pause`);
});
