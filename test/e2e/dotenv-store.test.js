// The dotenv store end to end (spawning the CLI): the shared file-store lifecycle on two .env
// files, plus the sidecar holding no value and the files' modes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileStoreLifecycle } from '../helpers/file-store-lifecycle.js';
import { DOTENV_FIXTURE, readDotenv } from '../helpers/file-stores.js';

const variable = (secret) => secret.toUpperCase().replaceAll('-', '_');

test('dotenv: provision, rotate with hooks, fallback, decommission, failed verify, rollback; only its lines change; no leak', { timeout: 180_000 }, async () => {
  const { dir } = await fileStoreLifecycle({
    name: 'dotenv',
    files: { 'staging.env': DOTENV_FIXTURE, 'production.env': DOTENV_FIXTURE },
    store: (env) => `{ type: dotenv, path: ${env}.env }`,
    read: (dir, env, secret) => readDotenv(join(dir, `${env}.env`), variable(secret)),
    names: ['WEBHOOK_SIGNING_KEY', 'API_TOKEN'],
    env: {},
    leakChecks: (dir) => ['staging', 'production'].map((e) => [`${e}.env.keyshift.json`, readFileSync(join(dir, `${e}.env.keyshift.json`), 'utf8')]),
  });
  assert.equal(statSync(join(dir, 'production.env')).mode & 0o777, 0o644, 'the mode of an existing file is kept');
  assert.equal(statSync(join(dir, 'production.env.keyshift.json')).mode & 0o777, 0o600);
});
