import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadPolicies } from '../../dist/policy/load.js';
import { policyJsonSchema } from '../../dist/policy/json-schema.js';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const tempDirs = [];
after(() => tempDirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

/** Writes `files` (relative path → text) under a fresh temp dir and loads `target` from there. */
async function load(files, target = 'policies') {
  const cwd = mkdtempSync(join(tmpdir(), 'keyshift-policy-'));
  tempDirs.push(cwd);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(cwd, path)), { recursive: true });
    writeFileSync(join(cwd, path), text);
  }
  return { cwd, ...(await loadPolicies(target, { cwd })) };
}

/** A valid one-secret file; `replace` swaps whole lines by number (1-based) for the bad cases. */
function policy(replace = {}) {
  const lines = [
    'secrets:', //                                                 1
    '  - name: api-key', //                                        2
    '    interval: 90d', //                                        3
    '    fallbackWindow: 48h', //                                  4
    '    generator: { type: random, bytes: 32 }', //               5
    '    environments:', //                                        6
    '      - name: dev', //                                        7
    '        store: { type: local, path: .keyshift/dev.store }', // 8
  ];
  for (const [number, text] of Object.entries(replace)) lines[Number(number) - 1] = text;
  return `${lines.filter((line) => line !== null).join('\n')}\n`;
}

const FILE = 'policies/p.yaml';

