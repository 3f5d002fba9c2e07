// The one-line policy problems a user reads (issue-messages.ts, parse-yaml.ts, yaml-positions.ts),
// word for word, with their line and column: each case is a real YAML file in a temp dir.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { loadPolicies } from '../../dist/policy/load.js';

const tempDirs = [];
after(() => tempDirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

/** Loads `text` as p.yaml; problems as `line:col message` (warnings prefixed `W `). */
async function problems(text) {
  const cwd = mkdtempSync(join(tmpdir(), 'keyshift-messages-'));
  tempDirs.push(cwd);
  mkdirSync(dirname(join(cwd, 'p.yaml')), { recursive: true });
  writeFileSync(join(cwd, 'p.yaml'), text);
  const loaded = await loadPolicies('p.yaml', { cwd });
  for (const problem of [...loaded.errors, ...loaded.warnings]) assert.equal(problem.file, 'p.yaml');
  return [
    ...loaded.errors.map((e) => `${e.line}:${e.col} ${e.message}`),
    ...loaded.warnings.map((w) => `W ${w.line}:${w.col} ${w.message}`),
  ];
}

/** A valid secret; `extra` lines go after fallbackWindow (line 5 on), `store` is the dev store. */
function secret({ extra = [], generator = '{ type: random, bytes: 32 }', store = '{ type: local, path: .keyshift/dev.store }' } = {}) {
  return `${[
    'secrets:', //                      1
    '  - name: api-key', //             2
    '    interval: 90d', //             3
    '    fallbackWindow: 48h', //       4
    ...extra.map((line) => `    ${line}`),
    `    generator: ${generator}`,
    '    environments:',
    '      - name: dev',
    `        store: ${store}`,
  ].join('\n')}\n`;
}

const STORE_TYPES = 'local, aws-secrets-manager, aws-kms, dotenv, k8s-secret, vault-kv2, command, plugin';

// [title, file text, every expected problem]
const cases = [
  // What a value is called when it has the wrong type (describeValue), and what was expected (describeType).
  ['a number where true/false is expected', secret({ extra: ['sharedValue: 3'] }), ['5:18 secrets[0].sharedValue: expected true or false, got a number']],
  ['a decimal number', secret({ extra: ['sharedValue: 1.5'] }), ['5:18 secrets[0].sharedValue: expected true or false, got a decimal number']],
  ['an empty value', secret({ extra: ['sharedValue: ~'] }), ['5:18 secrets[0].sharedValue: expected true or false, got an empty value']],
  ['a map', secret({ extra: ['sharedValue: { a: 1 }'] }), ['5:18 secrets[0].sharedValue: expected true or false, got a map']],
  ['a list', secret({ extra: ['sharedValue: [a]'] }), ['5:18 secrets[0].sharedValue: expected true or false, got a list']],
  ['a string', secret({ extra: ['sharedValue: "yes"'] }), ['5:18 secrets[0].sharedValue: expected true or false, got a string']],
  ['true/false where a string is expected, with the example', secret({ extra: ['owner: true'] }), ['5:12 secrets[0].owner: expected a string, got true/false; e.g. owner: team-security']],
  ['a map expected', secret({ store: '3' }), ['8:16 secrets[0].environments[0].store: expected a map, got a number; e.g. store: { type: local, path: .keyshift/dev.store }']],
  ['a map expected, no example for the field', secret({ store: '{ type: local, path: a, lock: 3 }' }), ['8:46 secrets[0].environments[0].store.lock: expected a map, got a number']],
  ['a number expected', secret({ generator: '{ type: random, bytes: "32" }' }), ['5:39 secrets[0].generator.bytes: expected a number, got a string; e.g. bytes: 32']],
  ['a list expected', secret({ extra: ['controls: SOC2'] }), ['5:15 secrets[0].controls: expected a list, got a string; e.g. controls: [SOC2-CC6.1, ISO27001-A.8.24]']],
  // The example each field's message carries (EXAMPLES, exampleFor).
  ['description example', secret({ extra: ['description: 3'] }), ['5:18 secrets[0].description: expected a string, got a number; e.g. description: signs outgoing webhooks']],
  ['password length example', secret({ generator: '{ type: random, length: "x" }' }), ['5:40 secrets[0].generator.length: expected a number, got a string; e.g. length: 32']],
  ['chars example', secret({ generator: '{ type: random, length: 12, chars: 3 }' }), ['5:51 secrets[0].generator.chars: expected a string, got a number; e.g. chars: abcdefgh23456789']],
  ['run example', secret({ generator: '{ type: command, run: ./x.sh }' }), ['5:38 secrets[0].generator.run: expected a list, got a string; e.g. run: [./issue-key.sh, --json]']],
  ['timeout example', secret({ generator: '{ type: command, run: [./x.sh], timeout: 30 }' }), ['5:57 secrets[0].generator.timeout: expected a string, got a number; e.g. timeout: 30s']],
  ['store key example', secret({ store: '{ type: local, path: a, key: 3 }' }), ['8:45 secrets[0].environments[0].store.key: expected a string, got a number; e.g. key: webhook-signing-key']],
  ['store path example', secret({ store: '{ type: local, path: 3 }' }), ['8:37 secrets[0].environments[0].store.path: expected a string, got a number; e.g. path: .keyshift/dev.store']],
  ['secret name example', secret().replace('name: api-key', 'name: 3'), ['2:11 secrets[0].name: expected a string, got a number; e.g. name: webhook-signing-key']],
  ['environment name example', secret().replace('name: dev', 'name: 3'), ['7:15 secrets[0].environments[0].name: expected a string, got a number; e.g. name: dev']],
  ['environments example', secret().replace('    environments:\n      - name: dev\n        store: { type: local, path: .keyshift/dev.store }\n', '    environments: dev\n'),
    ['6:19 secrets[0].environments: expected a list, got a string; e.g. environments: [{ name: dev, store: { type: local, path: .keyshift/dev.store } }]']],
  ['encoding has no example', secret({ generator: '{ type: random, bytes: 32, encoding: [hex] }' }), ['5:53 secrets[0].generator.encoding: must be one of base64, base64url, hex']],
  // Missing fields: where the message points, and how to add the field (addHint).
  ['missing fields with their examples',
    'secrets:\n  - interval: 90d\n    fallbackWindow: 48h\n    generator: { type: command }\n    environments:\n      - store: { type: local }\n', [
      '2:5 secrets[0].name: missing; add it, e.g. name: webhook-signing-key',
      '4:16 secrets[0].generator.run: missing; add it, e.g. run: [./issue-key.sh, --json]',
      '6:9 secrets[0].environments[0].name: missing; add it, e.g. name: dev',
      '6:16 secrets[0].environments[0].store.path: missing; add it, e.g. path: .keyshift/dev.store',
    ]],
  ['missing interval and fallback window', 'secrets:\n  - name: a\n    generator: { type: random, bytes: 32 }\n    environments: [{ name: dev, store: { type: local, path: a } }]\n', [
    '2:5 secrets[0].interval: missing; add it, e.g. interval: 90d',
    '2:5 secrets[0].fallbackWindow: missing; add it, e.g. fallbackWindow: 48h',
  ]],
  ['a missing field without an example', secret({ store: '{ type: aws-secrets-manager }' }), ['8:16 secrets[0].environments[0].store.secretId: missing; add it (see docs/policies.md)']],
  ['missing signing key', 'signing: {}\nsecrets: []\n', [
    '1:10 signing.key: missing; add it, e.g. key: keys/evidence-signing.pem',
    '2:10 secrets: is empty; add at least one secret or delete the file',
  ]],
  ['missing reencrypt fields: a table\'s key and the database path are their own kind of key and path',
    secret({ extra: ['reencrypt: { database: { type: sqlite }, tables: [{ table: users, columns: [email] }] }'] }), [
      '5:28 secrets[0].reencrypt.database.path: missing; add it, e.g. path: data/app.db',
      '5:55 secrets[0].reencrypt.tables[0].key: missing; add it, e.g. key: id',
    ]],
  ['a postgres database without its url: not offered the sqlite path\'s example',
    secret({ extra: ['reencrypt: { database: { type: postgres }, tables: [{ table: users, key: id, columns: [email] }] }'] }), [
      '5:28 secrets[0].reencrypt.database.url: missing; add it (see docs/policies.md)',
    ]],
  ['missing secrets list', 'signing: { key: k.pem }\n', ['1:1 secrets: missing; a policy file holds a "secrets:" list, e.g. secrets: [{ name: api-key, interval: 90d, ... }]']],
  // The type of a store or generator (a discriminated union).
  ['store type missing', secret({ store: '{ path: a }' }), [`8:16 secrets[0].environments[0].store.type: missing; use one of: ${STORE_TYPES}`]],
  ['store type not a string', secret({ store: '{ type: 3, path: a }' }), [`8:24 secrets[0].environments[0].store.type: expected one of: ${STORE_TYPES}, got a number`]],
  ['store type unknown', secret({ store: '{ type: vault, path: a }' }), [`8:24 secrets[0].environments[0].store.type: unknown type "vault"; use one of: ${STORE_TYPES}`]],
  ['generator type unknown', secret({ generator: '{ type: randm, bytes: 32 }' }), ['5:24 secrets[0].generator.type: unknown type "randm"; use one of: random, command, data-key']],
  // Unknown keys: the key itself is pointed at and quoted, a long one shortened.
  ['a long unknown key is shortened', secret({ extra: [`${'k'.repeat(60)}: 1`] }), [
    `5:5 secrets[0]: unknown key "${'k'.repeat(37)}..."; allowed keys: name, owner, description, interval, fallbackWindow, generator, environments, revoke, decommissionCheck, sharedValue, exportAs, notify, controls, validate, reencrypt`,
  ]],
  ['a 40-character unknown key is kept whole', secret({ store: `{ type: local, path: a, ${'k'.repeat(40)}: 1 }` }), [
    `8:40 secrets[0].environments[0].store: unknown key "${'k'.repeat(40)}"; allowed keys: type, path, key, lock`,
  ]],
  ['a 41-character unknown key is shortened', secret({ store: `{ type: local, path: a, ${'k'.repeat(41)}: 1 }` }), [
    `8:40 secrets[0].environments[0].store: unknown key "${'k'.repeat(37)}..."; allowed keys: type, path, key, lock`,
  ]],
  ['an unknown key at the top level has no field prefix', 'secrets: []\nsecret: 1\n', [
    '1:10 secrets: is empty; add at least one secret or delete the file',
    '2:1 unknown key "secret"; allowed keys: secrets, signing',
  ]],
  ['a number key is found where it is written', secret({ extra: ['1: x'] }), [
    '5:5 secrets[0]: unknown key "1"; allowed keys: name, owner, description, interval, fallbackWindow, generator, environments, revoke, decommissionCheck, sharedValue, exportAs, notify, controls, validate, reencrypt',
  ]],
  ['a list as a key: the message points at its map', secret({ extra: ['? [a, b]', ': 1'] }), [
    '2:5 secrets[0]: unknown key "[ a, b ]"; allowed keys: name, owner, description, interval, fallbackWindow, generator, environments, revoke, decommissionCheck, sharedValue, exportAs, notify, controls, validate, reencrypt',
  ]],
  ['items of the wrong type in lists', 'signing: 3\nsecrets:\n  - ~\n  - name: x\n    environments: [3, { name: dev }]\n', [
    '1:10 signing: expected a map, got a number',
    '3:5 secrets[0]: expected a map, got an empty value',
    '4:5 secrets[1].interval: missing; add it, e.g. interval: 90d',
    '4:5 secrets[1].fallbackWindow: missing; add it, e.g. fallbackWindow: 48h',
    '5:20 secrets[1].environments[0]: expected a map, got a number',
    '5:23 secrets[1].environments[1].store: missing; add it, e.g. store: { type: local, path: .keyshift/dev.store }',
  ]],
  // A key that is not a plain name is quoted in the field path, so the message stays one line.
  ['keys that are not plain names are quoted in the path',
    secret({ store: '{ type: aws-secrets-manager, secretId: x, tags: { "bad key": x, "c\\u0085d": y, "e\\u2028f": true, "$ok_-1": z } }' }), [
      '8:77 secrets[0].environments[0].store.tags["bad key"]: is not a tag keyshift writes; use rotated-by, rotated-at, rotation-ticket',
      '8:92 secrets[0].environments[0].store.tags["c\\u0085d"]: is not a tag keyshift writes; use rotated-by, rotated-at, rotation-ticket',
      '8:107 secrets[0].environments[0].store.tags["e\\u2028f"]: is not a tag keyshift writes; use rotated-by, rotated-at, rotation-ticket',
      '8:123 secrets[0].environments[0].store.tags.$ok_-1: is not a tag keyshift writes; use rotated-by, rotated-at, rotation-ticket',
    ]],
  // The file as YAML (parse-yaml.ts).
  ['a second document', `${secret()}---\nfoo: 1\n`, ['10:1 only one YAML document per policy file; move this document into its own file']],
  ['a top-level string', 'hello\n', ['1:1 expected a map with a "secrets:" list, got a string; start the file with secrets:']],
  ['a top-level number', '  42\n', ['1:3 expected a map with a "secrets:" list, got a number; start the file with secrets:']],
  ['a document holding only null', '~\n', ['1:1 the file is empty; a policy file holds a "secrets:" list (see docs/policies.md)']],
  ['every duplicate key is reported', 'secrets: 1\nsecrets: 2\nsigning: 1\nsigning: 2\n', [
    '2:1 invalid YAML: Map keys must be unique',
    '4:1 invalid YAML: Map keys must be unique',
  ]],
  ['a bad escape and the duplicate key after it are both reported', 'a: "x\\q"\na: 2\n', [
    '1:6 invalid YAML: Invalid escape sequence \\q',
    '2:1 invalid YAML: Map keys must be unique',
  ]],
  // Errors after which the document still parses as written: each is reported with the later ones.
  ['an empty alias and the duplicate key after it are both reported', 'secrets: *\nsecrets: 2\n', [
    '1:10 invalid YAML: Alias cannot be an empty string',
    '2:1 invalid YAML: Map keys must be unique',
  ]],
  ['a key over 1024 characters and the duplicate key after it are both reported', `${'k'.repeat(1030)}: 1\nsecrets: 1\nsecrets: 2\n`, [
    '1:1 invalid YAML: The : indicator must be at most 1024 chars after the start of an implicit block mapping key',
    '3:1 invalid YAML: Map keys must be unique',
  ]],
  ['an undeclared tag handle and the duplicate key after it are both reported', 'secrets: !e!list x\nsecrets: 2\n', [
    '1:10 invalid YAML: Could not resolve tag: !e!list',
    '2:1 invalid YAML: Map keys must be unique',
  ]],
  ['after a structural error only the first error counts', 'secrets: [\n  a: b: c\nx: [\n', [
    '2:6 invalid YAML: Block collections are not allowed within flow collections',
  ]],
  // The parser lists this document's errors out of order (the missing `---` after the directive
  // last): the first by position is the cause, and the only one kept.
  ['a directive without its --- line: the earliest error counts, though the parser reports it last', '%YAML 1.2\nm: `x\nq:: 1\n', [
    '2:1 invalid YAML: Missing directives-end/doc-start indicator line',
  ]],
  ['an alias to a missing anchor', 'secrets: *nope\n', ['1:1 invalid YAML: Unresolved alias (the anchor must be set before the alias): nope']],
  ['an alias bomb is refused, not expanded', [
    'a: &a [1, 2]',
    ...['b', 'c', 'd', 'e'].map((name, i) => `${name}: &${name} [${Array(9).fill(`*${'abcd'[i]}`).join(', ')}]`),
    `f: [${Array(9).fill('*e').join(', ')}]`,
  ].join('\n'), ['1:1 invalid YAML: Excessive alias count indicates a resource exhaustion attack']],
  ['a YAML warning is a warning, quoted', 'secrets: !foo x\n', ['1:15 secrets: expected a list, got a string', 'W 1:10 YAML: Unresolved tag: !foo']],
];

for (const [title, text, expected] of cases) {
  test(`policy problem: ${title}`, async () => {
    assert.deepEqual(await problems(text), expected);
  });
}
