// Each sharded runner's default part of the AWS quotas: its shard's part of the environments on
// AWS stores, so the parts of the n runners sum to 1 and the runners finish together.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inShard, shardQuotaShare } from '../../dist/engine/shard.js';

const policy = (name, ...types) => ({ name, environments: types.map((type) => ({ store: { type } })) });

test('the parts of all shards sum to 1 and follow the AWS environments each shard holds', () => {
  const policies = [
    ...Array.from({ length: 1000 }, (_, i) => policy(`sm-${i}`, 'aws-secrets-manager')),
    ...Array.from({ length: 300 }, (_, i) => policy(`local-${i}`, 'local')),
    ...Array.from({ length: 50 }, (_, i) => policy(`two-${i}`, 'aws-kms', 'aws-secrets-manager')),
  ];
  const n = 4;
  const shares = Array.from({ length: n }, (_, k) => shardQuotaShare(policies, { index: k + 1, count: n }));
  assert.ok(Math.abs(shares.reduce((a, b) => a + b, 0) - 1) < 1e-12, `sum ${shares}`);
  shares.forEach((share, k) => {
    const aws = policies.filter((p) => inShard(p.name, { index: k + 1, count: n })).reduce((sum, p) => sum + p.environments.filter((e) => e.store.type !== 'local').length, 0);
    assert.equal(share, aws / 1100, `shard ${k + 1}`);
  });
  assert.ok(new Set(shares).size > 1, 'the hash split is uneven: an even 1/n would hold the largest shard back');
});

test('1/n when no secret is on an AWS store, or the shard holds none of them', () => {
  const local = Array.from({ length: 20 }, (_, i) => policy(`l-${i}`, 'local'));
  assert.equal(shardQuotaShare(local, { index: 2, count: 4 }), 0.25);
  const one = [policy('only-one', 'aws-kms')];
  const home = [1, 2, 3].find((k) => inShard('only-one', { index: k, count: 3 }));
  const other = [1, 2, 3].find((k) => k !== home);
  assert.equal(shardQuotaShare(one, { index: home, count: 3 }), 1);
  assert.equal(shardQuotaShare(one, { index: other, count: 3 }), 1 / 3);
});
