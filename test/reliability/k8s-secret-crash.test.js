// kill -9 during rotate --all --force over 20 keys of one Secret manifest (test/helpers/file-store-crash.js).
import { test } from 'node:test';
import { join } from 'node:path';
import { crashRounds, CRASH_ROUNDS } from '../helpers/file-store-crash.js';
import { k8sFixture, readK8s, variableOf } from '../helpers/file-stores.js';
import { openK8sSecretStore } from '../../dist/stores/k8s-secret/index.js';

const NAME = 'secrets-service-config';

test(`k8s-secret: ${CRASH_ROUNDS} kills during rotate --all --force, each resumed without a second version`, { timeout: 600_000 }, async (t) => {
  await crashRounds(t, {
    name: 'k8s-secret',
    count: 20,
    files: { 'deploy/secret.yaml': k8sFixture('prod') },
    store: (i) => `{ type: k8s-secret, path: deploy/secret.yaml, name: ${NAME}, key: ${variableOf(i)} }`,
    consumerRead: (dir, i) => readK8s(join(dir, 'deploy/secret.yaml'), NAME, variableOf(i)).CURRENT,
    openStore: (dir, env) => {
      const path = join(dir, 'deploy/secret.yaml');
      const spec = { type: 'k8s-secret', path, name: NAME, dataKey: 'unused', key: `${NAME}/unused`, gitCommit: false, source: { file: 'p', line: 1, col: 1 } };
      return openK8sSecretStore(spec, { env, log: null, aws: {}, storeId: `k8s-secret:${path}` });
    },
    key: (i) => `${NAME}/${variableOf(i)}`,
    env: {},
  });
});
