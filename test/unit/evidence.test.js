import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, appendFileSync, statSync, existsSync, writeFileSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EvidenceLog, verifyEvidence, findLoggedEvents, isRecordLogged, canonicalJson, ZERO_HASH } from '../../dist/evidence/index.js';
import { recordingLog } from '../helpers/recording-log.js';
import { readHistory } from '../../dist/report/history.js';

const distUrl = new URL('../../dist/evidence/index.js', import.meta.url).href;

function draft(i, over = {}) {
  return {
    event: 'issued', rotationId: `r-${i}`, secret: 'webhook-signing-key', environment: 'prod', store: 'local',
    fromVersion: 'v-old', toVersion: `v-${i}`, fingerprint: `hmac-sha256:${'ab'.repeat(32)}`,
    at: '2026-11-23T10:00:00.000Z', operator: 'alice@host', reason: 'scheduled', ticket: null,
    emergency: false, checks: [], runId: 'run-1', ...over,
  };
}
const freshDir = () => join(mkdtempSync(join(tmpdir(), 'keyshift-evidence-')), 'evidence');

/** A new log of `count` records (draft(0), draft(1), …): its directory, file, text and records. */
async function recordLog(count, dir = freshDir()) {
  const log = new EvidenceLog(dir);
  const records = await log.append(Array.from({ length: count }, (_, i) => draft(i)));
  await log.close();
  const file = join(dir, 'evidence.jsonl');
  return { dir, file, whole: readFileSync(file, 'utf8'), records };
}
const lines = (dir) => readFileSync(join(dir, 'evidence.jsonl'), 'utf8').split('\n').slice(0, -1);

test('append writes a chained, verifiable log in the documented field order', async () => {
  const dir = freshDir();
  const log = new EvidenceLog(dir);
  const records = await log.append([draft(1), draft(2, { event: 'failed', error: 'verify hook exited 1' })]);
  await log.close();
  assert.deepEqual(records.map((r) => r.seq), [1, 2]);
  assert.equal(records[0].prevHash, ZERO_HASH);
  assert.equal(records[1].prevHash, records[0].hash);
  assert.deepEqual(Object.keys(JSON.parse(lines(dir)[1])), [
    'seq', 'at', 'event', 'rotationId', 'secret', 'environment', 'store', 'fromVersion', 'toVersion',
    'fingerprint', 'operator', 'reason', 'ticket', 'emergency', 'checks', 'runId', 'error', 'prevHash', 'hash',
  ]);
  const result = await verifyEvidence(dir);
  assert.deepEqual(result, { ok: true, records: 2, head: { chainId: records[0].hash, seq: 2, hash: records[1].hash }, anchorsChecked: 0 });
  assert.equal(statSync(dir).mode & 0o777, 0o700);
  assert.equal(statSync(join(dir, 'evidence.jsonl')).mode & 0o777, 0o600);
});

test('nothing is created before the first append; a missing log verifies as empty', async () => {
  const dir = freshDir();
  const log = new EvidenceLog(dir);
  assert.equal(await log.head(), null);
  assert.equal(existsSync(dir), false);
  assert.deepEqual(await verifyEvidence(dir), { ok: true, records: 0, head: null, anchorsChecked: 0 });
  assert.deepEqual(await findLoggedEvents(dir, new Set(['r-1'])), new Set());
  assert.equal(await isRecordLogged(dir, 'run-1', { event: 'issued' }), false);
});

test('isRecordLogged finds a record by its run and fields, nothing else', async () => {
  const dir = freshDir();
  const log = new EvidenceLog(dir);
  await log.append([draft(1, { rotationId: null, event: 'reencrypt-stage', stage: 'canary' }), draft(2, { runId: 'run-2', rotationId: null, event: 'reencrypt-stage', stage: '25%' })]);
  await log.close();
  const stage = (stage, at = '2026-11-23T10:00:00.000Z') => ({ event: 'reencrypt-stage', secret: 'webhook-signing-key', environment: 'prod', at, stage });
  assert.equal(await isRecordLogged(dir, 'run-1', stage('canary')), true);
  assert.equal(await isRecordLogged(dir, 'run-1', stage('25%')), false, 'another run\'s stage');
  assert.equal(await isRecordLogged(dir, 'run-2', stage('canary')), false);
  assert.equal(await isRecordLogged(dir, 'run-1', stage('canary', '2026-11-23T10:00:01.000Z')), false, 'another time');
  assert.equal(await isRecordLogged(dir, 'run-3', {}), false);
});

test('the chain id is the hash of seq 1 and survives new instances', async () => {
  const dir = freshDir();
  const first = new EvidenceLog(dir);
  const [one] = await first.append([draft(1)]);
  await first.append([draft(2)]);
  await first.close();
  const second = new EvidenceLog(dir);
  const [three] = await second.append([draft(3)]);
  assert.equal(three.seq, 3);
  assert.deepEqual(await second.head(), { chainId: one.hash, seq: 3, hash: three.hash });
  await second.close();
});

