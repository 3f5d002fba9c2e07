// What a runner killed (kill -9) at each step of taking a lease leaves behind, and that the next run
// completes from it (docs/workflow.md#leases): after the leftover's expiry, or at once when its
// maker died on this host. Each leftover state is made as the killed runner would have left it,
// through the fakes' own API, then a fresh "machine" (its own KEYSHIFT_STATE_DIR) rotates.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { cli, tempProject, writeFiles, json } from '../helpers/cli.js';
import { awsEnv } from '../helpers/aws.js';
import { startSecretsManager } from '../fakes/secrets-manager.js';
import { startKms } from '../fakes/kms.js';
import { startDynamoDb } from '../fakes/dynamodb/index.js';
import { secretsManagerClient, kmsClient } from '../fakes/clients.js';
import { TagResourceCommand as SmTag, UpdateSecretVersionStageCommand } from '@aws-sdk/client-secrets-manager';
import { CreateAliasCommand, ListAliasesCommand, TagResourceCommand as KmsTag } from '@aws-sdk/client-kms';

const TTL = 1500;
let sm;
let kms;
let ddb;
let kmsClockMs = 0; // the KMS fake's clock runs this far from ours: aliases "created" in the past
before(async () => {
  [sm, kms, ddb] = await Promise.all([
    startSecretsManager({ quotas: false }),
    startKms({ quotas: false, now: () => new Date(Date.now() + kmsClockMs) }),
    startDynamoDb({ tables: ['keyshift-leases'] }),
  ]);
});
after(async () => {
  await Promise.all([sm?.close(), kms?.close(), ddb?.close()]);
});

const host = hostname().replace(/[^\p{L}\p{N} _.:/=+@-]/gu, '_');
/** A process of this host that has exited: its leases may be taken over at once. */
const deadPid = () => spawnSync(process.execPath, ['-e', '0']).pid;
const holder = (where, pid) => `keyshift rotate by killed run 00000000 on ${where} pid ${pid}`;
const record = (expires, who) => `${expires} 3b241101-e2bb-4255-8caf-4136c566a962 ${who}`;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function machine(policy) {
  const dir = tempProject('keyshift-leftover-');
  writeFiles(dir, { 'policies/p.yaml': policy });
  return dir;
}
const env = (dir, ttl = TTL) => awsEnv({ KEYSHIFT_STATE_DIR: join(dir, 'state'), KEYSHIFT_LEASE_TTL_MS: String(ttl), AWS_ENDPOINT_URL_DYNAMODB: ddb.endpoint });
const secretPolicy = (store) => `secrets:\n  - name: s\n    interval: 30d\n    fallbackWindow: 1h\n    generator: { type: random, bytes: 16, encoding: hex }\n    environments:\n      - name: prod\n        store: ${store}\n`;
const keyPolicy = (store) => `secrets:\n  - name: s\n    interval: 30d\n    fallbackWindow: 1h\n    environments:\n      - name: prod\n        store: ${store}\n`;

/** Every case's leftover is made first, then (after one ttl where a case needs it) each is rerun. */
async function rerunAll(cases, { wait, ttl = TTL }) {
  const dirs = [];
  for (const c of cases) dirs.push(machine(await c.leave()));
  if (wait) await sleep(TTL + 300);
  const runs = await Promise.all(dirs.map((dir) => cli(['rotate', 's', '--force', '--reason', 'after a kill', '--json'], { cwd: dir, env: env(dir, ttl) })));
  for (const [i, run] of runs.entries()) {
    assert.equal(run.code, 0, `${cases[i].name}: exit ${run.code}\n${run.stdout}\n${run.stderr}`);
    // (A local store's entry is made by its first rotate: provisioned.)
    assert.match(json(run).results.map((r) => r.outcome).join(), /^(rotated|provisioned)$/, cases[i].name);
    // Not stuck afterwards either: the next run takes the lease again.
    const again = await cli(['rotate', 's', '--force', '--reason', 'once more', '--json'], { cwd: dirs[i], env: env(dirs[i], ttl) });
    assert.equal(again.code, 0, `${cases[i].name}, the run after: ${again.stdout}\n${again.stderr}`);
    cases[i].after?.();
  }
}

