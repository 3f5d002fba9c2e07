// The shared conformance suite on the aws-kms store (alias mode), through the real SDK client and a
// loopback KMS (test/fakes/kms.js). Entries are aliases; versions are keys.
import { after, before } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testStore } from '../helpers/store-conformance.js';
import { startKms } from '../fakes/kms.js';
import { TEST_CREDENTIALS } from '../fakes/clients.js';
import { openKmsStore } from '../../dist/stores/aws-kms/index.js';

let fake;
before(async () => {
  fake = await startKms({ quotas: false });
});
after(async () => {
  await fake?.close();
});

const silent = { trace() {}, debug() {}, info() {}, warn() {}, error() {}, fatal() {}, child() { return silent; } };

testStore('aws-kms', {
  create: async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'keyshift-kms-state-'));
    process.env.AWS_ACCESS_KEY_ID = TEST_CREDENTIALS.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = TEST_CREDENTIALS.secretAccessKey;
    const spec = (key) => ({
      type: 'aws-kms',
      key,
      region: 'us-east-1',
      endpoint: fake.endpoint,
      profile: null,
      mode: 'alias',
      pendingWindowDays: 7,
      createIfMissing: true, // the suite provisions its entries
      rotationPeriodDays: null,
      quotas: { controlPlanePerSecond: 1000, readsPerSecond: 10_000 },
    });
    const store = await openKmsStore(spec('alias/unused'), { env: { KEYSHIFT_STATE_DIR: stateDir }, log: silent, aws: {}, storeId: `aws-kms:${stateDir}` });
    // The suite names entries conf-…; KMS entries are aliases.
    const alias = (key) => `alias/${key}`;
    const wrapped = {
      kind: store.kind,
      location: store.location,
      capabilities: store.capabilities,
      read: (key) => store.read(alias(key)),
      readValue: (key, id) => store.readValue(alias(key), id),
      fingerprint: (value) => store.fingerprint(value),
      lock: (options) => store.lock(options),
      apply: (key, ops, meta) => {
        store.configureEntry(spec(alias(key)));
        return store.apply(alias(key), ops, meta);
      },
      readMeta: () => store.readMeta(),
      writeMeta: (meta) => store.writeMeta(meta),
      close: () => store.close(),
    };
    return { store: wrapped, cleanup: () => rmSync(stateDir, { recursive: true, force: true }) };
  },
  // `get` prints the ARN of the version's key: the key keyshift created carrying the version's tag.
  valueOf: (key, versionId) => fake.keys().find((k) => k.tags['keyshift:alias'] === `alias/${key}` && k.tags['keyshift:version-id'] === versionId)?.arn ?? null,
});
