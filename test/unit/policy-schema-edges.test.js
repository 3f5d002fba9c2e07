// More of the policy schema as users meet it (beside policy-schema-rules.test.js, which is kept as it
// was measured): the shared building blocks (one message per bad number or duration, values cut to 40
// characters), a command store's program path, and KMS-managed rotation's interval rule.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { load, oneSecret, problems, checkProblems } from '../helpers/policy-fixture.js';

const secret = oneSecret;
const check = checkProblems;

test('shared building blocks: one message per bad number or duration, a map where a map belongs, long values cut to 40 characters', async () => {
  await check([
    [["{ type: local, path: s }","","{ type: random, bytes: 0.5 }"], ["5:39 secrets[0].generator.bytes: expected a whole number, got a decimal number; e.g. bytes: 32"]],
    [["{ type: local, path: s }","","{ type: random, bytes: 2000.5 }"], ["5:39 secrets[0].generator.bytes: expected a whole number, got a decimal number; e.g. bytes: 32"]],
    [["{ type: k8s-secret, path: m.yaml, name: ok, git: 5 }"], ["8:65 secrets[0].environments[0].store.git: expected a map, got a number"]],
    [["{ type: aws-secrets-manager, secretId: a, quotas: 5 }"], ["8:66 secrets[0].environments[0].store.quotas: expected a map, got a number"]],
    [["{ type: local, path: s, lock: 5 }"], ["8:46 secrets[0].environments[0].store.lock: expected a map, got a number"]],
    [["{ type: local, path: s }","    notify: [5]\n"], ["9:14 secrets[0].notify[0]: expected a map, got a number"]],
    [["{ type: local, path: s }","    reencrypt: 5\n"], ["9:16 secrets[0].reencrypt: expected a map, got a number"]],
    [["{ type: local, path: s }","    reencrypt: { database: { type: sqlite, path: a }, tables: [5] }\n"], ["9:64 secrets[0].reencrypt.tables[0]: expected a map, got a number"]],
    [["{ type: local, path: s }","    reencrypt: { database: { type: sqlite, path: a }, tables: [{ table: t, key: id, columns: [c] }], slo: 5 }\n"], ["9:107 secrets[0].reencrypt.slo: expected a map, got a number"]],
    [["{ type: local, path: s }","","{ type: command, run: [./k], timeout: 99999999999999999999w }"], ["5:54 secrets[0].generator.timeout: \"99999999999999999999w\" is longer than the longest duration, 36500d (100 years); use a shorter one (e.g. 30s)"]],
    [["{ type: local, path: s }","","{ type: command, run: [./k], timeout: \"soon\" }"], ["5:54 secrets[0].generator.timeout: \"soon\" is not a duration; use a positive whole number with a unit s, m, h, d or w (e.g. 30s)"]],
    [["{ type: aws-kms, alias: \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\" }","",null], ["7:40 secrets[0].environments[0].store.alias: \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...\" is not a KMS alias; use alias/<name> with letters, digits and / _ -, e.g. alias: alias/payments-data"]],
    [["{ type: aws-kms, alias: \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\" }","",null], ["7:40 secrets[0].environments[0].store.alias: \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\" is not a KMS alias; use alias/<name> with letters, digits and / _ -, e.g. alias: alias/payments-data"]],
  ]);
});

test('a command store\'s program: ./ and ../ resolve against where keyshift runs, any other path or name is kept as written', async () => {
  const stores = ['{ type: command, run: [tools/../s.sh] }', '{ type: command, run: [a./s.sh] }'];
  const text = `secrets:\n  - name: api-key\n    interval: 90d\n    fallbackWindow: 48h\n    generator: { type: random, bytes: 32 }\n    environments:\n${stores.map((store, i) => `      - name: e${i}\n        store: ${store}\n`).join('')}`;
  const { policies, errors } = await load(text);
  assert.deepEqual(errors, []);
  assert.deepEqual(policies[0].environments.map((e) => e.store.run), [['tools/../s.sh'], ['a./s.sh']]);
});

