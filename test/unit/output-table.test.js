// The CLI's tables (src/cli/output.ts printTable): aligned columns, `-` for empty cells, and a large
// table written in a few big writes (a 10,000-secret rotation prints 20,000 rows; each write is a
// system call) without overflowing the stack however many rows it has.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { printTable } from '../../dist/cli/output.js';

function capture() {
  const writes = [];
  return { writes, out: { stdout: (text) => writes.push(text), stderr: () => assert.fail('nothing on stderr'), isTTY: false } };
}

describe('printTable', () => {
  it('aligns the columns, shows empty cells as -, and leaves the last column unpadded', () => {
    const { writes, out } = capture();
    printTable(out, ['SECRET', 'ENV', 'NOTE'], [['api-key', 'prod', 'ok'], ['db', null, ''], ['x', 'staging', undefined]]);
    assert.equal(writes.join(''), ['SECRET   ENV      NOTE', 'api-key  prod     ok', 'db       -        -', 'x        staging  -', ''].join('\n'));
  });

  it('prints 300,000 rows whole and in order, in writes of about 64 KiB', () => {
    const { writes, out } = capture();
    const rows = Array.from({ length: 300_000 }, (_, i) => [`s-${i}`, i % 3 === 0 ? null : 'prod', 'rotated']);
    printTable(out, ['SECRET', 'ENV', 'OUTCOME'], rows);
    const lines = writes.join('').split('\n');
    assert.equal(lines.length, 300_002);
    assert.equal(lines[1].trim().split(/ +/).join(' '), 's-0 - rotated');
    assert.equal(lines[300_000].trim().split(/ +/).join(' '), 's-299999 prod rotated');
    assert.ok(writes.length < 200, `${writes.length} writes for 300,001 lines`);
    assert.ok(writes.slice(0, -1).every((w) => w.length >= 64 * 1024 && w.length < 64 * 1024 + 100), 'each write but the last is one piece of about 64 KiB');
    assert.ok(writes.every((w) => w.endsWith('\n')), 'no row is split between writes');
  });
});