test('group commit: 100 concurrent appends get seqs 1..100 without gaps', async () => {
  const dir = freshDir();
  const log = new EvidenceLog(dir);
  const results = await Promise.all(Array.from({ length: 100 }, (_, i) => log.append([draft(i)])));
  await log.close();
  assert.deepEqual(results.map(([r]) => r.seq), Array.from({ length: 100 }, (_, i) => i + 1));
  assert.equal(lines(dir).length, 100);
  assert.equal((await verifyEvidence(dir)).records, 100);
});

test('two instances on one dir (two processes) interleave into one valid chain', async () => {
  const dir = freshDir();
  const a = new EvidenceLog(dir);
  const b = new EvidenceLog(dir);
  const run = async (log, tag) => {
    for (let i = 0; i < 40; i += 1) await log.append([draft(i, { runId: tag }), draft(i, { runId: tag, event: 'switched' })]);
  };
  await Promise.all([run(a, 'a'), run(b, 'b')]);
  await Promise.all([a.close(), b.close()]);
  const seqs = lines(dir).map((line) => JSON.parse(line).seq);
  assert.deepEqual(seqs, Array.from({ length: 160 }, (_, i) => i + 1));
  assert.equal((await verifyEvidence(dir)).ok, true);
  // Each append's two records stay adjacent.
  const parsed = lines(dir).map((line) => JSON.parse(line));
  for (let i = 0; i < parsed.length; i += 2) assert.equal(parsed[i].runId, parsed[i + 1].runId);
});

test('a child process appending at the same time keeps the chain valid, and verify never sees a torn line', async () => {
  const dir = freshDir();
  const script = `
    const { EvidenceLog } = await import(${JSON.stringify(distUrl)});
    const log = new EvidenceLog(process.env.EVIDENCE_DIR);
    const draft = ${draft.toString()};
    await Promise.all(Array.from({ length: 4 }, async (_, w) => {
      for (let i = 0; i < 75; i += 1) await log.append([draft(w * 1000 + i, { runId: 'child' })]);
    }));
    await log.close();`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    env: { ...process.env, EVIDENCE_DIR: dir }, stdio: ['ignore', 'inherit', 'inherit'],
  });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  const log = new EvidenceLog(dir);
  let done = false;
  exited.then(() => { done = true; });
  const writer = Promise.all(Array.from({ length: 4 }, async () => {
    for (let i = 0; i < 75; i += 1) await log.append([draft(i, { runId: 'parent' })]);
  }));
  let verifications = 0;
  while (!done) {
    const result = await verifyEvidence(dir);
    assert.equal(result.ok, true, JSON.stringify(result));
    verifications += 1;
  }
  await writer;
  await log.close();
  assert.equal(await exited, 0);
  assert.ok(verifications > 0);
  const result = await verifyEvidence(dir);
  assert.equal(result.ok && result.records, 600);
  const runIds = lines(dir).map((line) => JSON.parse(line).runId);
  assert.equal(runIds.filter((id) => id === 'child').length, 300);
});

test('the incomplete start of the next record a killed append left is cut by the next append, which says so; complete records stay', async () => {
  const full = await (async () => {
    // The exact line the killed writer was writing: seq 11 of the same chain.
    const twin = freshDir();
    const log = new EvidenceLog(twin);
    await log.append(Array.from({ length: 11 }, (_, i) => draft(i)));
    await log.close();
    return readFileSync(join(twin, 'evidence.jsonl'), 'utf8').split('\n')[10];
  })();
  for (const torn of ['{', '{"seq":1', '{"seq":11,"at":"2026-', full]) {
    const dir = freshDir();
    const seeded = new EvidenceLog(dir);
    await seeded.append(Array.from({ length: 10 }, (_, i) => draft(i)));
    await seeded.close();
    const file = join(dir, 'evidence.jsonl');
    const complete = readFileSync(file, 'utf8');
    appendFileSync(file, torn);
    const before = await verifyEvidence(dir);
    assert.deepEqual([before.ok, before.line, before.killedAppend], [false, 11, true], torn);
    const { log: logger, logs } = recordingLog();
    const log = new EvidenceLog(dir, { logger });
    const [record] = await log.append([draft(11, { runId: 'run-rerun' })]);
    await log.close();
    assert.equal(record.seq, 11);
    const after = readFileSync(file, 'utf8');
    assert.equal(after.slice(0, complete.length), complete, 'the ten complete records are untouched');
    assert.equal(after.slice(complete.length), `${JSON.stringify(record)}\n`, 'the incomplete line is gone, the new record follows seq 10');
    assert.deepEqual({ ...(await verifyEvidence(dir)), head: null }, { ok: true, records: 11, head: null, anchorsChecked: 0 });
    assert.deepEqual(logs, [[
      'warn',
      'cut the incomplete last line of the evidence log that a killed run left (its records are appended again from the stores)',
      { evidence: file, line: 11, bytes: Buffer.byteLength(torn) },
    ]]);
  }
  // A log holding nothing but the start of its first record (killed during its first append).
  const dir = freshDir();
  await new EvidenceLog(dir).append([draft(0)]);
  const file = join(dir, 'evidence.jsonl');
  writeFileSync(file, readFileSync(file, 'utf8').slice(0, 25));
  const log = new EvidenceLog(dir);
  const [first] = await log.append([draft(0, { runId: 'run-rerun' })]);
  await log.close();
  assert.deepEqual([first.seq, first.prevHash], [1, ZERO_HASH]);
  assert.equal(readFileSync(file, 'utf8'), `${JSON.stringify(first)}\n`);
});

