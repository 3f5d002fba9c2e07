// Tampering with a real evidence log (evidence/evidence.jsonl after rotations, failures and
// rollbacks in two stores): every deletion, duplication, swap and truncation — exhaustively over
// the lines — and fast-check's single-line edits must make `keyshift evidence verify` exit 1 and
// name the first line that differs. The stores' anchors are what catch a log cut at a record
// boundary or re-sealed with fresh hashes. An edit that leaves the parsed record as it was (JSON
// whitespace, key order, escapes) changes no content: the hash covers canonical JSON
// (docs/evidence.md#hashing), so verify accepts it and the test says so by name.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { adoptEnv, checkProperty, elapsed, fcParams, fuzzSettings, isolatedEnv, outputProblems, runInProcess, runSpawned, tempDir } from './helpers.js';
import { readStore, storeKeys } from './store-format.js';
import { lineEdit, applyLineEdit, canonicalJson } from './evidence-edits.js';

const { seed, share } = fuzzSettings(800);
const home = tempDir('keyshift-fuzz-home-');
const env = isolatedEnv(home);
adoptEnv(env);

const LOG = 'evidence/evidence.jsonl';
const POLICY = `secrets:
  - name: api-key
    interval: 30d
    fallbackWindow: 1h
    generator: { type: random, bytes: 16, encoding: hex }
    environments:
      - name: dev
        store: { type: local, path: .keyshift/dev.store }
        deploy: [{ run: "true" }]
        verify: [{ run: "true" }]
      - name: prod
        store: { type: local, path: .keyshift/prod.store }
  - name: db-password
    interval: 30d
    fallbackWindow: 1h
    generator: { type: random, length: 24 }
    environments:
      - name: prod
        store: { type: local, path: .keyshift/prod.store }
  - name: broken-deploy
    interval: 30d
    fallbackWindow: 1h
    generator: { type: random, bytes: 16 }
    environments:
      - name: dev
        store: { type: local, path: .keyshift/dev.store }
        deploy: [{ run: "exit 3" }]
`;

let project;
let lines; // the intact log, without line breaks
let anchors; // seqs that the stores recorded for this chain

before(async () => {
  project = tempDir('keyshift-fuzz-evidence-');
  writeFileSync(join(project, 'policies.yaml'), POLICY);
  // Provisioned, rotated with hooks, one failure rolled back, one rotation decommissioned at once.
  // The last run touches only prod: the stores' anchors then stand at different seqs.
  const runs = [['rotate', '--all'], ['rotate', '--all', '--force', '--reason', 'fuzz'], ['rotate', 'api-key', '--force', '--reason', 'fuzz', '--fallback-window', '0'], ['rotate', 'db-password', '--force', '--reason', 'fuzz']];
  for (const args of runs) {
    const result = await runSpawned(['-p', 'policies.yaml', ...args], { cwd: project, env });
    assert.ok([0, 1].includes(result.code), `${args.join(' ')}: ${result.stderr}`);
  }
  lines = readFileSync(join(project, LOG), 'utf8').split('\n').slice(0, -1);
  const events = new Set(lines.map((line) => JSON.parse(line).event));
  for (const event of ['provisioned', 'issued', 'deployed', 'verified', 'switched', 'decommissioned', 'failed', 'rolled-back']) assert.ok(events.has(event), `the log has a ${event} record`);
  const chainId = JSON.parse(lines[0]).hash;
  anchors = ['dev', 'prod'].map((name) => {
    const path = join(project, `.keyshift/${name}.store`);
    const meta = readStore(readFileSync(path), storeKeys(readFileSync(`${path}.key`, 'utf8'))).meta;
    return meta.evidenceAnchors[chainId].seq;
  });
  assert.equal(Math.max(...anchors), lines.length, 'the last run anchored the head of the log');
  const intact = await verify(joined(lines));
  assert.equal(intact.code, 0, intact.stdout + intact.stderr);
  assert.match(intact.stdout, /anchors checked: 2 store\(s\) agree/);
});

const joined = (list) => list.map((line) => `${line}\n`).join('');

