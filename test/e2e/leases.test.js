// Leases across machines (docs/workflow.md#leases): two "machines" (two projects, two
// KEYSHIFT_STATE_DIRs) start `rotate <name> --force` at the same instant, round after round, on one
// Secrets Manager secret, on one KMS alias and on a local store locked in a DynamoDB table. Never
// two rotations from one version, never a failed run, never a lease left held; a kill -9'd holder's
// lease is taken over once it expires. Rounds: KEYSHIFT_LEASE_ROUNDS (default 10, under a minute; 6 rounds missed a broken Secrets Manager compare-and-set, 10 caught it).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { bin, cli, tempProject, writeFiles, json, readEvidence, assertNoStackTrace } from '../helpers/cli.js';
import { awsEnv } from '../helpers/aws.js';
import { startSecretsManager } from '../fakes/secrets-manager.js';
import { startKms } from '../fakes/kms.js';
import { startDynamoDb } from '../fakes/dynamodb/index.js';
import { secretsManagerClient, kmsClient } from '../fakes/clients.js';
import { TagResourceCommand as SmTag } from '@aws-sdk/client-secrets-manager';
import { TagResourceCommand as KmsTag } from '@aws-sdk/client-kms';
import { hostname } from 'node:os';

const ROUNDS = Number(process.env.KEYSHIFT_LEASE_ROUNDS) || 10;
let sm;
let kms;
let ddb;
before(async () => {
  [sm, kms, ddb] = await Promise.all([startSecretsManager({ quotas: false }), startKms({ quotas: false }), startDynamoDb({ tables: ['keyshift-leases'] })]);
});
after(async () => {
  await Promise.all([sm?.close(), kms?.close(), ddb?.close()]);
});

function env(dir, extra = {}) {
  return awsEnv({ KEYSHIFT_STATE_DIR: join(dir, 'state'), AWS_ENDPOINT_URL_DYNAMODB: ddb.endpoint, ...extra });
}

/** Two machines with the same policy: each its own directory (evidence) and state dir. */
function machines(policy) {
  return ['a', 'b'].map(() => {
    const dir = tempProject('keyshift-lease-');
    writeFiles(dir, { 'policies/p.yaml': policy });
    return dir;
  });
}

const secretPolicy = (name, store, extra = '') =>
  `secrets:\n  - name: ${name}\n    interval: 30d\n    fallbackWindow: 1h\n    generator: { type: random, bytes: 16, encoding: hex }\n    environments:\n      - name: prod\n        store: ${store}\n${extra}`;
const keyPolicy = (name, store) => `secrets:\n  - name: ${name}\n    interval: 30d\n    fallbackWindow: 1h\n    environments:\n      - name: prod\n        store: ${store}\n`;

/** Both machines at once, ROUNDS times; everything a user would look at, asserted after. */
async function race(dirs, name, extraEnv = {}) {
  const rounds = [];
  for (let round = 0; round < ROUNDS; round++) {
    const runs = await Promise.all(dirs.map((dir) => cli(['rotate', name, '--force', '--reason', `race ${round}`, '--json'], { cwd: dir, env: env(dir, extraEnv) })));
    rounds.push(runs);
  }
  for (const [round, runs] of rounds.entries()) {
    for (const run of runs) {
      assert.ok(run.code === 0 || run.code === 3, `round ${round}: exit ${run.code}\n${run.stdout}\n${run.stderr}`);
      assertNoStackTrace(assert, run.stderr);
      assert.doesNotMatch(run.stdout + run.stderr, /ERR_INTERNAL/, `round ${round}`);
      const results = json(run).results;
      assert.ok(!results.some((r) => r.outcome === 'failed'), `round ${round}: ${JSON.stringify(results)}`);
      // Nobody crashed: a runner that resumes found the other's rotation in flight, i.e. both held the secret.
      assert.ok(!results.some((r) => r.outcome === 'resumed'), `round ${round}: two runners on one rotation: ${JSON.stringify(results)}`);
      for (const r of results.filter((x) => x.outcome === 'blocked')) {
        assert.equal(r.error.code, 'ERR_LEASED', JSON.stringify(r));
        assert.equal(run.code, 3, 'blocked and nothing else changed: exit 3');
      }
    }
  }
  // Two takers at the same instant may each see the other's half-taken lease and both back off
  // (both blocked, exit 3, nothing changed: a rerun rotates); most rounds someone rotates.
  const idle = rounds.filter((runs) => !runs.some((run) => json(run).results.some((r) => r.outcome === 'rotated'))).length;
  assert.ok(idle * 2 <= ROUNDS, `${idle} of ${ROUNDS} rounds nobody rotated`);
  // Each rotation starts from the version the one before it made: two at once would share one.
  // (A machine also appends the other's drafts it finds in the store: one entry per rotation.)
  const issued = [...new Map(dirs.flatMap((dir) => readEvidence(dir)).filter((e) => e.event === 'issued').map((e) => [e.rotationId, e])).values()];
  const from = issued.map((e) => e.fromVersion);
  assert.equal(new Set(from).size, from.length, `two rotations started from one version: ${from.join(' ')}`);
  return { rounds, issued };
}

