// The policy schema as users meet it: `keyshift schema` (the JSON Schema editors read: every key has
// a hover text, every example is valid, every default is what the loader really uses) and the exact
// messages of the schema's own rules when a policy is loaded. Few, fast cases: listed first for
// Stryker's `policy` part (stryker.config.mjs), so a schema mutant they catch stops here.
import { test } from 'node:test';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { policyJsonSchema } from '../../dist/policy/json-schema.js';
import { load, policy, oneSecret, problems, checkProblems, REENCRYPT_DEFAULTS } from '../helpers/policy-fixture.js';

const secret = oneSecret;
const check = (cases) => checkProblems(cases);

const schema = policyJsonSchema();

/** Every object property of the JSON Schema, as [path, property schema]. */
function properties(node, path = '', out = []) {
  if (!node || typeof node !== 'object') return out;
  if (Array.isArray(node)) {
    node.forEach((item, index) => properties(item, `${path}[${index}]`, out));
    return out;
  }
  for (const [key, value] of Object.entries(node.properties ?? {})) out.push([`${path}.${key}`, value]);
  for (const [key, value] of Object.entries(node)) {
    if (key === 'properties') for (const [name, child] of Object.entries(value)) properties(child, `${path}.${name}`, out);
    else if (key !== 'if') properties(value, `${path}/${key}`, out);
  }
  return out;
}

const described = (node) =>
  (typeof node.description === 'string' && node.description.trim().length > 0) ||
  [...(node.oneOf ?? []), ...(node.anyOf ?? [])].some(described) ||
  (node.items !== undefined && described(node.items));

test('keyshift schema: every key an editor offers has a hover description (but type and the rotation tag names)', () => {
  const missing = properties(schema)
    .filter(([path, node]) => !path.endsWith('.type') && !described(node))
    .map(([path]) => path);
  // The rotation tags' own keys are described once, on `tags`; `tables` and `slo` on their items.
  assert.deepEqual(
    missing.filter((path) => !/\.tags\/anyOf\[1\]\.(rotated-by|rotated-at|rotation-ticket)$/.test(path)),
    ['.secrets/items.reencrypt.tables', '.secrets/items.reencrypt.slo'].filter((path) => missing.includes(path)),
  );
  assert.ok(schema.description.length > 20 && schema.title === 'keyshift policy file');
  assert.equal(schema.$id, 'urn:keyshift:policy-file:v1');
  assert.equal(schema.$schema, 'http://json-schema.org/draft-07/schema#');
});

test('keyshift schema: each duration field gives an example, and the example matches its own pattern', () => {
  const durations = properties(schema).filter(([, node]) => node.pattern === '^[1-9][0-9]*[smhdw]$');
  assert.ok(durations.length >= 10, `${durations.length} duration fields`);
  for (const [path, node] of durations) {
    assert.equal(node.examples?.length, 1, path);
    assert.match(node.examples[0], new RegExp(node.pattern), path);
  }
  const secret = schema.properties.secrets.items.properties;
  assert.deepEqual([secret.interval.examples, secret.fallbackWindow.examples], [['90d'], ['48h']]);
});

test('keyshift schema: the defaults an editor shows are the ones the loader applies', async () => {
  const secret = schema.properties.secrets.items;
  const environment = secret.properties.environments.items;
  const [random] = secret.properties.generator.oneOf;
  assert.equal(random.properties.encoding.default, 'base64');
  assert.equal(random.properties.charset.default, 'alphanumeric');
  assert.equal(environment.properties.requireTicket.default, false);
  assert.equal(secret.properties.sharedValue.default, false);
  assert.deepEqual(secret.properties.notify.items.properties.on.default, ['failed', 'switched', 'decommissioned', 'rolled-back']);
  const kms = environment.properties.store.oneOf.find((store) => store.properties.type.const === 'aws-kms');
  assert.equal(kms.properties.mode.default, 'alias');

  const { policies, errors } = await load(policy());
  assert.deepEqual(errors, []);
  assert.equal(policies[0].generator.encoding, random.properties.encoding.default);
  assert.equal(policies[0].sharedValue, secret.properties.sharedValue.default);
  assert.equal(policies[0].environments[0].requireTicket, environment.properties.requireTicket.default);
});