/** `evidence verify` on `text` (a string or bytes) as the log, in-process; stores and policies stay as they are. */
async function verify(text) {
  writeFileSync(join(project, LOG), text);
  const result = await runInProcess(['-p', 'policies.yaml', 'evidence', 'verify'], { cwd: project, env });
  assert.ok(readFileSync(join(project, LOG)).equals(Buffer.from(text)), 'verify changed the log');
  return result;
}

/** The lines of `bytes`, each with its newline (the last one may have none). */
function linesOf(bytes) {
  const out = [];
  for (let start = 0; start < bytes.length; ) {
    const nl = bytes.indexOf(0x0a, start);
    const end = nl === -1 ? bytes.length : nl + 1;
    out.push(bytes.subarray(start, end));
    start = end;
  }
  return out;
}

/** Exit 1, one line `evidence/evidence.jsonl:LINE: problem` on stdout, the matching line on stderr. */
async function assertDetected(text, line, what) {
  const result = await verify(text);
  const context = `${what}\n${result.stdout}${result.stderr}`;
  assert.deepEqual(outputProblems(result), [], context);
  assert.equal(result.code, 1, `not detected: ${context}`);
  const match = /^evidence\/evidence\.jsonl:(\d+): ([^\n]+)\n$/.exec(result.stdout);
  assert.ok(match, `stdout is not one "file:line: problem" line: ${context}`);
  assert.equal(Number(match[1]), line, `names line ${match[1]}, expected ${line}: ${context}`);
  assert.equal(result.stderr, `keyshift: evidence chain broken at ${LOG}:${line}\n`, context);
  return match[2];
}

test('exhaustive over the lines: every deletion, duplication, swap, blank line and cut is found at its line', async (t) => {
  const started = performance.now();
  const n = lines.length;
  let cases = 0;
  for (let i = 1; i <= n; i++) {
    const before = lines.slice(0, i - 1);
    const line = lines[i - 1];
    const after = lines.slice(i);
    const checks = [
      [`delete line ${i}`, joined([...before, ...after]), i],
      [`duplicate line ${i}`, joined([...before, line, line, ...after]), i + 1],
      [`blank line before line ${i}`, joined([...before, '', line, ...after]), i],
      [`cut in the middle of line ${i}`, joined(before) + line.slice(0, line.length >> 1), i],
      [`cut just before the newline of line ${i}`, joined(before) + line, i],
      [`keep lines 1..${i - 1} (cut at a record boundary)`, joined(before), i],
    ];
    if (i < n) checks.push([`swap lines ${i} and ${i + 1}`, joined([...before, after[0], line, ...after.slice(1)]), i]);
    if (i > 1) checks.push([`move line ${i} to the top`, joined([line, ...before, ...after]), 1]);
    for (const [what, text, expected] of checks) {
      if (text === '') {
        // An empty log while the stores hold anchors: the log was replaced (docs/evidence.md#anchors).
        await assertDetected(text, 1, what);
      } else await assertDetected(text, expected, what);
      cases += 1;
    }
  }
  t.diagnostic(`${cases} cases over ${n} lines in ${elapsed(started)}`);
});

test('a chain re-sealed with fresh hashes from any line on is caught by the first anchor at or after it', async (t) => {
  for (let i = 1; i <= lines.length; i++) {
    const records = lines.map((line) => JSON.parse(line));
    records[i - 1].reason = 'forged';
    for (let k = i - 1; k < records.length; k++) {
      if (k > 0) records[k].prevHash = records[k - 1].hash;
      const { hash: _old, ...body } = records[k];
      records[k].hash = `sha256:${createHash('sha256').update(canonicalJson(body)).digest('hex')}`;
    }
    // i = 1 forges a new chain id: no anchor names this log any more.
    const expected = i === 1 ? lines.length : Math.min(...anchors.filter((seq) => seq >= i));
    const problem = await assertDetected(joined(records.map((r) => JSON.stringify(r))), expected, `re-sealed from line ${i}`);
    assert.match(problem, i === 1 ? /name an evidence chain this log is not/ : /is not the one store .+ recorded/);
  }
  t.diagnostic(`${lines.length} cases; anchors at seq ${anchors.join(' and ')}`);
});