describe('two machines at the same instant', () => {
  test(`on one Secrets Manager secret (${ROUNDS} rounds)`, async () => {
    sm.seed('race/db', { value: 'first-value' });
    const dirs = machines(secretPolicy('db', `{ type: aws-secrets-manager, secretId: race/db, endpoint: "${sm.endpoint}" }`));
    const { rounds } = await race(dirs, 'db');
    const secret = sm.inspect('race/db');
    const current = secret.versions.filter((v) => v.stages.includes('AWSCURRENT'));
    assert.equal(current.length, 1, 'one AWSCURRENT');
    const pending = secret.versions.find((v) => v.stages.includes('AWSPENDING'));
    assert.ok(!pending || pending.stages.includes('AWSCURRENT'), `AWSPENDING left on ${pending?.id}`);
    assert.ok(secret.versions.some((v) => v.stages.includes('KEYSHIFT_LEASE')), 'the lease is free after the runs');
    // A later run rotates nothing and fails nothing (the issue: every later run refused the secret).
    const later = await cli(['rotate', 'db', '--force', '--reason', 'after', '--json'], { cwd: dirs[0], env: env(dirs[0]) });
    assert.equal(later.code, 0, later.stderr);
    console.log(`secrets manager: ${rounds.flat().filter((r) => r.code === 3).length} blocked runs of ${rounds.length * 2}`);
  });

  test(`on one KMS alias (${ROUNDS} rounds)`, async () => {
    kms.seedKey({ alias: 'alias/race-key' });
    const dirs = machines(keyPolicy('key', `{ type: aws-kms, alias: alias/race-key, endpoint: "${kms.endpoint}" }`));
    await race(dirs, 'key');
    assert.ok(!kms.aliases().some((a) => a.name.startsWith('alias/keyshift-lease/')), `a lease alias is left: ${JSON.stringify(kms.aliases())}`);
    const keys = kms.keys().filter((k) => k.aliases.includes('alias/race-key'));
    assert.equal(keys.length, 1);
  });

  test(`on a local store locked in a DynamoDB table (${ROUNDS} rounds)`, async () => {
    const shared = tempProject('keyshift-lease-store-');
    const dirs = machines(secretPolicy('api', `{ type: local, path: ${join(shared, 'shared.store')}, lock: { type: dynamodb, table: keyshift-leases, region: us-east-1 } }`));
    await race(dirs, 'api');
    const puts = ddb.calls.filter((c) => c.op === 'PutItem');
    assert.ok(puts.length >= ROUNDS, 'each run took its lease in the table');
    assert.equal(ddb.item('keyshift-leases', `local:${join(shared, 'shared.store')}#api`), undefined, 'no lease is left in the table');
  });
});