test('mode: managed needs whole days from 90d to 2560d (KMS RotationPeriodInDays); deploy and verify hooks do not apply to it', async () => {
  const kms = (interval, store) =>
    `secrets:\n  - name: api-key\n    interval: ${interval}\n    fallbackWindow: 48h\n    environments:\n      - name: dev\n        store: ${store}\n`;
  await check([
    [["89d","{ type: aws-kms, alias: alias/app, mode: managed }"], ["3:15 secrets[0].interval: must be whole days from 90d to 2560d for mode: managed (KMS RotationPeriodInDays); use mode: alias for other intervals"]],
    [["90d","{ type: aws-kms, alias: alias/app, mode: managed }"], []],
    [["2560d","{ type: aws-kms, alias: alias/app, mode: managed }"], []],
    [["2561d","{ type: aws-kms, alias: alias/app, mode: managed }"], ["3:15 secrets[0].interval: must be whole days from 90d to 2560d for mode: managed (KMS RotationPeriodInDays); use mode: alias for other intervals"]],
    [["2184h","{ type: aws-kms, alias: alias/app, mode: managed }"], []],
    [["2185h","{ type: aws-kms, alias: alias/app, mode: managed }"], ["3:15 secrets[0].interval: must be whole days from 90d to 2560d for mode: managed (KMS RotationPeriodInDays); use mode: alias for other intervals"]],
    [["13w","{ type: aws-kms, alias: alias/app, mode: managed }"], []],
    [["89d","{ type: aws-kms, alias: alias/app, mode: managed }\n        deploy: []"], ["3:15 secrets[0].interval: must be whole days from 90d to 2560d for mode: managed (KMS RotationPeriodInDays); use mode: alias for other intervals"]],
    [["89d","{ type: aws-kms, alias: alias/app }"], []],
    [["soon","{ type: aws-kms, alias: alias/app, mode: managed }"], ["3:15 secrets[0].interval: \"soon\" is not a duration; use a positive whole number with a unit s, m, h, d or w (e.g. 90d)"]],
  ], kms);
});

/** Whether `object`'s keys satisfy a JSON Schema rule made of required / not / anyOf / oneOf. */
function holds(rule, object) {
  if (rule.required && !rule.required.every((key) => key in object)) return false;
  if (rule.not && holds(rule.not, object)) return false;
  if (rule.anyOf && !rule.anyOf.some((r) => holds(r, object))) return false;
  if (rule.oneOf && rule.oneOf.filter((r) => holds(r, object)).length !== 1) return false;
  return true;
}

/** Every subset of `values`' keys, as objects. */
const subsets = (values) =>
  Object.keys(values).reduce((all, key) => [...all, ...all.map((s) => ({ ...s, [key]: values[key] }))], [{}]);

const yamlMap = (object) => `{ ${Object.entries(object).map(([k, v]) => `${k}: ${v}`).join(', ')} }`;

test('keyshift schema and the loader agree on which keys a random generator may combine (all 32 combinations)', async () => {
  const { policyJsonSchema } = await import('../../dist/policy/json-schema.js');
  const random = policyJsonSchema().properties.secrets.items.properties.generator.oneOf[0];
  const values = { bytes: 32, length: 16, encoding: 'hex', charset: 'hex', chars: 'ab' };
  const verdicts = [];
  for (const keys of subsets(values)) {
    const errors = await problems(secret('{ type: local, path: s }', '', yamlMap({ type: 'random', ...keys })));
    verdicts.push([Object.keys(keys).join('+') || '(none)', errors.length === 0, holds(random, { type: 'random', ...keys })]);
  }
  assert.deepEqual(verdicts.filter(([, loader, schema]) => loader !== schema), []);
  assert.equal(verdicts.filter(([, loader]) => loader).length, 5, 'bytes, bytes+encoding, length, length+charset, length+chars');
});

test('keyshift schema and the loader agree on the forms of a verify hook (all 32 combinations of run, http, timeout, env, cwd)', async () => {
  const { policyJsonSchema } = await import('../../dist/policy/json-schema.js');
  const verify = policyJsonSchema().properties.secrets.items.properties.environments.items.properties.verify.items;
  const values = { run: './check.sh', http: '{ url: "https://a.example.com/healthz" }', timeout: '5s', env: '[HOME]', cwd: 'x' };
  const verdicts = [];
  for (const keys of subsets(values)) {
    const errors = await problems(secret('{ type: local, path: s }\n        verify: [' + yamlMap(keys) + ']'));
    verdicts.push([Object.keys(keys).join('+') || '(none)', errors.length === 0, holds(verify, keys) && (verify.required ?? []).every((k) => k in keys)]);
  }
  assert.deepEqual(verdicts.filter(([, loader, schema]) => loader !== schema), []);
  assert.equal(verdicts.filter(([, loader]) => loader).length, 9, 'run with any of timeout, env, cwd (8), or http alone');
});

