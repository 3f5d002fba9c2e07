// Loading a store reads only an entry's key (and reading a value only its versions) from the record
// text, without parsing the rest (src/stores/local/entry-text.ts). A shortcut may never give another
// answer than parsing would: the key read must be JSON's key, and a record that is not a whole entry
// gives null, so the store reports damage instead of filing a record under a wrong or empty key.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { entryKey, versionsJson } from '../../dist/stores/local/entry-text.js';

const AWKWARD_KEYS = ['api-key', '', 'quote " inside', 'back\\slash', 'ends with \\', '\\"', 'brackets [x] ]', 'tab\tnew\nline', 'ünïcödé ✓', '\u0000'];
const VERSIONS = [
  ['v1', ['CURRENT'], '2026-12-02T10:00:00.000Z', 'c2VjcmV0'],
  ['v"2', ['PREVIOUS'], '2026-12-01T10:00:00.000Z', 'a]b[c"d\\e'],
  ['v3', [], '2026-11-30T10:00:00.000Z', '[[['],
];

/** An entry as the store writes it: `["e", key, versions, retired, …]`. */
const entryText = (key, versions = VERSIONS) => JSON.stringify(['e', key, versions, [{ id: 'v0', retiredAt: 'x' }], null, null, []]);

test('the key and versions read without parsing are exactly what JSON.parse reads, for awkward keys and values', () => {
  for (const key of AWKWARD_KEYS) {
    const text = entryText(key);
    assert.equal(entryKey(text), key, JSON.stringify(key));
    assert.equal(versionsJson(text), JSON.stringify(VERSIONS), JSON.stringify(key));
    assert.deepEqual(JSON.parse(versionsJson(text)), JSON.parse(text)[2]);
  }
  assert.equal(versionsJson(entryText('k', [])), '[]');
  assert.equal(versionsJson(entryText('k', [[[[]]]])), '[[[[]]]]');
});

test('a record cut anywhere before its versions end gives null, never a shorter key or list', () => {
  for (const key of ['api-key', 'quote " inside', 'back\\slash']) {
    const text = entryText(key);
    const keyEnd = text.indexOf(',', JSON.stringify(['e', key]).length - 1);
    const versionsEnd = keyEnd + 1 + JSON.stringify(VERSIONS).length;
    for (let cut = 0; cut < text.length; cut++) {
      const head = text.slice(0, cut);
      const key_ = entryKey(head);
      assert.ok(key_ === null || (key_ === key && cut > keyEnd - 1), `key of ${JSON.stringify(head)}: ${JSON.stringify(key_)}`);
      const versions = versionsJson(head);
      assert.ok(versions === null || cut >= versionsEnd, `versions of ${JSON.stringify(head)}: ${versions}`);
      if (versions !== null) assert.equal(versions, JSON.stringify(VERSIONS));
    }
  }
});

test('text that is not an entry gives null: other record kinds, a key that is not a string, bad escapes, no versions list', () => {
  const notEntries = [
    '["m",{"evidenceAnchors":{},"confirmedRuns":[]}]',
    '["x","key",[],[],null,null,[]]',
    '["E","key",[],[],null,null,[]]',
    '{"e":"key","versions":[]}',
    '["e",7,[],[],null,null,[]]',
    '["e",null,[],[],null,null,[]]',
    '["e",["key"],[],[],null,null,[]]',
    '["e","bad escape \\x",[],[],null,null,[]]',
    '["e","bad escape \\u12",[],[],null,null,[]]',
    '',
  ];
  for (const text of notEntries) assert.equal(entryKey(text), null, text);
  // versionsJson runs only on entries already loaded by key: it checks the layout, not the key's escapes.
  const layoutErrors = notEntries.filter((text) => !text.includes('bad escape'));
  for (const text of [...layoutErrors, '["e","key"]', '["e","key" ,[]]', '["e","key",{}]', '["e","key",7]', '["e","key","[]"]', '["e","key"x[]]', '["e","key",{"a":[1]},[]]', '["e","key","x",[1]]', '["e","key",[["v1"]']) {
    assert.equal(versionsJson(text), null, text);
  }
});