/** Starts a rotation on machine `dir` whose deploy hook holds; kill -9 of its process group once the hook runs. */
/** Starts `rotate name --force` in dir and kill -9s it in its deploy hook, once `ready()` (default: at once). */
async function killHolder(dir, name, extraEnv, ready = () => true) {
  writeFiles(dir, { hold: '' });
  const child = spawn(process.execPath, [bin, 'rotate', name, '--force', '--reason', 'killed', '--json'], { cwd: dir, env: env(dir, extraEnv), detached: true, stdio: 'ignore' });
  const deadline = Date.now() + 30_000;
  while (!existsSync(join(dir, 'hook.started')) || !ready()) {
    if (Date.now() > deadline) throw new Error('the holder never reached its deploy hook');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  process.kill(-child.pid, 'SIGKILL');
  await new Promise((resolve) => child.on('close', resolve));
  return child.pid;
}

/** A lease record whose holder ran on another machine (a holder there cannot be checked for life). */
const otherHost = (text) => {
  const moved = text.replace(` on ${hostname().replace(/[^\p{L}\p{N} _.:/=+@-]/gu, '_')} pid `, ' on another-machine pid ');
  assert.notEqual(moved, text, `the holder names this host: ${text}`);
  return moved;
};

// Only the first machine's directory has `hold`: its hook stops there until it is killed.
const holdingHook = '        deploy: [{ run: "if [ -f hold ]; then echo started > hook.started; sleep 60; fi" }]\n';

// The killed holder's lease must still live when the next run starts (it is then blocked): 6 s, not
// 2, since on a busy machine (CI runs two suites side by side) starting a run took over 2 s.
const KILLED_LEASE_TTL_S = 6;

describe('kill -9 of a lease holder', () => {
  let c3Store;
  const cases = [
    {
      name: 'Secrets Manager (the lease in the secret)',
      extraEnv: { KEYSHIFT_LEASE_TTL_MS: String(KILLED_LEASE_TTL_S * 1000) },
      setup: () => {
        sm.seed('killed/db', { value: 'first-value' });
        return secretPolicy('db', `{ type: aws-secrets-manager, secretId: killed/db, endpoint: "${sm.endpoint}" }`, holdingHook);
      },
      elsewhere: async () => {
        const value = sm.inspect('killed/db').tags['keyshift:lease'];
        const client = secretsManagerClient(sm);
        await client.send(new SmTag({ SecretId: 'killed/db', Tags: [{ Key: 'keyshift:lease', Value: otherHost(value) }] }));
        client.destroy();
      },
      after: () => assert.ok(sm.inspect('killed/db').versions.some((v) => v.stages.includes('KEYSHIFT_LEASE')), 'the lease is free again'),
    },
    {
      name: 'KMS (the lease alias)',
      extraEnv: { KEYSHIFT_LEASE_TTL_MS: String(KILLED_LEASE_TTL_S * 1000) },
      setup: () => {
        kms.seedKey({ alias: 'alias/killed-key' });
        return `${keyPolicy('key', `{ type: aws-kms, alias: alias/killed-key, endpoint: "${kms.endpoint}" }`)}${holdingHook}`;
      },
      elsewhere: async () => {
        const key = kms.inspect('alias/killed-key');
        const [tagKey, value] = Object.entries(key.tags).find(([k]) => k.startsWith('keyshift:lease:'));
        const client = kmsClient(kms);
        await client.send(new KmsTag({ KeyId: key.keyId, Tags: [{ TagKey: tagKey, TagValue: otherHost(value) }] }));
        client.destroy();
      },
      after: () => assert.ok(!kms.aliases().some((a) => a.name.startsWith('alias/keyshift-lease/killed-key')), 'no lease alias is left'),
    },
    {
      name: 'a DynamoDB lock table',
      extraEnv: {},
      setup: () => {
        c3Store = join(tempProject('keyshift-lease-store-'), 'shared.store');
        return secretPolicy('db', `{ type: local, path: ${c3Store}, lock: { type: dynamodb, table: keyshift-leases, region: us-east-1, ttl: ${KILLED_LEASE_TTL_S}s } }`, holdingHook);
      },
      provision: true, // a local store's entry is made by the first rotate
      elsewhere: async () => {
        const item = ddb.item('keyshift-leases', `local:${c3Store}#db`);
        ddb.putItem('keyshift-leases', { ...item, holder: { S: otherHost(item.holder.S) } });
      },
      after: () => assert.equal(ddb.item('keyshift-leases', `local:${c3Store}#db`), undefined, 'no lease is left in the table'),
    },
  ];
  for (const c of cases) {
    test(`${c.name}: blocked while the lease lives, taken over after it expires, the rotation resumed`, async () => {
      const [a, b] = machines(c.setup());
      if (c.provision) assert.equal((await cli(['rotate', '--all', '--json'], { cwd: b, env: env(b) })).code, 0);
      const pid = await killHolder(a, c.name.startsWith('KMS') ? 'key' : 'db', c.extraEnv);
      const name = c.name.startsWith('KMS') ? 'key' : 'db';
      // Both "machines" run on this host, where a dead holder's lease is taken over at once (next
      // test); as another machine would see it, the holder's host is not this one.
      await c.elsewhere();
      const blocked = await cli(['rotate', name, '--json'], { cwd: b, env: env(b, c.extraEnv) });
      const killedAt = Date.now();
      assert.equal(blocked.code, 3, blocked.stdout + blocked.stderr);
      const [row] = json(blocked).results;
      assert.equal(row.outcome, 'blocked');
      assert.equal(row.error.code, 'ERR_LEASED');
      assert.match(row.error.message, new RegExp(`pid ${pid}\\b`), 'names the holder');
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, KILLED_LEASE_TTL_S * 1000 + 500 - (Date.now() - killedAt))));
      const taken = await cli(['rotate', name, '--json'], { cwd: b, env: env(b, c.extraEnv) });
      assert.equal(taken.code, 0, taken.stdout + taken.stderr);
      assert.deepEqual(json(taken).results.map((r) => `${r.action}:${r.outcome}`), ['resume:resumed']);
      c.after();
    });
  }
});