test('keyshift schema and the loader agree on the names env may list, and on rotation tag keys', async () => {
  const { policyJsonSchema } = await import('../../dist/policy/json-schema.js');
  const secretSchema = policyJsonSchema().properties.secrets.items;
  const [list] = secretSchema.properties.generator.oneOf[1].properties.env.anyOf;
  const inList = (name) => new RegExp(list.items.pattern).test(name) && !new RegExp(list.items.not.pattern).test(name);
  for (const name of ['HOME', 'AWS_*', 'NS=payments', '_X', '1BAD', 'KEYSHIFT_X', 'a-b', 'X=']) {
    const errors = await problems(secret('{ type: local, path: s }', '', `{ type: command, run: [./k], env: ["${name}"] }`));
    assert.equal(errors.length === 0, inList(name), name);
  }
  const store = secretSchema.properties.environments.items.properties.store.oneOf.find((s) => s.properties.type.const === 'aws-secrets-manager');
  const tagKey = store.properties.tags.anyOf[1].properties['rotated-by'].anyOf[1];
  assert.deepEqual(store.properties.tags.anyOf[0], { type: 'boolean' });
  assert.deepEqual(Object.keys(store.properties.tags.anyOf[1].properties), ['rotated-by', 'rotated-at', 'rotation-ticket']);
  for (const key of ['RotatedBy', 'Rotated By', 'a:b/c=d+e-f@g_h.i', '', 'x'.repeat(127), 'x'.repeat(128), 'tag!']) {
    const errors = await problems(secret(`{ type: aws-secrets-manager, secretId: a, tags: { rotated-by: "${key}" } }`));
    assert.equal(errors.length === 0, new RegExp(tagKey.pattern).test(key) && key.length <= tagKey.maxLength, JSON.stringify(key));
  }
});