test('lock tables, dotenv, k8s-secret, vault-kv2, command and plugin stores: each bad field with its own message', async () => {
  await check([
    ["{ type: local, path: s, lock: { type: redis, table: keyshift-leases } }", ["8:54 secrets[0].environments[0].store.lock.type: must be dynamodb (the only lock table keyshift knows); e.g. lock: { type: dynamodb, table: keyshift-leases, region: us-east-1 }"]],
    ["{ type: local, path: s, lock: { type: dynamodb, table: ab } }", ["8:71 secrets[0].environments[0].store.lock.table: must be a DynamoDB table name: 3-255 letters, digits, _ - or .; e.g. table: keyshift-leases"]],
    ["{ type: local, path: s, lock: { type: dynamodb, table: 12 } }", ["8:71 secrets[0].environments[0].store.lock.table: must be a DynamoDB table name, e.g. table: keyshift-leases (got a number)"]],
    ["{ type: local, path: s, lock: { type: dynamodb, table: t-1, region: mars } }", ["8:84 secrets[0].environments[0].store.lock.region: is not an AWS Region; e.g. region: us-east-1"]],
    ["{ type: local, path: s, lock: { type: dynamodb, table: t-1, endpoint: ftp://x } }", ["8:86 secrets[0].environments[0].store.lock.endpoint: must be an http(s) URL, e.g. endpoint: http://127.0.0.1:8000"]],
    ["{ type: local, path: s, lock: { type: dynamodb, table: t-1, profile: \"\" } }", ["8:85 secrets[0].environments[0].store.lock.profile: must not be empty"]],
    ["{ type: local, path: s, lock: { type: dynamodb, table: t-1, ttl: 1h } }", []],
    ["{ type: local, path: s, lock: { type: dynamodb, table: t-1, ttl: 61m } }", ["8:81 secrets[0].environments[0].store.lock.ttl: must be from 1s to 1h; e.g. ttl: 2m"]],
    ["{ type: local, path: s, lock: { type: dynamodb, table: t-1, ttl: 1s } }", []],
    ["{ type: local, path: s, lock: { type: dynamodb, table: t-1, ttl: 900ms } }", ["8:81 secrets[0].environments[0].store.lock.ttl: \"900ms\" is not a duration; use a positive whole number with a unit s, m, h, d or w (e.g. 2m)"]],
    ["{ type: local, path: s, lock: { type: dynamodb, table: t-1, ttl: 0s } }", ["8:81 secrets[0].environments[0].store.lock.ttl: \"0s\" is zero; use a positive whole number with a unit s, m, h, d or w (e.g. 2m)"]],
    ["{ type: local, path: s, lock: { type: dynamodb, table: t-1, bogus: 1 } }", ["8:76 secrets[0].environments[0].store.lock: unknown key \"bogus\"; allowed keys: type, table, region, endpoint, profile, ttl"]],
    ["{ type: dotenv, path: \"\" }", ["8:38 secrets[0].environments[0].store.path: must not be empty; e.g. path: .env"]],
    ["{ type: dotenv, path: \"a\\0b\" }", ["8:38 secrets[0].environments[0].store.path: must not contain a NUL character (\\0); e.g. path: .env"]],
    ["{ type: dotenv, path: .env, name: 1BAD }", ["8:50 secrets[0].environments[0].store.name: must be a variable name: a letter or _, then letters, digits and _ (e.g. name: WEBHOOK_SIGNING_KEY)"]],
    ["{ type: k8s-secret, path: \"\", name: x }", ["8:42 secrets[0].environments[0].store.path: must not be empty; e.g. path: deploy/k8s/secret.yaml"]],
    ["{ type: k8s-secret, path: m.yaml, name: Bad_Name }", ["8:56 secrets[0].environments[0].store.name: must be a Kubernetes object name: lowercase letters, digits, - and . (e.g. name: secrets-service-config)"]],
    ["{ type: k8s-secret, path: m.yaml, name: ok, key: \"bad key\" }", ["8:65 secrets[0].environments[0].store.key: must be a Secret data key: letters, digits, -, _ and . (e.g. key: AES_KEY)"]],
    ["{ type: k8s-secret, path: m.yaml, name: ok, git: { commit: yes } }", ["8:75 secrets[0].environments[0].store.git.commit: must be true or false (got a string)"]],
    ["{ type: k8s-secret, path: m.yaml, name: ok, git: { push: true } }", ["8:65 secrets[0].environments[0].store.git.commit: missing; add it (see docs/policies.md)","8:67 secrets[0].environments[0].store.git: unknown key \"push\"; allowed keys: commit"]],
    ["{ type: dotenv, path: .env, bogus: 1 }", ["8:44 secrets[0].environments[0].store: unknown key \"bogus\"; allowed keys: type, path, name, lock"]],
    ["{ type: vault-kv2, path: app/x, address: \"https://v.example.com/path\" }", ["8:57 secrets[0].environments[0].store.address: must be an http(s) URL without a path, e.g. address: https://vault.example.com:8200"]],
    ["{ type: vault-kv2, path: app/x, mount: \"/kv\" }", ["8:55 secrets[0].environments[0].store.mount: must be a mount path such as secret or kv/team"]],
    ["{ type: vault-kv2, path: \"a//b\" }", ["8:41 secrets[0].environments[0].store.path: must be a secret path of letters, digits and . _ - separated by /, e.g. path: app/api-key"]],
    ["{ type: vault-kv2, path: app/x, field: \"9x\" }", ["8:55 secrets[0].environments[0].store.field: must be a field name (letters, digits, _ . -; at most 64), e.g. field: value"]],
    ["{ type: vault-kv2, path: app/x, namespace: \"\" }", ["8:59 secrets[0].environments[0].store.namespace: must not be empty"]],
    ["{ type: vault-kv2, path: app/x, tokenFile: \"\" }", ["8:59 secrets[0].environments[0].store.tokenFile: must not be empty"]],
    ["{ type: vault-kv2, path: app/x, bogus: 1 }", ["8:48 secrets[0].environments[0].store: unknown key \"bogus\"; allowed keys: type, address, mount, path, field, namespace, tokenFile, lock"]],
    ["{ type: command, run: [] }", ["8:38 secrets[0].environments[0].store.run: needs at least the program to run, e.g. run: [./stores/vault-store.sh]"]],
    ["{ type: command, run: [\"\"] }", ["8:39 secrets[0].environments[0].store.run[0]: must not be an empty string"]],
    ["{ type: command, run: ./x }", ["8:38 secrets[0].environments[0].store.run: expected a list, got a string; e.g. run: [./issue-key.sh, --json]"]],
    ["{ type: command, run: [./x], config: [1] }", ["8:53 secrets[0].environments[0].store.config: must be a mapping (got a list)"]],
    ["{ type: command, run: [./x], key: \"bad key\" }", ["8:50 secrets[0].environments[0].store.key: must be 1-200 characters from letters, digits and . _ / -"]],
    ["{ type: command, run: [./x], timeout: 25h }", ["8:54 secrets[0].environments[0].store.timeout: must be at most 24h (a command or request that runs longer is stuck, not slow)"]],
    ["{ type: command, run: [./x], timeout: 24h }", []],
    ["{ type: command, run: [./x], timeout: 0s }", ["8:54 secrets[0].environments[0].store.timeout: \"0s\" is zero; use a positive whole number with a unit s, m, h, d or w (e.g. 30s)"]],
    ["{ type: command, run: [./x], timeout: soon }", ["8:54 secrets[0].environments[0].store.timeout: \"soon\" is not a duration; use a positive whole number with a unit s, m, h, d or w (e.g. 30s)"]],
    ["{ type: command, run: [./x], bogus: 1 }", ["8:45 secrets[0].environments[0].store: unknown key \"bogus\"; allowed keys: type, run, config, key, timeout, lock"]],
    ["{ type: plugin, module: \"\" }", ["8:40 secrets[0].environments[0].store.module: must not be empty; e.g. module: ./stores/my-store.js"]],
    ["{ type: plugin, module: 5 }", ["8:40 secrets[0].environments[0].store.module: must be a path (./stores/my-store.js) or a package name (keyshift-store-foo) (got a number)"]],
    ["{ type: plugin, module: \"a\\0b\" }", ["8:40 secrets[0].environments[0].store.module: must not contain a NUL character (\\0)"]],
    ["{ type: plugin, module: ./p.js, key: \"bad key\" }", ["8:53 secrets[0].environments[0].store.key: must be 1-200 characters from letters, digits and . _ / -"]],
  ]);
});