test('a log that ends before a record a store anchored is refused before anything is cut or appended; prepare() says so before a run writes', async () => {
  const { dir, file, whole, records } = await recordLog(5);
  const chainId = records[0].hash;
  const anchored = { [chainId]: { seq: 5, hash: records[4].hash, at: '2026-11-23T10:00:00.000Z' } };
  const otherChain = { 'sha256:other': { seq: 99, hash: records[4].hash, at: '2026-11-23T10:00:00.000Z' } };
  const cutOff = `evidence log ${file} is damaged at line 5: it ends at seq 4 but store s.store recorded seq 5 (records were cut off); nothing was appended`;
  // Cut at a line end, and in the middle of the anchored record (its start is no killed append).
  for (const cut of [whole.lastIndexOf('{"seq":5,'), whole.length - 40]) {
    writeFileSync(file, whole.slice(0, cut));
    const before = readFileSync(file, 'utf8');
    const refusing = new EvidenceLog(dir);
    refusing.expectAnchors('store s.store', { ...anchored, ...otherChain });
    await assert.rejects(refusing.prepare(), { code: 'ERR_EVIDENCE_CORRUPT', message: cutOff });
    await assert.rejects(refusing.append([draft(9)]), { code: 'ERR_EVIDENCE_CORRUPT', message: cutOff });
    await refusing.close();
    assert.equal(readFileSync(file, 'utf8'), before, 'nothing cut, nothing appended');
  }
  // The anchored seq is there but is another record: the log was rewritten.
  writeFileSync(file, whole);
  const rewritten = new EvidenceLog(dir);
  rewritten.expectAnchors('store s.store', { [chainId]: { seq: 5, hash: records[3].hash, at: '2026-11-23T10:00:00.000Z' } });
  await assert.rejects(rewritten.append([draft(9)]), {
    message: `evidence log ${file} is damaged at line 5: record seq 5 is not the one store s.store recorded (its hash differs): the log was rewritten; nothing was appended`,
  });
  await rewritten.close();
  assert.equal(readFileSync(file, 'utf8'), whole);
  // Anchors it reaches, or of another chain, let it append.
  const fine = new EvidenceLog(dir);
  fine.expectAnchors('store s.store', { ...otherChain, [chainId]: { seq: 3, hash: records[2].hash, at: '2026-11-23T10:00:00.000Z' } });
  fine.expectAnchors('store t.store', anchored);
  await fine.prepare();
  assert.equal((await fine.append([draft(9)]))[0].seq, 6);
  // Anchors given after the first append are checked by the next one.
  fine.expectAnchors('store u.store', { [chainId]: { seq: 7, hash: records[4].hash, at: '2026-11-23T10:00:00.000Z' } });
  await assert.rejects(fine.append([draft(10)]), { message: /damaged at line 7: it ends at seq 6 but store u\.store recorded seq 7/ });
  await fine.close();
});

test('prepare() creates nothing where there is no log, and cuts a killed append\'s incomplete line where there is', async () => {
  const dir = freshDir();
  await new EvidenceLog(dir).prepare();
  assert.equal(existsSync(dir), false, 'no directory, no file, no lock');
  const log = new EvidenceLog(dir);
  await log.append([draft(0)]);
  const file = join(dir, 'evidence.jsonl');
  const one = readFileSync(file, 'utf8');
  appendFileSync(file, '{"seq":2,"at":');
  await log.prepare();
  await log.close();
  assert.equal(readFileSync(file, 'utf8'), one);
  assert.equal(existsSync(join(dir, 'evidence.lock')), false, 'the lock is released');
});