// Each case: the file's text and every expected error as [line, col, message fragment].
const badPolicies = [
  ['YAML syntax error', policy({ 3: '    interval: ]' }), [[3, 15, 'invalid YAML: Unexpected flow-seq-end']]],
  ['YAML duplicate key', policy({ 4: '    interval: 30d' }), [[4, 5, 'invalid YAML: Map keys must be unique']]],
  ['empty file', '', [[1, 1, 'the file is empty; a policy file holds a "secrets:" list']]],
  ['comments only', '# nothing here\n', [[1, 1, 'the file is empty']]],
  ['no secrets list', 'secret: []\n', [
    [1, 1, 'secrets: missing; a policy file holds a "secrets:" list'],
    [1, 1, 'unknown key "secret"; allowed keys: secrets, signing'],
  ]],
  ['secrets is not a list', 'secrets: api-key\n', [[1, 10, 'secrets: expected a list, got a string']]],
  ['empty secrets list', 'secrets: []\n', [[1, 10, 'secrets: is empty; add at least one secret']]],
  ['top level is a list', '- name: api-key\n', [[1, 1, 'expected a map with a "secrets:" list, got a list']]],
  ['unknown key in an environment', policy({ 8: '        stor: { type: local, path: x }' }), [
    [7, 9, 'secrets[0].environments[0].store: missing; add it, e.g. store: { type: local'],
    [8, 9, 'secrets[0].environments[0]: unknown key "stor"; allowed keys: name, store'],
  ]],
  ['misspelt secret key', policy({ 4: '    fallbackWindw: 48h' }), [
    [2, 5, 'secrets[0].fallbackWindow: missing; add it, e.g. fallbackWindow: 48h'],
    [4, 5, 'secrets[0]: unknown key "fallbackWindw"; allowed keys: name, owner, description, interval, fallbackWindow, generator, environments'],
  ]],
  ['unknown key in a store', policy({ 8: '        store: { type: local, path: x, region: eu }' }), [
    [8, 40, 'secrets[0].environments[0].store: unknown key "region"; allowed keys: type, path, key'],
  ]],
  ['wrong type', policy({ 3: '    interval: 90' }), [[3, 15, 'secrets[0].interval: expected a string, got a number; e.g. interval: 90d']]],
  ['owner is a list', policy({ 2: '  - name: api-key\n    owner: [a, b]' }), [[3, 12, 'secrets[0].owner: expected a string, got a list']]],
  ['bad duration', policy({ 4: '    fallbackWindow: 48x' }), [
    [4, 21, 'secrets[0].fallbackWindow: "48x" is not a duration; use a positive whole number with a unit s, m, h, d or w (e.g. 48h)'],
  ]],
  ['zero duration', policy({ 3: '    interval: 0d' }), [[3, 15, 'secrets[0].interval: "0d" is zero; use a positive whole number']]],
  ['decimal duration', policy({ 3: '    interval: 1.5d' }), [[3, 15, 'secrets[0].interval: "1.5d" is not a duration']]],
  ['fallback window longer than the interval', policy({ 3: '    interval: 1d', 4: '    fallbackWindow: 48h' }), [
    [4, 21, 'secrets[0].fallbackWindow: 48h is longer than the interval 1d; the old value must be revoked before the next rotation, so use at most 1d (or a longer interval)'],
  ]],
  ['duplicate environment names', policy({ 8: '        store: { type: local, path: a.store }\n      - name: dev\n        store: { type: local, path: b.store }' }), [
    [9, 15, 'secrets[0].environments[1].name: duplicate environment "dev" (first at line 7)'],
  ]],
  ['missing generator', policy({ 5: null }), [[2, 5, 'secrets[0].generator: missing; add it, e.g. generator: { type: random, bytes: 32 }']]],
  ['missing store', policy({ 8: null }), [[7, 9, 'secrets[0].environments[0].store: missing']]],
  ['missing environments', policy({ 6: null, 7: null, 8: null }), [[2, 5, 'secrets[0].environments: missing; add it']]],
  ['empty environments', policy({ 6: '    environments: []', 7: null, 8: null }), [[6, 19, 'secrets[0].environments: is empty; add at least one environment']]],
  ['bytes and length', policy({ 5: '    generator: { type: random, bytes: 32, length: 24 }' }), [
    [5, 16, 'secrets[0].generator: use either bytes (random key material) or length (a password), not both'],
  ]],
  ['neither bytes nor length', policy({ 5: '    generator: { type: random }' }), [[5, 16, 'secrets[0].generator: a random generator needs bytes']]],
  ['bytes out of range', policy({ 5: '    generator: { type: random, bytes: 8 }' }), [[5, 39, 'secrets[0].generator.bytes: must be a whole number from 16 to 1024']]],
  ['unknown encoding', policy({ 5: '    generator: { type: random, bytes: 32, encoding: base32 }' }), [
    [5, 53, 'secrets[0].generator.encoding: must be one of base64, base64url, hex'],
  ]],
  ['charset with bytes', policy({ 5: '    generator: { type: random, bytes: 32, charset: hex }' }), [[5, 52, 'secrets[0].generator.charset: applies only to passwords']]],
  ['one distinct character', policy({ 5: '    generator: { type: random, length: 12, chars: aaaa }' }), [
    [5, 51, 'secrets[0].generator.chars: needs at least 2 distinct characters'],
  ]],
  ['unknown generator type', policy({ 5: '    generator: { type: vault }' }), [[5, 24, 'secrets[0].generator.type: unknown type "vault"; use one of: random, command']]],
  ['empty command', policy({ 5: '    generator: { type: command, run: [] }' }), [[5, 38, 'secrets[0].generator.run: needs at least the program to run']]],
  ['zero command timeout', policy({ 5: '    generator: { type: command, run: [./issue.sh], timeout: 0s }' }), [
    [5, 61, 'secrets[0].generator.timeout: "0s" is zero'],
  ]],
  ['unknown store type', policy({ 8: '        store: { type: s3, path: x }' }), [[8, 24, 'secrets[0].environments[0].store.type: unknown type "s3"; use one of: local']]],
  ['store without type', policy({ 8: '        store: { path: x }' }), [[8, 16, 'secrets[0].environments[0].store.type: missing; use one of: local']]],
  ['empty store path', policy({ 8: '        store: { type: local, path: "" }' }), [[8, 37, 'secrets[0].environments[0].store.path: must not be empty']]],
  ['bad store key', policy({ 8: '        store: { type: local, path: x, key: "a b" }' }), [[8, 45, 'secrets[0].environments[0].store.key: must be 1-200 characters']]],
  ['bad secret name', policy({ 2: '  - name: API_Key' }), [[2, 11, 'secrets[0].name: "API_Key" is not a valid secret name; use 1-63 lowercase letters']]],
  ['two documents', `${policy()}---\n${policy()}`, [[10, 1, 'only one YAML document per policy file']]],
  // A bad value is one problem: the cross-file checks never add a second, bogus one about it.
  ['two secrets with the same invalid name', `${policy({ 2: '  - name: API_Key' })}${policy({ 1: null, 2: '  - name: API_Key', 8: '        store: { type: local, path: b.store }' })}`, [
    [2, 11, 'secrets[0].name: "API_Key" is not a valid secret name'],
    [9, 11, 'secrets[1].name: "API_Key" is not a valid secret name'],
  ]],
  ['two secrets with the same number as name', `${policy({ 2: '  - name: 123' })}${policy({ 1: null, 2: '  - name: 123', 8: '        store: { type: local, path: b.store }' })}`, [
    [2, 11, 'secrets[0].name: expected a string, got a number'],
    [9, 11, 'secrets[1].name: expected a string, got a number'],
  ]],
  ['two environments with the same invalid name', policy({ 7: '      - name: Dev Env', 8: '        store: { type: local, path: a.store }\n      - name: Dev Env\n        store: { type: local, path: b.store }' }), [
    [7, 15, 'secrets[0].environments[0].name: "Dev Env" is not a valid environment name'],
    [9, 15, 'secrets[0].environments[1].name: "Dev Env" is not a valid environment name'],
  ]],
  ['an invalid interval with a valid fallback window', policy({ 3: '    interval: 1.5d' }), [[3, 15, 'secrets[0].interval: "1.5d" is not a duration']]],
];

