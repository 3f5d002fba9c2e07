// The checkpoint of rotate's rollback check (src/evidence/state-checkpoint.ts): a later run reads
// only the evidence written since, and gets exactly what a full read of the log gives; a checkpoint
// that no longer matches the log (replaced, cut, damaged) is never trusted.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, truncateSync, utimesSync, writeFileSync, statSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EvidenceLog } from '../../dist/evidence/index.js';
import { expectedStates, targetKey, CHECKPOINT_EVERY, RETIREMENTS_KEPT } from '../../dist/evidence/expected-state.js';
import { CHECKPOINT_FILE } from '../../dist/evidence/state-checkpoint.js';
import { readCheckpointFile, writeCheckpointFile } from '../helpers/checkpoint-file.js';

const SECRETS = 60;
const draft = (secret, event, from, to, seq) => ({
  event, rotationId: `r-${secret}-${seq}`, secret, environment: 'prod', store: 'local', fromVersion: from, toVersion: to,
  fingerprint: null, at: `2026-01-01T00:00:${String(seq % 60).padStart(2, '0')}.000Z`, operator: 'me', reason: 'scheduled',
  ticket: null, emergency: false, checks: [], runId: `run-${seq}`, storeId: `store-${secret.length % 2}`,
});

/** `rounds` rotations of SECRETS secrets (provision, then per round: decommission, issue, switch; every 7th round a rollback). */
function history(rounds, from = 0) {
  const drafts = [];
  for (let round = from; round < from + rounds; round++) {
    for (let i = 0; i < SECRETS; i++) {
      const s = `s-${i}`;
      const v = (n) => `v${n}-${s}`;
      if (round === 0) {
        drafts.push(draft(s, 'provisioned', null, v(0), round));
        continue;
      }
      if (round > 1) drafts.push(draft(s, 'decommissioned', v(round - 2), v(round - 1), round));
      drafts.push(draft(s, 'issued', v(round - 1), v(round), round));
      if (round % 7 === 0 && i % 3 === 0) drafts.push(draft(s, 'rolled-back', v(round), v(round - 1), round));
      else drafts.push(draft(s, 'switched', v(round - 1), v(round), round));
    }
  }
  return drafts;
}

