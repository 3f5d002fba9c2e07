// Ways to damage a valid policy: edits of its structure (a key deleted, renamed, given a wrong
// type…), edits of its text (random bytes, truncation, indentation, YAML tokens) and whole files
// that are odd on their own (empty, a YAML bomb, deep nesting).
import fc from 'fast-check';
import { emit, validPolicySet, yamlStyle } from './policy-arbitraries.js';

const at = fc.nat({ max: 1_000_000 });

/** Values of the wrong type or out of range, as YAML can write them. */
const wrongValue = fc.oneof(
  fc.integer(),
  fc.constantFrom(0, -1, 1.5, 1e308, -1e-308, Number.MAX_SAFE_INTEGER + 2, 2 ** 64, Infinity, -Infinity, Number.NaN),
  fc.bigInt({ min: -(10n ** 40n), max: 10n ** 40n }),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.constantFrom('', ' ', '0d', '1.5d', '1d12h', '90', '90D', '-1d', '99999999999999999999w', '１d', ' 1d', 'null', '~', 'yes', 'on', '0x10', '1e3'),
  fc.constantFrom('2026-01-01', '2026-01-01T00:00:00Z', '.inf', '-.nan', '0o17', '=', '<<'),
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.string({ unit: fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c)), minLength: 1, maxLength: 3 }),
  fc.constantFrom('\u0000', 'a\nb', 'a\r\nb', '\u202eevil', '\u200b', '🔑'.repeat(30), 'x'.repeat(5000), 'KEYSHIFT_VALUE'),
  fc.array(fc.oneof(fc.string({ maxLength: 4 }), fc.integer(), fc.constant(null)), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 6 }), fc.oneof(fc.string({ maxLength: 4 }), fc.integer()), { maxKeys: 3 }),
);

/** A key that is almost right, or not a name at all. */
const otherKey = fc.oneof(
  fc.constantFrom('fallbackWindw', 'Name', 'interval ', 'secret', 'env', 'stores', 'run ', '__proto__', 'constructor', 'toString', '<<', '', ' ', '-', '?', 'KEYSHIFT_X', 'A\nB', 'a.b', 'a[0]'),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 12 }),
  fc.stringMatching(/^[a-zA-Z]{1,12}$/),
);

const structuralEdit = fc.oneof(
  fc.record({ kind: fc.constant('delete'), pick: at }),
  fc.record({ kind: fc.constant('rename'), pick: at, key: otherKey }),
  fc.record({ kind: fc.constant('replace'), pick: at, value: wrongValue }),
  fc.record({ kind: fc.constant('duplicate'), pick: at }),
  fc.record({ kind: fc.constant('add'), pick: at, key: otherKey, value: wrongValue }),
  fc.record({ kind: fc.constant('swap'), pick: at }),
);

const TOKENS = ['---', '...', '%YAML 1.1', '%TAG ! tag:x,2026:', '&a ', '*a', '*nope', '<<: *a', '!!binary ', '!custom ', '!!map ', '? ', '- ', ': ', '#', '"', "'", '{', '}', '[', ']', '|', '>-', '\t', '\u0000', '\uFEFF', '\r', '@', '`', '\u2028', '\u0085', ',', '%'];

