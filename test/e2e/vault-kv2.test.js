// keyshift against a loopback Vault (test/fakes/vault/), driven through the CLI as a user would:
// VAULT_ADDR and VAULT_TOKEN as for the Vault CLI, the lifecycle, kill -9 rounds, a canary that
// reaches neither output, evidence nor the secret's custom_metadata.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { baseEnv, cli, tempProject, writeFiles } from '../helpers/cli.js';
import { CANARY, crashRounds, lifecycle, storePolicy } from '../helpers/store-e2e.js';
import { startVault } from '../fakes/vault/server.js';

let vault;
before(async () => {
  vault = await startVault({ token: 'e2e-token' });
});
after(async () => {
  await vault?.close();
});

const env = () => baseEnv({ VAULT_ADDR: vault.address, VAULT_TOKEN: 'e2e-token' });

describe('vault-kv2 store through the CLI', () => {
  test('provision, rotate with hooks, fallback, decommission, rollback; the canary stays in the fields', async () => {
    vault.seed('secret', 'app/other', { value: 'x' }); // another secret on the mount is left alone
    await lifecycle({ storeOf: () => '{ type: vault-kv2, path: app/api-key }', env: env() });
    const kv = vault.inspect('secret', 'app/api-key');
    assert.ok(!JSON.stringify(kv.custom_metadata).includes(CANARY), 'custom_metadata holds no value');
    const latest = kv.data[kv.current_version];
    assert.match(latest.value, new RegExp(`^${CANARY}`), 'applications read <field> of the latest version');
    assert.ok(!('value_PENDING' in latest));
    const destroyed = Object.values(kv.versions).filter((v) => v.destroyed).length;
    assert.ok(destroyed >= 1, 'the decommissioned value\'s KV versions are destroyed');
    assert.equal(vault.inspect('secret', 'app/other').current_version, 1);
  });

  test('kill -9 at random instants: one readable CURRENT, a rerun completes, nothing issued twice', { timeout: 600_000 }, async () => {
    const { killsMidRun, rounds } = await crashRounds({ storeOf: (name) => `{ type: vault-kv2, path: crash/${name} }`, env: env() });
    console.log(`# vault-kv2 crash rounds: ${rounds}, killed mid-run: ${killsMidRun}`);
  });

  test('a sealed Vault or a denied token fails with exit 1 and a one-line error, nothing changed', async () => {
    const dir = tempProject('keyshift-vault-');
    writeFiles(dir, { 'policies/p.yaml': storePolicy(['sealed'], () => '{ type: vault-kv2, path: app/sealed }', { hooks: false }) });
    vault.seal();
    try {
      const sealed = await cli(['rotate', '--all'], { cwd: dir, env: env() });
      assert.equal(sealed.code, 1);
      assert.match(sealed.stderr, /Vault is sealed/);
    } finally {
      vault.unseal();
    }
    const denied = await cli(['rotate', '--all'], { cwd: dir, env: { ...env(), VAULT_TOKEN: 'wrong' } });
    assert.equal(denied.code, 1);
    assert.match(denied.stderr, /permission denied/);
    assert.equal(vault.inspect('secret', 'app/sealed'), null);
  });
});
