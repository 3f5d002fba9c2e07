// The k8s-secret store: the shared conformance suite, then what only a manifest shows — other keys,
// documents, comments and order kept, stringData read and moved to data, the state annotation, a
// manifest that is not a Secret or names no such Secret, and commits that never carry a value.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { testStore } from '../helpers/store-conformance.js';
import { openK8sSecretStore } from '../../dist/stores/k8s-secret/index.js';
import { SecretValue } from '../../dist/secret-value.js';

const LOCK = { waitMs: 2_000, owner: 'k8s-test' };
const meta = (overrides = {}) => ({ rotation: null, lastRotatedAt: null, pendingEvents: [], ...overrides });
const create = (versionId, text, stage) => ({ type: 'create', versionId, value: SecretValue.fromString(text), stage });

export const MANIFEST = `# Rendered by hand; keyshift rotates AES_KEY.
apiVersion: v1
kind: ConfigMap
metadata:
  name: app-config   # the config
data:
  LOG_LEVEL: "info"
---
apiVersion: v1
kind: Secret
metadata:
  name: app-secrets
  namespace: prod
  labels:
    app: secrets-service
type: Opaque
data:
  # the DB password, rotated by hand
  DB_PASSWORD: cGFzc3dvcmQ=
  AES_KEY: b2xkLWtleQ==
stringData:
  PLAIN: hello world
---
# trailing document
apiVersion: v1
kind: Service
metadata:
    name: svc
spec:
    ports: [ {port: 80} ]
`;

function open(dir, { name = 'app-secrets', dataKey = 'AES_KEY', gitCommit = false, env = {} } = {}) {
  const path = join(dir, 'secret.yaml');
  const spec = { type: 'k8s-secret', path, name, dataKey, key: `${name}/${dataKey}`, gitCommit, source: { file: 'policies/k8s.yaml', line: 9, col: 9 } };
  const store = openK8sSecretStore(spec, { env: { HOME: dir, KEYSHIFT_STATE_DIR: join(dir, 'state'), ...env }, log: null, aws: {}, storeId: `k8s-secret:${path}` });
  return { path, store };
}

function withKeys(store, name) {
  return {
    kind: store.kind,
    location: store.location,
    capabilities: store.capabilities,
    read: (k) => store.read(name(k)),
    readValue: (k, id) => store.readValue(name(k), id),
    fingerprint: (value) => store.fingerprint(value),
    lock: (options) => store.lock(options),
    apply: (k, ops, m) => store.apply(name(k), ops, m),
    readMeta: () => store.readMeta(),
    writeMeta: (m) => store.writeMeta(m),
    close: () => store.close(),
  };
}