test('an incomplete last line that is not the start of the next record is never cut: ERR_EVIDENCE_CORRUPT, the file as it was', async () => {
  const cases = [
    ['the start of a later record (seq 12)', '{"seq":12,"at":"2026-'],
    ['the start of a record already in the log', '{"seq":10,"at":"2026-'],
    ['a line that is not a record', 'hello'],
    ['a record start with other spacing', '{ "seq": 11,'],
  ];
  for (const [what, torn] of cases) {
    const dir = freshDir();
    const log = new EvidenceLog(dir);
    await log.append(Array.from({ length: 10 }, (_, i) => draft(i)));
    const file = join(dir, 'evidence.jsonl');
    appendFileSync(file, torn);
    const before = readFileSync(file, 'utf8');
    await assert.rejects(log.append([draft(11)]), (error) => {
      assert.equal(error.code, 'ERR_EVIDENCE_CORRUPT', what);
      assert.equal(error.message, `evidence log ${file} is damaged at line 11: the last line is incomplete (a write was interrupted or the file was cut); nothing was appended`, what);
      assert.match(error.hint, /keyshift evidence verify/);
      return true;
    });
    await assert.rejects(new EvidenceLog(dir).append([draft(11)]), { code: 'ERR_EVIDENCE_CORRUPT' }, what);
    assert.equal(readFileSync(file, 'utf8'), before, what);
    const result = await verifyEvidence(dir);
    assert.deepEqual([result.ok, result.line, result.killedAppend], [false, 11, undefined], what);
    await log.close();
  }
  // After a last record that is not valid evidence (edited), the next record's start is not cut either.
  const dir = freshDir();
  const log = new EvidenceLog(dir);
  await log.append(Array.from({ length: 2 }, (_, i) => draft(i)));
  await log.close();
  const file = join(dir, 'evidence.jsonl');
  const [one, two] = readFileSync(file, 'utf8').split('\n');
  writeFileSync(file, `${one}\n${two.replace('"reason":', '"reason":"x","was":')}\n{"seq":3,`);
  const edited = readFileSync(file, 'utf8');
  await assert.rejects(new EvidenceLog(dir).append([draft(3)]), { code: 'ERR_EVIDENCE_CORRUPT' });
  assert.equal(readFileSync(file, 'utf8'), edited);
});

test('a malformed draft is refused before anything is written', async () => {
  const dir = freshDir();
  const log = new EvidenceLog(dir);
  await assert.rejects(log.append([draft(1, { event: 'exploded' })]), { code: 'ERR_EVIDENCE_DRAFT_INVALID' });
  await assert.rejects(log.append([draft(1, { emergency: 'yes' })]), /field "emergency" is missing or not a boolean/);
  assert.equal(existsSync(dir), false);
  await log.close();
});

test('large records: the head is found from the tail chunk by chunk', async () => {
  const dir = freshDir();
  const big = { checks: [{ name: 'smoke', output: 'x'.repeat(150_000) }] };
  const first = new EvidenceLog(dir);
  await first.append([draft(1, big), draft(2), draft(3, big)]);
  await first.close();
  const second = new EvidenceLog(dir);
  const [four] = await second.append([draft(4, big)]);
  assert.equal(four.seq, 4);
  assert.equal((await second.head()).seq, 4);
  await second.close();
  assert.equal((await verifyEvidence(dir)).records, 4);
});

test('canonical JSON sorts keys recursively and has no whitespace', () => {
  assert.equal(canonicalJson({ b: 1, a: { d: [1, { z: 1, y: 'é' }], c: null } }), '{"a":{"c":null,"d":[1,{"y":"é","z":1}]},"b":1}');
});

