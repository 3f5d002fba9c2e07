// A store file put back from an old copy, spliced from two copies, or copied over another store
// (one shared KEYSHIFT_MASTER_KEY): `evidence verify` and `doctor` name it (exit 1) and `rotate`
// refuses to build on it (exit 1, an error code and a hint), so an old value never silently
// becomes CURRENT again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { baseEnv, runCli, tempProject, writeFiles, json, assertNoStackTrace } from '../helpers/cli.js';
import { readCheckpointFile, writeCheckpointFile } from '../helpers/checkpoint-file.js';

const POLICY = `secrets:
  - name: api-key
    interval: 30d
    fallbackWindow: 1h
    generator: { type: random, bytes: 16, encoding: hex }
    environments:
      - name: dev
        store: { type: local, path: .keyshift/dev.store }
      - name: prod
        store: { type: local, path: .keyshift/prod.store }
`;

function project() {
  const dir = tempProject();
  const env = baseEnv({ KEYSHIFT_MASTER_KEY: randomBytes(32).toString('base64') });
  writeFiles(dir, { 'policies/p.yaml': POLICY });
  const cli = (args) => {
    const result = runCli(args, { cwd: dir, env });
    assertNoStackTrace(assert, result.stderr);
    return result;
  };
  assert.equal(cli(['rotate', '--all', '-q']).code, 0);
  return { dir, cli, store: (name) => join(dir, '.keyshift', `${name}.store`) };
}

const force = ['rotate', '--all', '--force', '--reason', 'test', '-q'];

/** verify and doctor find it (exit 1, `check` named); rotate refuses dev with `code`, exit 1. */
function assertDetected(p, { check, code, message }) {
  const verify = p.cli(['evidence', 'verify']);
  assert.equal(verify.code, 1, `evidence verify: ${verify.stdout}${verify.stderr}`);
  assert.match(verify.stdout + verify.stderr, message);
  const doctor = p.cli(['doctor', '--json']);
  assert.equal(doctor.code, 1, doctor.stderr);
  const found = json(doctor).findings.filter((f) => f.check === check && (f.environment === 'dev' || (f.environment === null && /dev\.store$/.test(f.store ?? ''))));
  assert.equal(found.length, 1, JSON.stringify(json(doctor).findings));
  assert.match(found[0].message, message);
  const before = readFileSync(p.store('dev'));
  const rotate = p.cli([...force, '--json']);
  assert.equal(rotate.code, 1, rotate.stderr);
  // A store that cannot be opened at all stops the run (the error at the top); one that opens but
  // holds an old state fails its secret's result.
  const out = json(rotate);
  const error = out.error ?? out.results.find((r) => r.environment === 'dev' && r.outcome === 'failed')?.error;
  assert.equal(error?.code, code, JSON.stringify(out));
  assert.ok(error.hint, 'the refusal says what to do');
  assert.deepEqual(readFileSync(p.store('dev')), before, 'rotate did not build on the store');
}

test('an old copy of a store put back is found by verify and doctor, and refused by rotate', () => {
  const p = project();
  const old = readFileSync(p.store('dev'));
  const oldValue = p.cli(['get', 'api-key', '--env', 'dev']).stdout;
  assert.equal(p.cli(force).code, 0);
  assert.notEqual(p.cli(['get', 'api-key', '--env', 'dev']).stdout, oldValue);
  writeFileSync(p.store('dev'), old);
  assertDetected(p, { check: 'store-rolled-back', code: 'ERR_STORE_ROLLED_BACK', message: /older copy|rolled back/ });
});

test('records spliced from two copies of one generation fail authentication', () => {
  const p = project();
  const base = readFileSync(p.store('dev'));
  assert.equal(p.cli(force).code, 0);
  const branchA = readFileSync(p.store('dev'));
  writeFileSync(p.store('dev'), base);
  // A second branch from the same copy (its evidence goes to a log of its own).
  const b = p.cli([...force, '--evidence-dir', join(p.dir, 'evidence-b')]);
  assert.equal(b.code, 0, b.stderr);
  const branchB = readFileSync(p.store('dev'));
  const framesA = frames(branchA, base.length);
  const framesB = frames(branchB, base.length);
  assert.ok(framesA.length >= 2 && framesB.length >= 2);
  // A's first new record, then B's second and later ones: each at its own index, as before.
  const spliced = Buffer.concat([base, branchA.subarray(framesA[0].start, framesA[0].end), branchB.subarray(framesB[1].start)]);
  writeFileSync(p.store('dev'), spliced);
  assertDetected(p, { check: 'store-error', code: 'ERR_STORE_CORRUPT', message: /authentication/ });
});

