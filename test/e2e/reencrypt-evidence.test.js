// reencrypt-stage records are evidence like the rotation's: in the same hash chain, signed with
// KEYSHIFT_SIGNING_KEY, and anchored in the environment's store, so `evidence verify` finds one
// edited, the chain rewritten after an edit, or the last of them cut off. Nothing here depends on
// the database: it runs on the first driver this machine has.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { cpSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildRoot, json, readEvidence } from '../helpers/cli.js';
import { DRIVERS, SECRET, allFields, driverSkips, reencrypt, setupProject, versionOf } from '../helpers/reencrypt.js';

const { recordHash } = await import(join(buildRoot, 'dist', 'evidence', 'index.js'));
const driver = DRIVERS.find((d) => !driverSkips[d]) ?? DRIVERS[0];

test(`${driver}: a reencrypt-stage record edited, re-chained or cut off fails evidence verify`, { skip: driverSkips[driver] }, async (t) => {
  const p = await setupProject(t, driver, 1000, { observe: '0s' });
  if (!p) return;
  const run = reencrypt(p, ['--json']);
  assert.equal(run.code, 0, run.stderr);
  const records = readEvidence(p.dir);
  const stages = records.filter((r) => r.event === 'reencrypt-stage');
  assert.equal(stages.length, 5);
  // The store's anchor is the head the run left: its last stage record.
  const head = records.at(-1);
  assert.equal(head.event, 'reencrypt-stage');
  const anchors = json(p.cli(['evidence', 'anchors', '--json'])).stores.flatMap((s) => s.anchors);
  assert.deepEqual(anchors.map((a) => [a.seq, a.hash]), [[head.seq, head.hash]], 'the run anchored its records in the store');
  const intact = json(p.cli(['evidence', 'verify', '--json']));
  assert.equal(intact.ok, true);
  assert.equal(intact.anchorsChecked, 1);

  const lines = readFileSync(join(p.dir, 'evidence', 'evidence.jsonl'), 'utf8').trimEnd().split('\n');
  const canary = stages[0].seq - 1; // its line index
  const variant = (name, edit) => {
    const dir = join(p.dir, name);
    cpSync(join(p.dir, 'evidence'), dir, { recursive: true });
    writeFileSync(join(dir, 'evidence.jsonl'), `${edit(lines.slice()).join('\n')}\n`);
    const result = p.cli(['evidence', 'verify', dir, '--json']);
    return { code: result.code, report: json(result) };
  };

  // A stage that failed made to look clean: the edited record's hash no longer matches.
  const edited = variant('edited', (l) => {
    l[canary] = JSON.stringify({ ...JSON.parse(l[canary]), errors: 7 });
    return l;
  });
  assert.equal(edited.code, 1);
  assert.equal(edited.report.line, canary + 1);
  assert.match(edited.report.problem, /hash mismatch/);

  // The same edit with every hash after it recomputed: a valid chain, but not the anchored one.
  const rechained = variant('rechained', (l) => {
    let prevHash = JSON.parse(l[canary - 1]).hash;
    for (let i = canary; i < l.length; i++) {
      const record = { ...JSON.parse(l[i]), prevHash, ...(i === canary ? { errors: 7 } : {}) };
      delete record.hash;
      record.hash = recordHash(record);
      prevHash = record.hash;
      l[i] = JSON.stringify(record);
    }
    return l;
  });
  assert.equal(rechained.code, 1, 'a re-chained log must not verify');
  assert.match(rechained.report.problem, /not the one store .* recorded .*: the log was rewritten/);

  // The last stage records removed: what is left is a valid chain, but shorter than the anchor.
  const cut = variant('cut', (l) => l.slice(0, -2));
  assert.equal(cut.code, 1, 'records cut off must not verify');
  assert.match(cut.report.problem, new RegExp(`log ends at seq ${head.seq - 2} but store .* recorded seq ${head.seq} \\(records were cut off\\)`));
});

