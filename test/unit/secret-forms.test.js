import { test } from 'node:test';
import assert from 'node:assert/strict';
import { redactForms, secretForms } from '../../dist/secret-forms.js';
import { SecretValue } from '../../dist/secret-value.js';

const VALUE = 'ks-canary"\\é/+?&=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef';
const bytes = Buffer.from(VALUE);
const b64 = bytes.toString('base64');
const wrap = (text, width, eol = '\n') => text.match(new RegExp(`.{1,${width}}`, 'g')).join(eol);

// Each spelling a deploy script might print, computed here rather than by the code under test.
const spellings = {
  raw: VALUE,
  base64: b64,
  'base64 without padding': b64.replace(/=+$/, ''),
  'echo | base64': Buffer.from(`${VALUE}\n`).toString('base64'),
  'echo | base64, wrapped at 76': wrap(Buffer.from(`${VALUE}\n`).toString('base64'), 76),
  'openssl base64, wrapped at 64': wrap(b64, 64),
  'base64 wrapped at 76 with CRLF': wrap(b64, 76, '\r\n'),
  base64url: b64.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, ''),
  'inside a longer base64 blob (offset 1)': Buffer.from(`X${VALUE}`).toString('base64'),
  'inside a longer base64 blob (offset 2)': Buffer.from(`XY${VALUE}`).toString('base64'),
  'inside a longer base64 blob (offset 0)': Buffer.from(`XYZ${VALUE}`).toString('base64'),
  hex: bytes.toString('hex'),
  HEX: bytes.toString('hex').toUpperCase(),
  'JSON string': JSON.stringify(VALUE),
  'JSON with \\u escapes': JSON.stringify(VALUE).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`),
  'URL-encoded': encodeURIComponent(VALUE),
};

const forms = secretForms(SecretValue.fromString(VALUE));

for (const [name, spelling] of Object.entries(spellings)) {
  test(`redacts the value spelled as ${name}`, () => {
    const text = `before\n${spelling}\nafter`;
    const out = redactForms(text, forms);
    assert.match(out, /\[redacted\]/);
    assert.ok(out.startsWith('before\n') && out.endsWith('\nafter'), out);
    // What may be left of the spelling is a group at either end (under 3 bytes of the value each):
    // no 8 characters in a row of it survive.
    for (let at = 0; at + 8 <= spelling.length; at++) {
      const run = spelling.slice(at, at + 8);
      assert.ok(!out.includes(run), `${name}: ${JSON.stringify(run)} is left in ${JSON.stringify(out)}`);
    }
  });
}

test('forms are longest first, and short encodings are not scrubbed', () => {
  for (let i = 1; i < forms.length; i++) assert.ok(forms[i - 1].length >= forms[i].length);
  const short = secretForms(SecretValue.fromString('abc'));
  assert.deepEqual(short, ['abc'], 'a 3-character value: only the value itself (its base64 is 4 characters)');
  assert.equal(redactForms('unrelated text', forms), 'unrelated text');
});

test('a capture cut inside a spelling loses the fragment', () => {
  const cut = `log line ${b64.slice(0, 30)}`;
  assert.equal(redactForms(cut, forms, true), 'log line [redacted]');
  assert.equal(redactForms(cut, forms, false), cut, 'not cut: a fragment is left alone');
  assert.equal(redactForms(`log line ${b64.slice(0, 3)}`, forms, true), `log line ${b64.slice(0, 3)}`, 'a 3-character end is too common to drop');
});
