// Damaged local store files: bytes flipped, the file cut, garbage or zeros appended, ranges
// zeroed. For each damaged copy, `status`, `get` and `rotate --all --force` must either refuse it
// with the one-line ERR_STORE_CORRUPT error (exit 1) and leave it byte for byte as it was, or —
// when only a torn tail was hit, which the format ignores by design — answer exactly what the
// complete records hold. An independent reader of docs/local-store.md (store-format.js) decides
// which, so no value keyshift returns is ever taken on trust.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { adoptEnv, checkProperty, elapsed, fcParams, fuzzSettings, inBatches, isolatedEnv, outputProblems, runInProcess, runSpawned, snapshotDiff, snapshotTree, tempDir } from './helpers.js';
import { readStore, storeKeys, versionAt } from './store-format.js';

const { seed, share } = fuzzSettings(600);
const home = tempDir('keyshift-fuzz-home-');
const env = isolatedEnv(home);
adoptEnv(env);

const SECRETS = ['alpha', 'beta', 'gamma'];
const STAGES = { current: 'CURRENT', previous: 'PREVIOUS', pending: 'PENDING' };
const STORE = '.keyshift/dev.store';
const POLICY = `secrets:\n${SECRETS.map((name) => `  - name: ${name}\n    interval: 30d\n    fallbackWindow: 1h\n    generator: { type: random, bytes: 16, encoding: hex }\n    environments:\n      - name: dev\n        store: { type: local, path: ${STORE} }\n`).join('')}`;

let base; // the provisioned project
let original; // its store bytes
let keys;
let layout; // the original's frames

before(async () => {
  // A store with history: provisioned, rotated (issue, switch), then one secret rotated and
  // decommissioned at once; records of every phase, several per secret.
  base = tempDir('keyshift-fuzz-store-');
  writeFileSync(join(base, 'policies.yaml'), POLICY);
  for (const args of [['rotate', '--all'], ['rotate', '--all', '--force', '--reason', 'fuzz'], ['rotate', 'alpha', '--force', '--reason', 'fuzz', '--fallback-window', '0']]) {
    const result = await runSpawned(['-p', 'policies.yaml', ...args], { cwd: base, env });
    assert.equal(result.code, 0, `${args.join(' ')}: ${result.stderr}`);
  }
  original = readFileSync(join(base, STORE));
  keys = storeKeys(readFileSync(join(base, `${STORE}.key`), 'utf8'));
  layout = readStore(original, keys);
  assert.ok(!layout.corrupt && layout.validEnd === original.length, 'the oracle reads the intact store whole');
});

/** Where damage lands: anywhere, in the header, around a record boundary, or in the last record. */
const position = fc.record({ region: fc.constantFrom('any', 'any', 'header', 'boundary', 'last'), pick: fc.nat(), delta: fc.integer({ min: -12, max: 12 }) });
const damage = fc.oneof(
  fc.record({ kind: fc.constant('flip'), at: position, xor: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ kind: fc.constant('truncate'), at: position }),
  fc.record({ kind: fc.constant('append'), bytes: fc.uint8Array({ minLength: 1, maxLength: 64 }) }),
  fc.record({ kind: fc.constant('appendZeros'), length: fc.integer({ min: 1, max: 300 }) }),
  fc.record({ kind: fc.constant('zero'), at: position, length: fc.integer({ min: 1, max: 64 }) }),
);
const damageCase = fc.record({ damages: fc.array(damage, { minLength: 1, maxLength: 2 }), secret: fc.constantFrom(...SECRETS), stage: fc.constantFrom('current', 'current', 'previous', 'pending') });

/** Edges run on every seed: the file emptied or cut inside its header, and tails of exactly a length prefix. */
const at = (region, pick, delta = 0) => ({ region, pick, delta });
const EDGES = [
  [{ kind: 'truncate', at: at('header', 0) }],
  [{ kind: 'truncate', at: at('header', 11) }],
  [{ kind: 'truncate', at: at('boundary', 0, -1) }],
  [{ kind: 'truncate', at: at('boundary', 1, 7) }],
  [{ kind: 'truncate', at: at('boundary', 1, 8) }],
  [{ kind: 'appendZeros', length: 7 }],
  [{ kind: 'appendZeros', length: 8 }],
  [{ kind: 'append', bytes: new Uint8Array(8).fill(0xff) }],
  [{ kind: 'zero', at: at('last', 0), length: 64 }, { kind: 'truncate', at: at('last', 40) }],
].map((damages) => [{ damages, secret: 'alpha', stage: 'current' }]);

