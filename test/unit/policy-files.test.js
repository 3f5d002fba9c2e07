// Which files a policy path loads (policy-files.ts), how they are shown, and the run-wide parts of
// loadPolicies (load.ts): the signing key, the process environment, empty YAML documents.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { loadPolicies } from '../../dist/policy/load.js';
import { cannotRead } from '../../dist/policy/policy-files.js';
import { loadAsUser } from '../helpers/policy-as-user.js';

const tempDirs = [];
after(() => tempDirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

function tempDir() {
  const dir = mkdtempSync(join(tmpdir(), 'keyshift-files-'));
  tempDirs.push(dir);
  return dir;
}

function write(root, files) {
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
}

/** A valid file holding one secret `name`. */
const secret = (name) =>
  `secrets:\n  - name: ${name}\n    interval: 90d\n    fallbackWindow: 48h\n    generator: { type: random, bytes: 32 }\n    environments: [{ name: dev, store: { type: local, path: ${name}.store } }]\n`;

const problems = (loaded) => loaded.errors.map((e) => `${e.file}:${e.line}:${e.col} ${e.message}`);

test('a directory loads its *.yaml and *.yml files, sorted, a symlinked file too; nothing else', async () => {
  const cwd = tempDir();
  write(cwd, {
    'p/b.yml': secret('b'),
    'p/a.yaml': secret('a'),
    'p/.hidden.yaml': secret('hidden'),
    'p/notes.txt': secret('txt'),
    'p/upper.YAML': secret('upper'),
    'p/n.yamlx': secret('n'),
    'p/sub/c.yaml': secret('nested'),
    'elsewhere.yaml': secret('linked'),
  });
  mkdirSync(join(cwd, 'p/folder.yaml'));
  symlinkSync(join(cwd, 'elsewhere.yaml'), join(cwd, 'p/link.yaml'));
  symlinkSync(join(cwd, 'p/folder.yaml'), join(cwd, 'p/dirlink.yaml'));
  symlinkSync(join(cwd, 'p/gone.yaml'), join(cwd, 'p/.broken.yaml')); // hidden: not a policy file
  const loaded = await loadPolicies('p', { cwd });
  assert.deepEqual(problems(loaded), []);
  assert.deepEqual(loaded.files, ['p/a.yaml', 'p/b.yml', 'p/link.yaml']);
  assert.deepEqual(loaded.policies.map((p) => p.name), ['a', 'b', 'linked']);
  assert.equal(loaded.signingKey, null);
});

test('a policy file that is a broken or looping symbolic link is an error naming it; the other files still load', async () => {
  const cwd = tempDir();
  write(cwd, { 'p/a.yaml': secret('a') });
  symlinkSync(join(cwd, 'mnt/prod.yaml'), join(cwd, 'p/prod.yaml'));
  symlinkSync(join(cwd, 'p/self.yml'), join(cwd, 'p/self.yml'));
  const loaded = await loadPolicies('p', { cwd });
  assert.deepEqual(problems(loaded), [
    'p/prod.yaml:1:1 a symbolic link to a file that does not exist; restore its target or remove the link',
    'p/self.yml:1:1 a symbolic link that loops back on itself; point it at a policy file or remove it',
  ]);
  assert.deepEqual(loaded.files, ['p/a.yaml']);
});

test('a path that is not a file or a directory, a symlink loop and a path through a file are problems at 1:1', async () => {
  const cwd = tempDir();
  write(cwd, { 'f.yaml': secret('f') });
  symlinkSync(join(cwd, 'loop'), join(cwd, 'loop'));
  const cases = [
    ['/dev/null', '/dev/null:1:1 not a file or a directory; pass a policy file or a directory of *.yaml files'],
    ['loop', 'loop:1:1 cannot read (ELOOP); check the path and its permissions'],
    ['f.yaml/x', 'f.yaml/x:1:1 no such file or directory; pass a policy file or a directory of *.yaml files'],
  ];
  for (const [target, expected] of cases) {
    const loaded = await loadPolicies(target, { cwd });
    assert.deepEqual(problems(loaded), [expected], target);
    assert.deepEqual(loaded.files, [], target);
    assert.deepEqual(loaded.policies, [], target);
  }
});

test('the working directory itself is shown as "."; a parent directory by its absolute path', async () => {
  const cwd = tempDir();
  const empty = await loadPolicies('.', { cwd });
  assert.deepEqual(problems(empty), ['.:1:1 no policy files (*.yaml, *.yml) in this directory; add one, or run `keyshift init`']);
  write(cwd, { 'f.yaml': secret('f'), 'sub/readme.md': '' });
  const here = await loadPolicies('.', { cwd });
  assert.deepEqual(here.files, ['f.yaml']);
  const parent = await loadPolicies('..', { cwd: join(cwd, 'sub') });
  assert.deepEqual(problems(parent), []);
  assert.deepEqual(parent.files, [join(cwd, 'f.yaml')]);
  const parentEmpty = await loadPolicies('..', { cwd: join(cwd, 'sub', 'deeper') });
  assert.deepEqual(problems(parentEmpty), [`${join(cwd, 'sub')}:1:1 no policy files (*.yaml, *.yml) in this directory; add one, or run \`keyshift init\``]);
});

test('signing: one key in several files is the run key; two different keys are one problem at the second', async () => {
  const cwd = tempDir();
  write(cwd, {
    'same/a.yaml': `signing: { key: k1.pem }\n${secret('a')}`,
    'same/b.yaml': `signing: { key: k1.pem }\n${secret('b')}`,
    'same/c.yaml': secret('c'),
    'diff/a.yaml': `signing: { key: k1.pem }\n${secret('a')}`,
    'diff/b.yaml': `signing: { key: k1.pem }\n${secret('b')}`,
    'diff/c.yaml': secret('c'),
    'diff/d.yaml': `signing: { key: k2.pem }\n${secret('d')}`,
    'diff/e.yaml': `signing: { key: k3.pem }\n${secret('e')}`,
  });
  const same = await loadPolicies('same', { cwd });
  assert.deepEqual(problems(same), []);
  assert.equal(same.signingKey, 'k1.pem');
  const diff = await loadPolicies('diff', { cwd });
  assert.deepEqual(problems(diff), [
    'diff/d.yaml:1:1 signing.key is set to different keys in diff/a.yaml and diff/b.yaml and diff/d.yaml and diff/e.yaml; one run signs with one key: set it in one file only',
  ]);
  assert.equal(diff.signingKey, 'k1.pem');
});

test('an empty signing key is a schema problem, not a run key', async () => {
  const cwd = tempDir();
  write(cwd, { 'p.yaml': `signing: { key: "" }\n${secret('a')}` });
  const loaded = await loadPolicies('p.yaml', { cwd });
  assert.deepEqual(problems(loaded), ['p.yaml:1:17 signing.key: is empty; give the path of an Ed25519 private key PEM']);
  assert.equal(loaded.signingKey, null);
});

test('loading leaves process.env as it was: the same object, nothing added', async () => {
  const cwd = tempDir();
  write(cwd, { 'p.yaml': secret('a') });
  const before = process.env;
  const keys = Object.keys(process.env).sort();
  await loadPolicies('p.yaml', { cwd });
  assert.equal(process.env, before);
  assert.deepEqual(Object.keys(process.env).sort(), keys);
});

test('duplicates within and across files point at the later ones; the first file loaded wins', async () => {
  const cwd = tempDir();
  // Two secrets named "a" in b.yaml and a third in a.yaml: a.yaml's secret comes first.
  write(cwd, { 'p/a.yaml': secret('a'), 'p/b.yaml': `${secret('a')}${secret('a').replace('secrets:\n', '')}` });
  const loaded = await loadPolicies('p', { cwd });
  assert.deepEqual(problems(loaded), [
    'p/b.yaml:2:11 secrets[0].name: duplicate secret name "a"; first defined at p/a.yaml:2; names must be unique across all policy files',
    'p/b.yaml:7:11 secrets[1].name: duplicate secret name "a"; first defined at p/a.yaml:2; names must be unique across all policy files',
  ]);
  assert.deepEqual(loaded.policies.map((p) => p.name), ['a']);
});
test('an empty YAML document after the policy (a trailing ---) is not a second document', async () => {
  const cwd = tempDir();
  write(cwd, { 'p.yaml': `---\n${secret('a')}---\n`, 'q.yaml': `${secret('b')}---\n# nothing more\n`, 'r.yaml': `${secret('c')}---\n~\n` });
  for (const file of ['p.yaml', 'q.yaml']) {
    const loaded = await loadPolicies(file, { cwd });
    assert.deepEqual(problems(loaded), [], file);
    assert.equal(loaded.policies.length, 1, file);
  }
  // A document that holds something, even a written null, is still refused.
  const written = await loadPolicies('r.yaml', { cwd });
  assert.deepEqual(problems(written), ['r.yaml:8:1 only one YAML document per policy file; move this document into its own file']);
});

// Permissions: as an unprivileged user when the tests run as root (helpers/policy-as-user.js).
test('a listed policy file that cannot be read (mode 000) is "cannot read (EACCES)" at its 1:1; the other files still load', () => {
  const cwd = tempDir();
  chmodSync(cwd, 0o755);
  write(cwd, { 'p/a.yaml': secret('a'), 'p/b.yaml': secret('b') });
  chmodSync(join(cwd, 'p', 'b.yaml'), 0o000);
  assert.deepEqual(loadAsUser(cwd, 'p'), {
    errors: ['p/b.yaml:1:1 cannot read (EACCES); check its permissions'],
    names: ['a'],
    files: ['p/a.yaml', 'p/b.yaml'],
  });
});

test('a policy file that is a symbolic link into a directory the user may not enter is "cannot read (EACCES)" naming the link; the other files still load', () => {
  const cwd = tempDir();
  chmodSync(cwd, 0o755);
  write(cwd, { 'p/a.yaml': secret('a'), 'locked/b.yaml': secret('b') });
  symlinkSync(join(cwd, 'locked', 'b.yaml'), join(cwd, 'p', 'b.yaml'));
  chmodSync(join(cwd, 'locked'), 0o000);
  try {
    assert.deepEqual(loadAsUser(cwd, 'p'), {
      errors: ['p/b.yaml:1:1 cannot read (EACCES); check its permissions'],
      names: ['a'],
      files: ['p/a.yaml'],
    });
  } finally {
    chmodSync(join(cwd, 'locked'), 0o755);
  }
});

test('a directory that can be stat\'ed but not listed (mode 000) is "cannot list this directory (EACCES)" at 1:1', () => {
  const cwd = tempDir();
  chmodSync(cwd, 0o755);
  write(cwd, { 'p/a.yaml': secret('a') });
  chmodSync(join(cwd, 'p'), 0o000);
  try {
    assert.deepEqual(loadAsUser(cwd, 'p'), {
      errors: ['p:1:1 cannot list this directory (EACCES); check its permissions'],
      names: [],
      files: [],
    });
  } finally {
    chmodSync(join(cwd, 'p'), 0o755);
  }
});

test('a read the system refused is worded by its code, the same for a policy file and for a directory entry: what to do about each', () => {
  // The codes a unit test cannot provoke as root (EPERM from a security module, EIO from a failing
  // disk, ENOENT from a file removed between listing and reading) get their own fix, not a guess.
  assert.equal(cannotRead('EACCES'), 'cannot read (EACCES); check its permissions');
  assert.equal(cannotRead('EPERM'), 'cannot read (EPERM); check its permissions');
  assert.equal(cannotRead('EIO'), 'cannot read (EIO); the disk could not be read: check the device');
  assert.equal(cannotRead('ENOENT'), 'cannot read (ENOENT); it was removed while keyshift read it: run again');
  assert.equal(cannotRead('EMFILE'), 'cannot read (EMFILE); check that it is a readable file');
  assert.equal(cannotRead('toString'), 'cannot read (toString); check that it is a readable file', 'an odd code is not looked up on Object.prototype');
});