testStore('k8s-secret', {
  create: async () => {
    const dir = mkdtempSync(join(tmpdir(), 'keyshift-k8s-conf-'));
    writeFileSync(join(dir, 'secret.yaml'), MANIFEST);
    const { store } = open(dir);
    return { store: withKeys(store, (k) => `app-secrets/${k}`), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
  },
});

const secretDoc = (text) => parseAllDocuments(text)[1].toJSON();

describe('k8s-secret store: the manifest', () => {
  it('changes only its own keys and the annotation; other documents stay byte for byte', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'keyshift-k8s-'));
    const { path, store } = open(dir);
    writeFileSync(path, MANIFEST);
    const lock = await store.lock(LOCK);
    const adopted = await store.read('app-secrets/AES_KEY');
    assert.deepEqual(adopted.versions.map((v) => [v.id, v.stages]), [['v-adopted', ['CURRENT']]]);
    assert.equal((await store.readValue('app-secrets/AES_KEY', 'v-adopted')).reveal(), 'old-key');
    await store.apply('app-secrets/AES_KEY', [create('v2', 'new-key', 'PENDING'), { type: 'promote', versionId: 'v2' }], meta());
    const text = readFileSync(path, 'utf8');
    const [before, after] = [MANIFEST.split('---\n'), text.split('---\n')];
    assert.equal(after[0], before[0], 'the ConfigMap document is unchanged');
    assert.equal(after[2], before[2], 'the Service document is unchanged, its 4-space indentation too');
    assert.match(after[1], /# the DB password, rotated by hand\n {2}DB_PASSWORD: cGFzc3dvcmQ=\n {2}AES_KEY: bmV3LWtleQ==\n/);
    const secret = secretDoc(text);
    assert.deepEqual(Object.keys(secret.data), ['DB_PASSWORD', 'AES_KEY', 'AES_KEY_PREVIOUS']);
    assert.equal(Buffer.from(secret.data.AES_KEY_PREVIOUS, 'base64').toString(), 'old-key');
    assert.deepEqual(secret.stringData, { PLAIN: 'hello world' });
    assert.deepEqual(secret.metadata.labels, { app: 'secrets-service' });
    const state = JSON.parse(secret.metadata.annotations['keyshift.io/state']);
    assert.deepEqual(Object.keys(state), ['AES_KEY']);
    assert.ok(!JSON.stringify(state).includes('bmV3LWtleQ') && !JSON.stringify(state).includes('new-key'), 'no value in the annotation');
    await lock.release();
  });

  it('reads a value under stringData and moves it to data on the first write', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'keyshift-k8s-'));
    const { path, store } = open(dir, { dataKey: 'PLAIN' });
    writeFileSync(path, MANIFEST);
    const lock = await store.lock(LOCK);
    assert.equal((await store.readValue('app-secrets/PLAIN', 'v-adopted')).reveal(), 'hello world');
    await store.apply('app-secrets/PLAIN', [create('v2', 'next', 'PENDING')], meta());
    const secret = secretDoc(readFileSync(path, 'utf8'));
    assert.equal(secret.stringData, undefined, 'stringData emptied and removed');
    assert.equal(Buffer.from(secret.data.PLAIN, 'base64').toString(), 'hello world');
    assert.equal(Buffer.from(secret.data.PLAIN_PENDING, 'base64').toString(), 'next');
    await lock.release();
  });

  it('a manifest whose document of that name is not a Secret is a policy error with file and line', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'keyshift-k8s-'));
    const { path, store } = open(dir, { name: 'app-config' });
    writeFileSync(path, MANIFEST);
    await assert.rejects(store.read('app-config/AES_KEY'), (error) => {
      assert.equal(error.code, 'ERR_POLICY_INVALID');
      assert.equal(error.exitCode, 2);
      assert.equal(error.message, `${path}:3:7: app-config is a ConfigMap, not a Secret; the k8s-secret store keeps values only in a kind: Secret manifest`);
      return true;
    });
    const { store: missing } = open(dir, { name: 'nope' });
    await assert.rejects(missing.read('nope/AES_KEY'), (error) => {
      assert.equal(error.exitCode, 2);
      assert.equal(error.message, `policies/k8s.yaml:9:9: store: ${path} holds no Secret named nope (it holds app-secrets)`);
      return true;
    });
  });

  it('a manifest that repeats a key is refused with file and line, as kubectl refuses it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'keyshift-k8s-'));
    const { path, store } = open(dir);
    writeFileSync(path, 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: app-secrets\ndata:\n  AES_KEY: b25l\n  OTHER: eA==\n  AES_KEY: dHdv\n');
    await assert.rejects(store.read('app-secrets/AES_KEY'), (error) => error.code === 'ERR_STORE_CORRUPT' && /secret\.yaml:8:3: not valid YAML: Map keys must be unique/.test(error.message));
    rmSync(dir, { recursive: true, force: true });
  });

  it('creates a missing manifest as a Secret', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'keyshift-k8s-'));
    const { path, store } = open(dir);
    const lock = await store.lock(LOCK);
    await store.apply('app-secrets/AES_KEY', [create('v1', 'first', 'CURRENT')], meta());
    await lock.release();
    const doc = parseAllDocuments(readFileSync(path, 'utf8'))[0].toJSON();
    assert.equal(doc.kind, 'Secret');
    assert.equal(doc.metadata.name, 'app-secrets');
    assert.equal(Buffer.from(doc.data.AES_KEY, 'base64').toString(), 'first');
  });

  it('commits each write with a message that names the rotation, never the value', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'keyshift-k8s-'));
    const gitEnv = { GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@t', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@t', PATH: process.env.PATH };
    execFileSync('git', ['init', '-q', dir]);
    const { path, store } = open(dir, { gitCommit: true, env: gitEnv });
    writeFileSync(path, MANIFEST);
    writeFileSync(join(dir, 'other.txt'), 'not committed by keyshift');
    execFileSync('git', ['-C', dir, 'add', 'secret.yaml'], { env: gitEnv });
    execFileSync('git', ['-C', dir, 'commit', '-qm', 'initial'], { env: gitEnv });
    const lock = await store.lock(LOCK);
    const draft = { event: 'issued', rotationId: 'r-123', secret: 's', environment: 'prod', store: 'k8s-secret', fromVersion: null, toVersion: 'v2', fingerprint: null, at: 'now', operator: 'o', reason: 'r', ticket: null, emergency: false, checks: [], runId: 'run-1' };
    await store.apply('app-secrets/AES_KEY', [create('v2', 'canary-value-123', 'PENDING')], meta({ pendingEvents: [draft] }));
    await lock.release();
    const log = execFileSync('git', ['-C', dir, 'log', '-p', '--format=%B'], { encoding: 'utf8' });
    assert.match(log, /^keyshift: app-secrets\/AES_KEY: issued \(rotation r-123\)/);
    assert.ok(!log.split('diff --git')[0].includes('canary-value-123'), 'no value in the message');
    const status = execFileSync('git', ['-C', dir, 'status', '--porcelain'], { encoding: 'utf8' });
    assert.equal(status, '?? other.txt\n', 'only the manifest was committed, and the checkout has no lock or temp file');
  });

  it('a commit that fails (no repository) is logged and does not fail the write', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'keyshift-k8s-'));
    const logged = [];
    const path = join(dir, 'secret.yaml');
    writeFileSync(path, MANIFEST);
    const spec = { type: 'k8s-secret', path, name: 'app-secrets', dataKey: 'AES_KEY', key: 'app-secrets/AES_KEY', gitCommit: true, source: { file: 'p', line: 1, col: 1 } };
    const log = { error: (object, message) => logged.push({ ...object, message }) };
    const env = { HOME: dir, KEYSHIFT_STATE_DIR: join(dir, 'state'), PATH: process.env.PATH, GIT_CEILING_DIRECTORIES: dir };
    const store = openK8sSecretStore(spec, { env, log, aws: {}, storeId: `k8s-secret:${path}` });
    const lock = await store.lock(LOCK);
    await store.apply('app-secrets/AES_KEY', [create('v2', 'next', 'PENDING')], meta());
    await lock.release();
    assert.equal(Buffer.from(secretDoc(readFileSync(path, 'utf8')).data.AES_KEY_PENDING, 'base64').toString(), 'next');
    assert.equal(logged.length, 1);
    assert.equal(logged[0].message, 'could not commit the manifest');
    assert.match(logged[0].err, /git add .* failed: fatal: not a git repository/);
  });

  it('records a key it found in the Secret on the first write, so later writes do not make it younger', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'keyshift-k8s-'));
    const { path, store } = open(dir);
    writeFileSync(path, MANIFEST);
    utimesSync(path, new Date('2020-01-01T00:00:00Z'), new Date('2020-01-01T00:00:00Z'));
    const lock = await store.lock(LOCK);
    assert.equal((await store.read('app-secrets/AES_KEY')).versions[0].createdAt, '2020-01-01T00:00:00.000Z');
    await store.apply('app-secrets/OTHER', [create('v1', 'x', 'CURRENT')], meta());
    await lock.release();
    const state = JSON.parse(secretDoc(readFileSync(path, 'utf8')).metadata.annotations['keyshift.io/state']);
    assert.deepEqual(state.AES_KEY.versions, [{ id: 'v-adopted', stages: ['CURRENT'], createdAt: '2020-01-01T00:00:00.000Z' }]);
  });
});