for (const [title, text, expected] of badPolicies) {
  test(`bad policy: ${title}`, async () => {
    const result = await load({ [FILE]: text });
    const actual = result.errors.map((e) => [e.file, e.line, e.col, e.message]);
    assert.equal(actual.length, expected.length, `errors: ${JSON.stringify(actual, null, 1)}`);
    expected.forEach(([line, col, fragment], index) => {
      const [file, gotLine, gotCol, message] = actual[index];
      assert.deepEqual([file, gotLine, gotCol], [FILE, line, col], message);
      assert.ok(message.includes(fragment), `"${message}" should contain "${fragment}"`);
    });
    assert.deepEqual(result.files, [FILE]);
  });
}

test('a valid multi-file directory is normalised', async () => {
  const { cwd, errors, warnings, policies, files } = await load({
    'policies/b.yml': policy({ 2: '  - name: b-key\n    owner: team-b\n    description: second' }),
    'policies/a.yaml': [
      'secrets:',
      '  - name: a-password',
      '    interval: 2w',
      '    fallbackWindow: 1d',
      '    generator: { type: random, length: 24, charset: hex }',
      '    environments:',
      '      - name: dev',
      '        store: { type: local, path: .keyshift/dev.store, key: app/password }',
      '      - name: prod',
      '        store: { type: local, path: /var/keyshift/prod.store }',
      '  - name: a-issued',
      '    interval: 30d',
      '    fallbackWindow: 30d',
      '    generator: { type: command, run: [./issue.sh, --json] }',
      '    environments: [{ name: dev, store: { type: local, path: s } }]',
      '  - name: a-custom',
      '    interval: 1h',
      '    fallbackWindow: 10m',
      '    generator: { type: random, length: 8, chars: aabbc }',
      '    environments: [{ name: dev, store: { type: local, path: s } }]',
      '',
    ].join('\n'),
    'policies/notes.txt': 'not a policy',
    'policies/.draft.yaml': 'not: loaded',
    'policies/aws/other.yaml': 'not: loaded',
  });
  assert.deepEqual(errors, []);
  assert.deepEqual(warnings, []);
  assert.deepEqual(files, ['policies/a.yaml', 'policies/b.yml']);
  assert.deepEqual(policies.map((p) => p.name), ['a-password', 'a-issued', 'a-custom', 'b-key']);
  const [password, issued, custom, bKey] = policies;
  assert.deepEqual(password, {
    name: 'a-password',
    owner: null,
    description: null,
    controls: [],
    interval: '2w',
    intervalMs: 14 * 86_400_000,
    fallbackWindow: '1d',
    fallbackWindowMs: 86_400_000,
    generator: { type: 'random', length: 24, characters: '0123456789abcdef' },
    environments: [
      {
        name: 'dev',
        store: { type: 'local', path: join(cwd, '.keyshift/dev.store'), key: 'app/password' },
        deploy: [],
        verify: [],
        observeMs: 0,
        requireTicket: false,
        source: { file: 'policies/a.yaml', line: 7, col: 9 },
      },
      {
        name: 'prod',
        store: { type: 'local', path: '/var/keyshift/prod.store', key: 'a-password' },
        deploy: [],
        verify: [],
        observeMs: 0,
        requireTicket: false,
        source: { file: 'policies/a.yaml', line: 9, col: 9 },
      },
    ],
    revoke: [],
    decommissionCheck: [],
    sharedValue: false,
    exportAs: null,
    notify: [],
    validate: null,
    reencrypt: null,
    source: { file: 'policies/a.yaml', line: 2, col: 5 },
  });
  assert.deepEqual(issued.generator, { type: 'command', run: ['./issue.sh', '--json'], timeoutMs: 30_000, env: {}, passEnv: [] });
  assert.equal(issued.environments[0].store.path, join(cwd, 's'), 'paths resolve against cwd, not the policy file');
  assert.deepEqual(custom.generator, { type: 'random', length: 8, characters: 'abc' });
  assert.deepEqual(bKey.generator, { type: 'random', bytes: 32, encoding: 'base64' });
  assert.equal(bKey.owner, 'team-b');
  assert.equal(bKey.description, 'second');
  assert.equal(bKey.intervalMs, 90 * 86_400_000);
  assert.deepEqual(bKey.source, { file: 'policies/b.yml', line: 2, col: 5 });
});