const textEdit = fc.oneof(
  fc.record({ kind: fc.constant('flip'), pick: at, bytes: fc.uint8Array({ minLength: 1, maxLength: 4 }) }),
  fc.record({ kind: fc.constant('insert'), pick: at, bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
  fc.record({ kind: fc.constant('cut'), pick: at, length: fc.integer({ min: 1, max: 40 }) }),
  fc.record({ kind: fc.constant('truncate'), pick: at }),
  fc.record({ kind: fc.constant('indent'), pick: at, delta: fc.integer({ min: -4, max: 4 }), tab: fc.boolean() }),
  fc.record({ kind: fc.constant('dupLine'), pick: at }),
  fc.record({ kind: fc.constant('delLine'), pick: at }),
  fc.record({ kind: fc.constant('swapLines'), pick: at }),
  fc.record({ kind: fc.constant('token'), pick: at, token: fc.constantFrom(...TOKENS), atEnd: fc.boolean() }),
);

/** A valid policy set with 1–3 structural edits in one of its files; the text is then written anew. */
export const structurallyMutated = fc
  .record({ base: validPolicySet, edits: fc.array(structuralEdit, { minLength: 1, maxLength: 3 }), style: yamlStyle, file: at })
  .map(({ base, edits, style, file }) => {
    const names = Object.keys(base.files);
    const target = names[file % names.length];
    const tree = structuredClone(treeOf(base, target));
    const root = { doc: tree };
    for (const edit of edits) applyStructural(root, edit);
    return { files: { ...base.files, [target]: emit(root.doc, style) }, aws: base.aws, edits };
  });

/** A valid policy set with 1–4 edits of one file's bytes. */
export const textuallyMutated = fc
  .record({ base: validPolicySet, edits: fc.array(textEdit, { minLength: 1, maxLength: 4 }), file: at })
  .map(({ base, edits, file }) => {
    const names = Object.keys(base.files);
    const target = names[file % names.length];
    let bytes = Buffer.from(base.files[target]);
    for (const edit of edits) bytes = applyText(bytes, edit);
    return { files: { ...base.files, [target]: bytes }, aws: base.aws, edits };
  });

/** Files that are odd as a whole. */
export const oddFile = fc.oneof(
  fc.constantFrom('', ' ', '\n\n', '# only a comment\n', '~', 'null', '[]', '{}', '42', '"secrets"', 'secrets:', 'secrets: []', 'secrets: ~', 'secrets: {}', 'secrets: 1',
    '\uFEFFsecrets: []\n', 'secrets:\n  - \n', 'secrets:\n  - ~\n', '---\n---\n', '--- |\n  text\n', 'secrets: !!binary aGVsbG8=\n', 'secrets: &a [*a]\n', 'secrets: *a\n',
    '- secrets: []\n', 'secrets: [{}]\n', 'secrets:\n  - name: a\n  - name: a\n', '%YAML 1.1\n---\nsecrets: []\n', '%YAML 9.9\n---\nsecrets: []\n', 'secrets: [\n', '\u0000', '\t', 'secrets:\n\t- name: a\n'),
  fc.integer({ min: 1, max: 4000 }).map((depth) => `secrets: ${'['.repeat(depth)}${']'.repeat(depth)}\n`),
  fc.integer({ min: 1, max: 1500 }).map((depth) => `secrets:\n${Array.from({ length: depth }, (_, i) => `${' '.repeat(2 * i + 2)}- `).join('\n')}x\n`),
  fc.integer({ min: 2, max: 9 }).map((levels) => {
    let text = 'l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n';
    for (let i = 1; i <= levels; i++) text += `l${i}: &l${i} [${Array(10).fill(`*l${i - 1}`).join(', ')}]\n`;
    return `${text}secrets: *l${levels}\n`;
  }),
  fc.integer({ min: 1, max: 200_000 }).map((n) => `secrets:\n  - name: ${'a'.repeat(n)}\n`),
  fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.from(bytes)),
);

/** A policies directory (or `-p` target) in one of the shapes docs/policies.md describes. */
export const directoryCase = fc.oneof(
  fc.record({ base: validPolicySet, junk: oddFile }).map(({ base, junk }) => ({
    // Not loaded: hidden files (a hidden dangling link too), other extensions, subfolders, folders named *.yaml.
    files: { ...base.files, 'policies/.draft.yaml': junk, 'policies/README.md': junk, 'policies/aws/x.yaml': junk, 'policies/dir.yaml/y.yaml': junk },
    symlinks: [['policies/.missing.yaml', 'nowhere.yaml']],
    aws: base.aws,
    expect: { secrets: base.secrets.length, files: Object.keys(base.files).length },
  })),
  // A policy file whose link points nowhere is an error naming it, never left out in silence.
  validPolicySet.map((base) => ({ files: base.files, symlinks: [['policies/missing.yaml', 'nowhere.yaml']], linked: { 'policies/missing.yaml': '' }, aws: base.aws })),
  fc.record({ base: validPolicySet, junk: oddFile }).map(({ base, junk }) => ({ files: { ...base.files, 'policies/zz-extra.yml': junk }, aws: base.aws })),
  validPolicySet.map((base) => ({ files: { ...base.files, ...renamed(base.files, 'policies/copy-') }, aws: base.aws })),
  fc.constant({ files: {}, dirs: ['policies'] }),
  fc.constant({ files: { 'policies/README.md': 'no policy here' } }),
  fc.constant({ files: {}, policiesArg: 'nope.yaml' }),
  fc.constant({ files: {}, policiesArg: 'missing/dir/' }),
  fc.record({ base: validPolicySet, ext: fc.constantFrom('policy.txt', 'policy', 'p.YAML', 'ünï €.yaml') }).map(({ base, ext }) => {
    // -p names one file: it is loaded whatever its extension.
    const [first] = Object.values(base.files);
    const count = base.tree.secrets.filter((_, i) => i % Object.keys(base.files).length === 0).length;
    return { files: { [`conf/${ext}`]: first }, policiesArg: `conf/${ext}`, aws: base.aws, expect: { secrets: count, files: 1 } };
  }),
  oddFile.map((junk) => ({ files: { 'policies/only.yaml': junk } })),
);

function renamed(files, prefix) {
  return Object.fromEntries(Object.entries(files).map(([path, text]) => [path.replace('policies/', prefix), text]));
}

function treeOf(base, file) {
  const names = Object.keys(base.files);
  const index = names.indexOf(file);
  return { secrets: base.tree.secrets.filter((_, i) => i % names.length === index) };
}

/** Every path in `root` (a holder object whose `doc` is the file), with what is there. */
function pathsOf(root) {
  const all = [];
  const walk = (value, path) => {
    all.push({ path, value });
    if (Array.isArray(value)) value.forEach((item, i) => walk(item, [...path, i]));
    else if (value !== null && typeof value === 'object') for (const key of Object.keys(value)) walk(value[key], [...path, key]);
  };
  walk(root.doc, ['doc']);
  return all;
}

function parentOf(root, path) {
  return path.slice(0, -1).reduce((node, key) => node[key], root);
}

function setKey(object, key, value) {
  Object.defineProperty(object, key, { value, enumerable: true, writable: true, configurable: true });
}

function applyStructural(root, edit) {
  const all = pathsOf(root);
  const inside = all.filter((entry) => entry.path.length > 1);
  const choose = (list) => (list.length === 0 ? null : list[edit.pick % list.length]);
  const mapKeys = inside.filter((entry) => typeof entry.path.at(-1) === 'string');
  const listItems = inside.filter((entry) => typeof entry.path.at(-1) === 'number');
  if (edit.kind === 'delete') {
    const entry = choose(inside);
    if (!entry) return;
    const parent = parentOf(root, entry.path);
    const key = entry.path.at(-1);
    if (Array.isArray(parent)) parent.splice(key, 1);
    else delete parent[key];
  } else if (edit.kind === 'rename') {
    const entry = choose(mapKeys);
    if (!entry) return;
    const parent = parentOf(root, entry.path);
    delete parent[entry.path.at(-1)];
    setKey(parent, edit.key, entry.value);
  } else if (edit.kind === 'replace') {
    const entry = choose(inside);
    if (entry) parentOf(root, entry.path)[entry.path.at(-1)] = edit.value;
  } else if (edit.kind === 'duplicate') {
    const entry = choose(listItems);
    if (entry) parentOf(root, entry.path).splice(entry.path.at(-1) + 1, 0, structuredClone(entry.value));
  } else if (edit.kind === 'add') {
    const maps = all.filter((entry) => entry.value !== null && typeof entry.value === 'object' && !Array.isArray(entry.value));
    const entry = choose(maps);
    if (entry) setKey(entry.value, edit.key, edit.value);
  } else if (edit.kind === 'swap') {
    const entry = choose(listItems);
    if (!entry) return;
    const list = parentOf(root, entry.path);
    const i = entry.path.at(-1);
    const j = (i + 1) % list.length;
    [list[i], list[j]] = [list[j], list[i]];
  }
}

function applyText(bytes, edit) {
  const offset = edit.pick % (bytes.length + 1);
  if (edit.kind === 'flip') {
    const copy = Buffer.from(bytes);
    edit.bytes.forEach((b, i) => {
      if (offset + i < copy.length) copy[offset + i] = b;
    });
    return copy;
  }
  if (edit.kind === 'insert') return Buffer.concat([bytes.subarray(0, offset), Buffer.from(edit.bytes), bytes.subarray(offset)]);
  if (edit.kind === 'cut') return Buffer.concat([bytes.subarray(0, offset), bytes.subarray(offset + edit.length)]);
  if (edit.kind === 'truncate') return bytes.subarray(0, offset);
  const lines = bytes.toString('latin1').split('\n');
  const line = edit.pick % lines.length;
  if (edit.kind === 'indent') {
    const text = lines[line];
    const stripped = text.replace(/^ */, '');
    const indent = Math.max(0, text.length - stripped.length + edit.delta);
    lines[line] = (edit.tab ? '\t' : '') + ' '.repeat(indent) + stripped;
  } else if (edit.kind === 'dupLine') {
    lines.splice(line, 0, lines[line]);
  } else if (edit.kind === 'delLine') {
    lines.splice(line, 1);
  } else if (edit.kind === 'swapLines' && lines.length > 1) {
    const other = (line + 1) % lines.length;
    [lines[line], lines[other]] = [lines[other], lines[line]];
  } else if (edit.kind === 'token') {
    const token = Buffer.from(edit.token, 'utf8').toString('latin1');
    lines[line] = edit.atEnd ? `${lines[line]} ${token}` : `${token}${lines[line]}`;
  }
  return Buffer.from(lines.join('\n'), 'latin1');
}
