// src/util/iso-time.ts: toISOString's text from the UTC getters (no V8 date cache on the path of
// `plan` and `status`), for every date toISOString formats.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isoTime, isoTimeOrNull } from '../../dist/util/iso-time.js';

test('isoTime writes what toISOString writes', () => {
  const edges = [0, -1, 1, 999, 1000, Date.UTC(0, 0, 1), Date.UTC(999, 11, 31, 23, 59, 59, 999), Date.UTC(1000, 0, 1), Date.UTC(9999, 11, 31, 23, 59, 59, 999), Date.UTC(10000, 0, 1), Date.UTC(-1, 0, 1), 8.64e15, -8.64e15, Date.parse('2026-02-28T23:59:59.009Z')];
  edges[5] = new Date(0).setUTCFullYear(0);
  let seed = 7;
  const random = () => ((seed = (Math.imul(seed, 48271) >>> 0) % 2147483647) / 2147483647);
  const times = [...edges, ...Array.from({ length: 20_000 }, () => Math.floor((random() * 2 - 1) * 4e14))];
  for (const time of times) assert.equal(isoTime(new Date(time)), new Date(time).toISOString(), String(time));
  assert.throws(() => isoTime(new Date(NaN)), RangeError);
  assert.equal(isoTimeOrNull(null), null);
  assert.equal(isoTimeOrNull(new Date(86_400_000)), '1970-01-02T00:00:00.000Z');
});