test('the file and secret levels: empty lists, names, signing, observe, requireTicket, revoke, notify and controls, each with its own message', async () => {
  await check([
    ["secrets: []\n", ["1:10 secrets: is empty; add at least one secret or delete the file"]],
    ["secrets:\n  - name: Api_Key\n    interval: 90d\n    fallbackWindow: 48h\n    generator: { type: random, bytes: 32 }\n    environments: [{ name: dev, store: { type: local, path: s } }]\n", ["2:11 secrets[0].name: \"Api_Key\" is not a valid secret name; use 1-63 lowercase letters, digits and dashes, starting with a letter or digit"]],
    ["secrets:\n  - name: api-key\n    interval: 90d\n    fallbackWindow: 48h\n    generator: { type: random, bytes: 32 }\n    environments: []\n", ["6:19 secrets[0].environments: is empty; add at least one environment, e.g. - name: dev"]],
    ["secrets:\n  - name: api-key\n    interval: 90d\n    fallbackWindow: 48h\n    generator: { type: random, bytes: 32 }\n    environments: [{ name: Dev, store: { type: local, path: s } }]\n", ["6:28 secrets[0].environments[0].name: \"Dev\" is not a valid environment name; use 1-63 lowercase letters, digits and dashes, starting with a letter or digit"]],
    ["secrets:\n  - name: api-key\n    interval: 90d\n    fallbackWindow: 48h\n    generator: { type: random, bytes: 32 }\n    environments:\n      - name: dev\n        store: { type: local, path: s }\nsigning: { key: \"\" }\n", ["9:17 signing.key: is empty; give the path of an Ed25519 private key PEM"]],
    ["secrets:\n  - name: api-key\n    interval: 90d\n    fallbackWindow: 48h\n    generator: { type: random, bytes: 32 }\n    environments:\n      - name: dev\n        store: { type: local, path: s }\nsigning: { path: k.pem }\n", ["9:10 signing.key: missing; add it, e.g. key: keys/evidence-signing.pem","9:12 signing: unknown key \"path\"; allowed keys: key"]],
    ["secrets:\n  - name: api-key\n    interval: 90d\n    fallbackWindow: 48h\n    generator: { type: random, bytes: 32 }\n    environments:\n      - name: dev\n        store: { type: local, path: s }\n        observe: 0s\n", ["9:18 secrets[0].environments[0].observe: \"0s\" is zero; use a positive whole number with a unit s, m, h, d or w (e.g. 30m)"]],
    ["secrets:\n  - name: api-key\n    interval: 90d\n    fallbackWindow: 48h\n    generator: { type: random, bytes: 32 }\n    environments:\n      - name: dev\n        store: { type: local, path: s }\n        observe: 30m\n        requireTicket: yes\n", ["10:24 secrets[0].environments[0].requireTicket: expected true or false, got a string"]],
    ["secrets:\n  - name: api-key\n    interval: 90d\n    fallbackWindow: 48h\n    generator: { type: random, bytes: 32 }\n    environments:\n      - name: dev\n        store: { type: local, path: s }\n    revoke: { run: x }\n", ["9:13 secrets[0].revoke: must be a list of hooks, e.g. - run: [./deploy.sh] (got a map)"]],
    ["secrets:\n  - name: api-key\n    interval: 90d\n    fallbackWindow: 48h\n    generator: { type: random, bytes: 32 }\n    environments:\n      - name: dev\n        store: { type: local, path: s }\n    notify: [{ webhook: \"https://h.example.com\", on: [failed], extra: 1 }]\n", ["9:64 secrets[0].notify[0]: unknown key \"extra\"; allowed keys: webhook, on"]],
    ["secrets:\n  - name: api-key\n    interval: 90d\n    fallbackWindow: 48h\n    generator: { type: random, bytes: 32 }\n    environments:\n      - name: dev\n        store: { type: local, path: s }\n    controls: SOC2\n", ["9:15 secrets[0].controls: expected a list, got a string; e.g. controls: [SOC2-CC6.1, ISO27001-A.8.24]"]],
    ["secrets:\n  - name: api-key\n    interval: 90d\n    fallbackWindow: 48h\n    generator: { type: random, bytes: 32 }\n    environments:\n      - name: dev\n        store: { type: local, path: s }\n    description: 5\n", ["9:18 secrets[0].description: expected a string, got a number; e.g. description: signs outgoing webhooks"]],
    ["secrets:\n  - name: api-key\n    interval: 90d\n    fallbackWindow: 48h\n    generator: { type: random, bytes: 32 }\n    environments:\n      - name: dev\n        store: { type: local, path: s }\nbogus: 1\n", ["9:1 unknown key \"bogus\"; allowed keys: secrets, signing"]],
  ], (text) => text);
});

test('each named charset expands to its documented characters; chars are kept as written', async () => {
  const upper = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
  const expected = {
    alphanumeric: `${upper}${upper.toLowerCase()}0123456789`,
    'alphanumeric-symbols': `${upper}${upper.toLowerCase()}0123456789!#$%&()*+,-.:;<=>?@[]^_{|}~`,
    hex: '0123456789abcdef',
    digits: '0123456789',
  };
  for (const [charset, characters] of Object.entries(expected)) {
    const { policies, errors } = await load(secret('{ type: local, path: s }', '', `{ type: random, length: 20, charset: ${charset} }`));
    assert.deepEqual(errors, []);
    assert.deepEqual(policies[0].generator, { type: 'random', length: 20, characters }, charset);
  }
  const { policies } = await load(secret('{ type: local, path: s }', '', '{ type: random, length: 20 }'));
  assert.equal(policies[0].generator.characters, expected.alphanumeric);
});

