// kill -9 during rotate --all --force over 20 secrets in one .env file (test/helpers/file-store-crash.js).
import { test } from 'node:test';
import { join } from 'node:path';
import { crashRounds, CRASH_ROUNDS } from '../helpers/file-store-crash.js';
import { readDotenv, variableOf } from '../helpers/file-stores.js';
import { openDotenvStore } from '../../dist/stores/dotenv/index.js';

test(`dotenv: ${CRASH_ROUNDS} kills during rotate --all --force, each resumed without a second version`, { timeout: 600_000 }, async (t) => {
  await crashRounds(t, {
    name: 'dotenv',
    count: 20,
    files: { 'app.env': '# shared settings\nLOG_LEVEL=info\n' },
    store: (i) => `{ type: dotenv, path: app.env, name: ${variableOf(i)} }`,
    consumerRead: (dir, i) => readDotenv(join(dir, 'app.env'), variableOf(i)).CURRENT,
    openStore: (dir, env) => {
      const path = join(dir, 'app.env');
      return openDotenvStore({ type: 'dotenv', path, key: 'unused' }, { env, log: null, aws: {}, storeId: `dotenv:${path}` });
    },
    key: variableOf,
    env: {},
  });
});
