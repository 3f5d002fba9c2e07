// The shared conformance suite on the aws-secrets-manager store, through the real SDK client and a
// loopback Secrets Manager (test/fakes/secrets-manager.js).
import { after, before } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testStore } from '../helpers/store-conformance.js';
import { startSecretsManager } from '../fakes/secrets-manager.js';
import { openSecretsManagerStore } from '../../dist/stores/aws-secrets-manager/index.js';

let fake;
before(async () => {
  fake = await startSecretsManager({});
});
after(async () => {
  await fake?.close();
});

const silent = { trace() {}, debug() {}, info() {}, warn() {}, error() {}, fatal() {}, child() { return silent; } };

testStore('aws-secrets-manager', {
  create: async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'keyshift-sm-state-'));
    const env = { KEYSHIFT_STATE_DIR: stateDir, AWS_ACCESS_KEY_ID: 'AKIDTEST', AWS_SECRET_ACCESS_KEY: 'test', AWS_EC2_METADATA_DISABLED: 'true' };
    process.env.AWS_ACCESS_KEY_ID = 'AKIDTEST';
    process.env.AWS_SECRET_ACCESS_KEY = 'test';
    const spec = (key) => ({
      type: 'aws-secrets-manager',
      key,
      region: 'us-east-1',
      endpoint: fake.endpoint,
      profile: null,
      createIfMissing: true, // the suite provisions its entries
      quotas: { versionWritesPerSecond: 50, readsPerSecond: 10_000, tagWritesPerSecond: 50 },
    });
    const store = await openSecretsManagerStore(spec('unused'), { env, log: silent, aws: {}, storeId: `aws-secrets-manager:${stateDir}` });
    const apply = store.apply.bind(store);
    store.apply = (key, ops, meta) => {
      store.configureEntry(spec(key));
      return apply(key, ops, meta);
    };
    return { store, cleanup: () => rmSync(stateDir, { recursive: true, force: true }) };
  },
});
