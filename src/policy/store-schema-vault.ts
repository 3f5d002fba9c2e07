import { resolve } from 'node:path';
import { lockSchema } from './lock-schema.js';
import { z } from 'zod';
import { strict } from './schema-common.js';

/** `vault-kv2` store (docs/stores/vault-kv2.md): one field of a KV version 2 secret. */
export interface VaultKv2StoreSpec {
  type: 'vault-kv2';
  /** The secret's path under the mount (the entry key). */
  key: string;
  /** Vault's address; null: VAULT_ADDR, else https://127.0.0.1:8200 (as the Vault CLI). */
  address: string | null;
  mount: string;
  /** The field applications read; `<field>_PENDING` / `<field>_PREVIOUS` sit beside it. */
  field: string;
  /** null: VAULT_NAMESPACE, else none. */
  namespace: string | null;
  /** A file holding the token; null: VAULT_TOKEN, else ~/.vault-token. */
  tokenFile: string | null;
}

const SEGMENTS = /^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/;

export const vaultKv2StoreSchema = strict({
  type: z.literal('vault-kv2'),
  address: z
    .string()
    .regex(/^https?:\/\/[^\s/]+\/?$/, { error: 'must be an http(s) URL without a path, e.g. address: https://vault.example.com:8200' })
    .optional()
    .meta({ description: "Vault's address (default: VAULT_ADDR, else https://127.0.0.1:8200)." }),
  mount: z.string().regex(SEGMENTS, { error: 'must be a mount path such as secret or kv/team' }).optional().meta({ description: 'The KV v2 mount (default secret).' }),
  path: z
    .string()
    .regex(SEGMENTS, { error: 'must be a secret path of letters, digits and . _ - separated by /, e.g. path: app/api-key' })
    .meta({ description: 'The secret\'s path under the mount.' }),
  field: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/, { error: 'must be a field name (letters, digits, _ . -; at most 64), e.g. field: value' })
    .optional()
    .meta({ description: 'The field applications read (default value); <field>_PENDING and <field>_PREVIOUS sit beside it while needed.' }),
  namespace: z.string().min(1, { error: 'must not be empty' }).optional().meta({ description: 'Vault Enterprise namespace (default: VAULT_NAMESPACE).' }),
  tokenFile: z.string().min(1, { error: 'must not be empty' }).optional().meta({ description: 'A file holding the token (default: VAULT_TOKEN, else ~/.vault-token).' }),
  lock: lockSchema.optional(),
});

export function normaliseVaultKv2Store(store: z.infer<typeof vaultKv2StoreSchema>, cwd: string): VaultKv2StoreSpec {
  return {
    type: 'vault-kv2',
    key: store.path,
    address: store.address?.replace(/\/$/, '') ?? null,
    mount: store.mount ?? 'secret',
    field: store.field ?? 'value',
    namespace: store.namespace ?? null,
    tokenFile: store.tokenFile ? resolve(cwd, store.tokenFile) : null,
  };
}
