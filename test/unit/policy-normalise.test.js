// What the engine gets from a valid policy (normalise.ts and the store normalisers it calls): every
// store type with its defaults and with every field set, generators, notify, validate, reencrypt.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { load, REENCRYPT_DEFAULTS } from '../helpers/policy-fixture.js';
import { programOf } from '../../dist/policy/normalise.js';

const LOCK = { type: 'dynamodb', table: 'locks', region: null, endpoint: null, profile: null, ttlMs: 120_000 };
const SM_QUOTAS = { versionWritesPerSecond: 50, readsPerSecond: 10_000, tagWritesPerSecond: 50 };
const env = (name, store, line, extra = {}) => ({
  name,
  store,
  deploy: [],
  verify: [],
  observeMs: 0,
  requireTicket: false,
  source: { file: 'policies/p.yaml', line, col: 9 },
  ...extra,
});

test('value stores: dotenv, k8s-secret, aws-secrets-manager, vault-kv2 with their defaults and with every field set', async () => {
  const { cwd, errors, policies } = await load(`secrets:
  - name: web-hook
    interval: 90d
    fallbackWindow: 2d
    controls: [SOC2-CC6.1, ISO-1, SOC2-CC6.1]
    generator: { type: random, bytes: 16, encoding: hex }
    notify:
      - webhook: https://hooks.example.com/a
      - webhook: http://hooks.example.com/b
        on: [switched, failed, switched]
    validate: { minLength: 8, forbidPrevious: true }
    environments:
      - name: dev
        store: { type: dotenv, path: .env }
        observe: 30m
        requireTicket: true
      - name: stage
        store: { type: dotenv, path: conf/.env, name: HOOK_KEY, lock: { type: dynamodb, table: locks } }
      - name: k8s
        store: { type: k8s-secret, path: k/s.yaml, name: app-secrets }
      - name: k8s2
        store: { type: k8s-secret, path: k/t.yaml, name: app, key: KEY, git: { commit: true } }
      - name: sm
        store: { type: aws-secrets-manager, secretId: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:web-hook-AbCdEf" }
      - name: sm2
        store: { type: aws-secrets-manager, secretId: web/hook, region: us-east-2, endpoint: "http://127.0.0.1:4566", profile: ops, createIfMissing: true, quotas: { versionWritesPerSecond: 3, readsPerSecond: 4, tagWritesPerSecond: 5 }, tags: true }
      - name: sm3
        store: { type: aws-secrets-manager, secretId: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:x", region: us-west-1, tags: { rotated-by: By, rotation-ticket: false } }
      - name: sm4
        store: { type: aws-secrets-manager, secretId: plain-name, tags: false }
      - name: vault
        store: { type: vault-kv2, path: apps/web }
`);
  assert.deepEqual(errors, []);
  const [policy] = policies;
  assert.deepEqual(policy.controls, ['SOC2-CC6.1', 'ISO-1'], 'a repeated control is kept once, in order');
  assert.deepEqual(policy.generator, { type: 'random', bytes: 16, encoding: 'hex' });
  assert.deepEqual(policy.notify, [
    { webhook: 'https://hooks.example.com/a', on: ['failed', 'switched', 'decommissioned', 'rolled-back'] },
    { webhook: 'http://hooks.example.com/b', on: ['switched', 'failed'] },
  ]);
  assert.deepEqual(policy.validate, { minLength: 8, minEntropyBits: null, pattern: null, forbidPrevious: true, forbidRepeats: null });
  assert.deepEqual(policy.environments, [
    env('dev', { type: 'dotenv', path: join(cwd, '.env'), key: 'WEB_HOOK' }, 13, { observeMs: 1_800_000, requireTicket: true }),
    env('stage', { type: 'dotenv', path: join(cwd, 'conf/.env'), key: 'HOOK_KEY', lock: LOCK }, 17),
    env('k8s', { type: 'k8s-secret', path: join(cwd, 'k/s.yaml'), name: 'app-secrets', dataKey: 'WEB_HOOK', key: 'app-secrets/WEB_HOOK', gitCommit: false, source: { file: 'policies/p.yaml', line: 19, col: 9 } }, 19),
    env('k8s2', { type: 'k8s-secret', path: join(cwd, 'k/t.yaml'), name: 'app', dataKey: 'KEY', key: 'app/KEY', gitCommit: true, source: { file: 'policies/p.yaml', line: 21, col: 9 } }, 21),
    env('sm', { type: 'aws-secrets-manager', key: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:web-hook-AbCdEf', region: 'eu-west-1', endpoint: null, profile: null, createIfMissing: false, quotas: SM_QUOTAS, tags: null }, 23),
    env('sm2', { type: 'aws-secrets-manager', key: 'web/hook', region: 'us-east-2', endpoint: 'http://127.0.0.1:4566', profile: 'ops', createIfMissing: true, quotas: { versionWritesPerSecond: 3, readsPerSecond: 4, tagWritesPerSecond: 5 }, tags: { rotatedBy: 'rotated-by', rotatedAt: 'rotated-at', ticket: 'rotation-ticket' } }, 25),
    env('sm3', { type: 'aws-secrets-manager', key: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:x', region: 'us-west-1', endpoint: null, profile: null, createIfMissing: false, quotas: SM_QUOTAS, tags: { rotatedBy: 'By', rotatedAt: 'rotated-at', ticket: null } }, 27),
    env('sm4', { type: 'aws-secrets-manager', key: 'plain-name', region: null, endpoint: null, profile: null, createIfMissing: false, quotas: SM_QUOTAS, tags: null }, 29),
    env('vault', { type: 'vault-kv2', key: 'apps/web', address: null, mount: 'secret', field: 'value', namespace: null, tokenFile: null }, 31),
  ]);
});

test('aws-kms keys: defaults, every field, managed rotation in whole days; value rules and reencrypt normalised', async () => {
  const { cwd, errors, policies } = await load(`secrets:
  - name: kms-key
    interval: 180d
    fallbackWindow: 7d
    environments:
      - name: dev
        store: { type: aws-kms, alias: alias/app-dev }
      - name: prod
        store: { type: aws-kms, alias: alias/app-prod, region: eu-west-1, endpoint: "https://kms.example.com", profile: p, mode: managed, pendingWindowDays: 7, createIfMissing: true, quotas: { controlPlanePerSecond: 2, readsPerSecond: 3 }, tags: { rotated-at: false } }
  - name: db-key
    interval: 30d
    fallbackWindow: 1d
    generator: { type: random, bytes: 32 }
    validate: { minLength: 40, minEntropyBits: 200, pattern: "[A-Za-z0-9+/=]+", forbidRepeats: 5 }
    reencrypt:
      database: { type: sqlite, path: db/app.sqlite }
      tables: [{ table: users, key: id, columns: [email, phone] }]
    environments:
      - name: dev
        store: { type: local, path: s }
`);
  assert.deepEqual(errors, []);
  const [kms, db] = policies;
  assert.equal(kms.generator, null);
  assert.deepEqual(kms.environments.map((e) => e.store), [
    { type: 'aws-kms', key: 'alias/app-dev', region: null, endpoint: null, profile: null, mode: 'alias', pendingWindowDays: 30, createIfMissing: false, rotationPeriodDays: null, quotas: { controlPlanePerSecond: 5, readsPerSecond: 100 }, tags: null },
    { type: 'aws-kms', key: 'alias/app-prod', region: 'eu-west-1', endpoint: 'https://kms.example.com', profile: 'p', mode: 'managed', pendingWindowDays: 7, createIfMissing: true, rotationPeriodDays: 180, quotas: { controlPlanePerSecond: 2, readsPerSecond: 3 }, tags: { rotatedBy: 'rotated-by', rotatedAt: null, ticket: 'rotation-ticket' } },
  ]);
  assert.deepEqual(db.generator, { type: 'random', bytes: 32, encoding: 'base64' });
  assert.deepEqual(db.validate, { minLength: 40, minEntropyBits: 200, pattern: '[A-Za-z0-9+/=]+', forbidPrevious: false, forbidRepeats: 5 });
  assert.deepEqual(db.reencrypt, {
    database: { type: 'sqlite', path: join(cwd, 'db/app.sqlite') },
    tables: [{ table: 'users', key: 'id', columns: ['email', 'phone'] }],
    ...REENCRYPT_DEFAULTS,
  });
});

test('a command generator: its timeout and env; custom characters are kept once each, in order', async () => {
  const { errors, policies } = await load(`secrets:
  - name: issued
    interval: 30d
    fallbackWindow: 1d
    generator: { type: command, run: [./issue.sh, --json], timeout: 2m, env: [HOME, "MODE=ci=1"] }
    environments: [{ name: dev, store: { type: local, path: s } }]
  - name: password
    interval: 30d
    fallbackWindow: 1d
    generator: { type: random, length: 12, chars: "xyzzyx12" }
    environments: [{ name: dev, store: { type: local, path: t } }]
`);
  assert.deepEqual(errors, []);
  assert.deepEqual(policies[0].generator, { type: 'command', run: ['./issue.sh', '--json'], timeoutMs: 120_000, env: { MODE: 'ci=1' }, passEnv: ['HOME'] });
  assert.deepEqual(policies[1].generator, { type: 'random', length: 12, characters: 'xyz12' });
});

test('a hook label names only the program: argv[0], or the first word after NAME=value assignments', () => {
  assert.equal(programOf(['./deploy.sh', '--token', 'x']), './deploy.sh');
  assert.equal(programOf([]), 'sh');
  assert.equal(programOf('  TOKEN=abc _X1=2 ./run.sh --flag'), './run.sh');
  assert.equal(programOf('A=1 B=2'), 'sh');
  assert.equal(programOf('1A=x ./run.sh'), '1A=x');
  assert.equal(programOf('curl -s https://x'), 'curl');
  assert.equal(programOf('A=1   B=2\t ./run.sh  x'), './run.sh', 'words split at any run of white space');
});

test('revoke and decommissionCheck hooks, and hooks of a later environment, each point at their own list item', async () => {
  const { cwd, errors, policies } = await load(`secrets:
  - name: db-key
    interval: 30d
    fallbackWindow: 1d
    generator: { type: random, bytes: 32 }
    revoke:
      - run: [./revoke.sh, one]
      - run: "TOKEN=x ./revoke-two.sh --all"
        timeout: 10s
        cwd: tools
    decommissionCheck:
      - run: [./no-old-ciphertext.sh]
      - { run: ./check-two.sh, env: [PGHOST] }
    environments:
      - name: dev
        store: { type: local, path: a }
      - name: prod
        store: { type: local, path: b }
        deploy:
          - run: [./deploy.sh]
        verify:
          - run: [./verify.sh]
          - http: { url: "https://user:pw@api.example.com:8443/health?token=x#f", method: HEAD, expectStatus: 204, timeout: 5s }
`);
  assert.deepEqual(errors, []);
  const [policy] = policies;
  const at = (line, col) => ({ file: 'policies/p.yaml', line, col });
  const command = (run, label, source, extra = {}) => ({ kind: 'command', run, timeoutMs: 300_000, env: {}, passEnv: [], cwd: null, label, source, ...extra });
  assert.deepEqual(policy.revoke, [
    command(['./revoke.sh', 'one'], 'revoke[0] ./revoke.sh', at(7, 9)),
    command('TOKEN=x ./revoke-two.sh --all', 'revoke[1] ./revoke-two.sh', at(8, 9), { timeoutMs: 10_000, cwd: join(cwd, 'tools') }),
  ]);
  assert.deepEqual(policy.decommissionCheck, [
    command(['./no-old-ciphertext.sh'], 'decommissionCheck[0] ./no-old-ciphertext.sh', at(12, 9)),
    command('./check-two.sh', 'decommissionCheck[1] ./check-two.sh', at(13, 9), { passEnv: ['PGHOST'] }),
  ]);
  assert.deepEqual(policy.environments[0].deploy, []);
  assert.deepEqual(policy.environments[0].verify, []);
  assert.deepEqual(policy.environments[1].deploy, [command(['./deploy.sh'], 'deploy[0] ./deploy.sh', at(20, 13))]);
  assert.deepEqual(policy.environments[1].verify, [
    command(['./verify.sh'], 'verify[0] ./verify.sh', at(22, 13)),
    {
      kind: 'http',
      url: 'https://user:pw@api.example.com:8443/health?token=x#f',
      method: 'HEAD',
      expectStatus: 204,
      timeoutMs: 5000,
      label: 'verify[1] HEAD api.example.com:8443/health',
      source: at(23, 13),
    },
  ]);
});