test('named character sets expand to their characters', async () => {
  const sets = {
    alphanumeric: 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789',
    'alphanumeric-symbols': 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#$%&()*+,-.:;<=>?@[]^_{|}~',
    digits: '0123456789',
  };
  for (const [charset, characters] of Object.entries(sets)) {
    const { errors, policies } = await load({ [FILE]: policy({ 5: `    generator: { type: random, length: 16, charset: ${charset} }` }) });
    assert.deepEqual(errors, []);
    assert.equal(policies[0].generator.characters, characters, charset);
  }
  const { policies } = await load({ [FILE]: policy({ 5: '    generator: { type: random, length: 16 }' }) });
  assert.equal(policies[0].generator.characters, sets.alphanumeric, 'alphanumeric is the default');
});

test('duplicate secret names across files point at the second and name the first', async () => {
  const { errors } = await load({
    'policies/a.yaml': policy(),
    'policies/b.yaml': policy({ 8: '        store: { type: local, path: .keyshift/other.store }' }),
  });
  assert.deepEqual(errors, [
    {
      file: 'policies/b.yaml',
      line: 2,
      col: 11,
      message: 'secrets[0].name: duplicate secret name "api-key"; first defined at policies/a.yaml:2; names must be unique across all policy files',
    },
  ]);
});

