// Values at the edges of the policy schema's patterns that policy-schema-rules and policy-schema-edges
// (kept as they were measured) do not reach: AWS Regions of three parts and two digits, endpoints
// with a path, GovCloud and China ARNs, Kubernetes names of one-character segments and 254 characters,
// an explicit `mode: alias`, and the plugin store's own description for editors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { policyJsonSchema } from '../../dist/policy/json-schema.js';
import { load, oneSecret, problems } from '../helpers/policy-fixture.js';

/** One secret with one environment whose store (line 8) is `store`; none = no generator (KMS keys). */
const secret = (store, generator = '{ type: random, bytes: 32 }') => oneSecret(store, '', generator || null);

test('accepted: Regions of three parts or two digits, endpoints with a path, GovCloud and China ARNs, mode: alias written out', async () => {
  const accepted = [
    '{ type: aws-secrets-manager, secretId: a, region: us-gov-west-1 }',
    '{ type: aws-secrets-manager, secretId: a, region: xx-east-12 }',
    '{ type: aws-secrets-manager, secretId: a, endpoint: "http://127.0.0.1:4566/a/b" }',
    '{ type: aws-secrets-manager, secretId: "arn:aws-us-gov:secretsmanager:us-gov-west-1:123456789012:secret:app-x" }',
    '{ type: aws-secrets-manager, secretId: "arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:app-x" }',
    '{ type: local, path: s, lock: { type: dynamodb, table: t-1, region: us-gov-west-1 } }',
    '{ type: local, path: s, lock: { type: dynamodb, table: t-1, region: xx-east-12 } }',
    '{ type: local, path: s, lock: { type: dynamodb, table: t-1, endpoint: "http://127.0.0.1:8000/a/b" } }',
    '{ type: k8s-secret, path: m.yaml, name: app.v-1.x }',
    `{ type: k8s-secret, path: m.yaml, name: ${'a'.repeat(253)} }`,
  ];
  for (const store of accepted) assert.deepEqual(await problems(secret(store)), [], store);
  assert.deepEqual(await problems(secret('{ type: aws-kms, alias: alias/app, mode: alias }', null)), []);
});

test('refused: a Kubernetes name of 254 characters, an endpoint whose path has a space', async () => {
  assert.deepEqual(await problems(secret(`{ type: k8s-secret, path: m.yaml, name: ${'a'.repeat(254)} }`)), [
    '8:56 secrets[0].environments[0].store.name: must be a Kubernetes object name: lowercase letters, digits, - and . (e.g. name: secrets-service-config)',
  ]);
  assert.deepEqual(await problems(secret('{ type: local, path: s, lock: { type: dynamodb, table: t-1, endpoint: "http://h/a b" } }')), [
    '8:86 secrets[0].environments[0].store.lock.endpoint: must be an http(s) URL, e.g. endpoint: http://127.0.0.1:8000',
  ]);
});

