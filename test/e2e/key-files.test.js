// Key files are used only when they are a regular file of the user's that nobody else can read,
// holding exactly 32 bytes: a symlink planted before the first run, a shared key or an empty or
// short fingerprint.key is refused with one line naming the path and the fix.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { baseEnv, runCli, tempProject, writeFiles, assertNoStackTrace } from '../helpers/cli.js';
import { LocalStoreState } from '../../dist/stores/aws/state-dir.js';

const POLICY = `secrets:
  - name: api-key
    interval: 30d
    fallbackWindow: 1h
    generator: { type: random, bytes: 16, encoding: hex }
    environments:
      - name: dev
        store: { type: local, path: .keyshift/dev.store }
`;

function project() {
  const dir = tempProject();
  writeFiles(dir, { 'policies/p.yaml': POLICY });
  return { dir, keyFile: join(dir, '.keyshift', 'dev.store.key'), store: join(dir, '.keyshift', 'dev.store') };
}

// What the user sees: a command's own error on stderr, or (rotate, whose other stores go on) the
// secret's failed row with its error and hint in the table.
function assertRefused(result, path, fix) {
  const shown = `${result.stdout}\n${result.stderr}`;
  assert.equal(result.code, 1, shown);
  assertNoStackTrace(assert, result.stderr);
  assert.ok(shown.includes(path), shown);
  assert.match(shown, /ERR_KEY_FILE_UNSAFE|does not use it/);
  assert.match(shown, fix);
}

test('a master key file planted as a symlink before the first run is refused, and no store is written', () => {
  const p = project();
  mkdirSync(join(p.dir, '.keyshift'), { recursive: true, mode: 0o700 });
  const planted = join(p.dir, 'attacker.key');
  writeFileSync(planted, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
  symlinkSync(planted, p.keyFile);
  assertRefused(runCli(['rotate', '--all'], { cwd: p.dir }), p.keyFile, /symbolic link/);
  assert.equal(existsSync(p.store), false, 'nothing was encrypted under the planted key');
});

test('a master key file readable by group or others is refused by every command until chmod 600', () => {
  const p = project();
  assert.equal(runCli(['rotate', '--all', '-q'], { cwd: p.dir }).code, 0);
  assert.equal(readFileSync(p.keyFile).length > 0, true);
  chmodSync(p.keyFile, 0o644);
  for (const args of [['status'], ['get', 'api-key'], ['rotate', '--all', '--force', '--reason', 'x']]) {
    assertRefused(runCli(args, { cwd: p.dir }), p.keyFile, /chmod 600/);
  }
  chmodSync(p.keyFile, 0o600);
  assert.equal(runCli(['status'], { cwd: p.dir }).code, 0);
});

test('fingerprint.key: empty, short, symlinked or shared is refused naming the path; a new one is 32 bytes, mode 0600', () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'keyshift-state-'));
  const file = join(stateDir, 'fingerprint.key');
  const fingerprint = () => new LocalStoreState({ KEYSHIFT_STATE_DIR: stateDir }, 'aws-secrets-manager', `s-${randomBytes(4).toString('hex')}`).fingerprint(Buffer.from('canary'));
  const refused = (pattern) => assert.throws(fingerprint, (error) => error.message.includes(file) && pattern.test(`${error.message} ${error.hint}`));
  writeFileSync(file, '', { mode: 0o600 });
  refused(/32 bytes/);
  writeFileSync(file, `${randomBytes(16).toString('base64')}\n`);
  refused(/32 bytes/);
  writeFileSync(file, `${randomBytes(32).toString('base64')}\n`);
  chmodSync(file, 0o640);
  refused(/chmod 600/);
  const other = mkdtempSync(join(tmpdir(), 'keyshift-state-'));
  writeFileSync(join(other, 'real.key'), `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
  const linkedDir = mkdtempSync(join(tmpdir(), 'keyshift-state-'));
  symlinkSync(join(other, 'real.key'), join(linkedDir, 'fingerprint.key'));
  assert.throws(() => new LocalStoreState({ KEYSHIFT_STATE_DIR: linkedDir }, 'aws-kms', 'k').fingerprint(Buffer.from('x')), /symbolic link/);

  // KEYSHIFT_FINGERPRINT_KEY set but empty is an error, like KEYSHIFT_MASTER_KEY, not "use the file".
  assert.throws(() => new LocalStoreState({ KEYSHIFT_STATE_DIR: stateDir, KEYSHIFT_FINGERPRINT_KEY: '' }, 'aws-kms', 'k').fingerprint(Buffer.from('x')), { code: 'ERR_FINGERPRINT_KEY' });

  const fresh = mkdtempSync(join(tmpdir(), 'keyshift-state-'));
  const made = new LocalStoreState({ KEYSHIFT_STATE_DIR: fresh }, 'aws-kms', 'k').fingerprint(Buffer.from('x'));
  assert.match(made, /^hmac-sha256:[0-9a-f]{64}$/);
  const text = readFileSync(join(fresh, 'fingerprint.key'), 'utf8');
  assert.equal(Buffer.from(text.trim(), 'base64').length, 32);
});
