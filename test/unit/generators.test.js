import { inspect } from 'node:util';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateValue } from '../../dist/generators/index.js';

const ctx = { cwd: process.cwd(), env: process.env };

test('random bytes in each encoding have the requested length', async () => {
  for (const [encoding, pattern, decode] of [
    ['base64', /^[A-Za-z0-9+/]+=*$/, (s) => Buffer.from(s, 'base64')],
    ['base64url', /^[A-Za-z0-9_-]+$/, (s) => Buffer.from(s, 'base64url')],
    ['hex', /^[0-9a-f]+$/, (s) => Buffer.from(s, 'hex')],
  ]) {
    for (const bytes of [16, 32, 1024]) {
      const value = (await generateValue({ type: 'random', bytes, encoding }, ctx)).reveal();
      assert.match(value, pattern);
      assert.equal(decode(value).length, bytes);
    }
  }
  const a = (await generateValue({ type: 'random', bytes: 32, encoding: 'hex' }, ctx)).reveal();
  const b = (await generateValue({ type: 'random', bytes: 32, encoding: 'hex' }, ctx)).reveal();
  assert.notEqual(a, b);
});

test('passwords use only the given characters, and all of them', async () => {
  const value = (await generateValue({ type: 'random', length: 4000, characters: 'abc!' }, ctx)).reveal();
  assert.equal(value.length, 4000);
  assert.deepEqual([...new Set(value)].sort(), ['!', 'a', 'b', 'c']);
});

test('a command issuer: trimmed stdout, and failures issue nothing and echo nothing', async () => {
  const ok = await generateValue({ type: 'command', run: ['node', '-e', 'console.log("  issued-value  ")'], timeoutMs: 10_000 }, ctx);
  assert.equal(ok.reveal(), 'issued-value');
  assert.equal(String(ok), '[redacted]');
  assert.equal(JSON.stringify({ ok }), '{"ok":"[redacted]"}');
  assert.equal(inspect({ ok }), '{ ok: [redacted] }', 'console.log and util.inspect print it redacted');
  const failures = [
    [['node', '-e', 'process.stdout.write("LEAKME"); process.exit(3)'], /exited with status 3; nothing was issued/],
    [['node', '-e', 'process.stdout.write("   ")'], /empty value/],
    [['node', '-e', 'setTimeout(() => {}, 10000)'], /timed out/],
    [['/nonexistent/issuer'], /could not start/],
  ];
  for (const [run, message] of failures) {
    await assert.rejects(generateValue({ type: 'command', run, timeoutMs: 500 }, ctx), (error) => {
      assert.equal(error.code, 'ERR_GENERATOR_FAILED');
      assert.match(error.message, message);
      assert.ok(!error.message.includes('LEAKME'));
      return true;
    });
  }
});