const counts = {};
const RUNS = share(1);
test(`damaged store copies: ${RUNS} cases (seed ${seed}) through status, get and rotate --all --force`, async (t) => {
  const started = performance.now();
  await checkProperty(fc.asyncProperty(damageCase, checkDamage), { ...fcParams(seed, 1, RUNS), examples: EDGES });
  t.diagnostic(`${RUNS} cases in ${elapsed(started)}: ${Object.entries(counts).map(([k, v]) => `${v} ${k}`).join(', ')}`);
  // Both verdicts of the oracle must have been reached, or one half of the check never ran.
  assert.ok(counts['refused as damaged'] > 0, `no damaged copy was refused: ${JSON.stringify(counts)}`);
  assert.ok(counts['read with a torn tail ignored'] > 0, `no torn tail was read: ${JSON.stringify(counts)}`);
});

test('the spawned CLI gives the same answers as the in-process runs (12 cases)', async (t) => {
  const started = performance.now();
  const sample = fc.sample(damageCase, { seed: seed + 2, numRuns: 12 });
  await inBatches(sample, 2, async (kase) => {
    const bytes = damaged(kase.damages);
    const commands = [['status', '--json'], ['get', kase.secret, '--stage', kase.stage], ['rotate', '--all', '--force', '--reason', 'fuzz', '--json']];
    const [a, b] = [project(bytes), project(bytes)];
    for (const command of commands) {
      const inProcess = await runInProcess(['-p', 'policies.yaml', ...command], { cwd: a, env });
      const spawned = await runSpawned(['-p', 'policies.yaml', ...command], { cwd: b, env });
      const label = `${command[0]} (${JSON.stringify(kase.damages)})`;
      assert.equal(spawned.code, inProcess.code, `${label}\n${spawned.stderr}\n${inProcess.stderr}`);
      // Log lines carry a time and a pid, and an in-process run logs elsewhere: compare the rest.
      const said = (text, dir) => text.replaceAll(dir, '<dir>').split('\n').filter((line) => !line.startsWith('{"level":')).join('\n');
      assert.equal(said(spawned.stderr, b), said(inProcess.stderr, a), label);
      if (command[0] !== 'rotate') assert.equal(spawned.stdout.replaceAll(b, '<dir>'), inProcess.stdout.replaceAll(a, '<dir>'), label);
    }
    // Sizes may differ by a few bytes (format 2 writes a repeated time as a number: two events in
    // the same millisecond are shorter), so compare what the stores say after the rotate.
    const [after, afterSpawned] = [await runInProcess(['-p', 'policies.yaml', 'status', '--json'], { cwd: a, env }), await runSpawned(['-p', 'policies.yaml', 'status', '--json'], { cwd: b, env })];
    assert.equal(afterSpawned.code, after.code, 'status after rotate');
    if (after.code === 0) assert.deepEqual(JSON.parse(afterSpawned.stdout).secrets.map((r) => r.phase), JSON.parse(after.stdout).secrets.map((r) => r.phase));
  });
  t.diagnostic(`12 cases, 36 spawned runs in ${elapsed(started)}`);
});

/** A fresh copy of the provisioned project with `bytes` as its store. */
function project(bytes) {
  const dir = tempDir('keyshift-fuzz-damaged-');
  cpSync(base, dir, { recursive: true });
  writeFileSync(join(dir, STORE), bytes, { mode: 0o600 });
  return dir;
}

function damaged(damages) {
  let bytes = Buffer.from(original);
  for (const d of damages) bytes = applyDamage(bytes, d);
  return bytes;
}