test('AWS stores, their rotation tags, data-key generators, random and command generators, secret fields: each rule with its own message', async () => {
  await check([
    ["{ type: aws-secrets-manager, secretId: app/x, region: mars }", ["8:70 secrets[0].environments[0].store.region: \"mars\" is not an AWS Region; e.g. region: us-east-1"]],
    ["{ type: aws-secrets-manager, secretId: app/x, endpoint: \"ftp://x\" }", ["8:72 secrets[0].environments[0].store.endpoint: must be an http(s) URL, e.g. endpoint: http://127.0.0.1:4566"]],
    ["{ type: aws-secrets-manager, secretId: app/x, profile: \"\" }", ["8:71 secrets[0].environments[0].store.profile: must not be empty"]],
    ["{ type: aws-secrets-manager, secretId: \"a b\" }", ["8:55 secrets[0].environments[0].store.secretId: must be a secret name (letters, digits and /_+=.@-) or a Secrets Manager secret ARN"]],
    ["{ type: aws-secrets-manager, secretId: app/x, createIfMissing: yes }", ["8:79 secrets[0].environments[0].store.createIfMissing: must be true or false (got a string)"]],
    ["{ type: aws-secrets-manager, secretId: app/x, quotas: { versionWritesPerSecond: 0 } }", ["8:96 secrets[0].environments[0].store.quotas.versionWritesPerSecond: must be a whole number from 1 to 10000"]],
    ["{ type: aws-secrets-manager, secretId: app/x, quotas: { readsPerSecond: 100001 } }", ["8:88 secrets[0].environments[0].store.quotas.readsPerSecond: must be a whole number from 1 to 100000"]],
    ["{ type: aws-secrets-manager, secretId: app/x, quotas: { tagWritesPerSecond: 1.5 } }", ["8:92 secrets[0].environments[0].store.quotas.tagWritesPerSecond: must be a whole number from 1 to 10000 (got a decimal number)"]],
    ["{ type: aws-secrets-manager, secretId: app/x, quotas: { versionWritesPerSecond: 10000, readsPerSecond: 100000, tagWritesPerSecond: 1 } }", []],
    ["{ type: aws-secrets-manager, secretId: app/x, quotas: { bogus: 1 } }", ["8:72 secrets[0].environments[0].store.quotas: unknown key \"bogus\"; allowed keys: versionWritesPerSecond, readsPerSecond, tagWritesPerSecond"]],
    [["{ type: aws-kms, alias: alias/app }","",null], []],
    [["{ type: aws-kms, alias: app }","",null], ["7:40 secrets[0].environments[0].store.alias: \"app\" is not a KMS alias; use alias/<name> with letters, digits and / _ -, e.g. alias: alias/payments-data"]],
    [["{ type: aws-kms, alias: alias/aws/rds }","",null], ["7:40 secrets[0].environments[0].store.alias: alias/aws/ is reserved for AWS managed keys, which only AWS rotates; use an alias of a customer managed key"]],
    [["{ type: aws-kms, alias: alias/app, mode: auto }","",null], ["7:57 secrets[0].environments[0].store.mode: must be alias (a new key behind the alias) or managed (new key material under the same key id)"]],
    [["{ type: aws-kms, alias: alias/app, pendingWindowDays: 6 }","",null], ["7:70 secrets[0].environments[0].store.pendingWindowDays: must be a whole number from 7 to 30"]],
    [["{ type: aws-kms, alias: alias/app, pendingWindowDays: 31 }","",null], ["7:70 secrets[0].environments[0].store.pendingWindowDays: must be a whole number from 7 to 30"]],
    [["{ type: aws-kms, alias: alias/app, pendingWindowDays: 7, createIfMissing: 1 }","",null], ["7:90 secrets[0].environments[0].store.createIfMissing: must be true or false (got a number)"]],
    [["{ type: aws-kms, alias: alias/app, quotas: { controlPlanePerSecond: 1001 } }","",null], ["7:84 secrets[0].environments[0].store.quotas.controlPlanePerSecond: must be a whole number from 1 to 1000"]],
    [["{ type: aws-kms, alias: alias/app, quotas: { readsPerSecond: 10001 } }","",null], ["7:77 secrets[0].environments[0].store.quotas.readsPerSecond: must be a whole number from 1 to 10000"]],
    [["{ type: aws-kms, alias: alias/app, quotas: { controlPlanePerSecond: 1000, readsPerSecond: 10000 } }","",null], []],
    ["{ type: aws-secrets-manager, secretId: app/x, tags: yes }", ["8:68 secrets[0].environments[0].store.tags: must be true, false or a map of rotated-by, rotated-at, rotation-ticket; e.g. tags: true, or tags: { rotated-by: RotatedBy, rotation-ticket: false }"]],
    ["{ type: aws-secrets-manager, secretId: app/x, tags: [rotated-by] }", ["8:68 secrets[0].environments[0].store.tags: must be true, false or a map of rotated-by, rotated-at, rotation-ticket; e.g. tags: true, or tags: { rotated-by: RotatedBy, rotation-ticket: false }"]],
    ["{ type: aws-secrets-manager, secretId: app/x, tags: { rotated-on: X } }", ["8:82 secrets[0].environments[0].store.tags.rotated-on: is not a tag keyshift writes; use rotated-by, rotated-at, rotation-ticket"]],
    ["{ type: aws-secrets-manager, secretId: app/x, tags: { rotated-by: \"\" } }", ["8:82 secrets[0].environments[0].store.tags.rotated-by: must be true, false or a tag key of 1-127 letters, digits, spaces and _ . : / = + - @; e.g. RotatedBy"]],
    ["{ type: aws-secrets-manager, secretId: app/x, tags: { rotated-by: 5 } }", ["8:82 secrets[0].environments[0].store.tags.rotated-by: must be true, false or a tag key of 1-127 letters, digits, spaces and _ . : / = + - @; e.g. RotatedBy"]],
    ["{ type: aws-secrets-manager, secretId: app/x, tags: { rotated-by: \"aws:x\" } }", ["8:82 secrets[0].environments[0].store.tags.rotated-by: must not start with aws: (reserved by AWS); e.g. RotatedBy"]],
    ["{ type: aws-secrets-manager, secretId: app/x, tags: { rotated-at: \"KeyShift:x\" } }", ["8:82 secrets[0].environments[0].store.tags.rotated-at: must not start with KeyShift: (where keyshift keeps its rotation state); e.g. RotatedBy"]],
    ["{ type: aws-secrets-manager, secretId: app/x, tags: { rotated-by: Rot, rotated-at: Rot } }", ["8:99 secrets[0].environments[0].store.tags.rotated-at: uses the key \"Rot\" of another tag; give each its own key"]],
    ["{ type: aws-secrets-manager, secretId: app/x, tags: { rotated-by: true, rotated-at: rotated-by } }", ["8:100 secrets[0].environments[0].store.tags.rotated-at: uses the key \"rotated-by\" of another tag; give each its own key"]],
    ["{ type: aws-secrets-manager, secretId: app/x, tags: { rotated-by: false, rotated-at: rotated-by } }", []],
    ["{ type: aws-secrets-manager, secretId: app/x, tags: { rotated-by: \"Räder Zeit\" } }", []],
    [["{ type: local, path: s }","","{ type: data-key, master: { type: aws-kms, keyId: bad } }"], ["5:66 secrets[0].generator.master.keyId: must be a KMS key id, key ARN or alias, e.g. keyId: alias/app-master"]],
    [["{ type: local, path: s }","","{ type: data-key, master: { type: aws-kms, keyId: 7 } }"], ["5:66 secrets[0].generator.master.keyId: must be a KMS key id, key ARN or alias, e.g. keyId: alias/app-master (got a number)"]],
    [["{ type: local, path: s }","","{ type: data-key, master: { type: local, secret: Bad } }"], ["5:65 secrets[0].generator.master.secret: must name a secret of these policies, e.g. secret: app-master"]],
    [["{ type: local, path: s }","","{ type: data-key, master: { type: gcp } }"], ["5:50 secrets[0].generator.master.type: unknown type \"gcp\"; use one of: aws-kms, local"]],
    [["{ type: local, path: s }","","{ type: data-key, master: { type: local, secret: app-master, extra: 1 } }"], ["5:77 secrets[0].generator.master: unknown key \"extra\"; allowed keys: type, secret"]],
    [["{ type: dotenv, path: .env }","    sharedValue: true\n    validate: { minLength: 4 }\n","{ type: data-key, master: { type: local, secret: app-master } }"], ["8:24 secrets[0].environments[0].store.type: dotenv cannot hold a data key (its versions are re-wrapped in place when the master rotates); use a local store","9:18 secrets[0].sharedValue: does not apply to data keys (each environment has its own, bound to it); remove it","10:15 secrets[0].validate: does not apply to data keys (random 32-byte keys, stored wrapped); remove it"]],
    [["{ type: aws-kms, alias: alias/app }","","{ type: data-key, master: { type: local, secret: app-master } }"], ["5:16 secrets[0].generator: does not apply to aws-kms keys (KMS makes the key material); remove it"]],
    [["{ type: local, path: s }","","{ type: data-key, master: { type: aws-kms, keyId: \"arn:aws:kms:us-east-1:123456789012:key/abc\", region: mars } }"], ["5:120 secrets[0].generator.master.region: \"mars\" is not an AWS Region; e.g. region: us-east-1"]],
    [["{ type: local, path: s }","    owner: 5\n"], ["9:12 secrets[0].owner: expected a string, got a number; e.g. owner: team-security"]],
    [["{ type: local, path: s }","    description: \"two\\nlines\"\n"], ["9:18 secrets[0].description: must be one line (it is shown in tables); put more in a YAML comment"]],
    [["{ type: local, path: s }","    description: \"one line\\n\"\n"], []],
    [["{ type: local, path: s }","    sharedValue: maybe\n"], ["9:18 secrets[0].sharedValue: expected true or false, got a string"]],
    [["{ type: local, path: s }","    exportAs: 1X\n"], ["9:15 secrets[0].exportAs: must be an environment variable name (letters, digits and _, not starting with a digit), e.g. exportAs: WEBHOOK_SIGNING_KEY"]],
    [["{ type: local, path: s }","    notify: yes\n"], ["9:13 secrets[0].notify: must be a list of webhooks, e.g. - webhook: https://hooks.example.com/keyshift (got a string)"]],
    [["{ type: local, path: s }","    notify: [{ on: [failed] }]\n"], ["9:14 secrets[0].notify[0].webhook: missing; a notify target needs a webhook, e.g. webhook: https://hooks.example.com/keyshift"]],
    [["{ type: local, path: s }","    notify: [{ webhook: \"ftp://x\" }]\n"], ["9:25 secrets[0].notify[0].webhook: must be an absolute http:// or https:// URL, e.g. webhook: https://hooks.example.com/keyshift"]],
    [["{ type: local, path: s }","    notify: [{ webhook: \"https://h.example.com\", on: [] }]\n"], ["9:54 secrets[0].notify[0].on: is empty; list at least one event (failed, switched, decommissioned, rolled-back, provisioned, issued, deployed, verified) or leave on out for the default"]],
    [["{ type: local, path: s }","    notify: [{ webhook: \"https://h.example.com\", on: [exploded] }]\n"], ["9:55 secrets[0].notify[0].on[0]: must be one of failed, switched, decommissioned, rolled-back, provisioned, issued, deployed, verified"]],
    [["{ type: local, path: s }","    notify: [{ webhook: \"https://h.example.com\", on: failed }]\n"], ["9:54 secrets[0].notify[0].on: must be a list of events, e.g. on: [failed, switched] (got a string)"]],
    [["{ type: local, path: s }","    controls: [\"SOC 2\"]\n"], ["9:16 secrets[0].controls[0]: must be one control id without spaces, e.g. SOC2-CC6.1"]],
    [["{ type: local, path: s }","    signing: 1\n"], ["9:5 secrets[0]: unknown key \"signing\"; allowed keys: name, owner, description, interval, fallbackWindow, generator, environments, revoke, decommissionCheck, sharedValue, exportAs, notify, controls, validate, reencrypt"]],
    [["{ type: local, path: s }","","{ type: random, bytes: 15 }"], ["5:39 secrets[0].generator.bytes: must be a whole number from 16 to 1024"]],
    [["{ type: local, path: s }","","{ type: random, bytes: 1025 }"], ["5:39 secrets[0].generator.bytes: must be a whole number from 16 to 1024"]],
    [["{ type: local, path: s }","","{ type: random, bytes: 16.5 }"], ["5:39 secrets[0].generator.bytes: expected a whole number, got a decimal number; e.g. bytes: 32"]],
    [["{ type: local, path: s }","","{ type: random, length: 7 }"], ["5:40 secrets[0].generator.length: must be a whole number from 8 to 4096"]],
    [["{ type: local, path: s }","","{ type: random, length: 4097 }"], ["5:40 secrets[0].generator.length: must be a whole number from 8 to 4096"]],
    [["{ type: local, path: s }","","{ type: random, length: 8, charset: emoji }"], ["5:52 secrets[0].generator.charset: must be one of alphanumeric, alphanumeric-symbols, hex, digits"]],
    [["{ type: local, path: s }","","{ type: random, bytes: 16, encoding: base32 }"], ["5:53 secrets[0].generator.encoding: must be one of base64, base64url, hex"]],
    [["{ type: local, path: s }","","{ type: random, length: 8, chars: \"a\" }"], ["5:50 secrets[0].generator.chars: needs at least 2 distinct characters"]],
    [["{ type: local, path: s }","","{ type: random, length: 8, chars: \"aa\" }"], ["5:50 secrets[0].generator.chars: needs at least 2 distinct characters"]],
    [["{ type: local, path: s }","","{ type: random, bytes: 16, length: 8 }"], ["5:16 secrets[0].generator: use either bytes (random key material) or length (a password), not both"]],
    [["{ type: local, path: s }","","{ type: random }"], ["5:16 secrets[0].generator: a random generator needs bytes (e.g. bytes: 32) or length (e.g. length: 32)"]],
    [["{ type: local, path: s }","","{ type: random, encoding: hex }"], ["5:16 secrets[0].generator: a random generator needs bytes (e.g. bytes: 32) or length (e.g. length: 32)"]],
    [["{ type: local, path: s }","","{ type: random, bytes: 16, charset: hex, chars: ab }"], ["5:52 secrets[0].generator.charset: applies only to passwords (length); remove it or use length instead of bytes","5:64 secrets[0].generator.chars: applies only to passwords (length); remove it or use length instead of bytes"]],
    [["{ type: local, path: s }","","{ type: random, length: 8, encoding: hex }"], ["5:53 secrets[0].generator.encoding: applies only to bytes; remove it (passwords are plain characters)"]],
    [["{ type: local, path: s }","","{ type: random, length: 8, charset: hex, chars: ab }"], ["5:64 secrets[0].generator.chars: use either charset or chars, not both"]],
    [["{ type: local, path: s }","","{ type: random, length: 8, bogus: 1 }"], ["5:43 secrets[0].generator: unknown key \"bogus\"; allowed keys: type, bytes, encoding, length, charset, chars"]],
    [["{ type: local, path: s }","","{ type: command, run: [] }"], ["5:38 secrets[0].generator.run: needs at least the program to run, e.g. run: [./issue-key.sh]"]],
    [["{ type: local, path: s }","","{ type: command, run: [\"\"] }"], ["5:39 secrets[0].generator.run[0]: must not be an empty string"]],
    [["{ type: local, path: s }","","{ type: command, run: [./x], timeout: 25h }"], ["5:54 secrets[0].generator.timeout: must be at most 24h (a command or request that runs longer is stuck, not slow)"]],
    [["{ type: local, path: s }","","{ type: magic }"], ["5:24 secrets[0].generator.type: unknown type \"magic\"; use one of: random, command, data-key"]],
    [["{ type: local, path: s }","",null], ["2:5 secrets[0].generator: missing; add it, e.g. generator: { type: random, bytes: 32 }"]],
    [["{ type: local, path: \"\" }"], ["8:37 secrets[0].environments[0].store.path: must not be empty; e.g. path: .keyshift/dev.store"]],
    [["{ type: local, path: \"a\\0b\" }"], ["8:37 secrets[0].environments[0].store.path: must not contain a NUL character (\\0); e.g. path: .keyshift/dev.store"]],
    [["{ type: local, path: s, key: \"a b\" }"], ["8:45 secrets[0].environments[0].store.key: must be 1-200 characters from letters, digits and . _ / -"]],
    [["{ type: local, path: s, key: a/b.c_d-e }"], []],
    [["{ type: s3, path: s }"], ["8:24 secrets[0].environments[0].store.type: unknown type \"s3\"; use one of: local, aws-secrets-manager, aws-kms, dotenv, k8s-secret, vault-kv2, command, plugin"]],
    [["{ type: aws-kms, alias: alias/app }","      - name: prod\n        store: { type: local, path: s }\n",null], ["6:7 secrets[0].environments: mixes aws-kms keys with stored values; a secret is either a KMS key in every environment or a value in none"]],
    [["{ type: aws-kms, alias: alias/app }","","{ type: random, bytes: 32 }"], ["5:16 secrets[0].generator: does not apply to aws-kms keys (KMS makes the key material); remove it"]],
    [["{ type: aws-kms, alias: alias/app }","    validate: { minLength: 4 }\n",null], ["8:15 secrets[0].validate: does not apply to aws-kms keys (their key material never leaves KMS); remove it"]],
    [["{ type: aws-kms, alias: alias/app, mode: managed }","",null], []],
    [["{ type: aws-kms, alias: alias/app, mode: managed }\n        deploy: [{ run: [./d] }]\n        verify: [{ run: [./v] }]","",null], ["8:17 secrets[0].environments[0].deploy: does not apply to mode: managed (the key id never changes, so there is no overlap to deploy in); use mode: alias","9:17 secrets[0].environments[0].verify: does not apply to mode: managed (the key id never changes, so there is no overlap to deploy in); use mode: alias"]],
  ]);
});

