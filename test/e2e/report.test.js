// `keyshift report`, `check`, `evidence export|anchors`, `verify --export` over a history written by
// real rotations on a fake clock (test/helpers/history.js): 50 secrets × 2 environments × 2 years.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { baseEnv, json, readEvidence, root, runCli, tempProject } from '../helpers/cli.js';
import { writeHistory } from '../helpers/history.js';

const DAY = 86_400_000;
let dir;
let end;
const env = (extra = {}) => baseEnv({ KEYSHIFT_NOW: end.toISOString(), KEYSHIFT_MASTER_KEY: Buffer.alloc(32, 7).toString('base64'), ...extra });
const intervals = { '28d': 28, '30d': 30, '45d': 45, '90d': 90, '180d': 180 };

before(async () => {
  dir = tempProject('keyshift-report-');
  ({ end } = await writeHistory(dir));
});

/** Adherence computed here from the raw records, independently of src/report. */
function expected(records, secret, environment, intervalDays, now) {
  const mine = records.filter((r) => r.secret === secret && r.environment === environment);
  const changes = mine.filter((r) => r.event === 'provisioned' || r.event === 'switched').map((r) => Date.parse(r.at)).sort((a, b) => a - b);
  const ids = (test) => new Set(mine.filter(test).map((r) => r.rotationId)).size;
  let worst = 0;
  changes.forEach((at, i) => { worst = Math.max(worst, (changes[i + 1] ?? now) - at - intervalDays * DAY); });
  return {
    adherence: changes.length === 0 ? 'never' : worst >= DAY ? 'late' : 'on-time',
    lateBy: changes.length > 0 && worst >= DAY ? Math.round(worst / 1000) : null,
    rotations: ids((r) => r.event === 'switched'),
    emergencyRotations: ids((r) => r.emergency && r.event !== 'provisioned'),
    failedRotations: ids((r) => r.event === 'failed'),
  };
}

test('report --json: every adherence figure matches a computation from the raw evidence', () => {
  const result = runCli(['report', '--json'], { cwd: dir, env: env() });
  assert.equal(result.code, 0, result.stderr);
  const report = json(result);
  assert.equal(report.evidenceVerified, true);
  assert.equal(report.secrets.length, 100);
  const records = readEvidence(dir);
  const policy = readFileSync(join(dir, 'policies', 'secrets.yaml'), 'utf8');
  const now = Date.parse(report.generatedAt);
  for (const row of report.secrets) {
    const interval = policy.split(`- name: ${row.secret}\n`)[1].match(/interval: (\w+)/)[1];
    const want = expected(records, row.secret, row.environment, intervals[interval], now);
    const got = { adherence: row.adherence, lateBy: row.lateBy, rotations: row.rotations, emergencyRotations: row.emergencyRotations, failedRotations: row.failedRotations };
    assert.deepEqual(got, want, `${row.secret}/${row.environment}`);
    assert.equal(row.evidenceComplete, true, `${row.secret}/${row.environment}: ${row.evidenceGaps}`);
  }
  const row = (s, e) => report.secrets.find((r) => r.secret === s && r.environment === e);
  // The planted events are there, so the comparison above covers every kind of figure.
  assert.equal(row('s-49', 'prod').adherence, 'never');
  assert.equal(row('s-49', 'prod').overdue, true);
  assert.equal(row('s-03', 'dev').adherence, 'late');
  assert.ok(row('s-03', 'dev').lateBy > 200 * 86_400);
  assert.equal(row('s-00', 'dev').adherence, 'on-time');
  assert.equal(row('s-01', 'prod').emergencyRotations, 1);
  assert.equal(row('s-04', 'prod').failedRotations, 1);
  assert.deepEqual(row('s-00', 'dev').controls, ['SOC2-CC6.1', 'ISO27001-A.8.24']);
  assert.equal(report.score, Math.round((1000 * report.secrets.filter((r) => r.adherence === 'on-time').length) / 100) / 10);
  const keys = ['secret', 'environment', 'owner', 'controls', 'lastRotatedAt', 'nextDueAt', 'overdue', 'adherence', 'lateBy', 'rotations', 'emergencyRotations', 'failedRotations', 'evidenceComplete'];
  for (const key of keys) assert.ok(key in report.secrets[0], key);
  for (const key of ['generatedAt', 'secrets', 'evidenceVerified', 'score']) assert.ok(key in report, key);
});

