// The master key of a local store (src/stores/local/master-key.ts): KEYSHIFT_MASTER_KEY first, else
// `<store>.key`, created only for a brand-new store by a write; the sub-keys derived from it must
// stay the same across releases (or every existing store becomes unreadable), so they are checked
// against fixed vectors (computed independently with Python's hmac/hashlib: HKDF-SHA256, empty salt).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, existsSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deriveKeys, fingerprintValue, keyCheckValue, MASTER_KEY_ENV, MasterKeyProvider } from '../../dist/stores/local/master-key.js';

const MASTER = Buffer.alloc(32, 7);
const MASTER_B64 = MASTER.toString('base64'); // BwcH…Bwc=
const ENCRYPTION = 'c14ef8494d39a3fc68bb5fc4cee2eb4ff539a44101cbcf27bf7c5968fd405fa7';
const FINGERPRINT = '15e901b33d71535467a681e0ff0e843c051fc91663b93f7cbafc133d137b177c';
const HEADER = '6c67861d132ce4216b39fe8e6903e3d027d13ca20f510495cc897e88ea441de8';

function tempStore(t) {
  const dir = mkdtempSync(join(tmpdir(), 'keyshift-master-key-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return { dir, path: join(dir, 'dev.store') };
}

const hex = (keys) => ({ encryption: keys.encryption.toString('hex'), fingerprint: keys.fingerprint.toString('hex'), header: keys.header.toString('hex'), source: keys.source });

test('the sub-keys, key check value and fingerprints are the fixed HKDF/HMAC values of the master key', () => {
  const keys = deriveKeys(MASTER, 'somewhere');
  assert.deepEqual(hex(keys), { encryption: ENCRYPTION, fingerprint: FINGERPRINT, header: HEADER, source: 'somewhere' });
  assert.equal(keyCheckValue(keys, 'store-1'), 'edIo/PbzSLDQPYm+7MGii/4iifaDR6A+BvqwZikXroA=');
  assert.equal(fingerprintValue(keys, Buffer.from('s3cret')), 'hmac-sha256:6f219b66b51658b1e5cd954c1144142dd6800993dd363c63c72dcdeab97f51d4');
});

test('KEYSHIFT_MASTER_KEY is used in every accepted spelling, before a key file', (t) => {
  const { path } = tempStore(t);
  writeFileSync(`${path}.key`, `${Buffer.alloc(32, 1).toString('base64')}\n`, { mode: 0o600 });
  const url = MASTER_B64.replace(/\+/g, '-').replace(/\//g, '_');
  // `…==` (one pad more than 32 bytes need) is accepted too: the same bytes, however a tool padded them.
  for (const spelling of [MASTER_B64, MASTER_B64.replace(/=+$/, ''), `${MASTER_B64}=`, ` \n${MASTER_B64}\n\t`, url, url.replace(/=+$/, '')]) {
    const provider = new MasterKeyProvider(path, { [MASTER_KEY_ENV]: spelling });
    assert.deepEqual(hex(provider.peek()), { encryption: ENCRYPTION, fingerprint: FINGERPRINT, header: HEADER, source: MASTER_KEY_ENV }, JSON.stringify(spelling));
    assert.equal(provider.forExistingStore(), provider.peek());
    assert.equal(provider.forWriting(), provider.peek());
    assert.equal(provider.forFingerprint(), provider.peek());
  }
  // A key with + and / in its base64 (all 0xfb bytes: ++++…) reads the same in base64url.
  const plus = Buffer.alloc(32, 0xfb);
  const fromPlus = new MasterKeyProvider(path, { [MASTER_KEY_ENV]: plus.toString('base64') }).peek();
  const fromUrl = new MasterKeyProvider(path, { [MASTER_KEY_ENV]: plus.toString('base64url') }).peek();
  assert.deepEqual(hex(fromUrl), hex(deriveKeys(plus, MASTER_KEY_ENV)));
  assert.deepEqual(hex(fromPlus), hex(fromUrl));
  const slash = Buffer.alloc(32, 0xff);
  assert.deepEqual(hex(new MasterKeyProvider(path, { [MASTER_KEY_ENV]: slash.toString('base64url') }).peek()), hex(deriveKeys(slash, MASTER_KEY_ENV)));
});

test('a KEYSHIFT_MASTER_KEY that is not exactly 32 bytes of base64 is refused as a usage error, not ignored', (t) => {
  const { path } = tempStore(t);
  writeFileSync(`${path}.key`, `${MASTER_B64}\n`, { mode: 0o600 });
  const bad = [
    '', '   ', Buffer.alloc(31, 7).toString('base64'), Buffer.alloc(33, 7).toString('base64'),
    `${MASTER_B64.slice(0, 10)} ${MASTER_B64.slice(10)}`, `${MASTER_B64.slice(0, -2)}*=`, MASTER.toString('hex'),
    // The same 32 bytes with the unused low bits of the last character set: not the canonical text.
    `${MASTER_B64.slice(0, -2)}d=`, `x${MASTER_B64}`, `${MASTER_B64}x`,
    // More padding than base64 ever has (three '=').
    `${MASTER_B64}==`,
  ];
  for (const value of bad) {
    const provider = new MasterKeyProvider(path, { [MASTER_KEY_ENV]: value });
    assert.throws(() => provider.peek(), (error) => {
      assert.equal(error.code, 'ERR_MASTER_KEY_INVALID');
      assert.equal(error.exitCode, 2);
      assert.equal(error.message, `${MASTER_KEY_ENV} is not a valid master key: it must be the base64 encoding of exactly 32 bytes`);
      assert.equal(error.hint, `set it to the key this store was created with (a new one: \`openssl rand -base64 32\`), or unset ${MASTER_KEY_ENV} to use ${path}.key`);
      assert.ok(!error.message.includes(value.trim() || '\u0000') && !error.hint.includes(value.trim() || '\u0000'), 'the value is not repeated');
      return true;
    }, JSON.stringify(value));
  }
});

test('without the environment variable the key file is read; a damaged one is refused', (t) => {
  const { path } = tempStore(t);
  const provider = new MasterKeyProvider(path, {});
  assert.equal(provider.keyPath, `${path}.key`);
  writeFileSync(`${path}.key`, `${MASTER_B64}\n`, { mode: 0o600 });
  assert.deepEqual(hex(provider.forExistingStore()), { encryption: ENCRYPTION, fingerprint: FINGERPRINT, header: HEADER, source: `${path}.key` });
  for (const damaged of [`${MASTER_B64.slice(0, -4)}\n`, 'not a key\n', '']) {
    writeFileSync(`${path}.key`, damaged);
    assert.throws(() => new MasterKeyProvider(path, {}).peek(), (error) => {
      assert.equal(error.code, 'ERR_MASTER_KEY_INVALID');
      assert.equal(error.message, `master key file ${path}.key is damaged: it must hold the base64 encoding of exactly 32 bytes`);
      assert.equal(error.hint, `restore ${path}.key from your backup, or set ${MASTER_KEY_ENV}`);
      return true;
    });
  }
});

test('a key file that cannot be opened is reported with the master-key code; one others can read is refused', (t) => {
  const { dir } = tempStore(t);
  writeFileSync(join(dir, 'file'), 'x');
  const underFile = join(dir, 'file', 'dev.store');
  assert.throws(() => new MasterKeyProvider(underFile, {}).peek(), (error) => error.code === 'ERR_MASTER_KEY_UNREADABLE' && error.message === `cannot read key file ${underFile}.key: ENOTDIR`);
  const path = join(dir, 'open.store');
  writeFileSync(`${path}.key`, `${MASTER_B64}\n`);
  chmodSync(`${path}.key`, 0o644);
  assert.throws(() => new MasterKeyProvider(path, {}).peek(), { code: 'ERR_KEY_FILE_UNSAFE' });
});

test('keys are read once: a later change of the environment or the key file does not switch keys mid-run', (t) => {
  const { path } = tempStore(t);
  const env = { [MASTER_KEY_ENV]: MASTER_B64 };
  const provider = new MasterKeyProvider(path, env);
  const first = provider.peek();
  env[MASTER_KEY_ENV] = 'not a key';
  assert.equal(provider.peek(), first);
  assert.equal(provider.forExistingStore(), first);
});

test('no key anywhere: nothing is created by reading, fingerprinting or peeking, and each says what to do', (t) => {
  const { path } = tempStore(t);
  const provider = new MasterKeyProvider(path, {});
  assert.equal(provider.peek(), null);
  assert.throws(() => provider.forExistingStore(), (error) => {
    assert.equal(error.code, 'ERR_STORE_NO_KEY');
    assert.equal(error.message, `no master key for store ${path}: ${path}.key is missing and ${MASTER_KEY_ENV} is not set`);
    assert.equal(error.hint, `restore ${path}.key from your backup, or set ${MASTER_KEY_ENV} to the key this store was created with; a new key cannot read the existing store`);
    return true;
  });
  assert.throws(() => provider.forFingerprint(), (error) => {
    assert.equal(error.code, 'ERR_STORE_NO_KEY');
    assert.equal(error.message, `no master key yet for store ${path} (it is created by the first write)`);
    assert.equal(error.hint, `set ${MASTER_KEY_ENV}, or run a real rotation (not --dry-run/plan) to create ${path}.key`);
    return true;
  });
  assert.equal(existsSync(`${path}.key`), false);
});

test('the first write of a new store creates its key file (mode 0600, in a new directory); a second provider reads the same key', (t) => {
  const { dir } = tempStore(t);
  const path = join(dir, 'nested', 'deeper', 'dev.store');
  const keys = new MasterKeyProvider(path, {}).forWriting();
  assert.equal(keys.source, `${path}.key`);
  const text = readFileSync(`${path}.key`, 'utf8');
  assert.match(text, /^[A-Za-z0-9+/]{43}=\n$/);
  assert.equal(statSync(`${path}.key`).mode & 0o777, 0o600);
  assert.equal(statSync(join(dir, 'nested', 'deeper')).mode & 0o777, 0o700);
  assert.deepEqual(hex(keys), hex(deriveKeys(Buffer.from(text.trim(), 'base64'), `${path}.key`)));
  assert.deepEqual(hex(new MasterKeyProvider(path, {}).forExistingStore()), hex(keys));
  // Two new stores get different keys.
  const other = new MasterKeyProvider(join(dir, 'other.store'), {}).forWriting();
  assert.notEqual(other.encryption.toString('hex'), keys.encryption.toString('hex'));
});

test('a write to an existing store without its key is refused and creates no key (a new key could not read it)', (t) => {
  const { path } = tempStore(t);
  writeFileSync(path, 'an existing store');
  assert.throws(() => new MasterKeyProvider(path, {}).forWriting(), { code: 'ERR_STORE_NO_KEY', message: `no master key for store ${path}: ${path}.key is missing and ${MASTER_KEY_ENV} is not set` });
  assert.equal(existsSync(`${path}.key`), false);
});