test('canonical JSON matches a key-by-key reference on shapes a log can hold, odd keys included', async () => {
  const { recordHash } = await import('../../dist/evidence/record.js');
  const { createHash } = await import('node:crypto');
  // The documented rule (docs/evidence.md), written out plainly: keys sorted at every depth.
  const reference = (value) => {
    if (value === null || typeof value !== 'object') return JSON.stringify(value);
    if (Array.isArray(value)) return `[${value.map(reference).join(',')}]`;
    return `{${Object.keys(value).sort().filter((k) => value[k] !== undefined).map((k) => `${JSON.stringify(k)}:${reference(value[k])}`).join(',')}}`;
  };
  const texts = [
    '{"seq":3,"at":"2026-11-23T10:00:00.000Z","checks":[{"hook":"deploy","ok":true,"hash":"x"}],"prevHash":"p","hash":"h"}',
    '{"b":{"__proto__":{"x":1}},"a":{"y":2}}',
    '{"10":1,"2":2,"a":{"10":[{"2":null,"toString":"t"}],"constructor":3},"z":{}}',
    '{"k":[[],[{}],{"\u00e9":"é","A":"a","a":"A"}],"n":-0,"f":1.5e300,"u":"\u2028"}',
    '{"hash":"top","seq":1,"nested":{"deeper":{"hash":"kept"}}}',
    // Flat records (no object below the top: most lines), whose sorted key lists are kept per shape:
    // the same shape again, integer-like keys, and key lists that would read alike if joined by a newline.
    '{"seq":2,"b":"x","a":[1,"s",null,true],"hash":"h","prevHash":"p"}',
    '{"seq":3,"b":"y","a":[],"hash":"h2","prevHash":"q"}',
    '{"10":1,"9":2,"x":true,"hash":"h"}',
    '{"a":"1","b":"2","c":"3"}',
    '{"c":"1","a":"2","d":"3"}',
    '{"a\\nb":"x","c":"3"}',
    '{"a\\u0000b":"x","c":"3","d":[[1]]}',
    '{"__proto__":1,"a":2}',
    // Index-like keys that an object would put before "!" (so they take the key list), a lone
    // "__proto__" key, and a key named "null" (no top-level key is skipped for canonicalJson).
    '{"0":1,"!":2}',
    '{"9":1,"!":2}',
    '{"__proto__":1}',
    '{"null":1,"z":2}',
  ];
  for (const text of texts) {
    const value = JSON.parse(text);
    assert.equal(canonicalJson(value), reference(value), text);
    const { hash, ...rest } = value;
    assert.equal(recordHash(value), `sha256:${createHash('sha256').update(reference(rest)).digest('hex')}`, text);
  }
});

test('findLoggedEvents returns rotationId|event|environment for the asked rotations only', async () => {
  const dir = freshDir();
  const log = new EvidenceLog(dir);
  await log.append([
    draft(1, { rotationId: 'r-a', event: 'issued', environment: 'dev' }),
    draft(2, { rotationId: 'r-a', event: 'deployed', environment: 'dev' }),
    draft(3, { rotationId: 'r-b', event: 'issued', environment: 'prod' }),
    draft(4, { rotationId: null, event: 'failed', environment: 'prod', checks: [{ rotationId: 'r-a' }] }),
    draft(5, { rotationId: 'r-c', event: 'switched', environment: 'staging' }),
  ]);
  await log.close();
  appendFileSync(join(dir, 'evidence.jsonl'), '{"rotationId":"r-a","event":"switched"'); // torn: ignored
  assert.deepEqual(
    await findLoggedEvents(dir, new Set(['r-a', 'r-c', 'r-zzz'])),
    new Set(['r-a|issued|dev', 'r-a|deployed|dev', 'r-c|switched|staging']),
  );
  assert.deepEqual(await findLoggedEvents(dir, new Set()), new Set());
});

test('the standalone auditor script in docs/evidence.md agrees with verify', async () => {
  const dir = freshDir();
  const log = new EvidenceLog(dir);
  await log.append([draft(1), draft(2, { checks: [{ name: 'tls', ok: true, ms: 12 }], ticket: 'SEC-1' })]);
  await log.close();
  const docs = readFileSync(new URL('../../docs/evidence.md', import.meta.url), 'utf8');
  const script = /```js\n(\/\/ verify-evidence\.mjs[\s\S]*?)```/.exec(docs)?.[1];
  assert.ok(script, 'docs/evidence.md has the verify-evidence.mjs block');
  const path = join(dir, '..', 'verify-evidence.mjs');
  writeFileSync(path, script);
  const run = () => new Promise((resolve) => {
    const child = spawn(process.execPath, [path, join(dir, 'evidence.jsonl')], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (chunk) => { out += chunk; });
    child.on('exit', (code) => resolve({ code, out }));
  });
  const good = await run();
  assert.equal(good.code, 0, good.out);
  assert.match(good.out, /ok: 2 records/);
  const file = join(dir, 'evidence.jsonl');
  writeFileSync(file, readFileSync(file, 'utf8').replace('"SEC-1"', '"SEC-2"'));
  const bad = await run();
  assert.equal(bad.code, 1);
  assert.match(bad.out, /line 2/);
});

test('a symbolic link at evidence.jsonl is refused in one line naming it: nothing is written through it', async () => {
  const { symlinkSync, mkdirSync } = await import('node:fs');
  const dir = freshDir();
  mkdirSync(dir, { recursive: true });
  const existing = join(dir, '..', 'somewhere-else.txt');
  writeFileSync(existing, 'not evidence\n');
  for (const target of [existing, join(dir, '..', 'not-there-yet.jsonl')]) {
    symlinkSync(target, join(dir, 'evidence.jsonl'));
    const log = new EvidenceLog(dir);
    await assert.rejects(log.append([draft(1)]), (error) => {
      assert.equal(error.code, 'ERR_EVIDENCE_SYMLINK');
      assert.ok(error.message.includes(join(dir, 'evidence.jsonl')) && !error.message.includes('\n') && error.hint);
      return true;
    });
    (await import('node:fs')).unlinkSync(join(dir, 'evidence.jsonl'));
  }
  assert.equal(readFileSync(existing, 'utf8'), 'not evidence\n');
  assert.ok(!existsSync(join(dir, '..', 'not-there-yet.jsonl')), 'the dangling link target was not created');
});

