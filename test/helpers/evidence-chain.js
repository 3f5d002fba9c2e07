// Evidence records of exact line lengths, sealed with keyshift's own hash, for the tests of the log's
// boundaries (64 KiB reads, the 1 MiB limit): evidence-boundaries and evidence-gaps.
import assert from 'node:assert/strict';
import { ZERO_HASH, recordHash } from '../../dist/evidence/index.js';

/** Record `i`'s fields; `pad` bytes of check output make it longer; `over` replaces fields. */
export const chainFields = (i, pad = 0, over = {}) => ({
  at: '2026-11-23T10:00:00.000Z', event: 'issued', rotationId: `r-${i}`, secret: 'db-password', environment: 'prod',
  store: 'local', fromVersion: null, toVersion: `v-${i}`, fingerprint: null, operator: 'dave@host', reason: 'scheduled',
  ticket: null, emergency: false, checks: pad > 0 ? [{ output: 'x'.repeat(pad) }] : [], ...over,
});

/** A chain of records; `lengths[i]` is the byte length of line i without its newline (0: small). */
export function chain(lengths, over = {}) {
  let prevHash = ZERO_HASH;
  return lengths.map((length, i) => {
    const build = (pad) => {
      const body = { seq: i + 1, ...chainFields(i + 1, pad, over), prevHash };
      return JSON.stringify({ ...body, hash: recordHash(body) });
    };
    let line = build(0);
    if (length > 0) line = build(length - build(1).length + 1);
    if (length > 0) assert.equal(line.length, length);
    prevHash = JSON.parse(line).hash;
    return line;
  });
}