test('two environments writing the same store entry is an error', async () => {
  const { errors } = await load({
    [FILE]: policy({ 8: '        store: { type: local, path: shared.store, key: k }\n      - name: prod\n        store: { type: local, path: ./shared.store, key: k }' }),
  });
  assert.equal(errors.length, 1, JSON.stringify(errors));
  assert.deepEqual([errors[0].line, errors[0].col], [10, 16]);
  assert.match(errors[0].message, /^secrets\[0\]\.environments\[1\]\.store: uses the same store entry as secret "api-key" environment "dev"/);
});

test('every problem of the run is reported at once, in file and line order', async () => {
  const { errors, files } = await load({
    'policies/a.yaml': policy({ 3: '    interval: 0d', 8: '        store: { type: s3 }' }),
    'policies/b.yaml': policy({ 4: '    fallbackWindow: 1y', 5: '    generator: { type: random, bytes: 32, length: 9 }' }),
    'policies/c.yaml': 'secrets: [\n',
  });
  assert.deepEqual(files, ['policies/a.yaml', 'policies/b.yaml', 'policies/c.yaml']);
  assert.deepEqual(
    errors.map((e) => `${e.file}:${e.line}:${e.col}`),
    ['policies/a.yaml:3:15', 'policies/a.yaml:8:24', 'policies/b.yaml:2:11', 'policies/b.yaml:4:21', 'policies/b.yaml:5:16', 'policies/c.yaml:2:1'],
  );
});

test('a directory without policy files and a missing path are problems at 1:1', async () => {
  const empty = await load({ 'policies/readme.txt': 'hi', 'policies/sub/x.yaml': policy() });
  assert.deepEqual(empty.errors, [
    { file: 'policies', line: 1, col: 1, message: 'no policy files (*.yaml, *.yml) in this directory; add one, or run `keyshift init`' },
  ]);
  const missing = await load({}, 'nope.yaml');
  assert.deepEqual(missing.errors.map((e) => [e.file, e.line, e.col]), [['nope.yaml', 1, 1]]);
  assert.match(missing.errors[0].message, /no such file or directory/);
  assert.deepEqual(missing.policies, []);
});

test('a single file is loaded whatever its extension; paths outside cwd are shown absolute', async () => {
  const { cwd } = await load({ 'elsewhere/policy.txt': policy() });
  const inside = await loadPolicies('elsewhere/policy.txt', { cwd });
  assert.deepEqual([inside.errors, inside.files], [[], ['elsewhere/policy.txt']]);
  const outsideCwd = join(cwd, 'elsewhere', 'sub');
  mkdirSync(outsideCwd);
  const outside = await loadPolicies('../policy.txt', { cwd: outsideCwd });
  assert.deepEqual(outside.files, [join(cwd, 'elsewhere', 'policy.txt')]);
  assert.equal(outside.policies[0].environments[0].store.path, join(outsideCwd, '.keyshift/dev.store'));
});

test('the example policies in policies/ are valid', async () => {
  const { errors, policies } = await loadPolicies('policies', { cwd: repoRoot });
  assert.deepEqual(errors, []);
  assert.deepEqual(policies.map((p) => [p.name, p.generator.bytes, p.interval, p.fallbackWindow]), [
    ['token-encryption-key', 32, '90d', '48h'],
    ['jwt-signing-secret', 64, '365d', '48h'],
    ['webhook-signing-key', 32, '180d', '48h'],
    ['data-encryption-key', 32, '90d', '48h'],
    ['api-signing-key', 32, '180d', '48h'],
  ]);
  for (const p of policies) assert.deepEqual(p.environments.map((e) => [e.name, e.store.key]), [['dev', p.name], ['prod', p.name]]);
});