test('an evidence.jsonl that is a directory, or a log path under a file, fails with the system\'s error naming it, never called a symbolic link', async () => {
  const dir = freshDir();
  mkdirSync(join(dir, 'evidence.jsonl'), { recursive: true });
  const log = new EvidenceLog(dir);
  await assert.rejects(log.append([draft(1)]), { code: 'EISDIR', message: new RegExp(`open '${join(dir, 'evidence.jsonl')}'`) });
  await log.close();
  const { openForAppend } = await import('../../dist/evidence/log-file.js');
  const file = join(dir, '..', 'a-file');
  writeFileSync(file, 'x');
  await assert.rejects(openForAppend(join(file, 'evidence.jsonl')), { code: 'ENOTDIR' });
  // The create itself failing (its directory gone, as when removed between the writer's mkdir and
  // its open) is thrown at once: only a create lost to another process's (EEXIST) is retried.
  await assert.rejects(openForAppend(join(dir, '..', 'gone', 'evidence.jsonl')), { code: 'ENOENT' });
  assert.equal(existsSync(join(dir, '..', 'gone')), false);
});

test("after a failed append the writer takes back only its own torn bytes, never another writer's records", async () => {
  const { takeBackTornAppend } = await import('../../dist/evidence/log-file.js');
  const { open } = await import('node:fs/promises');
  const dir = freshDir();
  const log = new EvidenceLog(dir);
  await log.append([draft(1)]);
  await log.close();
  const file = join(dir, 'evidence.jsonl');
  const before = statSync(file).size;
  const ours = Buffer.from(`${JSON.stringify(draft(2))}\n${JSON.stringify(draft(3))}\n`);
  const cases = [
    { tail: ours.subarray(0, 40), cut: true, what: 'our own torn line' },
    { tail: ours.subarray(0, ours.indexOf('\n') + 1), cut: true, what: 'our own first line, the rest never written' },
    { tail: ours, cut: true, what: 'all of ours, the error coming after the bytes were written' },
    { tail: '', cut: false, what: 'nothing written' },
    { tail: null, cut: false, what: "another writer's record" },
    { tail: null, long: true, cut: false, what: "another writer's record, longer than all we wrote" },
    { tail: 'theirs+ours', cut: false, what: "another writer's record, then our torn line (O_APPEND put ours after)" },
  ];
  for (const kase of cases) {
    const other = new EvidenceLog(dir);
    await other.append([draft(9, { runId: 'other-writer', ...(kase.long ? { reason: 'x'.repeat(2 * ours.length) } : {}) })]); // a complete record after `before`
    await other.close();
    const theirs = readFileSync(file).subarray(before);
    (await import('node:fs')).truncateSync(file, before);
    if (kase.tail === null) appendFileSync(file, theirs);
    else if (kase.tail === 'theirs+ours') appendFileSync(file, Buffer.concat([theirs, ours.subarray(0, 30)]));
    else appendFileSync(file, kase.tail);
    const expected = readFileSync(file);
    const handle = await open(file, 'r+');
    try {
      assert.equal(await takeBackTornAppend(handle, before, ours), kase.cut, kase.what);
    } finally {
      await handle.close();
    }
    assert.deepEqual(readFileSync(file), kase.cut ? expected.subarray(0, before) : expected, kase.what);
    (await import('node:fs')).truncateSync(file, before);
  }
});