test('every pattern is anchored at both ends: a valid value is accepted, the same value with "! " before or " !" after is refused', async () => {
  const L = '{ type: local, path: s }';
  const reencrypt = (field) => {
    const parts = { table: 'app.users', key: 'id', column: 'email', canary: '1%', url: 'postgres://app@db/app' };
    const v = (name) => (name === field ? '"V"' : parts[name]);
    const database = field === 'url' ? `{ type: postgres, url: ${v('url')} }` : '{ type: sqlite, path: a.db }';
    return [L, `    reencrypt: { database: ${database}, tables: [{ table: ${v('table')}, key: ${v('key')}, columns: [${v('column')}] }], canary: ${v('canary')} }\n`];
  };
  const cases = [
    // [secret(...) arguments with V where the value goes, a valid value]
    [['{ type: local, path: s, lock: { type: dynamodb, table: "V" } }'], 'keyshift-leases'],
    [['{ type: local, path: s, lock: { type: dynamodb, table: t-1, region: "V" } }'], 'us-east-1'],
    [['{ type: local, path: s, lock: { type: dynamodb, table: t-1, endpoint: "V" } }'], 'http://127.0.0.1:8000'],
    [['{ type: local, path: s, key: "V" }'], 'a/b.c_d-e'],
    [['{ type: aws-secrets-manager, secretId: "V" }'], 'app/x'],
    [['{ type: aws-secrets-manager, secretId: "V" }'], 'arn:aws:secretsmanager:us-east-1:123456789012:secret:app-x'],
    [['{ type: aws-secrets-manager, secretId: a, region: "V" }'], 'eu-west-1'],
    [['{ type: aws-secrets-manager, secretId: a, endpoint: "V" }'], 'http://127.0.0.1:4566/x'],
    [['{ type: aws-secrets-manager, secretId: a, tags: { rotated-by: "V" } }'], 'RotatedBy'],
    [['{ type: aws-kms, alias: "V" }', '', null], 'alias/app'],
    [['{ type: dotenv, path: .env, name: "V" }'], 'API_KEY'],
    [['{ type: k8s-secret, path: m.yaml, name: "V" }'], 'my-secret.v1'],
    [['{ type: k8s-secret, path: m.yaml, name: ok, key: "V" }'], 'AES_KEY'],
    [['{ type: vault-kv2, path: app/x, address: "V" }'], 'https://v.example.com:8200'],
    [['{ type: vault-kv2, path: app/x, mount: "V" }'], 'kv/team'],
    [['{ type: vault-kv2, path: "V" }'], 'app/x'],
    [['{ type: vault-kv2, path: app/x, field: "V" }'], 'value'],
    [['{ type: command, run: [./x], key: "V" }'], 'k1'],
    [['{ type: plugin, module: ./p.js, key: "V" }'], 'k1'],
    [[L, '', '{ type: data-key, master: { type: aws-kms, keyId: "V" } }'], 'alias/app-master'],
    [[L, '', '{ type: data-key, master: { type: aws-kms, keyId: "V" } }'], '1234abcd-12ab-34cd-56ef-1234567890ab'],
    [[L, '', '{ type: data-key, master: { type: aws-kms, keyId: "V" } }'], 'mrk-1234abcd12ab34cd56ef1234567890ab'],
    [[L, '', '{ type: data-key, master: { type: local, secret: "V" } }'], 'app-master', 'names no secret'],
    [[L, '', '{ type: command, run: [./k], env: ["V"] }'], 'HOME'],
    [[L, '    exportAs: "V"\n'], 'API_KEY'],
    [[L, '    controls: ["V"]\n'], 'SOC2-CC6.1'],
    [['{ type: local, path: s }\n        observe: "V"'], '30m'],
    ...['table', 'key', 'column', 'canary', 'url'].map((field) => [reencrypt(field), { table: 'app.users', key: 'id', column: 'email', canary: '1%', url: 'postgres://app@db/app' }[field]]),
  ];
  for (const [args, valid, acceptedMessage] of cases) {
    const run = async (value) => {
      const [first, ...rest] = args.map((arg) => (typeof arg === 'string' ? arg.replace('V', value) : arg));
      const errors = await problems(secret(first, ...rest));
      return acceptedMessage ? errors.filter((e) => !e.includes(acceptedMessage)) : errors;
    };
    assert.deepEqual(await run(valid), [], `${valid} is accepted`);
    assert.equal((await run(`! ${valid}`)).length, 1, `"! ${valid}" is refused`);
    assert.equal((await run(`${valid} !`)).length, 1, `"${valid} !" is refused`);
  }
  // A percentage's number must start the value: "+1%" and "-1%" read as numbers, but are refused.
  for (const canary of ['+1%', ' 1%']) {
    const [store, extra] = reencrypt('canary');
    assert.deepEqual(await problems(secret(store, extra.replace('V', canary))), [
      '9:125 secrets[0].reencrypt.canary: must be a percentage from 0.001% to 100%, e.g. 1%',
    ], canary);
  }
});

