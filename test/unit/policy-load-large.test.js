// Large policy files are parsed in chunks of whole secrets (src/policy/chunks.ts). These tests
// check that chunking changes nothing a user sees: same policies, same problems, same positions.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadPolicies } from '../../dist/policy/load.js';
import { CHUNK_CHARS, chunkStarts, validateInChunks } from '../../dist/policy/chunks.js';

const tempDirs = [];
after(() => tempDirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

async function load(text) {
  const cwd = mkdtempSync(join(tmpdir(), 'keyshift-large-'));
  tempDirs.push(cwd);
  mkdirSync(join(cwd, 'policies'));
  writeFileSync(join(cwd, 'policies/p.yaml'), text);
  return loadPolicies('policies', { cwd });
}

/** The same text, with a `*` in a comment on line 1 so that it is parsed in one piece. */
const whole = (text) => text.replace('secrets:', 'secrets: # * parse me whole');

/** Seven lines per secret: secret i starts on line 2 + 7i. */
const plain = (name, { interval = '90d', window = '1h', path = `/var/ks/${name}.store`, key = '' } = {}) =>
  `  - name: ${name}\n    interval: ${interval}\n    fallbackWindow: ${window}\n    generator: { type: random, bytes: 32 }\n` +
  `    environments:\n      - name: prod\n        store: { type: local, path: ${path}${key} }\n`;

/** Every layout and mistake a secret can have, in turn, so each chunk holds a mix. */
function variant(i) {
  switch (i % 10) {
    case 0: return plain(`s-${i}`);
    case 1: return `  - { name: s-${i}, interval: 30d, fallbackWindow: 1h, generator: { type: random, length: 12 }, environments: [{ name: dev, store: { type: local, path: /var/ks/f.store, key: k-${i} } }] }\n\n`;
    case 2: return `${plain(`s-${i}`).replace('    interval', '    owner: "team x"\n    description: |\n      line one\n\n        - not an item\n    interval')}# a comment at column 0\n`;
    case 3: return plain(`s-${i}`).replace('{ type: random, bytes: 32 }', '{\n        type: command,\n        run: [./issue.sh, "a b"]\n      }');
    case 4: return plain(`s-${i}`, { interval: '0d' });
    case 5: return `${plain(`s-${i}`)}    colour: blue\n      # indented comment\n`;
    case 6: return plain(i >= 200 ? `s-${i - 200}` : `s-${i}`); // a duplicate name, chunks apart
    case 7: return plain(`s-${i}`, { path: '/var/ks/shared.store', key: ', key: shared' });
    case 8: return plain(`s-${i}`, { interval: '1d', window: '2d' });
    default: return i % 20 === 9 ? '  -\n' : '  - just-a-string\n';
  }
}

test('a large file in chunks gives exactly what one parse gives', async () => {
  let text = '# generated\n\nsecrets:   # all of them\n';
  for (let i = 0; i < 400; i++) text += variant(i);
  assert.ok(chunkStarts(text).length > 5, 'the file is cut into chunks');
  assert.ok(validateInChunks(text, 'p.yaml', '/'), 'no chunk fell back to a whole-file parse');
  assert.equal(chunkStarts(whole(text)), null);
  const chunked = await load(text);
  assert.ok(chunked.errors.length > 200 && chunked.policies.length > 200, 'the mix has problems and policies');
  assert.deepEqual(chunked, await load(whole(text)));
});

test('problems in later chunks point at the right lines, also across chunks', async () => {
  let text = 'secrets:\n';
  for (let i = 0; i < 300; i++) {
    if (i === 250) text += plain('s-5');
    else if (i === 280) text += plain(`s-${i}`, { path: '/var/ks/s-7.store', key: ', key: s-7' });
    else text += plain(`s-${i}`);
  }
  assert.ok(validateInChunks(text, 'p.yaml', '/') && chunkStarts(text).length > 3);
  const { errors, policies } = await load(text);
  assert.equal(policies.length, 299);
  assert.deepEqual(policies[299 - 1].source, { file: 'policies/p.yaml', line: 2 + 7 * 299, col: 5 });
  assert.deepEqual(policies[10].environments[0].source, { file: 'policies/p.yaml', line: 2 + 7 * 10 + 5, col: 9 });
  assert.deepEqual(errors, [
    {
      file: 'policies/p.yaml',
      line: 2 + 7 * 250,
      col: 11,
      message: `secrets[250].name: duplicate secret name "s-5"; first defined at policies/p.yaml:${2 + 7 * 5}; names must be unique across all policy files`,
    },
    {
      file: 'policies/p.yaml',
      line: 2 + 7 * 280 + 6,
      col: 16,
      message: `secrets[280].environments[0].store: uses the same store entry as secret "s-7" environment "prod" (policies/p.yaml:${2 + 7 * 7 + 6}); give it its own key or path`,
    },
  ]);
});

test('a YAML error in a later chunk is reported as a single parse reports it', async () => {
  let text = 'secrets:\n';
  for (let i = 0; i < 300; i++) text += i === 290 ? plain(`s-${i}`, { interval: ']' }) : plain(`s-${i}`);
  const { errors } = await load(text);
  assert.deepEqual(errors.map((e) => [e.line, e.col, e.message]), [[2 + 7 * 290 + 1, 15, 'invalid YAML: Unexpected flow-seq-end token in YAML stream']]);
  const unclosed = text.replace('  - name: s-150\n', '  - name: "s-150\n');
  assert.deepEqual(await load(unclosed), await load(whole(unclosed)));
});

test('CRLF files are cut too, with the same result', async () => {
  let text = '# windows\nsecrets:\n';
  for (let i = 0; i < 300; i++) text += variant(i);
  text = text.replaceAll('\n', '\r\n');
  assert.ok(validateInChunks(text, 'p.yaml', '/') && chunkStarts(text).length > 3);
  assert.deepEqual(await load(text), await load(whole(text)));
});

test('anchors and aliases in a large file still work (it is parsed whole)', async () => {
  let text = 'secrets:\n';
  // Under yaml's default limit of 100 aliases (more is refused as a YAML bomb).
  for (let i = 0; i < 300; i++) text += i % 5 ? plain(`s-${i}`) : plain(`s-${i}`).replace('generator: {', i ? 'generator: *g #' : 'generator: &g {');
  assert.equal(chunkStarts(text), null);
  const { errors, policies } = await load(text);
  assert.deepEqual(errors, []);
  assert.ok(policies.every((p) => p.generator.bytes === 32));
});

test('only plain `secrets:` lists are cut, at items of the list', () => {
  const items = (indent, n = 4) => Array.from({ length: n }, (_, i) => `${indent}- name: s-${i}\n${indent}  interval: 1d\n`).join('');
  assert.equal(chunkStarts(`secrets:\n${items('  ')}`, 10_000), null, 'small files are parsed whole');
  const at = (text, ...names) => [0, ...names.map((name) => text.lastIndexOf('\n', text.indexOf(`- name: ${name}`)) + 1)];
  const indented = `secrets:\n${items('  ')}`;
  assert.deepEqual(chunkStarts(indented, 20), at(indented, 's-1', 's-2', 's-3'));
  const flush = `# c\n\nsecrets: # c\n${items('')}`;
  assert.deepEqual(chunkStarts(flush, 40), at(flush, 's-1', 's-3'), 'items at column 0, about 40 characters a chunk');
  assert.equal(chunkStarts(`secrets: []\n${items('  ')}`, 20), null);
  assert.equal(chunkStarts(`%YAML 1.2\n---\nsecrets:\n${items('  ')}`, 20), null);
  assert.equal(chunkStarts(`secrets:\n${items('  ')}other: 1\n`, 20), null, 'another top-level key');
  assert.equal(chunkStarts(`secrets:\n${items('  ')}---\n${items('  ')}`, 20), null, 'a second document');
  assert.equal(chunkStarts(`secrets:\n${items('  ')} - name: x\n`, 20), null, 'an item at another indent');
  assert.equal(chunkStarts(`secrets:\n${items('  ')}\t- name: x\n`, 20), null, 'a tab');
  const crlf = indented.replaceAll('\n', '\r\n');
  assert.deepEqual(chunkStarts(crlf, 20), at(crlf, 's-1', 's-2', 's-3'), 'CRLF line breaks');
  assert.equal(chunkStarts(crlf.replace('\r\n', '\r'), 20), null, 'a bare CR');
  assert.equal(chunkStarts(`secrets:\n  name: x\n${items('  ')}`, 20), null, 'not a list');
  assert.ok(CHUNK_CHARS >= 4096);
});

test('where chunks are cut: the size bound and the chunk length are inclusive, a last line without a line break, lines that only look like items', () => {
  const items = (indent, n = 4) => Array.from({ length: n }, (_, i) => `${indent}- name: s-${i}\n${indent}  interval: 1d\n`).join('');
  const at = (text, ...names) => [0, ...names.map((name) => text.lastIndexOf('\n', text.indexOf(`- name: ${name}`)) + 1)];
  const indented = `secrets:\n${items('  ')}`; // items of 31 characters from offset 9
  assert.equal(chunkStarts(indented, indented.length), null, 'a file of exactly maxChars is parsed whole');
  assert.deepEqual(chunkStarts(indented, indented.length - 1), [0]);
  assert.deepEqual(chunkStarts(indented, 31), at(indented, 's-1', 's-2', 's-3'), 'a chunk of exactly maxChars is cut after');
  assert.deepEqual(chunkStarts(indented.slice(0, -1), 20), at(indented, 's-1', 's-2', 's-3'), 'no line break at the end');
  assert.deepEqual(chunkStarts(`${indented}  -`, 20), [...at(indented, 's-1', 's-2', 's-3'), indented.length], 'an empty item, last, without a line break');
  assert.equal(chunkStarts(`xsecrets:\n${items('  ')}`, 20), null, 'secrets: is the whole key');
  assert.equal(chunkStarts(`secrets:\n${'  # only comments\n'.repeat(4)}`, 20), null, 'no item at all');
  assert.equal(chunkStarts(`secrets:\n  a b: 1\n${items('  ')}`, 20), null, 'a key with a space, where items are');
  assert.equal(chunkStarts(`secrets:\n${items('  ')}  -x: 1\n`, 20), null, 'a scalar that starts with -, where items are');
});

test('a large file with YAML warnings is parsed whole: the warnings are reported, and the yaml package prints none itself', async () => {
  let text = 'secrets:\n';
  for (let i = 0; i < 300; i++) text += plain(`s-${i}`);
  // An unresolved tag is a YAML warning; a list as a map key makes toJS print a process warning unless logLevel is 'error'.
  const tagged = text.replace('  - name: s-150\n', '  - name: !custom s-150\n');
  const listKey = text.replace('  - name: s-150\n', '  - name: s-150\n    ? [a, b]\n    : c\n');
  assert.ok(chunkStarts(tagged) && chunkStarts(listKey));
  const printed = [];
  const onWarning = (warning) => printed.push(warning.message);
  process.on('warning', onWarning);
  try {
    const withTag = await load(tagged);
    assert.deepEqual(withTag.warnings.map((w) => [w.line, w.col, w.message.slice(0, 22)]), [[2 + 7 * 150, 11, 'YAML: Unresolved tag: ']]);
    assert.deepEqual(withTag, await load(whole(tagged)));
    const withListKey = await load(listKey);
    assert.equal(withListKey.errors.length, 1);
    assert.deepEqual(withListKey, await load(whole(listKey)));
    await new Promise((resolve) => setImmediate(resolve));
  } finally {
    process.off('warning', onWarning);
  }
  assert.deepEqual(printed, []);
});
