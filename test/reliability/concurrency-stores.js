// The three stores as the concurrency suite sees them: a project with many secrets on one store,
// each secret's CURRENT value as the store itself holds it, and the store's own version accounting
// checked against the evidence (no new version without a completed rotation).
import { join } from 'node:path';
import { cli, tempProject, writeFiles, manySecretsPolicy } from '../helpers/cli.js';
import { awsEnv, secretsManagerPolicy, kmsPolicy } from '../helpers/aws.js';
import { inspectStore } from '../helpers/store-check.js';
import { startSecretsManager } from '../fakes/secrets-manager.js';
import { startKms } from '../fakes/kms.js';

const names = (count, prefix) => Array.from({ length: count }, (_, i) => `${prefix}${String(i).padStart(5, '0')}`);

export const CONCURRENCY_STORES = {
  local: {
    count: 40,
    async setup() {
      const dir = tempProject('keyshift-race-local-');
      writeFiles(dir, { 'policies/many.yaml': manySecretsPolicy(this.count) });
      const provisioned = await cli(['rotate', '--all', '-q'], { cwd: dir });
      if (provisioned.code !== 0) throw new Error(`provisioning failed: ${provisioned.stderr}`);
      const secrets = names(this.count, 'secret-');
      const storePath = join(dir, '.keyshift', 'dev.store');
      return {
        dir,
        env: undefined, // baseEnv()
        secrets,
        close: async () => {},
        async snapshot() {
          const state = await inspectStore(storePath, secrets);
          return new Map([...state].map(([name, s]) => [name, {
            currents: s.current.map((v) => v.id),
            pending: s.pending.map((v) => v.id),
            currentValue: s.currentValue,
            // The live versions as the bytes on disk hold them (the independent reader of the format).
            versionIds: s.versions.map((v) => v.id),
            created: null,
          }]));
        },
      };
    },
  },
  'aws-secrets-manager': {
    count: 20,
    async setup() {
      const fake = await startSecretsManager({ quotas: false });
      const secrets = names(this.count, 'sm-');
      const ids = new Map(secrets.map((name, i) => [name, `race/s${i}`]));
      for (const [name, id] of ids) fake.seed(id, { value: `initial-${name}` });
      const dir = tempProject('keyshift-race-sm-');
      writeFiles(dir, { 'policies/aws.yaml': secretsManagerPolicy(fake.endpoint, secrets.map((name) => ({ name, secretId: ids.get(name) }))) });
      return {
        dir,
        env: awsEnv(),
        secrets,
        close: () => fake.close(),
        async snapshot() {
          return new Map(secrets.map((name) => {
            const versions = fake.inspect(ids.get(name)).versions;
            const current = versions.filter((v) => v.stages.includes('AWSCURRENT'));
            return [name, {
              currents: current.map((v) => v.id),
              pending: versions.filter((v) => v.stages.includes('AWSPENDING') && !v.stages.includes('AWSCURRENT')).map((v) => v.id),
              currentValue: current[0]?.value ?? null,
              versionIds: versions.map((v) => v.id), // deprecated versions included
              created: versions.length - 1,
            }];
          }));
        },
      };
    },
  },
  'aws-kms': {
    count: 10,
    async setup() {
      const fake = await startKms({ quotas: false });
      const secrets = names(this.count, 'kms-');
      const aliases = new Map(secrets.map((name, i) => [name, `alias/race-${i}`]));
      const seeded = new Map([...aliases.values()].map((alias) => [alias, fake.seedKey({ alias }).keyId]));
      const dir = tempProject('keyshift-race-kms-');
      // keyshift's own pacing (5 control-plane calls/s) would only make the rounds long.
      writeFiles(dir, { 'policies/keys.yaml': kmsPolicy(fake.endpoint, secrets.map((name) => ({ name, alias: aliases.get(name) })), { extra: ', quotas: { controlPlanePerSecond: 100 }' }) });
      return {
        dir,
        env: awsEnv(),
        secrets,
        close: () => fake.close(),
        async snapshot() {
          return new Map(secrets.map((name) => {
            const alias = aliases.get(name);
            const target = fake.inspect(alias);
            const created = fake.keys().filter((k) => k.tags['keyshift:alias'] === alias);
            return [name, {
              currents: target && target.state === 'Enabled' ? [target.tags['keyshift:version-id'] ?? target.keyId] : [],
              pending: [],
              currentValue: target?.arn ?? null, // `get` prints the ARN of the key behind the alias
              versionIds: created.map((k) => k.tags['keyshift:version-id']),
              created: created.length,
              // The key behind the alias and the one before it (fallback window); older ones are retired.
              enabledKeys: [...created, fake.inspect(seeded.get(alias))].filter((k) => k.state === 'Enabled').length,
            }];
          }));
        },
      };
    },
  },
};