test('a holder that died on this host: its Secrets Manager lease is taken over at once, the rotation resumed', async () => {
  sm.seed('killed-here/db', { value: 'first-value' });
  const [a, b] = machines(secretPolicy('db', `{ type: aws-secrets-manager, secretId: killed-here/db, endpoint: "${sm.endpoint}" }`, holdingHook));
  await killHolder(a, 'db', {});
  const rerun = await cli(['rotate', 'db', '--json'], { cwd: b, env: env(b) });
  assert.equal(rerun.code, 0, rerun.stdout + rerun.stderr);
  assert.deepEqual(json(rerun).results.map((r) => `${r.action}:${r.outcome}`), ['resume:resumed']);
});

test("a runner whose log starts with a killed runner's record it recovered: each log its own chain, both verify with either state dir, a cut is still caught", async () => {
  sm.seed('recovered/db', { value: 'first-value' });
  const [a, b] = machines(secretPolicy('db', `{ type: aws-secrets-manager, secretId: recovered/db, endpoint: "${sm.endpoint}" }`, holdingHook));
  // Killed in its deploy hook once its `issued` line is in its log (seq 1): the same event is a draft in the secret.
  await killHolder(a, 'db', {}, () => existsSync(join(a, 'evidence', 'evidence.jsonl')) && readEvidence(a).length > 0);
  const rerun = await cli(['rotate', 'db', '--json'], { cwd: b, env: env(b) });
  assert.equal(rerun.code, 0, rerun.stdout + rerun.stderr);
  assert.deepEqual(json(rerun).results.map((r) => `${r.action}:${r.outcome}`), ['resume:resumed']);
  const [first] = readEvidence(b);
  const [killed] = readEvidence(a);
  assert.equal(first.event, 'issued');
  assert.equal(first.runId, killed.runId, "b's log starts with a's record");
  assert.equal(first.recoveredBy, json(rerun).runId, 'naming the run that appended it');
  assert.notEqual(first.hash, killed.hash, 'so the two logs have two chain ids');
  const logs = [join(a, 'evidence'), join(b, 'evidence')];
  for (const dir of [a, b]) {
    const verified = await cli(['evidence', 'verify', ...logs, '--json'], { cwd: dir, env: env(dir) });
    assert.equal(verified.code, 0, `with ${dir === a ? 'a' : 'b'}'s state dir: ${verified.stdout}${verified.stderr}`);
  }
  // b's anchor is in b's state dir: its log cut short is caught, a's log still verifies.
  const file = join(b, 'evidence', 'evidence.jsonl');
  const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean);
  writeFileSync(file, `${lines.slice(0, -1).join('\n')}\n`);
  const cut = await cli(['evidence', 'verify', ...logs, '--json'], { cwd: b, env: env(b) });
  assert.equal(cut.code, 1, cut.stdout + cut.stderr);
  assert.match(cut.stdout + cut.stderr, /records were cut off/);
  assert.equal(json(cut).logs.filter((log) => log.ok).length, 1, cut.stdout);
});

test('lock: is validated with file:line:col, field and fix (exit 2, nothing run)', async () => {
  const dir = tempProject('keyshift-lease-policy-');
  writeFiles(dir, {
    'policies/p.yaml':
      'secrets:\n  - name: a\n    interval: 30d\n    fallbackWindow: 1d\n    generator: { type: random, bytes: 16 }\n    environments:\n      - name: dev\n        store: { type: local, path: x.store, lock: { type: redis, table: t } }\n      - name: prod\n        store:\n          type: local\n          path: y.store\n          lock: { type: dynamodb, table: keyshift-leases, ttl: 2d, regin: us-east-1 }\n',
  });
  const result = await cli(['validate'], { cwd: dir, env: env(dir) });
  assert.equal(result.code, 2, result.stderr);
  assertNoStackTrace(assert, result.stderr);
  const lines = (result.stdout + result.stderr).trim().split('\n');
  for (const expected of [
    /^policies\/p\.yaml:8:\d+: secrets\[0\]\.environments\[0\]\.store\.lock\.type: must be dynamodb .*e\.g\. lock: \{ type: dynamodb/,
    /^policies\/p\.yaml:8:\d+: secrets\[0\]\.environments\[0\]\.store\.lock\.table: must be a DynamoDB table name/,
    /^policies\/p\.yaml:13:\d+: secrets\[0\]\.environments\[1\]\.store\.lock\.ttl: must be from 1s to 1h; e\.g\. ttl: 2m/,
    /^policies\/p\.yaml:13:\d+: secrets\[0\]\.environments\[1\]\.store\.lock: unknown key "regin"; allowed keys: type, table, region, endpoint, profile, ttl/,
  ]) {
    assert.ok(lines.some((line) => expected.test(line)), `${expected} in:\n${lines.join('\n')}`);
  }
});

