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