test('env as the command gets it: NAME=value sets (split at the first =), NAME and PREFIX* pass keyshift\'s own through, a map likewise', async () => {
  const text = secret(
    '{ type: local, path: s }\n        deploy: [{ run: "./d x", env: { NS: payments, HOME: null } }]',
    '',
    '{ type: command, run: [./k], env: ["A=1=2", HOME, "AWS_*", "B="] }',
  );
  const { policies, errors } = await load(text);
  assert.deepEqual(errors, []);
  const { env, passEnv } = policies[0].generator;
  assert.deepEqual({ env, passEnv }, { env: { A: '1=2', B: '' }, passEnv: ['HOME', 'AWS_*'] });
  const [deploy] = policies[0].environments[0].deploy;
  assert.deepEqual({ env: deploy.env, passEnv: deploy.passEnv }, { env: { NS: 'payments' }, passEnv: ['HOME'] });
});

test('a secret\'s own fields as the engine gets them; notify on defaults to failed, switched, decommissioned, rolled-back', async () => {
  const extra = [
    '    notify: [{ webhook: "https://h.example.com/k" }, { webhook: "HTTP://h2", on: [issued] }]',
    '    controls: [A-1, B-2]',
    '    owner: team-a',
    '    description: signs',
    '    exportAs: MY_KEY',
    '    sharedValue: true',
    '',
  ].join('\n');
  const { policies, errors } = await load(secret('{ type: local, path: s }\n        observe: 30m\n        requireTicket: true', extra));
  assert.deepEqual(errors, []);
  const { notify, controls, owner, description, exportAs, sharedValue, environments } = policies[0];
  assert.deepEqual(
    { notify, controls, owner, description, exportAs, sharedValue, observeMs: environments[0].observeMs, requireTicket: environments[0].requireTicket },
    {
      notify: [
        { webhook: 'https://h.example.com/k', on: ['failed', 'switched', 'decommissioned', 'rolled-back'] },
        { webhook: 'HTTP://h2', on: ['issued'] },
      ],
      controls: ['A-1', 'B-2'],
      owner: 'team-a',
      description: 'signs',
      exportAs: 'MY_KEY',
      sharedValue: true,
      observeMs: 1_800_000,
      requireTicket: true,
    },
  );
});

test('keyshift schema: a notify target and a deploy hook say what they require; URL patterns accept what the loader accepts', async () => {
  const { policyJsonSchema } = await import('../../dist/policy/json-schema.js');
  const secretSchema = policyJsonSchema().properties.secrets.items;
  const target = secretSchema.properties.notify.items;
  const environment = secretSchema.properties.environments.items;
  assert.deepEqual(target.required, ['webhook']);
  assert.deepEqual(environment.properties.deploy.items.required, ['run']);
  assert.deepEqual(secretSchema.properties.revoke.items.required, ['run']);
  const url = environment.properties.verify.items.properties.http.properties.url;
  for (const [schema, make] of [
    [target.properties.webhook, (u) => secret('{ type: local, path: s }', `    notify: [{ webhook: "${u}" }]\n`)],
    [url, (u) => secret(`{ type: local, path: s }\n        verify: [{ http: { url: "${u}" } }]`)],
  ]) {
    for (const u of ['https://a.example.com/x', 'HTTP://a', 'ftp://a', 'a.example.com', 'https://', 'https:a.example.com', 'https:a.example.com/?next=http://b.example.com', 'http:/a.example.com', 'https:\\\\a.example.com']) {
      const accepted = (await problems(make(u))).length === 0;
      // The pattern is a prefix check: it may let through what the loader refuses, never the reverse.
      if (accepted) assert.match(u, new RegExp(schema.pattern), u);
      if (/^https?:(?!\/\/)/i.test(u)) assert.equal(accepted, false, `${u}: the loader wants the // too`);
      if (!new RegExp(schema.pattern).test(u)) assert.equal(accepted, false, u);
    }
    assert.equal(new RegExp(schema.pattern).test('ftp://a'), false);
  }
});