describe('KMS: a runner killed while taking the lease alias', () => {
  let n = 0;
  /** A key behind alias/leftover-<n>, and its lease alias, lease tag and taker tag (aws-kms/lease.ts). */
  async function key(make) {
    const alias = `alias/leftover-${++n}`;
    const { keyId } = kms.seedKey({ alias });
    const lease = `alias/keyshift-lease/leftover-${n}`;
    const hash = createHash('sha256').update(lease).digest('hex').slice(0, 16);
    const client = kmsClient(kms, { maxAttempts: 1 });
    const create = (name) => client.send(new CreateAliasCommand({ AliasName: name, TargetKeyId: keyId }));
    const created = async (name) => (await client.send(new ListAliasesCommand({ KeyId: keyId }))).Aliases.find((a) => a.AliasName === name).CreationDate.getTime();
    const tag = (key, value) => client.send(new KmsTag({ KeyId: keyId, Tags: [{ TagKey: `${key}:${hash}`, TagValue: value }] }));
    await make({ lease, create, created, tag });
    client.destroy();
    return keyPolicy(`{ type: aws-kms, alias: ${alias}, endpoint: "${kms.endpoint}" }`);
  }
  const elsewhere = () => record(Date.now() + TTL, holder('another-machine', 4242));

  test('each leftover is taken over once it expires', async () => {
    let leftBehind;
    await rerunAll(
      [
        { name: 'after CreateAlias of the lease, before its tag', leave: () => key(({ lease, create }) => create(lease)) },
        {
          name: 'after the lease tag',
          leave: () => key(async ({ lease, create, tag }) => (await create(lease), await tag('keyshift:lease', elsewhere()))),
        },
        {
          // The stuck lease found in CI: a taker killed after making its marker never let anyone in.
          name: 'after CreateAlias of the take-over marker, before its tag',
          leave: () => key(async ({ lease, create, created, tag }) => {
            await create(lease);
            await tag('keyshift:lease', elsewhere());
            await create(`${lease}/t${await created(lease)}`);
          }),
        },
        {
          name: 'after the marker and its successor both died',
          leave: () => key(async ({ lease, create, created }) => {
            await create(lease);
            const marker = `${lease}/t${await created(lease)}`;
            await create(marker);
            await create(`${marker}-1`);
          }),
        },
        {
          name: 'after CreateAlias of the new lease, before the marker was deleted',
          leave: () => key(async ({ lease, create }) => {
            leftBehind = `${lease}/t${Date.now() - 5000}`;
            await create(leftBehind);
            await create(lease);
          }),
          // The take-over of the new lease deletes the markers of the incarnation before it.
          after: () => assert.ok(!kms.aliases().some((a) => a.name === leftBehind), `${leftBehind} is left`),
        },
      ],
      { wait: true },
    );
  });

  test('a leftover whose maker died on this host is taken over at once', async () => {
    const dead = deadPid();
    await rerunAll(
      [
        {
          name: 'the marker of a taker that died here',
          leave: () => key(async ({ lease, create, created, tag }) => {
            // An expired lease (made 10 minutes ago, its tag run out), being taken over by a runner
            // of this host that died: only the marker's taker tag says it is dead (the marker is
            // fresh and the ttl of this test a minute).
            kmsClockMs = -600_000;
            await create(lease);
            kmsClockMs = 0;
            const at = await created(lease);
            await tag('keyshift:lease', record(at - 1, holder('another-machine', 4242)));
            await create(`${lease}/t${at}`);
            await tag('keyshift:lease-taker', record(Date.now() + 60_000, `t${at} ${holder(host, dead)}`));
          }),
        },
        {
          name: 'after DeleteAlias of the expired lease, before its CreateAlias',
          leave: () => key(({ lease, create }) => create(`${lease}/t${Date.now() - 5000}`)),
        },
      ],
      { wait: false, ttl: 60_000 },
    );
  });
});