test('reencrypt: the database, tables, percentages, stages and the key it needs, each with its own message', async () => {
  await check([
    [["{ type: local, path: s }","    reencrypt: { database: { type: sqlite, path: app.db }, tables: [{ table: users, key: id, columns: [email] }] }\n"], []],
    [["{ type: local, path: s }","    reencrypt: { database: { type: sqlite, path: \"\" }, tables: [{ table: users, key: id, columns: [email] }] }\n"], ["9:50 secrets[0].reencrypt.database.path: must not be empty; e.g. path: data/app.db"]],
    [["{ type: local, path: s }","    reencrypt: { database: { type: mysql }, tables: [{ table: users, key: id, columns: [email] }] }\n"], ["9:36 secrets[0].reencrypt.database.type: unknown type \"mysql\"; use one of: sqlite, postgres"]],
    [["{ type: local, path: s }","    reencrypt: { database: { type: postgres, url: \"mysql://x\" }, tables: [{ table: users, key: id, columns: [email] }] }\n"], ["9:51 secrets[0].reencrypt.database.url: must be a postgres:// URL without a password, e.g. url: postgres://app@db.internal:5432/app (the password comes from PGPASSWORD or ~/.pgpass)"]],
    [["{ type: local, path: s }","    reencrypt: { database: { type: postgres, url: \"postgres://app:pw@db/app\" }, tables: [{ table: users, key: id, columns: [email] }] }\n"], ["9:51 secrets[0].reencrypt.database.url: must not contain a password (policies are committed); set PGPASSWORD or use ~/.pgpass"]],
    [["{ type: local, path: s }","    reencrypt: { database: { type: postgres, url: \"postgres://app@db/app?sslmode=require&password=pw\" }, tables: [{ table: users, key: id, columns: [email] }] }\n"], ["9:51 secrets[0].reencrypt.database.url: must not contain a password (policies are committed); set PGPASSWORD or use ~/.pgpass"]],
    [["{ type: local, path: s }","    reencrypt: { database: { type: postgres, url: \"postgresql://app@db/app?PASSWORD=pw\" }, tables: [{ table: users, key: id, columns: [email] }] }\n"], ["9:51 secrets[0].reencrypt.database.url: must not contain a password (policies are committed); set PGPASSWORD or use ~/.pgpass"]],
    [["{ type: local, path: s }","    reencrypt: { database: { type: postgres, url: \"postgres://app@db/app?sslmode=require&passfile=/etc/pgpass\" }, tables: [{ table: users, key: id, columns: [email] }] }\n"], []],
    [["{ type: local, path: s }","    reencrypt: { database: { type: postgres, url: \"postgresql://app@db:5432/app\" }, tables: [{ table: users, key: id, columns: [email] }] }\n"], []],
    [["{ type: local, path: s }","    reencrypt: { database: { type: sqlite, path: app.db }, tables: [] }\n"], ["9:68 secrets[0].reencrypt.tables: is empty; list the tables with encrypted columns"]],
    [["{ type: local, path: s }","    reencrypt: { database: { type: sqlite, path: app.db }, tables: users }\n"], ["9:68 secrets[0].reencrypt.tables: must be a list, e.g. - { table: users, key: id, columns: [email] } (got a string)"]],
    [["{ type: local, path: s }","    reencrypt: { database: { type: sqlite, path: app.db }, tables: [{ table: 1users, key: id, columns: [email] }] }\n"], ["9:78 secrets[0].reencrypt.tables[0].table: must be a table name (letters, digits and _, optionally schema.table), e.g. table: users"]],
    [["{ type: local, path: s }","    reencrypt: { database: { type: sqlite, path: app.db }, tables: [{ table: 5, key: id, columns: [email] }] }\n"], ["9:78 secrets[0].reencrypt.tables[0].table: must be a table name, e.g. table: users (got a number)"]],
    [["{ type: local, path: s }","    reencrypt: { database: { type: sqlite, path: app.db }, tables: [{ table: app.users, key: 9id, columns: [email] }] }\n"], ["9:94 secrets[0].reencrypt.tables[0].key: must be a column name (letters, digits and _, not starting with a digit), e.g. key: id"]],
    [["{ type: local, path: s }","    reencrypt: { database: { type: sqlite, path: app.db }, tables: [{ table: users, key: 7, columns: [email] }] }\n"], ["9:90 secrets[0].reencrypt.tables[0].key: expected a string, got a number; e.g. key: id"]],
    [["{ type: local, path: s }","    reencrypt: { database: { type: sqlite, path: app.db }, tables: [{ table: users, key: id, columns: [] }] }\n"], ["9:103 secrets[0].reencrypt.tables[0].columns: is empty; list the encrypted columns, e.g. columns: [email, ssn]"]],
    [["{ type: local, path: s }","    reencrypt: { database: { type: sqlite, path: app.db }, tables: [{ table: users, key: id, columns: email }] }\n"], ["9:103 secrets[0].reencrypt.tables[0].columns: must be a list of columns, e.g. columns: [email, ssn] (got a string)"]],
    [["{ type: local, path: s }","    reencrypt: { database: { type: sqlite, path: app.db }, tables: [{ table: users, key: id, columns: [e-mail] }] }\n"], ["9:104 secrets[0].reencrypt.tables[0].columns[0]: must be a column name (letters, digits and _, not starting with a digit), e.g. columns: [email, ssn]"]],
    [["{ type: local, path: s }","    reencrypt: { database: { type: sqlite, path: app.db }, tables: [{ table: users, key: id, columns: [email] }], batchSize: 0 }\n"], ["9:126 secrets[0].reencrypt.batchSize: must be a whole number from 1 to 100000"]],
    [["{ type: local, path: s }","    reencrypt: { database: { type: sqlite, path: app.db }, tables: [{ table: users, key: id, columns: [email] }], batchSize: 100001 }\n"], ["9:126 secrets[0].reencrypt.batchSize: must be a whole number from 1 to 100000"]],
    [["{ type: local, path: s }","    reencrypt: { database: { type: sqlite, path: app.db }, tables: [{ table: users, key: id, columns: [email] }], batchSize: 100000, canary: 100%, stages: [0.001%, 100%], observe: 0s, slo: { decryptErrorRate: 0.001% }, aad: row }\n"], []],
    [["{ type: local, path: s }","    reencrypt: { database: { type: sqlite, path: app.db }, tables: [{ table: users, key: id, columns: [email] }], canary: 0% }\n"], ["9:123 secrets[0].reencrypt.canary: must be a percentage from 0.001% to 100%, e.g. 1%"]],
    [["{ type: local, path: s }","    reencrypt: { database: { type: sqlite, path: app.db }, tables: [{ table: users, key: id, columns: [email] }], canary: 100.1% }\n"], ["9:123 secrets[0].reencrypt.canary: must be a percentage from 0.001% to 100%, e.g. 1%"]],
    [["{ type: local, path: s }","    reencrypt: { database: { type: sqlite, path: app.db }, tables: [{ table: users, key: id, columns: [email] }], canary: \"1\" }\n"], ["9:123 secrets[0].reencrypt.canary: must be a percentage from 0.001% to 100%, e.g. 1%"]],
    [["{ type: local, path: s }","    reencrypt: { database: { type: sqlite, path: app.db }, tables: [{ table: users, key: id, columns: [email] }], canary: 1 }\n"], ["9:123 secrets[0].reencrypt.canary: must be a percentage, e.g. 1% (got a number)"]],
    [["{ type: local, path: s }","    reencrypt: { database: { type: sqlite, path: app.db }, tables: [{ table: users, key: id, columns: [email] }], stages: [] }\n"], ["9:123 secrets[0].reencrypt.stages: is empty; e.g. stages: [25%, 50%, 75%, 100%]"]],
    [["{ type: local, path: s }","    reencrypt: { database: { type: sqlite, path: app.db }, tables: [{ table: users, key: id, columns: [email] }], stages: 50% }\n"], ["9:123 secrets[0].reencrypt.stages: must be a list of percentages, e.g. stages: [25%, 50%, 75%, 100%] (got a string)"]],
    [["{ type: local, path: s }","    reencrypt: { database: { type: sqlite, path: app.db }, tables: [{ table: users, key: id, columns: [email] }], stages: [50%, 50%, 100%] }\n"], ["9:123 secrets[0].reencrypt.stages: must increase, e.g. stages: [25%, 50%, 75%, 100%]"]],
    [["{ type: local, path: s }","    reencrypt: { database: { type: sqlite, path: app.db }, tables: [{ table: users, key: id, columns: [email] }], stages: [50%, 25%, 100%] }\n"], ["9:123 secrets[0].reencrypt.stages: must increase, e.g. stages: [25%, 50%, 75%, 100%]"]],
    [["{ type: local, path: s }","    reencrypt: { database: { type: sqlite, path: app.db }, tables: [{ table: users, key: id, columns: [email] }], stages: [25%, 50%] }\n"], ["9:123 secrets[0].reencrypt.stages: must end with 100% (every row re-encrypted), e.g. stages: [25%, 50%, 75%, 100%]"]],
    [["{ type: local, path: s }","    reencrypt: { database: { type: sqlite, path: app.db }, tables: [{ table: users, key: id, columns: [email] }], observe: soon }\n"], ["9:124 secrets[0].reencrypt.observe: must be a duration: a whole number with a unit s, m, h, d or w, e.g. observe: 2h (0s for no gate)"]],
    [["{ type: local, path: s }","    reencrypt: { database: { type: sqlite, path: app.db }, tables: [{ table: users, key: id, columns: [email] }], observe: 5 }\n"], ["9:124 secrets[0].reencrypt.observe: must be a duration, e.g. observe: 2h (0s for no gate) (got a number)"]],
    [["{ type: local, path: s }","    reencrypt: { database: { type: sqlite, path: app.db }, tables: [{ table: users, key: id, columns: [email] }], slo: { decryptErrorRate: 0% } }\n"], ["9:140 secrets[0].reencrypt.slo.decryptErrorRate: must be a percentage from 0.001% to 100%, e.g. 0.1%"]],
    [["{ type: local, path: s }","    reencrypt: { database: { type: sqlite, path: app.db }, tables: [{ table: users, key: id, columns: [email] }], slo: { errorRate: 1% } }\n"], ["9:122 secrets[0].reencrypt.slo: unknown key \"errorRate\"; allowed keys: decryptErrorRate"]],
    [["{ type: local, path: s }","    reencrypt: { database: { type: sqlite, path: app.db }, tables: [{ table: users, key: id, columns: [email] }], aad: column }\n"], ["9:120 secrets[0].reencrypt.aad: must be row (table, column and row key as associated data) or left out"]],
    [["{ type: local, path: s }","    reencrypt: { database: { type: sqlite, path: app.db }, tables: [{ table: users, key: id, columns: [email] }], bogus: 1 }\n"], ["9:115 secrets[0].reencrypt: unknown key \"bogus\"; allowed keys: database, tables, batchSize, canary, stages, observe, slo, aad"]],
    [["{ type: local, path: s }","    reencrypt: { database: { type: sqlite, path: app.db }, tables: [{ table: users, key: id, columns: [email] }] }\n","{ type: random, bytes: 16 }"], ["5:16 secrets[0].generator: must make a 32-byte AES-256 key for reencrypt: generator: { type: random, bytes: 32 } or { type: data-key, master: … }"]],
    [["{ type: local, path: s }","    reencrypt: { database: { type: sqlite, path: app.db }, tables: [{ table: users, key: id, columns: [email] }] }\n","{ type: random, length: 32 }"], ["5:16 secrets[0].generator: must make a 32-byte AES-256 key for reencrypt: generator: { type: random, bytes: 32 } or { type: data-key, master: … }"]],
    [["{ type: local, path: s }","    reencrypt: { database: { type: sqlite, path: app.db }, tables: [{ table: users, key: id, columns: [email] }] }\n","{ type: command, run: [./k] }"], ["5:16 secrets[0].generator: must make a 32-byte AES-256 key for reencrypt: generator: { type: random, bytes: 32 } or { type: data-key, master: … }"]],
    [["{ type: local, path: s }","    reencrypt: { database: { type: sqlite, path: app.db }, tables: [{ table: users, key: id, columns: [email] }] }\n","{ type: data-key, master: { type: local, secret: app-master } }"], ["5:65 secrets[0].generator.master.secret: names no secret of these policies (\"app-master\"); add the master secret, e.g. - name: app-master with generator: { type: random, bytes: 32 }"]],
    [["{ type: local, path: s }","    reencrypt: { database: { type: sqlite, path: app.db }, tables: [{ table: users, key: id, columns: [email] }], stages: [5, 100%] }\n"], ["9:124 secrets[0].reencrypt.stages[0]: must be a percentage, e.g. 25% (got a number)"]],
    [["{ type: local, path: s }","    reencrypt: { database: { type: sqlite, path: app.db }, tables: [{ table: users, key: id, columns: [email] }], stages: [25%, 5] }\n"], ["9:129 secrets[0].reencrypt.stages[1]: must be a percentage, e.g. 25% (got a number)"]],
    [["{ type: local, path: s }","    reencrypt: { database: { type: sqlite, path: app.db }, tables: [{ table: users, key: id, columns: [email] }], stages: [25%, abc] }\n"], ["9:129 secrets[0].reencrypt.stages[1]: must be a percentage from 0.001% to 100%, e.g. 25%"]],
    [["{ type: local, path: s }","    reencrypt: { database: { type: sqlite, path: app.db }, tables: [{ table: users, key: id, columns: [email] }], stages: [25%, 101%] }\n"], ["9:123 secrets[0].reencrypt.stages: must end with 100% (every row re-encrypted), e.g. stages: [25%, 50%, 75%, 100%]","9:129 secrets[0].reencrypt.stages[1]: must be a percentage from 0.001% to 100%, e.g. 25%"]],
  ]);
});

