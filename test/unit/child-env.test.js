import { test } from 'node:test';
import assert from 'node:assert/strict';
import { childEnvironment } from '../../dist/util/child-env.js';

test("childEnvironment: the allowlist and what is passed or set; never a KEYSHIFT_ variable of keyshift's", () => {
  const parent = {
    PATH: '/bin', HOME: '/home/a', LC_ALL: 'C', TMPDIR: '/tmp/x', KUBECONFIG: '/k', AWS_PROFILE: 'p', AWS_SECRET_ACCESS_KEY: 's',
    KEYSHIFT_MASTER_KEY: 'm', KEYSHIFT_FINGERPRINT_KEY: 'f', KEYSHIFT_SIGNING_KEY: 'k', KEYSHIFT_STATE_DIR: '/s', OTHER: 'o',
  };
  assert.deepEqual(childEnvironment(parent, {}), { PATH: '/bin', HOME: '/home/a', LC_ALL: 'C', TMPDIR: '/tmp/x' });
  // Even when a caller (not the schema, which refuses it) asks for keyshift's keys.
  const env = childEnvironment(parent, { passEnv: ['KUBECONFIG', 'AWS_*', 'KEYSHIFT_MASTER_KEY', 'KEYSHIFT_*'], env: { NAMESPACE: 'x', KEYSHIFT_SIGNING_KEY: 'y' } });
  assert.deepEqual(env, { PATH: '/bin', HOME: '/home/a', LC_ALL: 'C', TMPDIR: '/tmp/x', KUBECONFIG: '/k', AWS_PROFILE: 'p', AWS_SECRET_ACCESS_KEY: 's', NAMESPACE: 'x' });
});