test(`${driver}: with KEYSHIFT_SIGNING_KEY a reencrypt run ends with a signed record over its stage records`, { skip: driverSkips[driver] }, async (t) => {
  const p = await setupProject(t, driver, 400, { observe: '0s' });
  if (!p) return;
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  writeFileSync(join(p.dir, 'signing.pem'), privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  writeFileSync(join(p.dir, 'signing.pub'), publicKey.export({ type: 'spki', format: 'pem' }));
  const run = p.cli(['reencrypt', 'data-key', '--until', '25%'], { KEYSHIFT_SIGNING_KEY: join(p.dir, 'signing.pem') });
  assert.equal(run.code, 0, run.stderr);
  const records = readEvidence(p.dir);
  assert.deepEqual(records.slice(-3).map((r) => r.event), ['reencrypt-stage', 'reencrypt-stage', 'signed']);
  const verified = p.cli(['evidence', 'verify', '--public-key', 'signing.pub']);
  assert.equal(verified.code, 0, verified.stdout + verified.stderr);
  // A later run without the key leaves its records unsigned, and verify says so.
  assert.equal(reencrypt(p, ['--until', '50%']).code, 0);
  const unsigned = p.cli(['evidence', 'verify', '--public-key', 'signing.pub']);
  assert.equal(unsigned.code, 1);
  assert.match(unsigned.stdout + unsigned.stderr, /ERR_SIGNATURE_MISSING|after the last signature/);
});

test(`${driver}: a reencrypt run on a log cut short of the store's anchor is refused before it changes anything`, { skip: driverSkips[driver] }, async (t) => {
  const p = await setupProject(t, driver, 300, { observe: '0s' });
  if (!p) return;
  assert.equal(reencrypt(p).code, 0);
  const file = join(p.dir, 'evidence', 'evidence.jsonl');
  const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
  const anchored = JSON.parse(lines.at(-1)).seq;
  const cut = `${lines.slice(0, -2).join('\n')}\n`;
  writeFileSync(file, cut);
  const storeDir = join(p.dir, '.keyshift');
  const stores = () => Object.fromEntries(readdirSync(storeDir).map((name) => [name, readFileSync(join(storeDir, name), 'utf8')]));
  const before = stores();

  // Without the check, the run would append its sweep record after the cut and anchor that in the
  // store, and `evidence verify` would pass again over the records removed.
  const refused = reencrypt(p);
  assert.equal(refused.code, 1, refused.stderr);
  assert.match(refused.stderr, new RegExp(`^keyshift: evidence log .*evidence\\.jsonl is damaged at line ${anchored - 1}: it ends at seq ${anchored - 2} but store .* recorded seq ${anchored} \\(records were cut off\\); nothing was appended\\n`));
  assert.doesNotMatch(refused.stderr, /\n\s+at /, 'no stack trace');
  assert.equal(readFileSync(file, 'utf8'), cut, 'nothing appended to the log');
  assert.deepEqual(stores(), before, 'no store write: the anchor still names the cut records');
  assert.equal(p.cli(['evidence', 'verify']).code, 1, 'the cut is still reported');

  // rollback first moves the rows back under the old version (and records that): refused the same
  // way before a row moves.
  const rollback = p.cli(['rollback', SECRET, '--reason', 'after-cut']);
  assert.equal(rollback.code, 1, rollback.stderr);
  assert.match(rollback.stderr, /^keyshift: evidence log .*evidence\.jsonl is damaged at line \d+: it ends at seq \d+ but store .* recorded seq \d+ \(records were cut off\); nothing was appended\n/);
  assert.equal(readFileSync(file, 'utf8'), cut);
  assert.deepEqual(stores(), before);
  for (const f of await allFields(p)) assert.equal(versionOf(f.value), p.fresh.versionId, `${f.table}.${f.column}#${f.key} stays under the new version`);
});