test('reencrypt: stages: [] is a policy error, not a crash of the loader (it was a TypeError from the "must end with 100%" rule)', async () => {
  const text = secret('{ type: local, path: s }', '    reencrypt: { database: { type: sqlite, path: a.db }, tables: [{ table: t, key: id, columns: [c] }], stages: [] }\n');
  assert.deepEqual(await problems(text), ['9:113 secrets[0].reencrypt.stages: is empty; e.g. stages: [25%, 50%, 75%, 100%]']);
});

test('reencrypt: what a policy leaves out is filled with the documented defaults', async () => {
  const { policies, errors, cwd } = await load(secret('{ type: local, path: s }', '    reencrypt: { database: { type: sqlite, path: data/app.db }, tables: [{ table: app.users, key: id, columns: [email, ssn] }] }\n'));
  assert.deepEqual(errors, []);
  assert.deepEqual(policies[0].reencrypt, {
    database: { type: 'sqlite', path: `${cwd}/data/app.db` },
    tables: [{ table: 'app.users', key: 'id', columns: ['email', 'ssn'] }],
    ...REENCRYPT_DEFAULTS,
  });
});

test('hooks and env: run, timeout, cwd, http checks and the variables a command may get, each with its own message', async () => {
  await check([
    [["{ type: local, path: s }","        deploy: [{ run: \"\" }]\n"], ["9:25 secrets[0].environments[0].deploy[0].run: is empty; give a command, e.g. run: [kubectl, rollout, restart, deployment/api] or run: ./deploy.sh"]],
    [["{ type: local, path: s }","        deploy: [{ run: \"  \" }]\n"], ["9:25 secrets[0].environments[0].deploy[0].run: is empty; give a command, e.g. run: [kubectl, rollout, restart, deployment/api] or run: ./deploy.sh"]],
    [["{ type: local, path: s }","        deploy: [{ run: [] }]\n"], ["9:25 secrets[0].environments[0].deploy[0].run: is an empty list; give at least the program, e.g. run: [kubectl, rollout, restart, deployment/api]"]],
    [["{ type: local, path: s }","        deploy: [{ run: [./d, 8080] }]\n"], ["9:31 secrets[0].environments[0].deploy[0].run[1]: must be a string; quote numbers and booleans, e.g. \"8080\""]],
    [["{ type: local, path: s }","        deploy: [{ run: [./d, \"\"] }]\n"], ["9:31 secrets[0].environments[0].deploy[0].run[1]: must not be an empty string"]],
    [["{ type: local, path: s }","        deploy: [{ run: 5 }]\n"], ["9:25 secrets[0].environments[0].deploy[0].run: must be a list (argv, run without a shell) or a string (a shell line, run with /bin/sh -c); e.g. run: [kubectl, rollout, restart, deployment/api] or run: ./deploy.sh"]],
    [["{ type: local, path: s }","        deploy: [{ timeout: 5m }]\n"], ["9:18 secrets[0].environments[0].deploy[0].run: missing; a hook needs run, e.g. run: [kubectl, rollout, restart, deployment/api] or run: ./deploy.sh"]],
    [["{ type: local, path: s }","        deploy: [{ run: ./d, timeout: 25h }]\n"], ["9:39 secrets[0].environments[0].deploy[0].timeout: must be at most 24h (a command or request that runs longer is stuck, not slow)"]],
    [["{ type: local, path: s }","        deploy: [{ run: ./d, cwd: \"\" }]\n"], ["9:35 secrets[0].environments[0].deploy[0].cwd: must not be empty; leave it out to run where keyshift runs, or e.g. cwd: deploy"]],
    [["{ type: local, path: s }","        deploy: [{ run: ./d, bogus: 1 }]\n"], ["9:30 secrets[0].environments[0].deploy[0]: unknown key \"bogus\"; allowed keys: run, timeout, env, cwd"]],
    [["{ type: local, path: s }","        deploy: { run: ./d }\n"], ["9:17 secrets[0].environments[0].deploy: must be a list of hooks, e.g. - run: [./deploy.sh] (got a map)"]],
    [["{ type: local, path: s }","        verify: [{ run: ./v, http: { url: \"https://a.example.com\" } }]\n"], ["9:18 secrets[0].environments[0].verify[0]: a verify hook needs either run or http, not both; split it into two hooks"]],
    [["{ type: local, path: s }","        verify: [{ cwd: x }]\n"], ["9:18 secrets[0].environments[0].verify[0]: a verify hook needs either run or http; e.g. run: [kubectl, rollout, restart, deployment/api] or run: ./deploy.sh, or http: { url: https://api.example.com/healthz }"]],
    [["{ type: local, path: s }","        verify: [{ http: { url: \"https://a.example.com\" }, timeout: 5s, env: [HOME], cwd: x }]\n"], ["9:69 secrets[0].environments[0].verify[0].timeout: applies only to run hooks; put it inside http (http: { url: ..., timeout: 10s })","9:78 secrets[0].environments[0].verify[0].env: applies only to run hooks; remove it","9:91 secrets[0].environments[0].verify[0].cwd: applies only to run hooks; remove it"]],
    [["{ type: local, path: s }","        verify: [{ http: { url: \"ftp://a\" } }]\n"], ["9:33 secrets[0].environments[0].verify[0].http.url: must be an absolute http:// or https:// URL, e.g. https://api.example.com/healthz"]],
    [["{ type: local, path: s }","        verify: [{ http: { url: \"https://a.example.com\", method: PUT } }]\n"], ["9:66 secrets[0].environments[0].verify[0].http.method: must be one of GET, HEAD, POST"]],
    [["{ type: local, path: s }","        verify: [{ http: { url: \"https://a.example.com\", expectStatus: 99 } }]\n"], ["9:72 secrets[0].environments[0].verify[0].http.expectStatus: must be a whole number from 100 to 599"]],
    [["{ type: local, path: s }","        verify: [{ http: { url: \"https://a.example.com\", expectStatus: 600 } }]\n"], ["9:72 secrets[0].environments[0].verify[0].http.expectStatus: must be a whole number from 100 to 599"]],
    [["{ type: local, path: s }","        verify: [{ http: { url: \"https://a.example.com\", timeout: 25h } }]\n"], ["9:67 secrets[0].environments[0].verify[0].http.timeout: must be at most 24h (a command or request that runs longer is stuck, not slow)"]],
    [["{ type: local, path: s }","        verify: [{ http: { url: \"https://a.example.com\", method: HEAD, expectStatus: 204, timeout: 24h } }]\n"], []],
    [["{ type: local, path: s }","        verify: [{ http: { url: \"https://a.example.com\", bogus: 1 } }]\n"], ["9:58 secrets[0].environments[0].verify[0].http: unknown key \"bogus\"; allowed keys: url, method, expectStatus, timeout"]],
    [["{ type: local, path: s }","","{ type: command, run: [./k], env: [KEYSHIFT_X] }"], ["5:51 secrets[0].generator.env[0]: starts with KEYSHIFT_, which is reserved: keyshift sets those variables itself (see docs/hooks.md); rename it"]],
    [["{ type: local, path: s }","","{ type: command, run: [./k], env: [KS_MASTER_KEY] }"], []],
    [["{ type: local, path: s }","","{ type: command, run: [./k], env: [KEYSHIFT_MASTER_KEY] }"], ["5:51 secrets[0].generator.env[0]: is one of keyshift's keys, which never reach a hook or a generator (KEYSHIFT_MASTER_KEY, KEYSHIFT_FINGERPRINT_KEY, KEYSHIFT_SIGNING_KEY); remove it"]],
    [["{ type: local, path: s }","","{ type: command, run: [./k], env: { KEYSHIFT_SIGNING_KEY: x } }"], ["5:74 secrets[0].generator.env.KEYSHIFT_SIGNING_KEY: is one of keyshift's keys, which never reach a hook or a generator (KEYSHIFT_MASTER_KEY, KEYSHIFT_FINGERPRINT_KEY, KEYSHIFT_SIGNING_KEY); remove it"]],
    [["{ type: local, path: s }","","{ type: command, run: [./k], env: [\"*\"] }"], ["5:51 secrets[0].generator.env[0]: would pass keyshift's whole environment; list what the command needs, e.g. env: [KUBECONFIG, AWS_PROFILE] or env: [AWS_*] or env: { NAMESPACE: payments }"]],
    [["{ type: local, path: s }","","{ type: command, run: [./k], env: [\"KEY*\"] }"], ["5:51 secrets[0].generator.env[0]: would match keyshift's own KEYSHIFT_* variables; use a longer prefix or list the names"]],
    [["{ type: local, path: s }","","{ type: command, run: [./k], env: [\"K*\"] }"], ["5:51 secrets[0].generator.env[0]: would match keyshift's own KEYSHIFT_* variables; use a longer prefix or list the names"]],
    [["{ type: local, path: s }","","{ type: command, run: [./k], env: [\"1BAD\"] }"], ["5:51 secrets[0].generator.env[0]: is not a valid environment variable name; use letters, digits and _, not starting with a digit (PREFIX* passes every name that starts with PREFIX)"]],
    [["{ type: local, path: s }","","{ type: command, run: [./k], env: [\"1BAD=x\"] }"], ["5:51 secrets[0].generator.env[0]: is not a valid environment variable name; use letters, digits and _, not starting with a digit"]],
    [["{ type: local, path: s }","","{ type: command, run: [./k], env: [\"OK=1\", \"AWS_*\", PATH] }"], []],
    [["{ type: local, path: s }","","{ type: command, run: [./k], env: [5] }"], ["5:51 secrets[0].generator.env[0]: must be a variable name, e.g. KUBECONFIG"]],
    [["{ type: local, path: s }","","{ type: command, run: [./k], env: { \"1BAD\": x } }"], ["5:60 secrets[0].generator.env.1BAD: is not a valid environment variable name; use letters, digits and _, not starting with a digit"]],
    [["{ type: local, path: s }","","{ type: command, run: [./k], env: { NS: 5 } }"], ["5:56 secrets[0].generator.env.NS: expected a string, got a number; quote numbers and booleans, e.g. \"8080\", or leave the value out to pass keyshift's own through"]],
    [["{ type: local, path: s }","","{ type: command, run: [./k], env: { NS: payments, HOME: null } }"], []],
    [["{ type: local, path: s }","","{ type: command, run: [./k], env: { \"AWS_*\": null } }"], []],
    [["{ type: local, path: s }","","{ type: command, run: [./k], env: { \"AWS_*\": x } }"], ["5:61 secrets[0].generator.env[\"AWS_*\"]: is not a valid environment variable name; use letters, digits and _, not starting with a digit"]],
    [["{ type: local, path: s }","","{ type: command, run: [./k], env: yes }"], ["5:50 secrets[0].generator.env: must be a list of variables to pass through or a map of variables to set; e.g. env: [KUBECONFIG, AWS_PROFILE] or env: [AWS_*] or env: { NAMESPACE: payments }"]],
    [["{ type: local, path: s }","    revoke: [{ run: [] }]\n"], ["9:21 secrets[0].revoke[0].run: is an empty list; give at least the program, e.g. run: [kubectl, rollout, restart, deployment/api]"]],
    [["{ type: local, path: s }","    decommissionCheck: [{ timeout: 5m }]\n"], ["9:25 secrets[0].decommissionCheck[0].run: missing; a hook needs run, e.g. run: [kubectl, rollout, restart, deployment/api] or run: ./deploy.sh"]],
  ]);
});