test('the JSON Schema is generated, strict, and agrees with the loader on examples', async () => {
  const schema = policyJsonSchema();
  assert.equal(schema.title, 'keyshift policy file');
  assert.ok(typeof schema.$id === 'string' && schema.$id.length > 0);
  assert.match(schema.$schema, /json-schema\.org/);
  const secret = schema.properties.secrets.items;
  const environment = secret.properties.environments.items;
  const [localStore] = environment.properties.store.oneOf;
  for (const object of [schema, secret, environment, localStore]) assert.equal(object.additionalProperties, false);
  assert.deepEqual(schema.required, ['secrets']);
  assert.deepEqual(secret.required, ['name', 'interval', 'fallbackWindow', 'environments']);
  assert.deepEqual(secret.else, { required: ['generator'] }, 'a generator is required, except for aws-kms keys');
  assert.deepEqual(localStore.required, ['type', 'path']);

  const pattern = (property) => new RegExp(property.pattern);
  for (const field of ['interval', 'fallbackWindow']) {
    assert.ok(pattern(secret.properties[field]).test('90d'));
    for (const bad of ['0d', '48x', '1.5d', '90']) assert.ok(!pattern(secret.properties[field]).test(bad), `${field} ${bad}`);
  }
  assert.ok(pattern(secret.properties.name).test('api-key'));
  assert.ok(!pattern(secret.properties.name).test('API_Key'));

  // The random generator's bytes-XOR-length rule, evaluated by a tiny required/not/anyOf/oneOf
  // interpreter, must agree with what the loader says about the same generator.
  const [random] = secret.properties.generator.oneOf;
  for (const generator of ['{ type: random, bytes: 32 }', '{ type: random, length: 12, charset: hex }', '{ type: random, bytes: 32, length: 12 }', '{ type: random }', '{ type: random, length: 12, encoding: hex }']) {
    const { errors } = await load({ [FILE]: policy({ 5: `    generator: ${generator}` }) });
    const keys = generator.replace(/[{}]/g, '').split(',').map((part) => part.split(':')[0].trim());
    const value = Object.fromEntries(keys.map((key) => [key, 1]));
    assert.equal(satisfies(value, random), errors.length === 0, generator);
  }
});

function satisfies(value, schema) {
  if (schema.required && !schema.required.every((key) => key in value)) return false;
  if (schema.not && satisfies(value, schema.not)) return false;
  if (schema.anyOf && !schema.anyOf.some((option) => satisfies(value, option))) return false;
  if (schema.oneOf && schema.oneOf.filter((option) => satisfies(value, option)).length !== 1) return false;
  return true;
}

test('a data-key generator: normalised master, the JSON Schema lists it, and cross-secret rules point at master.secret', async () => {
  const kms = await load({ [FILE]: policy({ 5: '    generator: { type: data-key, master: { type: aws-kms, keyId: alias/app-master, region: eu-west-1 } }' }) });
  assert.deepEqual(kms.errors, []);
  assert.deepEqual(kms.policies[0].generator, { type: 'data-key', master: { type: 'aws-kms', keyId: 'alias/app-master', region: 'eu-west-1', endpoint: null, profile: null } });

  const master = policy().replace('api-key', 'app-master').replace('dev.store', 'master.store').split('\n').slice(1).join('\n');
  const local = await load({ [FILE]: policy({ 5: '    generator: { type: data-key, master: { type: local, secret: app-master } }' }) + master });
  assert.deepEqual(local.errors, []);
  assert.deepEqual(local.policies[0].generator, { type: 'data-key', master: { type: 'local', secret: 'app-master' } });

  const missing = await load({ [FILE]: policy({ 5: '    generator: { type: data-key, master: { type: local, secret: nowhere } }' }) });
  assert.deepEqual(missing.errors.map((e) => [e.line, e.col, e.message.split(';')[0]]), [[5, 65, 'secrets[0].generator.master.secret: names no secret of these policies ("nowhere")']]);

  const forms = policyJsonSchema().properties.secrets.items.properties.generator.oneOf;
  const dataKey = forms.find((form) => form.properties.type.const === 'data-key');
  assert.deepEqual(dataKey.required, ['type', 'master']);
  assert.deepEqual(dataKey.properties.master.oneOf.map((m) => [m.properties.type.const, m.required]), [['aws-kms', ['type', 'keyId']], ['local', ['type', 'secret']]]);
});