function offsetOf(at, size) {
  const headerEnd = layout.frames[0]?.start ?? original.length;
  const last = layout.frames.at(-1);
  let offset;
  if (at.region === 'header') offset = at.pick % headerEnd;
  else if (at.region === 'boundary') offset = layout.frames[at.pick % layout.frames.length].start + at.delta;
  else if (at.region === 'last') offset = last.start + (at.pick % (last.end - last.start));
  else offset = at.pick % Math.max(size, 1);
  return Math.min(Math.max(offset, 0), Math.max(size - 1, 0));
}

function applyDamage(bytes, d) {
  if (d.kind === 'append') return Buffer.concat([bytes, Buffer.from(d.bytes)]);
  if (d.kind === 'appendZeros') return Buffer.concat([bytes, Buffer.alloc(d.length)]);
  const offset = offsetOf(d.at, bytes.length);
  if (d.kind === 'truncate') return bytes.subarray(0, offset);
  const copy = Buffer.from(bytes);
  if (d.kind === 'flip' && offset < copy.length) copy[offset] ^= d.xor;
  if (d.kind === 'zero') copy.fill(0, offset, Math.min(offset + d.length, copy.length));
  return copy;
}

/** State after the first `records` records of the original: what an intact prefix must read as. */
function prefixState(records) {
  const end = records === 0 ? layout.frames[0].start : layout.frames[records - 1].end;
  return readStore(original.subarray(0, end), keys);
}

async function checkDamage(kase) {
  const bytes = damaged(kase.damages);
  const expected = readStore(bytes, keys);
  const dir = project(bytes);
  const storePath = join(dir, STORE);
  const run = (args) => runInProcess(['-p', 'policies.yaml', ...args], { cwd: dir, env });
  const ino = statSync(storePath).ino;
  const unchanged = (what) => {
    assert.ok(readFileSync(storePath).equals(bytes), `${what} changed the store file`);
    assert.equal(statSync(storePath).ino, ino, `${what} replaced the store file`);
  };

  if (!expected.corrupt) {
    // The format's promise: damage that is tolerated can only ever show an earlier, real state.
    const prefix = prefixState(expected.records);
    assert.deepEqual([...expected.entries], [...prefix.entries], 'a tolerated tail reads as a real earlier state');
  }
  const tree = snapshotTree(dir);
  const status = await run(['status', '--json']);
  const get = await run(['get', kase.secret, '--stage', kase.stage]);
  assert.deepEqual(snapshotDiff(tree, snapshotTree(dir)), [], 'status and get changed no file');
  unchanged('status/get');
  const rotate = await run(['rotate', '--all', '--force', '--reason', 'fuzz', '--json']);
  const context = `damage ${JSON.stringify(kase.damages)}; oracle ${expected.corrupt ?? `${expected.records} records`}\nstatus ${status.code} ${status.stderr}\nget ${get.code} ${get.stderr}\nrotate ${rotate.code} ${rotate.stderr}`;
  for (const result of [status, get, rotate]) assert.deepEqual(outputProblems(result), [], context);

  if (expected.corrupt) {
    count('refused as damaged');
    for (const result of [status, get, rotate]) assertCorruptError(result, storePath, context);
    unchanged('rotate');
    assert.deepEqual(snapshotDiff(tree, snapshotTree(dir)), [], `rotate on a damaged store changed files ${context}`);
    return;
  }

  assert.equal(status.code, 0, context);
  const rows = new Map(JSON.parse(status.stdout).secrets.map((row) => [row.secret, row]));
  for (const secret of SECRETS) {
    const ids = Object.fromEntries(Object.entries(STAGES).map(([name, stage]) => [`${name}Version`, versionAt(expected, secret, stage)?.id ?? null]));
    const row = rows.get(secret);
    assert.deepEqual({ currentVersion: row.currentVersion, previousVersion: row.previousVersion, pendingVersion: row.pendingVersion }, ids, `${secret} ${context}`);
  }
  const want = versionAt(expected, kase.secret, STAGES[kase.stage]);
  if (want) assert.deepEqual([get.code, get.stdout], [0, `${want.value}\n`], `get ${kase.secret} --stage ${kase.stage} ${context}`);
  else assert.deepEqual([get.code, get.stdout], [1, ''], `get of an empty stage ${context}`);

  // An intact prefix older than what the evidence records (a cut at a record boundary: an old copy)
  // is refused by rotate, which writes nothing to it (docs/local-store.md#restored-copies).
  if (olderThanEvidence(expected)) {
    count('refused as older than the evidence');
    assert.equal(rotate.code, 1, context);
    const failed = JSON.parse(rotate.stdout).results.filter((r) => r.outcome === 'failed');
    assert.ok(failed.length > 0 && failed.every((r) => r.error.code === 'ERR_STORE_ROLLED_BACK'), context);
    unchanged('rotate on an old copy');
    return;
  }
  count(expected.validEnd === bytes.length ? 'read whole' : 'read with a torn tail ignored');
  // A writer drops the torn tail and appends after the last complete record: nothing valid is lost.
  assert.equal(rotate.code, 0, context);
  const after = readFileSync(storePath);
  assert.ok(after.subarray(0, expected.validEnd).equals(bytes.subarray(0, expected.validEnd)), `rotate rewrote complete records ${context}`);
  const reread = readStore(after, keys);
  assert.ok(!reread.corrupt && reread.validEnd === after.length && reread.records > expected.records, `the store after rotate ${context}`);
  for (const { secret, toVersion, outcome } of JSON.parse(rotate.stdout).results) {
    if (outcome === 'rotated' || outcome === 'provisioned') assert.equal(versionAt(reread, secret, 'CURRENT')?.id, toVersion, context);
  }
}