test('stores as the engine gets them: defaults filled in, relative paths resolved against where keyshift runs', async () => {
  const stores = [
    '{ type: vault-kv2, path: app/x, address: "https://v.example.com:8200/", tokenFile: t/tok }',
    '{ type: vault-kv2, path: app/y, mount: kv/team, field: pw, namespace: ns1, address: "http://v" }',
    '{ type: command, run: [./s.sh, --x], config: { a: 1 }, key: k1, timeout: 2m }',
    '{ type: command, run: [../s.sh] }',
    '{ type: command, run: [vault-store] }',
    '{ type: plugin, module: ./p.js, key: k2, region: eu, lock: { type: dynamodb, table: leases, ttl: 30s } }',
    '{ type: plugin, module: keyshift-store-foo }',
    '{ type: plugin, module: /abs/p.js }',
    '{ type: dotenv, path: .env, lock: { type: dynamodb, table: leases, region: us-east-1, endpoint: "http://127.0.0.1:8000", profile: p } }',
    '{ type: aws-secrets-manager, secretId: app/z, tags: true }',
    '{ type: aws-secrets-manager, secretId: app/w, tags: { rotated-by: RotatedBy, rotation-ticket: false } }',
    '{ type: aws-secrets-manager, secretId: app/v, tags: { rotated-by: false, rotated-at: false, rotation-ticket: false } }',
    '{ type: aws-secrets-manager, secretId: app/u, tags: false }',
  ];
  const text = `secrets:\n  - name: api-key\n    interval: 90d\n    fallbackWindow: 48h\n    generator: { type: random, bytes: 32 }\n    environments:\n${stores.map((store, i) => `      - name: e${i}\n        store: ${store}\n`).join('')}`;
  const { policies, errors, cwd } = await load(text);
  assert.deepEqual(errors, []);
  const quotas = { versionWritesPerSecond: 50, readsPerSecond: 10000, tagWritesPerSecond: 50 };
  const sm = (key, tags) => ({ type: 'aws-secrets-manager', key, region: null, endpoint: null, profile: null, createIfMissing: false, quotas, tags });
  assert.deepEqual(policies[0].environments.map((e) => e.store), [
    { type: 'vault-kv2', key: 'app/x', address: 'https://v.example.com:8200', mount: 'secret', field: 'value', namespace: null, tokenFile: `${cwd}/t/tok` },
    { type: 'vault-kv2', key: 'app/y', address: 'http://v', mount: 'kv/team', field: 'pw', namespace: 'ns1', tokenFile: null },
    { type: 'command', key: 'k1', run: [`${cwd}/s.sh`, '--x'], config: { a: 1 }, timeoutMs: 120000 },
    { type: 'command', key: 'api-key', run: [join(cwd, '../s.sh')], config: {}, timeoutMs: 30000 },
    { type: 'command', key: 'api-key', run: ['vault-store'], config: {}, timeoutMs: 30000 },
    { type: 'plugin', module: `${cwd}/p.js`, key: 'k2', options: { region: 'eu' }, lock: { type: 'dynamodb', table: 'leases', region: null, endpoint: null, profile: null, ttlMs: 30000 } },
    { type: 'plugin', module: 'keyshift-store-foo', key: 'api-key', options: {} },
    { type: 'plugin', module: '/abs/p.js', key: 'api-key', options: {} },
    { type: 'dotenv', path: `${cwd}/.env`, key: 'API_KEY', lock: { type: 'dynamodb', table: 'leases', region: 'us-east-1', endpoint: 'http://127.0.0.1:8000', profile: 'p', ttlMs: 120000 } },
    sm('app/z', { rotatedBy: 'rotated-by', rotatedAt: 'rotated-at', ticket: 'rotation-ticket' }),
    sm('app/w', { rotatedBy: 'RotatedBy', rotatedAt: 'rotated-at', ticket: null }),
    sm('app/v', null),
    sm('app/u', null),
  ]);
});

test('data-key generators as the engine gets them: a KMS master with its connection, a local master by name', async () => {
  const kms = await load(secret('{ type: local, path: s }', '', '{ type: data-key, master: { type: aws-kms, keyId: alias/app-master, region: eu-west-1 } }'));
  assert.deepEqual(kms.errors, []);
  assert.deepEqual(kms.policies[0].generator, { type: 'data-key', master: { type: 'aws-kms', keyId: 'alias/app-master', region: 'eu-west-1', endpoint: null, profile: null } });
});
