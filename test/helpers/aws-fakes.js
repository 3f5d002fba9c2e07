// The loopback AWS servers a test file shares: started before its tests, closed after them.
// Each `use…` registers node:test's before/after hooks and hands the running servers to `ready`.
import { after, before } from 'node:test';
import { startKms } from '../fakes/kms.js';
import { startSecretsManager } from '../fakes/secrets-manager.js';
import { kmsClient } from '../fakes/clients.js';

/** A loopback KMS and a real SDK client for it (one attempt per call): ready(fake, client). */
export function useKmsFake(ready) {
  let fake;
  let client;
  before(async () => {
    fake = await startKms({});
    client = kmsClient(fake, { maxAttempts: 1 });
    ready(fake, client);
  });
  after(async () => {
    client?.destroy();
    await fake?.close();
  });
}

/** A loopback Secrets Manager and a loopback KMS: ready(sm, kms). */
export function useSecretsManagerAndKmsFakes(ready) {
  let sm;
  let kms;
  before(async () => {
    [sm, kms] = await Promise.all([startSecretsManager({}), startKms({})]);
    ready(sm, kms);
  });
  after(async () => {
    await Promise.all([sm?.close(), kms?.close()]);
  });
}