test('a store copied over another (one shared master key) is found, refused, and not served', () => {
  const p = project();
  copyFileSync(p.store('prod'), p.store('dev'));
  const get = p.cli(['get', 'api-key', '--env', 'dev']);
  assert.equal(get.code, 1, 'dev must not serve prod\'s value');
  assert.match(get.stderr, /dev\.store/);
  assert.match(get.stderr, /prod\.store/);
  assertDetected(p, { check: 'store-error', code: 'ERR_STORE_MISPLACED', message: /prod\.store/ });
});

/** Record frames after the header, from the length prefixes (docs/local-store.md#records). */
function frames(bytes, start) {
  const out = [];
  for (let at = start; at + 8 <= bytes.length; ) {
    const length = bytes.readUInt32BE(at);
    out.push({ start: at, end: at + 8 + length });
    at += 8 + length;
  }
  return out;
}

/**
 * 400 secrets in one local store, provisioned and rotated twice: the two runs write 1,200 records,
 * so the second forced run's check left a checkpoint (evidence/.expected-states.json) and the runs
 * after it read only the records written since.
 */
function checkpointedProject() {
  const dir = tempProject();
  const env = baseEnv({ KEYSHIFT_MASTER_KEY: randomBytes(32).toString('base64') });
  const secrets = Array.from({ length: 400 }, (_, i) => `  - name: s-${i}\n    interval: 30d\n    fallbackWindow: 1h\n    generator: { type: random, bytes: 16 }\n    environments:\n      - name: prod\n        store: { type: local, path: .keyshift/prod.store }\n`);
  writeFiles(dir, { 'policies/p.yaml': `secrets:\n${secrets.join('')}` });
  const cli = (args) => {
    const result = runCli(args, { cwd: dir, env });
    assertNoStackTrace(assert, result.stderr);
    return result;
  };
  assert.equal(cli(['rotate', '--all', '-q']).code, 0);
  assert.equal(cli(force).code, 0);
  assert.equal(cli(force).code, 0);
  return { dir, cli };
}

test('an old copy is refused by rotate when the rollback check starts from its checkpoint', () => {
  const { dir, cli } = checkpointedProject();
  const checkpoint = join(dir, 'evidence', '.expected-states.json');
  assert.ok(existsSync(checkpoint), 'the checkpoint was written');
  const written = statSync(checkpoint).mtimeMs;
  assert.ok(existsSync(checkpoint), 'the checkpoint was written');
  const store = join(dir, '.keyshift', 'prod.store');
  const old = readFileSync(store);
  assert.equal(cli(force).code, 0);
  assert.ok(statSync(checkpoint).mtimeMs > written, 'the next run read on from it and moved it on');
  writeFileSync(store, old);
  const rotate = cli([...force, '--json']);
  assert.equal(rotate.code, 1, rotate.stderr);
  const failed = json(rotate).results.filter((r) => r.outcome === 'failed');
  assert.equal(failed.length, 400, 'every secret of the store is refused');
  assert.equal(failed[0].error.code, 'ERR_STORE_ROLLED_BACK');
  assert.deepEqual(readFileSync(store), old, 'rotate did not build on the store');
});

test('an edited checkpoint is not trusted: the stores record the digest of the one their run saw', () => {
  const { dir, cli } = checkpointedProject();
  const file = join(dir, 'evidence', '.expected-states.json');
  // Someone edits the checkpoint (its seq, hash and offset still match the log) to say that s-0's
  // PREVIOUS version was retired. Trusted, that would make rotate refuse the store as put back
  // from an old copy; edited the other way, it would hide a store that was.
  const previous = json(cli(['status', 's-0', '--json'])).secrets[0].previousVersion;
  assert.match(previous ?? '', /^v-/);
  const checkpoint = readCheckpointFile(file);
  checkpoint.targets.find(([key]) => key === 's-0\u0000prod')[1][4].push([previous, 1]);
  writeCheckpointFile(file, checkpoint);
  const rotate = cli([...force, '--json']);
  assert.equal(rotate.code, 0, `${rotate.stdout}${rotate.stderr}`);
  assert.ok(json(rotate).results.every((r) => r.outcome === 'decommissioned' || r.outcome === 'rotated'));
  assert.doesNotMatch(readFileSync(file, 'utf8'), new RegExp(`\\["${previous}",1\\]`), 'the whole log was read and a new checkpoint written');
  assert.equal(cli(['evidence', 'verify']).code, 0);
});