test('an append cut short by a real write error (file size limit) leaves no torn line, and the next append continues the chain', { skip: process.platform === 'win32' && 'needs ulimit' }, async () => {
  const dir = freshDir();
  const log = new EvidenceLog(dir);
  await log.append([draft(1)]);
  await log.close();
  const file = join(dir, 'evidence.jsonl');
  const before = statSync(file).size;
  const limitBlocks = Math.ceil((before + 300) / 512); // sh's ulimit -f counts 512-byte blocks
  const script = `
    const { EvidenceLog } = await import(${JSON.stringify(distUrl)});
    const draft = ${draft.toString()};
    const log = new EvidenceLog(process.env.EVIDENCE_DIR);
    try { await log.append(Array.from({ length: 20 }, (_, i) => draft(100 + i))); console.log('appended'); }
    catch (error) { console.log(error.code, error.message); }`;
  const child = spawn('sh', ['-c', `ulimit -f ${limitBlocks} && exec "$0" --input-type=module -e "$1"`, process.execPath, script], {
    env: { ...process.env, EVIDENCE_DIR: dir }, stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  assert.equal(await new Promise((resolve) => child.on('exit', resolve)), 0);
  // The write really failed part-way, and the error names its own code, the log and the errno.
  assert.match(out.trim(), /^ERR_FILE_TOO_LARGE .*evidence\.jsonl: .*\(EFBIG\)$/);
  assert.equal(statSync(file).size, before, 'the torn part of the failed append was taken back');
  const next = new EvidenceLog(dir);
  assert.deepEqual((await next.append([draft(2)])).map((r) => r.seq), [2]);
  await next.close();
  assert.equal((await verifyEvidence(dir)).ok, true);
});

test('draftFields: the draft as JSON would read it back, in the documented order, whether or not it takes the parse', async () => {
  const { draftFields } = await import('../../dist/evidence/record.js');
  const base = { at: '2026-11-23T10:00:00.000Z', event: 'issued', rotationId: 'r-1', secret: 's', environment: 'dev', store: 'local', fromVersion: null, toVersion: 'v-2', fingerprint: null, operator: 'o', reason: 'r', ticket: null, emergency: false, checks: [], runId: 'run-1' };
  const roundTrip = (draft) => {
    const ordered = {};
    for (const key of ['at', 'event', 'rotationId', 'secret', 'environment', 'store', 'fromVersion', 'toVersion', 'fingerprint', 'operator', 'reason', 'ticket', 'emergency', 'checks']) ordered[key] = draft[key];
    for (const key of Object.keys(draft)) if (!(key in ordered) && !['seq', 'prevHash', 'hash'].includes(key)) ordered[key] = draft[key];
    return JSON.parse(JSON.stringify(ordered));
  };
  const checks = [{ hook: 'deploy', ok: true }];
  const drafts = [
    base,
    { runId: 'run-0', ...base, storeId: 'abc', error: undefined, extra: 3, seq: 9, hash: 'h' }, // reserved and undefined fields dropped
    { ...base, count: -0, ratio: 1.5 }, // numbers JSON changes, each alone
    { ...base, big: Infinity },
    { ...base, nan: NaN },
    { ...base, checks }, // a list with objects: parsed, a copy
    { ...base, odd: { b: 1, a: [1] } },
    JSON.parse('{"__proto__":{"x":1},"at":"2026-11-23T10:00:00.000Z","event":"issued","rotationId":null,"secret":"s","environment":"dev","store":"local","fromVersion":null,"toVersion":null,"fingerprint":null,"operator":"o","reason":"r","ticket":null,"emergency":false,"checks":[],"runId":"run-1"}'),
  ];
  for (const draft of drafts) {
    const fields = draftFields(draft);
    assert.deepEqual(fields, roundTrip(draft));
    assert.deepEqual(Object.keys(fields), Object.keys(roundTrip(draft)), 'the same order');
    assert.equal(JSON.stringify(fields), JSON.stringify(roundTrip(draft)));
  }
  // Size: a flat draft near the limit is measured exactly (its bound would refuse it), one past it refused.
  const near = { ...base, reason: 'x'.repeat(600 * 1024) };
  assert.equal(draftFields(near).reason.length, 600 * 1024);
  assert.throws(() => draftFields({ ...base, reason: 'x'.repeat(1024 * 1024) }), { code: 'ERR_EVIDENCE_DRAFT_INVALID', message: 'evidence for s/dev is invalid: the record is larger than 1 MiB' });
  assert.throws(() => draftFields({ ...base, reason: '\u2028'.repeat(400 * 1024) }), { message: /larger than 1 MiB/ }, 'three bytes each in UTF-8');
  // Near the limit in six-byte escapes (the bound close to the exact size): one escape too many is refused.
  const small = { at: base.at, event: 'issued', rotationId: null, secret: 's', environment: 'd', store: 'local', fromVersion: null, toVersion: null, fingerprint: null, operator: 'o', reason: '', ticket: null, emergency: false, checks: [], runId: 'r' };
  const overhead = JSON.stringify(roundTrip(small)).length;
  const escapes = Math.floor((1024 * 1024 - 512 - overhead) / 6) + 1;
  assert.throws(() => draftFields({ ...small, reason: '\u0001'.repeat(escapes) }), { message: /larger than 1 MiB/ });
  assert.equal(draftFields({ ...small, reason: '\u0001'.repeat(escapes - 1) }).reason.length, escapes - 1);
  // A draft that takes the JSON round trip (checks with entries) drops seq, prevHash and hash too.
  assert.deepEqual(Object.keys(draftFields({ ...base, checks, seq: 3, prevHash: 'p', hash: 'h' })).filter((k) => ['seq', 'prevHash', 'hash'].includes(k)), []);
  // The sealed fields share no list with the draft: a later change to the draft changes no record.
  const draft = { ...base, checks: [] };
  const fields = draftFields(draft);
  draft.checks.push({ hook: 'late' });
  assert.deepEqual(fields.checks, []);
  const withChecks = draftFields({ ...base, checks });
  checks[0].ok = false;
  assert.equal(withChecks.checks[0].ok, true);
});

test('a writer given anchors starts a new chain where there is no log or an empty one (the anchors name the old chain)', async () => {
  const anchors = { 'sha256:old-chain': { seq: 3, hash: 'sha256:old-head', at: '2026-11-23T10:00:00.000Z' } };
  const dir = freshDir();
  const log = new EvidenceLog(dir);
  log.expectAnchors('store s.store', anchors);
  const [first] = await log.append([draft(1)]);
  await log.close();
  assert.deepEqual([first.seq, first.prevHash], [1, ZERO_HASH]);
  const empty = freshDir();
  mkdirSync(empty, { mode: 0o700 });
  writeFileSync(join(empty, 'evidence.jsonl'), '', { mode: 0o600 });
  const onEmpty = new EvidenceLog(empty);
  onEmpty.expectAnchors('store s.store', anchors);
  await onEmpty.prepare();
  const [one] = await onEmpty.append([draft(1)]);
  await onEmpty.close();
  assert.deepEqual([one.seq, one.prevHash], [1, ZERO_HASH]);
  assert.equal(lines(empty).length, 1);
});

test('head() names the last record of a log cut short of an anchor; only prepare() and appends refuse it', async () => {
  const { dir, file, whole, records } = await recordLog(5);
  writeFileSync(file, whole.slice(0, whole.lastIndexOf('{"seq":5,')));
  const chainId = records[0].hash;
  const reader = new EvidenceLog(dir);
  reader.expectAnchors('store s.store', { [chainId]: { seq: 5, hash: records[4].hash, at: '2026-11-23T10:00:00.000Z' } });
  assert.deepEqual(await reader.head(), { chainId, seq: 4, hash: records[3].hash });
  await assert.rejects(reader.prepare(), { code: 'ERR_EVIDENCE_CORRUPT', message: /it ends at seq 4 but store s\.store recorded seq 5/ });
  await reader.close();
});

test('a killed append\'s line of exactly 1 MiB (the longest a record can be) is cut; one byte longer is never cut, even when it begins the next record', async () => {
  const MAX_LINE_BYTES = 1024 * 1024;
  const start = '{"seq":2,"at":"';
  for (const [length, cut] of [[MAX_LINE_BYTES, true], [MAX_LINE_BYTES + 1, false]]) {
    const { dir, file, whole: complete } = await recordLog(1);
    appendFileSync(file, start + 'x'.repeat(length - start.length));
    const before = readFileSync(file, 'utf8');
    const log = new EvidenceLog(dir);
    if (cut) {
      const [record] = await log.append([draft(2)]);
      assert.equal(record.seq, 2);
      assert.equal(readFileSync(file, 'utf8'), `${complete}${JSON.stringify(record)}\n`);
    } else {
      await assert.rejects(log.append([draft(2)]), {
        code: 'ERR_EVIDENCE_CORRUPT',
        message: `evidence log ${file} is damaged at line 2: the last line is incomplete (a write was interrupted or the file was cut); nothing was appended`,
      });
      assert.equal(readFileSync(file, 'utf8'), before, 'nothing cut, nothing appended');
    }
    await log.close();
  }
});

test('prepare() refuses a log that is a symbolic link, as an append does, and opens nothing through it', async () => {
  const { file: targetFile, whole: before } = await recordLog(1);
  const dir = freshDir();
  mkdirSync(dir, { mode: 0o700 });
  const file = join(dir, 'evidence.jsonl');
  symlinkSync(targetFile, file);
  const refusal = { code: 'ERR_EVIDENCE_SYMLINK', message: `evidence log ${file} is a symbolic link; keyshift never writes evidence through one` };
  const log = new EvidenceLog(dir);
  await assert.rejects(log.prepare(), refusal);
  await assert.rejects(log.append([draft(2)]), refusal);
  await log.close();
  assert.equal(readFileSync(targetFile, 'utf8'), before);
});

test('the history (keyshift report) names the first broken record, as verify does, not a later one', async () => {
  const dir = freshDir();
  const log = new EvidenceLog(dir);
  await log.append(Array.from({ length: 4 }, (_, i) => draft(i)));
  await log.close();
  const file = join(dir, 'evidence.jsonl');
  const [one, two, ...rest] = lines(dir);
  writeFileSync(file, [one, two.replace('"reason":"scheduled"', '"reason":"edited"'), ...rest].map((line) => `${line}\n`).join(''));
  const verified = await verifyEvidence(dir);
  assert.deepEqual([verified.ok, verified.line, verified.seq], [false, 2, 2]);
  assert.deepEqual((await readHistory(dir)).verified, verified);
});
