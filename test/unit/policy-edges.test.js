// Edges of the policy loader found by mutation testing (test/mutation/review-policy.md): the same
// problem raised twice is shown once, and the generator's example when it has the wrong type.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { load } from '../helpers/policy-fixture.js';

const problems = (loaded) => loaded.errors.map((e) => `${e.line}:${e.col} ${e.message}`);

test('a problem raised once per environment at the same place is shown once', async () => {
  const loaded = await load(`secrets:
  - name: k
    interval: 100h
    fallbackWindow: 1h
    environments:
      - name: a
        store: { type: aws-kms, alias: alias/a, mode: managed }
      - name: b
        store: { type: aws-kms, alias: alias/b, mode: managed }
`);
  assert.deepEqual(problems(loaded), [
    '3:15 secrets[0].interval: must be whole days from 90d to 2560d for mode: managed (KMS RotationPeriodInDays); use mode: alias for other intervals',
  ]);
});

test('a generator that is not a map names the field and shows one', async () => {
  const loaded = await load(`secrets:
  - name: k
    interval: 90d
    fallbackWindow: 1h
    generator: 3
    environments: [{ name: a, store: { type: local, path: s } }]
`);
  assert.deepEqual(problems(loaded), ['5:16 secrets[0].generator: expected a map, got a number; e.g. generator: { type: random, bytes: 32 }']);
});

test('a second document holding an empty string is content, refused like any other', async () => {
  const text = `secrets:
  - name: k
    interval: 90d
    fallbackWindow: 1h
    generator: { type: random, bytes: 32 }
    environments: [{ name: a, store: { type: local, path: s } }]
---
""
`;
  assert.deepEqual(problems(await load(text)), ['8:1 only one YAML document per policy file; move this document into its own file']);
});

test('problems on one line are in column order, whatever order the schema finds them in', async () => {
  const loaded = await load(`secrets:
  - name: k
    interval: 90d
    fallbackWindow: 1h
    generator: { type: random, bytes: 32 }
    environments: [{ name: a, store: { key: 3, path: 4, type: local } }]
`);
  assert.deepEqual(problems(loaded), [
    '6:45 secrets[0].environments[0].store.key: expected a string, got a number; e.g. key: webhook-signing-key',
    '6:54 secrets[0].environments[0].store.path: expected a string, got a number; e.g. path: .keyshift/dev.store',
  ]);
});

/** A data key `dk` in `envs`, its local master `m` as `master` describes it (YAML lines of one secret). */
const masterPolicy = (master, envs = ['dev', 'prod']) => `secrets:
  - name: dk
    interval: 90d
    fallbackWindow: 1h
    generator: { type: data-key, master: { type: local, secret: m } }
    environments:
${envs.map((env) => `      - { name: ${env}, store: { type: local, path: dk-${env}.store } }`).join('\n')}
${master}`;
const masterSecret = ({ generator = '{ type: random, bytes: 32 }', envs = ['dev', 'prod'], extra = '' } = {}) => `  - name: m
    interval: 365d
    fallbackWindow: 1h
    generator: ${generator}
    environments:
${envs.map((env) => `      - { name: ${env}, store: { type: local, path: m-${env}.store } }`).join('\n')}
${extra}`;
const NOT_A_MASTER = '5:65 secrets[0].generator.master.secret: "m" cannot be a master: a local master is a secret with generator: { type: random, bytes: 32 }';

test('a local master is a secret of 32 random bytes, with an environment for each of the data key\'s (or only one)', async () => {
  assert.deepEqual(problems(await load(masterPolicy(masterSecret()))), [], 'same environments');
  assert.deepEqual(problems(await load(masterPolicy(masterSecret({ envs: ['shared'] })))), [], 'one environment wraps every data key environment');
  assert.deepEqual(problems(await load(masterPolicy(masterSecret({ envs: ['dev'] }), ['dev']))), [], 'the same single name');
  // Two master environments, neither named prod: dev is wrapped, prod is not.
  assert.deepEqual(problems(await load(masterPolicy(masterSecret({ envs: ['dev', 'staging'] })))), [
    '5:65 secrets[0].generator.master.secret: "m" has no environment "prod" (nor a single one) to wrap the data key of that environment; add it to m',
  ]);
});

test('a local master that is not 32 random bytes, is the data key itself, or re-encrypts rows is refused at master.secret', async () => {
  for (const generator of ['{ type: random, bytes: 16 }', '{ type: random, length: 32 }', '{ type: command, run: [./k.sh] }']) {
    assert.deepEqual(problems(await load(masterPolicy(masterSecret({ generator })))), [NOT_A_MASTER], generator);
  }
  const itself = masterPolicy('').replace('secret: m }', 'secret: dk }');
  assert.deepEqual(problems(await load(itself)), [NOT_A_MASTER.replaceAll('"m"', '"dk"')], 'a data key is not its own master');
  const rows = '    reencrypt:\n      database: { type: sqlite, path: app.db }\n      tables: [{ table: t, key: id, columns: [c] }]\n';
  assert.deepEqual(problems(await load(masterPolicy(masterSecret({ extra: rows })))), [
    '5:65 secrets[0].generator.master.secret: "m" has reencrypt:, but a master wraps data keys and encrypts no rows; seal the rows with a data key, or name another master',
  ]);
});

test('cross-secret rules say nothing more about a name or duration the schema already refused', async () => {
  // Two secrets with the same invalid name: the pattern's problem for each, not a duplicate.
  const badNames = await load(`secrets:
  - name: Bad Name
    interval: 90d
    fallbackWindow: 1h
    generator: { type: random, bytes: 32 }
    environments: [{ name: a, store: { type: local, path: one.store } }]
  - name: Bad Name
    interval: 90d
    fallbackWindow: 1h
    generator: { type: random, bytes: 32 }
    environments: [{ name: a, store: { type: local, path: two.store } }]
`);
  assert.equal(problems(badNames).filter((p) => p.includes('is not a valid secret name')).length, 2, problems(badNames).join('\n'));
  assert.deepEqual(problems(badNames).filter((p) => p.includes('duplicate')), []);
  // An interval that is not a duration is not compared with the fallback window.
  const badInterval = await load(`secrets:
  - name: k
    interval: often
    fallbackWindow: 1h
    generator: { type: random, bytes: 32 }
    environments: [{ name: a, store: { type: local, path: k.store } }]
`);
  assert.equal(badInterval.errors.length, 1, problems(badInterval).join('\n'));
  assert.deepEqual(problems(badInterval).filter((p) => p.includes('longer than the interval')), []);
});