const EDITS = share(1);
test(`single-line edits chosen by fast-check: ${EDITS} cases (seed ${seed})`, async (t) => {
  const started = performance.now();
  const outcomes = { detected: 0, 'content unchanged, accepted by design': 0 };
  const property = fc.asyncProperty(fc.nat(), lineEdit, async (pick, edit) => {
    const index = pick % lines.length;
    const edited = applyLineEdit(lines[index], edit);
    const text = Buffer.concat([Buffer.from(joined(lines.slice(0, index))), edited, Buffer.from(joined(lines.slice(index + 1)))]);
    if (edited.equals(Buffer.from(`${lines[index]}\n`))) {
      outcomes['no-op edit (skipped)'] = (outcomes['no-op edit (skipped)'] ?? 0) + 1; // e.g. a digit replaced by itself
      return;
    }
    if (sameContent(edited.toString('utf8'), lines[index])) {
      // JSON whitespace, key order, \u escapes, 1.0 for 1: the record is what it was.
      const result = await verify(text);
      assert.equal(result.code, 0, `content-preserving edit ${JSON.stringify(edit)}: ${result.stdout}`);
      outcomes['content unchanged, accepted by design'] += 1;
      return;
    }
    // A line break inside the edit moves what follows: the first line that differs is named.
    const newLines = linesOf(text);
    let first = 0;
    while (first < lines.length && newLines[first]?.equals(Buffer.from(`${lines[first]}\n`))) first += 1;
    await assertDetected(text, first + 1, `line ${index + 1} edited by ${JSON.stringify(edit)}`);
    outcomes.detected += 1;
  });
  await checkProperty(property, fcParams(seed, 3, EDITS));
  t.diagnostic(`${EDITS} cases in ${elapsed(started)}: ${Object.entries(outcomes).map(([k, v]) => `${v} ${k}`).join(', ')}`);
  // Most edits change a record and must have been detected; content-preserving ones exist too.
  assert.ok(outcomes.detected * 2 >= EDITS, `only ${outcomes.detected} of ${EDITS} edits were content changes that verify caught`);
  if (EDITS >= 100) assert.ok(outcomes['content unchanged, accepted by design'] > 0, 'no content-preserving edit was generated');
});

test('a log removed or replaced by a fresh chain is reported; the spawned CLI agrees with in-process runs', async () => {
  const copy = tempDir('keyshift-fuzz-evidence-copy-');
  cpSync(project, copy, { recursive: true });
  writeFileSync(join(copy, LOG), joined(lines.slice(0, -2)));
  const spawned = await runSpawned(['-p', 'policies.yaml', 'evidence', 'verify'], { cwd: copy, env });
  const inProcess = await verify(joined(lines.slice(0, -2)));
  // Messages name a store by its absolute path (docs/evidence.md shows it relative).
  const shown = (result, dir) => [result.code, result.stdout.replaceAll(dir, '<dir>'), result.stderr];
  assert.deepEqual(shown(spawned, copy), shown(inProcess, project));
  assert.match(spawned.stdout, /:\d+: log ends at seq \d+ but store .+ recorded seq \d+ \(records were cut off\)\n$/);
  rmSync(join(copy, LOG));
  const removed = await runSpawned(['-p', 'policies.yaml', 'evidence', 'verify'], { cwd: copy, env });
  assert.equal(removed.code, 1, removed.stdout);
  assert.match(removed.stdout, /^evidence\/evidence\.jsonl:1: 2 store anchor\(s\) name an evidence chain this log is not/);
  await verify(joined(lines)); // leave the intact log for nothing else to trip on
});

/** True when the edited text (one line and its newline) parses to the same record as the original. */
function sameContent(editedText, originalLine) {
  if (!editedText.endsWith('\n') || editedText.indexOf('\n') !== editedText.length - 1) return false;
  try {
    return canonicalJson(JSON.parse(editedText)) === canonicalJson(JSON.parse(originalLine));
  } catch {
    return false;
  }
}