/**
 * Whether a state shows a secret older than the base project's evidence log says it is: another
 * CURRENT than the last provisioned/switched/rolled-back record made CURRENT, or a version a
 * decommissioned/rolled-back record retired. Read from the log itself, not from src/.
 */
function olderThanEvidence(state) {
  const lines = readFileSync(join(base, 'evidence', 'evidence.jsonl'), 'utf8').trim().split('\n').map((line) => JSON.parse(line));
  for (const secret of SECRETS) {
    const entry = state.entries.get(secret);
    if (!entry) continue;
    let current = null;
    const retired = new Set();
    for (const r of lines.filter((l) => l.secret === secret)) {
      if (['provisioned', 'switched', 'rolled-back'].includes(r.event) && r.toVersion) current = r.toVersion;
      if (['decommissioned', 'rolled-back'].includes(r.event) && r.fromVersion) retired.add(r.fromVersion);
      if (r.toVersion && ['provisioned', 'switched', 'rolled-back'].includes(r.event)) retired.delete(r.toVersion);
    }
    if (current && versionAt(state, secret, 'CURRENT')?.id !== current) return true;
    if (entry.versions.some((v) => retired.has(v.id))) return true;
  }
  return false;
}

/**
 * Exit 1 and the stable code, the message naming the file and the hint: `get` prints them as one
 * line and one line of hint on stderr; `status --json` and `rotate --json` (which go on with the
 * other stores: failure isolation) give each of the store's secrets a row with that error, and
 * stderr holds at most log lines.
 */
function assertCorruptError(result, storePath, context) {
  assert.equal(result.code, 1, context);
  const document = result.stdout ? JSON.parse(result.stdout) : null;
  const rows = document?.secrets ?? document?.results;
  if (rows) {
    assert.ok(rows.length > 0, context);
    for (const row of rows) {
      assert.ok(row.phase === 'unknown' || row.outcome === 'failed', context);
      assert.equal(row.error?.code, 'ERR_STORE_CORRUPT', context);
      assert.ok(row.error.message.startsWith(`store ${storePath} is damaged: `), context);
      assert.match(row.error.hint, /^restore .+ from a backup/, context);
    }
    for (const line of result.stderr.split('\n').filter(Boolean)) assert.ok(line.startsWith('{"level":'), `only log lines on stderr ${context}`);
    return;
  }
  const lines = result.stderr.split('\n');
  assert.equal(lines.length, 3, `two lines on stderr ${context}`);
  assert.ok(lines[0].startsWith(`keyshift: store ${storePath} is damaged: `), context);
  assert.match(lines[1], /^ {2}hint: restore .+ from a backup/, context);
  if (result.stdout) assert.equal(JSON.parse(result.stdout).error.code, 'ERR_STORE_CORRUPT', context);
}

function count(outcome) {
  counts[outcome] = (counts[outcome] ?? 0) + 1;
}
