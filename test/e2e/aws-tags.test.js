// Opt-in AWS tags (`tags:` on an AWS store): rotated-by, rotated-at and rotation-ticket on the
// Secrets Manager secret and on the KMS key that becomes CURRENT, written with keyshift's own
// record (no extra call), never a value, within AWS's tag limits as the loopback fakes enforce them.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cli, json, tempProject, writeFiles, assertNoStackTrace } from '../helpers/cli.js';
import { awsEnv, kmsPolicy, secretsManagerPolicy } from '../helpers/aws.js';
import { useSecretsManagerAndKmsFakes } from '../helpers/aws-fakes.js';

let sm;
let kms;
useSecretsManagerAndKmsFakes((smServer, kmsServer) => ([sm, kms] = [smServer, kmsServer]));

const run = (dir, args) => cli(args, { cwd: dir, env: awsEnv({ KEYSHIFT_OPERATOR: 'alice@ops-host' }) });
const project = (policy) => {
  const dir = tempProject('keyshift-tags-');
  writeFiles(dir, { 'policies/aws.yaml': policy });
  return dir;
};
const userTags = (tags) => Object.fromEntries(Object.entries(tags).filter(([key]) => !key.startsWith('keyshift:')));
const tagResourceCalls = (fake) => fake.calls.filter((c) => c.op === 'TagResource').length;

describe('tags: on AWS stores', () => {
  test('Secrets Manager: no tags without opt-in; with tags: true the three at provision and at each switch, no extra call, no value', async () => {
    sm.seed('app/plain', { value: 'initial-plain', tags: { team: 'payments' } });
    const plain = project(secretsManagerPolicy(sm.endpoint, [{ name: 'plain', secretId: 'app/plain' }]));
    assert.equal((await run(plain, ['rotate', '--all', '--force', '--reason', 'test'])).code, 0);
    assert.deepEqual(userTags(sm.inspect('app/plain').tags), { team: 'payments' }, 'without tags: keyshift writes only its keyshift:* record');

    const dir = project(secretsManagerPolicy(sm.endpoint, [
      { name: 'api', secretId: 'app/api', extra: ', createIfMissing: true, tags: true' },
      { name: 'renamed', secretId: 'app/renamed', extra: ', createIfMissing: true, tags: { rotated-by: RotatedBy, rotation-ticket: false }' },
    ]));
    const provisioned = await run(dir, ['rotate', '--all', '--ticket', 'CHG-7', '--json']);
    assert.equal(provisioned.code, 0, provisioned.stderr);
    const first = userTags(sm.inspect('app/api').tags);
    assert.deepEqual(Object.keys(first).sort(), ['rotated-at', 'rotated-by', 'rotation-ticket']);
    assert.equal(first['rotated-by'], 'alice@ops-host');
    assert.equal(first['rotation-ticket'], 'CHG-7');
    assert.equal(first['rotated-at'], json(provisioned).results[0] && (await evidenceAt(dir, 'api', 'provisioned')));
    assert.deepEqual(Object.keys(userTags(sm.inspect('app/renamed').tags)).sort(), ['RotatedBy', 'rotated-at'], 'renamed, one left out');

    const before = tagResourceCalls(sm);
    const rotated = await run(dir, ['rotate', 'api', '--force', '--reason', 'scheduled', '--json']);
    assert.equal(rotated.code, 0, rotated.stderr);
    const after = userTags(sm.inspect('app/api').tags);
    assert.equal(after['rotated-at'], await evidenceAt(dir, 'api', 'switched'), 'rotated-at is the switch');
    assert.ok(after['rotated-at'] > first['rotated-at']);
    assert.equal(after['rotation-ticket'], '', 'a rotation without --ticket clears the last one');
    assert.equal(tagResourceCalls(sm) - before, 3, 'lease, issue+switch record, lease release: the tags ride on the record write');
    const values = sm.inspect('app/api').versions.map((v) => v.value);
    for (const value of Object.values(sm.inspect('app/api').tags)) for (const secret of values) assert.ok(!value.includes(secret), 'no tag holds a value');
  });

  test('Secrets Manager: a secret whose own tags leave no room fails with ERR_STORE_TAG_LIMIT, not an AWS error, and nothing changes', async () => {
    const own = Object.fromEntries(Array.from({ length: 42 }, (_, i) => [`team-tag-${i}`, 'x']));
    sm.seed('app/full', { value: 'initial-full', tags: own });
    const dir = project(secretsManagerPolicy(sm.endpoint, [{ name: 'full', secretId: 'app/full', extra: ', tags: true' }]));
    const result = await run(dir, ['rotate', '--all', '--force', '--reason', 'test', '--json']);
    assert.equal(result.code, 1, result.stderr);
    assertNoStackTrace(assert, result.stderr);
    const failed = json(result).results[0];
    assert.equal(failed.error.code, 'ERR_STORE_TAG_LIMIT', JSON.stringify(failed));
    assert.match(failed.error.message, /AWS allows 50/);
    assert.equal(sm.inspect('app/full').versions.length, 1, 'no version was written');
    assert.ok(Object.keys(sm.inspect('app/full').tags).length <= 50);
  });

  test('KMS: the new key carries the tags from its switch; the old key keeps its own; a renamed key set is refused where AWS would', async () => {
    const old = kms.seedKey({ alias: 'alias/tagged', tags: { team: 'payments', 'rotated-by': 'someone-before' } });
    const dir = project(kmsPolicy(kms.endpoint, [{ name: 'data-key', alias: 'alias/tagged', store: ', tags: true' }]));
    const rotated = await run(dir, ['rotate', '--all', '--force', '--reason', 'test', '--ticket', 'INC-9', '--json']);
    assert.equal(rotated.code, 0, rotated.stderr);
    const fresh = kms.inspect('alias/tagged');
    assert.notEqual(fresh.keyId, old.keyId);
    assert.deepEqual(userTags(fresh.tags), { team: 'payments', 'rotated-by': 'alice@ops-host', 'rotated-at': await evidenceAt(dir, 'data-key', 'switched'), 'rotation-ticket': 'INC-9' });
    assert.equal(kms.inspect(old.keyId).tags['rotated-by'], 'someone-before', 'the replaced key keeps its own tags');

    const bad = project(kmsPolicy(kms.endpoint, [{ name: 'bad-key', alias: 'alias/bad', store: ', tags: { rotated-by: "aws:owner", rotated-at: RotatedAt, rotation-ticket: RotatedAt, colour: true }' }]));
    const refused = await run(bad, ['validate']);
    assert.equal(refused.code, 2);
    const lines = refused.stderr.trim().split('\n');
    assert.equal(lines.length, 3, refused.stderr);
    assert.match(lines[0], /^policies\/aws\.yaml:\d+:\d+: secrets\[0\]\.environments\[0\]\.store\.tags\.rotated-by: must not start with aws: \(reserved by AWS\)/);
    assert.match(lines[1], /\.store\.tags\.rotation-ticket: uses the key "RotatedAt" of another tag/);
    assert.match(lines[2], /\.store\.tags\.colour: is not a tag keyshift writes; use rotated-by, rotated-at, rotation-ticket/);
  });
});

/** The `at` of a secret's last evidence record of this event. */
async function evidenceAt(dir, secret, event) {
  const { readEvidence } = await import('../helpers/cli.js');
  return readEvidence(dir).filter((r) => r.secret === secret && r.event === event).at(-1)?.at;
}