describe('Secrets Manager: a runner killed while taking the lease label', () => {
  let n = 0;
  /** A secret, its versions' ids and a client to leave the label and tag as a killed runner would. */
  async function secret(make) {
    const id = `leftover/${++n}`;
    sm.seed(id, { value: 'first-value' });
    const current = sm.inspect(id).versions.find((v) => v.stages.includes('AWSCURRENT')).id;
    const client = secretsManagerClient(sm, { maxAttempts: 1 });
    const attach = () => client.send(new UpdateSecretVersionStageCommand({ SecretId: id, VersionStage: 'KEYSHIFT_LEASE', MoveToVersionId: current }));
    const tag = (value) => client.send(new SmTag({ SecretId: id, Tags: [{ Key: 'keyshift:lease', Value: value }] }));
    await make({ attach, tag });
    client.destroy();
    return secretPolicy(`{ type: aws-secrets-manager, secretId: ${id}, endpoint: "${sm.endpoint}" }`);
  }
  const live = (where, pid) => record(Date.now() + TTL, holder(where, pid));

  test('each leftover is taken over at once or once it expires', async () => {
    const dead = deadPid();
    await rerunAll(
      [
        { name: 'after its tag, before the detach (the label still free)', leave: () => secret(async ({ attach, tag }) => (await attach(), await tag(live('another-machine', 4242)))) },
        { name: 'after the detach (held, its holder gone elsewhere)', leave: () => secret(({ tag }) => tag(live('another-machine', 4242))) },
        { name: 'held by a holder that died here', leave: () => secret(({ tag }) => tag(live(host, dead))) },
        { name: 'after re-attaching an expired lease, before taking it', leave: () => secret(async ({ attach, tag }) => (await tag(record(Date.now() - 1, holder('another-machine', 4242))), await attach())) },
        { name: 'never labelled (before the first attach)', leave: () => secret(async () => undefined) },
      ],
      { wait: true },
    );
  });
});

describe('DynamoDB lock table', () => {
  let n = 0;
  function locked(item) {
    const path = join(tempProject('keyshift-leftover-store-'), 'shared.store');
    const policy = secretPolicy(`{ type: local, path: ${path}, lock: { type: dynamodb, table: keyshift-leases, region: us-east-1, ttl: 1h } }`);
    return { path, policy, lease: `local:${path}#s`, item, n: ++n };
  }

  test('an item left by a killed holder: taken over once expired, or at once if it died here', async () => {
    const dead = deadPid();
    const cases = [
      { name: 'expired, holder elsewhere', expires: Date.now() + TTL, who: holder('another-machine', 4242) },
      { name: 'live, holder died here', expires: Date.now() + 3_600_000, who: holder(host, dead) },
    ].map((c) => ({
      name: c.name,
      leave: async () => {
        const { policy, lease } = locked();
        ddb.putItem('keyshift-leases', { lease: { S: lease }, holder: { S: c.who }, token: { S: '3b241101-e2bb-4255-8caf-4136c566a962' }, expires: { N: String(c.expires) } });
        return policy;
      },
    }));
    await rerunAll(cases, { wait: true });
  });

  test('a take whose reply was lost: the run recognises its own lease on the retry (not blocked by itself)', async () => {
    const { policy, lease } = locked();
    const dir = machine(policy);
    const fault = ddb.injectFault({ op: 'PutItem', kind: '500', afterApply: true });
    const run = await cli(['rotate', 's', '--force', '--reason', 'lost reply', '--json'], { cwd: dir, env: env(dir) });
    assert.equal(fault.fired, 1, 'the first PutItem was applied and its reply lost');
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.deepEqual(json(run).results.map((r) => r.outcome), ['provisioned']);
    assert.equal(ddb.item('keyshift-leases', lease), undefined, 'released at the end');
  });
});