test('report --since counts only the rotations of the window', () => {
  const all = json(runCli(['report', 's-00', '--json'], { cwd: dir, env: env() }));
  const recent = json(runCli(['report', 's-00', '--json', '--since', '90d'], { cwd: dir, env: env() }));
  const since = Date.parse(recent.since);
  const switched = readEvidence(dir).filter((r) => r.secret === 's-00' && r.environment === 'dev' && r.event === 'switched' && Date.parse(r.at) >= since);
  assert.equal(recent.secrets[0].rotations, switched.length);
  assert.ok(recent.secrets[0].rotations < all.secrets[0].rotations);
});

test('report md groups by control; a damaged log names its line and marks coverage incomplete', () => {
  const md = runCli(['report'], { cwd: dir, env: env() });
  assert.equal(md.code, 0, md.stderr);
  assert.match(md.stdout, /^## SOC2-CC6\.1$/m);
  assert.match(md.stdout, /\| s-49 \| prod \| .* \*\*OVERDUE\*\* \| never \|/);
  const copy = tempProject('keyshift-report-damaged-');
  cpSync(dir, copy, { recursive: true });
  const file = join(copy, 'evidence', 'evidence.jsonl');
  const lines = readFileSync(file, 'utf8').split('\n');
  lines[99] = lines[99].slice(0, 40);
  writeFileSync(file, lines.join('\n'));
  const damaged = runCli(['report', '--json'], { cwd: copy, env: env() });
  assert.equal(damaged.code, 0, damaged.stderr);
  assert.match(damaged.stderr, /evidence\/evidence\.jsonl:100: not valid JSON/);
  const report = json(damaged);
  assert.equal(report.evidenceVerified, false);
  assert.ok(report.secrets.every((r) => r.evidenceComplete === false));
  assert.doesNotMatch(damaged.stderr, /internal error|at .*\.js:\d+/);
  // A log deleted (or replaced) while the stores remember it: no rotation can be shown as covered.
  rmSync(join(copy, 'evidence'), { recursive: true });
  const missing = runCli(['report', '--json'], { cwd: copy, env: env() });
  assert.equal(missing.code, 0, missing.stderr);
  assert.equal(json(missing).evidenceVerified, false);
  assert.match(missing.stderr, /store anchor\(s\) name an evidence chain this log is not/);
});

test('check: one line per problem, exit 1; --prometheus writes the contract metrics', () => {
  const prom = join(dir, 'keyshift.prom');
  const result = runCli(['check', '--prometheus', prom], { cwd: dir, env: env() });
  assert.equal(result.code, 1, result.stderr);
  const lines = result.stdout.trim().split('\n');
  assert.ok(lines.includes('s-49/prod: never-rotated: never provisioned: run keyshift rotate to create it'), result.stdout);
  assert.equal(lines.filter((l) => l.startsWith('s-48/') || l.startsWith('s-49/')).length, 4);
  const text = readFileSync(prom, 'utf8');
  for (const name of ['keyshift_secret_age_seconds', 'keyshift_secret_next_due_timestamp_seconds', 'keyshift_secret_overdue', 'keyshift_rotation_last_success_timestamp_seconds', 'keyshift_rotation_failures_total']) {
    assert.match(text, new RegExp(`^# TYPE ${name} (gauge|counter)$`, 'm'));
  }
  assert.match(text, /^keyshift_secret_overdue\{secret="s-49",environment="prod"\} 1$/m);
  assert.match(text, /^keyshift_rotation_failures_total\{secret="s-04",environment="prod"\} 1$/m);
  const status = json(runCli(['status', 's-00', '--json'], { cwd: dir, env: env() })).secrets[0];
  const age = Number(text.match(/^keyshift_secret_age_seconds\{secret="s-00",environment="dev"\} (\d+)$/m)[1]);
  assert.ok(Math.abs(age - (end.getTime() - Date.parse(status.lastRotatedAt)) / 1000) < 60);
  const nowhere = runCli(['check', '--prometheus', join(dir, 'no-such-dir', 'keyshift.prom')], { cwd: dir, env: env() });
  assert.equal(nowhere.code, 1);
  assert.match(nowhere.stderr, /^keyshift: --prometheus .*no-such-dir\/keyshift\.prom: cannot write \(ENOENT\)\n  hint: check that the directory exists and is writable\n$/);
  // A monitor of a healthy secret only: exit 0, one summary line.
  const policy = readFileSync(join(dir, 'policies', 'secrets.yaml'), 'utf8');
  writeFileSync(join(dir, 'only-s-00.yaml'), `secrets:\n  - name: s-00\n${policy.split('  - name: s-00\n')[1].split('\n  - name: ')[0]}\n`);
  const healthy = runCli(['check', '-p', 'only-s-00.yaml'], { cwd: dir, env: env() });
  assert.equal(healthy.code, 0, healthy.stdout + healthy.stderr);
  assert.match(healthy.stdout, /^ok: 2 secret\/environment pair\(s\), nothing overdue, stuck or failed$/m);
});

test('evidence anchors, export and verify --export: a ticket attachment that proves itself', () => {
  const anchors = json(runCli(['evidence', 'anchors', '--json'], { cwd: dir, env: env() }));
  const records = readEvidence(dir);
  assert.equal(anchors.stores.length, 2);
  for (const store of anchors.stores) {
    assert.equal(store.anchors[0].chainId, records[0].hash);
    assert.equal(store.anchors[0].hash, records[store.anchors[0].seq - 1].hash);
  }
  const rotationId = records.find((r) => r.secret === 's-01' && r.emergency && r.event === 'switched').rotationId;
  const out = join(dir, 'export.json');
  const exported = runCli(['evidence', 'export', '--rotation', rotationId, '--out', out], { cwd: dir, env: env() });
  assert.equal(exported.code, 0, exported.stderr);
  const document = JSON.parse(readFileSync(out, 'utf8'));
  assert.deepEqual(document.records.map((r) => r.event).sort(), records.filter((r) => r.rotationId === rotationId).map((r) => r.event).sort());
  assert.equal(document.summary.reason, 'suspected compromise');
  const ok = runCli(['evidence', 'verify', '--export', out, '--json'], { cwd: '/', env: env() });
  assert.equal(ok.code, 0, ok.stdout);
  assert.equal(json(ok).ok, true);
  // An edit anywhere in the proof, or a record left out, is found without keyshift's stores.
  const edited = structuredClone(document);
  edited.proof.records.at(-1).operator = 'mallory@host';
  writeFileSync(out, JSON.stringify(edited));
  const bad = runCli(['evidence', 'verify', '--export', out], { cwd: dir, env: env() });
  assert.equal(bad.code, 1);
  assert.match(bad.stdout, /hash mismatch/);
  const dropped = structuredClone(document);
  dropped.records.pop();
  writeFileSync(out, JSON.stringify(dropped));
  assert.match(runCli(['evidence', 'verify', '--export', out], { cwd: dir, env: env() }).stdout, /left out/);
});

test('status shows when each fallback window ends', () => {
  const inFallback = new Date(Date.parse(json(runCli(['status', 's-00', '--json'], { cwd: dir, env: env() })).secrets[0].lastRotatedAt) + 3_600_000);
  const result = runCli(['status', 's-00'], { cwd: dir, env: env({ KEYSHIFT_NOW: inFallback.toISOString() }) });
  assert.match(result.stdout.split('\n')[0], /FALLBACK ENDS/);
});

test('controls: a control id with a space is a policy error with its position', () => {
  const project = tempProject('keyshift-controls-');
  writeFileSync(join(project, 'p.yaml'), 'secrets:\n  - name: k\n    interval: 30d\n    fallbackWindow: 1d\n    controls: [SOC 2]\n    generator: { type: random, bytes: 32 }\n    environments:\n      - name: dev\n        store: { type: local, path: s.store }\n');
  const result = runCli(['validate', '-p', 'p.yaml'], { cwd: project, env: env() });
  assert.equal(result.code, 2);
  assert.match(result.stderr, /^p\.yaml:5:16: secrets\[0\]\.controls\[0\]: must be one control id without spaces/m);
});

test('an auditor with only docs/evidence.md: its scripts verify the chain and, with `evidence anchors`, catch cut-off records', () => {
  const docs = readFileSync(join(root, 'docs', 'evidence.md'), 'utf8');
  const script = (name) => {
    const block = docs.split('```js\n').map((b) => b.split('```')[0]).find((b) => b.startsWith(`// ${name}`));
    assert.ok(block, `docs/evidence.md shows ${name}`);
    const file = join(dir, name);
    writeFileSync(file, block);
    return file;
  };
  const verifier = script('verify-evidence.mjs');
  const anchorsCheck = script('check-anchors.mjs');
  const anchors = join(dir, 'anchors.json');
  writeFileSync(anchors, runCli(['evidence', 'anchors', '--json'], { cwd: dir, env: env() }).stdout);
  const node = (args, cwd = dir) => spawnSync(process.execPath, args, { cwd, encoding: 'utf8' });
  assert.equal(node([verifier, 'evidence/evidence.jsonl']).status, 0);
  assert.equal(node([anchorsCheck, 'evidence/evidence.jsonl', anchors]).status, 0);
  // The last three records cut off: the chain alone still verifies, the anchors do not.
  const copy = tempProject('keyshift-auditor-');
  const lines = readFileSync(join(dir, 'evidence', 'evidence.jsonl'), 'utf8').trimEnd().split('\n');
  writeFileSync(join(copy, 'cut.jsonl'), `${lines.slice(0, -3).join('\n')}\n`);
  assert.equal(node([verifier, 'cut.jsonl'], copy).status, 0);
  const cut = node([anchorsCheck, 'cut.jsonl', anchors], copy);
  assert.equal(cut.status, 1);
  assert.match(cut.stdout, /past the end .*records were cut off/);
});

test('no secret value reaches a report, a check, an export or the metrics', () => {
  const values = ['s-00', 's-01', 's-04'].flatMap((name) => ['dev', 'prod'].map((e) => runCli(['get', name, '--env', e], { cwd: dir, env: env() }).stdout.trim()));
  assert.ok(values.every((v) => v.length >= 40), 'the canaries are real values');
  const rotationId = readEvidence(dir).find((r) => r.secret === 's-01' && r.event === 'switched').rotationId;
  const prom = join(dir, 'leak.prom');
  const outputs = [
    ...['md', 'json', 'html'].map((format) => runCli(['report', '--format', format], { cwd: dir, env: env() })),
    runCli(['check', '--prometheus', prom], { cwd: dir, env: env() }),
    runCli(['evidence', 'export', '--rotation', rotationId], { cwd: dir, env: env() }),
    runCli(['evidence', 'anchors'], { cwd: dir, env: env() }),
  ].map((r) => r.stdout + r.stderr).concat(readFileSync(prom, 'utf8'));
  for (const text of outputs) for (const value of values) assert.ok(!text.includes(value), 'a value was printed');
});

test('a torn last line is a writer at work while it holds the evidence lock, damage once it is gone', async () => {
  const copy = tempProject('keyshift-report-torn-');
  cpSync(dir, copy, { recursive: true });
  const file = join(copy, 'evidence', 'evidence.jsonl');
  writeFileSync(file, `${readFileSync(file, 'utf8')}{"seq":99999,"at":"2026-`);
  const holder = spawn(process.execPath, ['--input-type=module', '-e', `
    const { acquireFileLock } = await import(${JSON.stringify(join(root, 'dist/util/file-lock.js'))});
    await acquireFileLock(${JSON.stringify(join(copy, 'evidence', 'evidence.lock'))}, { waitMs: 1000, owner: 'test writer', what: 'evidence' });
    process.stdout.write('locked\\n');
    setInterval(() => {}, 1000);`], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise((resolve) => holder.stdout.once('data', resolve));
  try {
    const during = runCli(['report', '--json'], { cwd: copy, env: env() });
    assert.equal(json(during).evidenceVerified, true, during.stderr);
  } finally {
    holder.kill('SIGKILL');
    await new Promise((resolve) => holder.once('close', resolve));
  }
  const after = runCli(['report', '--json'], { cwd: copy, env: env() });
  assert.equal(json(after).evidenceVerified, false);
  assert.match(after.stderr, /evidence\.jsonl:\d+: incomplete \(no newline at the end\)/);
});