test('keyshift schema: the plugin store tells the editor that its other keys are the plugin\'s own options', () => {
  const stores = policyJsonSchema().properties.secrets.items.properties.environments.items.properties.store.oneOf;
  const plugin = stores.find((store) => store.properties.type.const === 'plugin');
  assert.match(plugin.description, /docs\/plugins\.md.*other keys are the plugin's own options/);
});

test('secret and environment names: a valid name followed by anything else is refused', async () => {
  const bad = (name, env) =>
    `secrets:\n  - name: "${name}"\n    interval: 90d\n    fallbackWindow: 48h\n    generator: { type: random, bytes: 32 }\n    environments: [{ name: "${env}", store: { type: local, path: s } }]\n`;
  assert.deepEqual(await problems(bad('api-key !', 'dev')), [
    '2:11 secrets[0].name: "api-key !" is not a valid secret name; use 1-63 lowercase letters, digits and dashes, starting with a letter or digit',
  ]);
  assert.equal((await problems(bad('api-key', 'dev !'))).length, 1);
});

test('keyshift schema: the generator, the store, each hook list and notify carry their own description, not only their items\'', () => {
  const secretSchema = policyJsonSchema().properties.secrets.items;
  const environment = secretSchema.properties.environments.items.properties;
  const own = {
    generator: secretSchema.properties.generator,
    store: environment.store,
    deploy: environment.deploy,
    verify: environment.verify,
    revoke: secretSchema.properties.revoke,
    decommissionCheck: secretSchema.properties.decommissionCheck,
    notify: secretSchema.properties.notify,
    'notify item': secretSchema.properties.notify.items,
  };
  for (const [name, node] of Object.entries(own)) assert.ok(typeof node.description === 'string' && node.description.length > 20, name);
  assert.match(own.notify.items.properties.on.description, /^Events to send \(default failed, switched, decommissioned, rolled-back\)\.$/);
});

test('keyshift schema: a secret whose every environment is an aws-kms key takes no generator; any other needs one', () => {
  const secretSchema = policyJsonSchema().properties.secrets.items;
  // A small evaluator of the keywords the rule uses: properties, items, const, required, not.
  const holds = (rule, value) =>
    Object.entries(rule).every(([keyword, arg]) => {
      if (keyword === 'properties') return Object.entries(arg).every(([k, r]) => value?.[k] === undefined || holds(r, value[k]));
      if (keyword === 'items') return Array.isArray(value) && value.every((item) => holds(arg, item));
      if (keyword === 'const') return value === arg;
      if (keyword === 'required') return arg.every((k) => value?.[k] !== undefined);
      if (keyword === 'not') return !holds(arg, value);
      throw new Error(`keyword ${keyword}`);
    });
  const valid = (value) => (holds(secretSchema.if, value) ? holds(secretSchema.then, value) : holds(secretSchema.else, value));
  const kms = { environments: [{ store: { type: 'aws-kms' } }] };
  const local = { environments: [{ store: { type: 'local' } }] };
  assert.deepEqual(
    [valid(kms), valid({ ...kms, generator: {} }), valid(local), valid({ ...local, generator: {} })],
    [true, false, false, true],
  );
});

test('rotation tags: tags: null is refused (not a crash), a key with aws: inside is fine, keyshift:aws:x is keyshift\'s, one tag left on is kept', async () => {
  const SM = '{ type: aws-secrets-manager, secretId: a';
  assert.deepEqual(await problems(secret(`${SM}, tags: null }`)), [
    '8:64 secrets[0].environments[0].store.tags: must be true, false or a map of rotated-by, rotated-at, rotation-ticket; e.g. tags: true, or tags: { rotated-by: RotatedBy, rotation-ticket: false }',
  ]);
  assert.deepEqual(await problems(secret(`${SM}, tags: { rotated-by: "my-aws:tag" } }`)), []);
  assert.deepEqual(await problems(secret(`${SM}, tags: { rotated-by: "keyshift:aws:x" } }`)), [
    '8:78 secrets[0].environments[0].store.tags.rotated-by: must not start with keyshift: (where keyshift keeps its rotation state); e.g. RotatedBy',
  ]);
  const { policies, errors } = await load(secret(`${SM}, tags: { rotated-by: false, rotation-ticket: false } }`));
  assert.deepEqual(errors, []);
  assert.deepEqual(policies[0].environments[0].store.tags, { rotatedBy: null, rotatedAt: 'rotated-at', ticket: null });
});

const REENCRYPT = (extra = '') => `    reencrypt: { database: { type: sqlite, path: app.db }, tables: [{ table: users, key: id, columns: [email] }]${extra} }\n`;

test('reencrypt: a column of the wrong type, a command generator with bytes: 32, a secret without a generator, a postgres database as the engine gets it', async () => {
  const columns = oneSecret('{ type: local, path: s }', '    reencrypt: { database: { type: sqlite, path: app.db }, tables: [{ table: users, key: id, columns: [5] }] }\n');
  assert.deepEqual(await problems(columns), ['9:104 secrets[0].reencrypt.tables[0].columns[0]: must be a column name, e.g. columns: [email, ssn] (got a number)']);
  // Only a random generator of 32 bytes passes: a `bytes: 32` the command generator does not know is not enough.
  assert.deepEqual(await problems(oneSecret('{ type: local, path: s }', REENCRYPT(), '{ type: command, run: [./k], bytes: 32 }')), [
    '5:16 secrets[0].generator: must make a 32-byte AES-256 key for reencrypt: generator: { type: random, bytes: 32 } or { type: data-key, master: … }',
    '5:45 secrets[0].generator: unknown key "bytes"; allowed keys: type, run, timeout, env',
  ]);
  // A secret without a generator (an aws-kms key) is answered, not a crash of the loader (the key rule
  // reads generator.type): rows are never encrypted under a KMS key itself, only under data keys it wraps.
  assert.deepEqual(await problems(oneSecret('{ type: aws-kms, alias: alias/app }', REENCRYPT(), null)), [
    '8:16 secrets[0].reencrypt: does not apply to aws-kms keys (rows are encrypted with data keys, which a KMS key wraps); put it on a data key: generator: { type: data-key, master: { type: aws-kms, keyId: <alias> } } (docs/reencrypt.md#key-hierarchy)',
  ]);
  const url = 'postgresql://app@db.internal:5432/app';
  const { policies, errors } = await load(oneSecret('{ type: local, path: s }', `    reencrypt: { database: { type: postgres, url: "${url}" }, tables: [{ table: users, key: id, columns: [email] }] }\n`));
  assert.deepEqual(errors, []);
  assert.deepEqual(policies[0].reencrypt.database, { type: 'postgres', url });
});

test('keyshift schema: reencrypt\'s percentages and observe give their examples; stages and its items say what they are', () => {
  const reencrypt = policyJsonSchema().properties.secrets.items.properties.reencrypt.properties;
  assert.deepEqual(
    [reencrypt.canary.examples, reencrypt.stages.items.examples, reencrypt.slo.properties.decryptErrorRate.examples, reencrypt.observe.examples],
    [['1%'], ['25%'], ['0.1%'], ['2h']],
  );
  assert.equal(reencrypt.stages.description, 'The stages after the canary (default [25%, 50%, 75%, 100%]).');
  assert.equal(reencrypt.stages.items.description, 'Share of all rows done once this stage ends.');
});

test('keyshift schema: a hook\'s run and env forms, the http check and each hook form\'s description, as an editor gets them', () => {
  const secretSchema = policyJsonSchema().properties.secrets.items;
  const { deploy, verify } = secretSchema.properties.environments.items.properties;
  assert.deepEqual(deploy.items.properties.run, {
    description: 'The command: a list (argv, no shell) or a string (a shell line, run with /bin/sh -c).',
    anyOf: [
      { type: 'array', items: { type: 'string', minLength: 1 }, minItems: 1, description: 'Program and arguments, run without a shell.' },
      { type: 'string', minLength: 1, description: 'One shell line, run with /bin/sh -c.' },
    ],
  });
  const env = {
    description:
      "What the command gets of keyshift's environment besides PATH, HOME, USER, LOGNAME, SHELL, LANG, LANGUAGE, TZ, TMPDIR, LC_*: " +
      'a list of variables to pass through (NAME, or PREFIX* for every NAME starting with PREFIX; NAME=value sets one), or a map of variables to set ' +
      "(a name without a value passes keyshift's through). Never KEYSHIFT_*: keyshift sets those itself and never passes its keys.",
    anyOf: [
      { type: 'array', items: { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_]*(\\*|=.*)?$', not: { pattern: '^KEYSHIFT_' } } },
      {
        type: 'object',
        propertyNames: { pattern: '^[A-Za-z_][A-Za-z0-9_]*\\*?$', not: { pattern: '^KEYSHIFT_' } },
        additionalProperties: { type: ['string', 'null'] },
      },
    ],
  };
  assert.deepEqual(deploy.items.properties.env, env);
  assert.deepEqual(secretSchema.properties.generator.oneOf[1].properties.env, env, 'a command generator\'s env');
  assert.deepEqual(verify.items.properties.run, deploy.items.properties.run);
  assert.equal(deploy.items.description, 'A command: argv (no shell) or one shell line.');
  assert.equal(verify.items.description, 'A check after deploy: a command (exit 0 = healthy) or an http call.');
  const http = verify.items.properties.http;
  assert.equal(http.description, 'Call a URL and expect a status.');
  assert.deepEqual(http.properties.method, { description: 'HTTP method (default GET).', default: 'GET', type: 'string', enum: ['GET', 'HEAD', 'POST'] });
  assert.equal(http.properties.url.description, 'The URL to call (http or https). The secret is never sent.');
  assert.equal(http.properties.expectStatus.description, 'The status the check expects (default 200).');
});

test('env: null (a hook\'s or a command generator\'s) is "must be a list … or a map", not a crash of the loader', async () => {
  const fix = 'must be a list of variables to pass through or a map of variables to set; e.g. env: [KUBECONFIG, AWS_PROFILE] or env: [AWS_*] or env: { NAMESPACE: payments }';
  assert.deepEqual(await problems(oneSecret('{ type: local, path: s }', '', '{ type: command, run: [./k], env: null }')), [`5:50 secrets[0].generator.env: ${fix}`]);
  assert.deepEqual(await problems(oneSecret('{ type: local, path: s }\n        deploy: [{ run: ./d, env: null }]')), [`9:35 secrets[0].environments[0].deploy[0].env: ${fix}`]);
});

test('env: a one-letter name and a name that is the start of KEYSHIFT_ are ordinary names (only NAME* is a prefix)', async () => {
  assert.deepEqual(await problems(oneSecret('{ type: local, path: s }', '', '{ type: command, run: [./k], env: [X, KEYS] }')), []);
  assert.deepEqual(await problems(oneSecret('{ type: local, path: s }\n        deploy: [{ run: ./d, env: { X: null, KEYS: null } }]')), []);
});
