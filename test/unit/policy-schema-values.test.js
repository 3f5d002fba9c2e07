// Values at the edges of the policy schema's patterns that policy-schema-rules and policy-schema-edges
// (kept as they were measured) do not reach: AWS Regions of three parts and two digits, endpoints
// with a path, GovCloud and China ARNs, Kubernetes names of one-character segments and 254 characters,
// an explicit `mode: alias`, and the plugin store's own description for editors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { policyJsonSchema } from '../../dist/policy/json-schema.js';
import { load } from '../helpers/policy-fixture.js';

/** One secret with one environment whose store (line 8) is `store`; none = no generator (KMS keys). */
const secret = (store, generator = '{ type: random, bytes: 32 }') =>
  `secrets:\n  - name: api-key\n    interval: 90d\n    fallbackWindow: 48h\n${generator ? `    generator: ${generator}\n` : ''}` +
  `    environments:\n      - name: dev\n        store: ${store}\n`;

async function problems(text) {
  const { errors } = await load(text);
  return errors.map((e) => `${e.line}:${e.col} ${e.message}`);
}

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