async function logWith(t, drafts) {
  const dir = mkdtempSync(join(tmpdir(), 'keyshift-checkpoint-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  await append(dir, drafts);
  return dir;
}

/** Rewrites the checkpoint file through `edit` (helpers/checkpoint-file.js: the file as one object). */
function editCheckpoint(dir, edit) {
  const file = join(dir, CHECKPOINT_FILE);
  writeCheckpointFile(file, edit(readCheckpointFile(file)));
}

async function append(dir, drafts) {
  const log = new EvidenceLog(dir);
  await log.append(drafts);
  await log.close();
}

// As if every store judged recorded the checkpoint's digest (store-rollback.ts asks the stores' meta).
const TRUSTING = { checkpoint: { vouched: () => true } };
const wanted = new Set(Array.from({ length: SECRETS }, (_, i) => targetKey(`s-${i}`, 'prod')));
const plain = (states) => ({ chainId: states.chainId, targets: [...states.targets].map(([k, s]) => [k, { ...s, retired: [...s.retired], lastSeqByStore: [...s.lastSeqByStore] }]) });

describe('expected states from a checkpoint', () => {
  it('gives what a full read gives, and a later run reads on from it', async (t) => {
    const dir = await logWith(t, history(20));
    assert.ok(history(20).length >= CHECKPOINT_EVERY, 'enough records for a checkpoint');
    const first = await expectedStates(dir, wanted, TRUSTING);
    assert.ok(existsSync(join(dir, CHECKPOINT_FILE)), 'the checkpoint was written');
    assert.equal(statSync(join(dir, CHECKPOINT_FILE)).mode & 0o777, 0o600);
    assert.deepEqual(plain(first), plain(await expectedStates(dir, wanted)));
    // A state with every kind of record: current from the last switch, retirements capped.
    const s3 = first.targets.get(targetKey('s-3', 'prod'));
    assert.equal(s3.current, 'v19-s-3');
    assert.equal(s3.retired.size, RETIREMENTS_KEPT);
    assert.ok(s3.retired.has('v18-s-3') === false && s3.retired.has('v17-s-3'), 'the newest retirements are kept');

    await append(dir, history(5, 20));
    const later = await expectedStates(dir, wanted, TRUSTING);
    assert.deepEqual(plain(later), plain(await expectedStates(dir, wanted)));
    assert.equal(later.targets.get(targetKey('s-4', 'prod')).current, 'v24-s-4');
  });

  it('is what the run starts from while the log holds the record it names', async (t) => {
    const dir = await logWith(t, history(20));
    await expectedStates(dir, wanted, TRUSTING);
    // Proof that it is read (and not silently skipped): a state changed in the file comes back.
    const file = join(dir, CHECKPOINT_FILE);
    const checkpoint = readCheckpointFile(file);
    const row = checkpoint.targets.find(([key]) => key === targetKey('s-5', 'prod'));
    row[1][0] = 'v-from-the-checkpoint';
    writeCheckpointFile(file, checkpoint);
    assert.equal((await expectedStates(dir, wanted, TRUSTING)).targets.get(targetKey('s-5', 'prod')).current, 'v-from-the-checkpoint');
    // evidence verify and doctor never use it.
    assert.equal((await expectedStates(dir, wanted)).targets.get(targetKey('s-5', 'prod')).current, 'v19-s-5');
  });

  for (const [name, spoil] of [
    ['the log was replaced by another', async (dir) => { rmSync(join(dir, 'evidence.jsonl')); await append(dir, history(21)); }],
    ['the log was cut before the record it names', async (dir) => truncateSync(join(dir, 'evidence.jsonl'), 4000)],
    ['the checkpoint is damaged', async (dir) => writeFileSync(join(dir, CHECKPOINT_FILE), '{"format":1,"chainId":"x"')],
    ['the checkpoint names a record the log does not hold there', async (dir) => {
      const file = join(dir, CHECKPOINT_FILE);
      const checkpoint = readCheckpointFile(file);
      writeCheckpointFile(file, { ...checkpoint, seq: checkpoint.seq - 1 });
    }],
    ['the checkpoint names another chain', async (dir) => {
      const file = join(dir, CHECKPOINT_FILE);
      const checkpoint = readCheckpointFile(file);
      writeCheckpointFile(file, { ...checkpoint, chainId: `sha256:${'0'.repeat(64)}` });
    }],
    ['a state in the checkpoint is malformed', async (dir) => {
      const file = join(dir, CHECKPOINT_FILE);
      const checkpoint = readCheckpointFile(file);
      checkpoint.targets[0][1][1] = 'not a seq';
      writeCheckpointFile(file, checkpoint);
    }],
    ['the checkpoint ends inside a line of the log', (dir) => editCheckpoint(dir, (c) => ({ ...c, end: c.end - 1 }))],
    ['the checkpoint ends past the end of the log', (dir) => editCheckpoint(dir, (c) => ({ ...c, end: c.end + 10_000_000 }))],
    ['the checkpoint names the right seq with another hash', (dir) => editCheckpoint(dir, (c) => ({ ...c, hash: `sha256:${'1'.repeat(64)}` }))],
    // The record it names is there, but its end falls inside the next line: reading on from there would lose that line.
    ['the checkpoint ends inside the line after the record it names', async (dir) => {
      await append(dir, [draft('s-0', 'issued', 'v19-s-0', 'v20-s-0', 20)]);
      editCheckpoint(dir, (c) => ({ ...c, end: c.end + 5 }));
    }],
    ['the line where the checkpoint ends is not a record', (dir) => {
      appendFileSync(join(dir, 'evidence.jsonl'), '\n');
      editCheckpoint(dir, (c) => ({ ...c, end: statSync(join(dir, 'evidence.jsonl')).size }));
    }],
    // Each field of the file, of the wrong kind (a damaged or hand-made checkpoint).
    ...[
      ['format', 1], ['format', 3], ['chainId', 5], ['hash', null], ['seq', -1], ['seq', 1.5], ['seq', '7'], ['end', 0], ['end', -3], ['end', 2 ** 60], ['targets', {}],
    ].map(([field, value]) => [`its ${field} is ${JSON.stringify(value)}`, (dir) => editCheckpoint(dir, (c) => ({ ...c, [field]: value }))]),
    ['it is not a JSON object', (dir) => writeFileSync(join(dir, CHECKPOINT_FILE), '[1,2,3]\n')],
    ['it is one JSON text, as format 1 was', (dir) => writeFileSync(join(dir, CHECKPOINT_FILE), `${JSON.stringify(readCheckpointFile(join(dir, CHECKPOINT_FILE)))}\n`)],
    ['it ends a line early (fewer targets than its header counts)', (dir) => {
      const file = join(dir, CHECKPOINT_FILE);
      writeFileSync(file, `${readFileSync(file, 'utf8').split('\n').slice(0, -2).join('\n')}\n`);
    }],
    ['its last line is cut short', (dir) => writeFileSync(join(dir, CHECKPOINT_FILE), readFileSync(join(dir, CHECKPOINT_FILE), 'utf8').slice(0, -5))],
    ['a target is there twice', (dir) => editCheckpoint(dir, (c) => ({ ...c, targets: [...c.targets.slice(0, -1), c.targets[0]] }))],
    ['a target is not a pair', (dir) => editCheckpoint(dir, (c) => ({ ...c, targets: [...c.targets, 'loose'] }))],
    ['a target key is not a string', (dir) => editCheckpoint(dir, (c) => ({ ...c, targets: [...c.targets, [5, c.targets[0][1]]] }))],
    // Each part of a state, of the wrong kind.
    ...[
      ['a row of 7', (row) => row.slice(0, 7)], ['a row of 9', (row) => [...row, 'extra']], ['a row that is not a list', () => ({})],
      ['a row that is an object with a length of 8', () => ({ length: 8 })], ['a row that is null', () => null],
      ['CURRENT a number', (row) => [5, ...row.slice(1)]], ['a negative currentSeq', (row) => [row[0], -1, ...row.slice(2)]],
      ['currentEvent a number', (row) => [...row.slice(0, 2), 1, ...row.slice(3)]], ['currentAt null', (row) => [...row.slice(0, 3), null, ...row.slice(4)]],
      ['retired not a list', (row) => [...row.slice(0, 4), {}, ...row.slice(5)]], ['a retired pair of one', (row) => [...row.slice(0, 4), [['v1']], ...row.slice(5)]],
      ['a retired version a number', (row) => [...row.slice(0, 4), [[1, 2]], ...row.slice(5)]], ['a retired seq a string', (row) => [...row.slice(0, 4), [['v1', 'x']], ...row.slice(5)]],
      ['a retired entry not a pair', (row) => [...row.slice(0, 4), ['v1'], ...row.slice(5)]],
      ['a retired pair of three', (row) => [...row.slice(0, 4), [['v1', 2, 'x']], ...row.slice(5)]],
      ['a retired pair that is an object', (row) => [...row.slice(0, 4), [{ 0: 'v1', 1: 2, length: 2 }], ...row.slice(5)]],
      ['a good retired pair, then a bad one', (row) => [...row.slice(0, 4), [['v1', 2], ['v2']], ...row.slice(5)]],
      ['storeId a number', (row) => [...row.slice(0, 5), 3, ...row.slice(6)]], ['storeIdSeq a fraction', (row) => [...row.slice(0, 6), 0.5, row[7]]],
      ['lastSeqByStore malformed', (row) => [...row.slice(0, 7), [['A', -2]]]],
    ].map(([what, edit]) => [`a state has ${what}`, (dir) => editCheckpoint(dir, (c) => ({ ...c, targets: c.targets.map(([key, row], i) => [key, i === 7 ? edit(row) : row]) }))]),
  ]) {
    it(`is not trusted when ${name}`, async (t) => {
      const dir = await logWith(t, history(20));
      await expectedStates(dir, wanted, TRUSTING);
      const file = join(dir, CHECKPOINT_FILE);
      // Mark the checkpoint: if it were trusted, this state would come back.
      const checkpoint = readCheckpointFile(file);
      checkpoint.targets.find(([key]) => key === targetKey('s-5', 'prod'))[1][0] = 'v-from-the-checkpoint';
      writeCheckpointFile(file, checkpoint);
      await spoil(dir);
      const got = await expectedStates(dir, wanted, TRUSTING);
      assert.deepEqual(plain(got), plain(await expectedStates(dir, wanted)));
      assert.notEqual(got.targets.get(targetKey('s-5', 'prod'))?.current, 'v-from-the-checkpoint');
    });
  }

  it('holds every target of the log, not only those the run wanted, and the whole state of each', async (t) => {
    // A target with records but no CURRENT yet (seq 0) is part of a checkpoint like any other.
    const dir = await logWith(t, [...history(20), draft('lone', 'issued', null, 'v1-lone', 20)]);
    const all = new Set([...wanted, targetKey('lone', 'prod')]);
    await expectedStates(dir, new Set([targetKey('s-1', 'prod')]), TRUSTING);
    // Read from the checkpoint alone (nothing appended since): exactly what a full read gives.
    assert.deepEqual(plain(await expectedStates(dir, all, TRUSTING)), plain(await expectedStates(dir, all)));
    // And it was read from the checkpoint, not the log: a marked state comes back.
    editCheckpoint(dir, (c) => ({ ...c, targets: c.targets.map(([key, row]) => [key, key === targetKey('s-5', 'prod') ? ['v-from-the-checkpoint', ...row.slice(1)] : row]) }));
    assert.equal((await expectedStates(dir, all, TRUSTING)).targets.get(targetKey('s-5', 'prod')).current, 'v-from-the-checkpoint');
  });

  it('leaves no file open, and no temp file when it cannot be written', async (t) => {
    const dir = await logWith(t, history(20));
    await expectedStates(dir, wanted, TRUSTING);
    const open = () => readdirSync('/proc/self/fd').length;
    const before = open();
    await expectedStates(dir, wanted, TRUSTING);
    assert.equal(open(), before, 'the log read for the checkpoint was closed');
    // The checkpoint's place is taken (here by a directory): the read still answers, nothing is left behind.
    const blocked = await logWith(t, history(20));
    mkdirSync(join(blocked, CHECKPOINT_FILE, 'inside'), { recursive: true });
    const got = await expectedStates(blocked, wanted, TRUSTING);
    assert.equal(got.checkpoint, null);
    assert.deepEqual(plain(got), plain(await expectedStates(blocked, wanted)));
    assert.deepEqual(readdirSync(blocked).sort(), [CHECKPOINT_FILE, 'evidence.jsonl'].sort());
  });

  it('is not written for a short log, nor by a read without it', async (t) => {
    const dir = await logWith(t, history(3));
    await expectedStates(dir, wanted, TRUSTING);
    assert.equal(existsSync(join(dir, CHECKPOINT_FILE)), false, 'fewer records than CHECKPOINT_EVERY');
    await append(dir, history(20, 3));
    await expectedStates(dir, wanted);
    assert.equal(existsSync(join(dir, CHECKPOINT_FILE)), false, 'verify and doctor write nothing');
  });

  it('sweeps the temp files of a run killed while writing it, and only those', async (t) => {
    const dir = await logWith(t, history(20));
    const stale = `${CHECKPOINT_FILE}.4242.0badc0de.tmp`;
    const fresh = `${CHECKPOINT_FILE}.4243.0badc0df.tmp`;
    // Names that only contain or start like a temp file's are someone else's.
    const others = ['notes.tmp', `x${stale}`, `${stale}.bak`];
    for (const name of [stale, fresh, ...others]) writeFileSync(join(dir, name), 'x');
    const old = new Date(Date.now() - 5 * 60_000);
    for (const name of [stale, ...others]) utimesSync(join(dir, name), old, old);
    await expectedStates(dir, wanted, TRUSTING);
    assert.deepEqual(readdirSync(dir).sort(), [CHECKPOINT_FILE, fresh, 'evidence.jsonl', ...others].sort());
  });

  it('is used only when the stores vouch for its digest, and says which checkpoint holds after the read', async (t) => {
    const dir = await logWith(t, history(20));
    const first = await expectedStates(dir, wanted, TRUSTING);
    const file = join(dir, CHECKPOINT_FILE);
    const digest = (text) => `sha256:${createHash('sha256').update(text).digest('hex')}`;
    assert.deepEqual(first.checkpoint, { chainId: first.chainId, digest: digest(readFileSync(file, 'utf8')) });
    // Marked, so that its use shows; the stores vouch for the digest of what they saw written.
    const checkpoint = readCheckpointFile(file);
    checkpoint.targets.find(([key]) => key === targetKey('s-5', 'prod'))[1][0] = 'v-from-the-checkpoint';
    writeCheckpointFile(file, checkpoint);
    const editedText = readFileSync(file, 'utf8');
    const asked = [];
    const vouchedFor = (ref) => (asked.push(ref), ref.digest === first.checkpoint.digest);
    const edited = await expectedStates(dir, wanted, { checkpoint: { vouched: vouchedFor } });
    assert.deepEqual(asked, [{ chainId: first.chainId, digest: digest(editedText) }], 'asked about the file as it was');
    assert.equal(edited.targets.get(targetKey('s-5', 'prod')).current, 'v19-s-5', 'an edited checkpoint no store saw is not used');
    // Not used, so the whole log was read: a new checkpoint replaced the edited one.
    assert.deepEqual(edited.checkpoint, { chainId: first.chainId, digest: digest(readFileSync(file, 'utf8')) });
    assert.equal(edited.checkpoint.digest, first.checkpoint.digest, 'the same log gives the same checkpoint');
    // Used, with too few records since to write a new one: the same checkpoint holds.
    await append(dir, history(1, 20));
    const again = await expectedStates(dir, wanted, { checkpoint: { vouched: (ref) => ref.digest === edited.checkpoint.digest } });
    assert.deepEqual(again.checkpoint, edited.checkpoint);
    assert.equal(again.targets.get(targetKey('s-5', 'prod')).current, 'v20-s-5');
  });

  it('is written a line per target, larger than the writer\'s buffer and with a target larger than it, and its digest is of the bytes written', async (t) => {
    // writeCheckpoint writes a target at a time through a 256 KiB buffer, and a read decodes a line
    // at a time: neither holds the whole file.
    const long = `s-${'x'.repeat(300_000)}`;
    const many = Array.from({ length: 3000 }, (_, i) => draft(`m-${i}`, 'provisioned', null, `v0-m-${i}`, 1));
    const dir = await logWith(t, [...many, draft(long, 'provisioned', null, 'v0-long', 1), ...history(1)]);
    const all = new Set([...many.map((d) => targetKey(d.secret, 'prod')), targetKey(long, 'prod')]);
    const first = await expectedStates(dir, all, TRUSTING);
    const text = readFileSync(join(dir, CHECKPOINT_FILE), 'utf8');
    assert.ok(text.length > 256 * 1024 + 300_000, `the checkpoint (${text.length} bytes) is larger than the buffer`);
    const lines = text.split('\n');
    assert.equal(lines.pop(), '', 'every line ends with a newline');
    assert.deepEqual(JSON.parse(lines[0]), { format: 2, chainId: first.chainId, seq: JSON.parse(lines[0]).seq, hash: JSON.parse(lines[0]).hash, end: JSON.parse(lines[0]).end, targets: many.length + 1 + SECRETS });
    assert.equal(lines.length, 1 + many.length + 1 + SECRETS);
    assert.deepEqual(first.checkpoint, { chainId: first.chainId, digest: `sha256:${createHash('sha256').update(text).digest('hex')}` });
    // Read back from the checkpoint: what a full read gives.
    assert.deepEqual(plain(await expectedStates(dir, all, TRUSTING)), plain(await expectedStates(dir, all)));
    editCheckpoint(dir, (c) => ({ ...c, targets: c.targets.map(([key, row]) => [key, key === targetKey(long, 'prod') ? ['v-from-the-checkpoint', ...row.slice(1)] : row]) }));
    assert.equal((await expectedStates(dir, all, TRUSTING)).targets.get(targetKey(long, 'prod')).current, 'v-from-the-checkpoint', 'the long line was read');
  });
});
