import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { ExitCode, KeyshiftError } from '../errors.js';
import { SecretValue } from '../secret-value.js';

/**
 * The key hierarchy of docs/reencrypt.md: a master key wraps data keys; a data key (raw AES-256,
 * what ks1 fields are sealed under) is stored only wrapped. The store value of a data key version is
 *
 *   ksdk1:aws-kms:<base64 KMS ciphertext blob>
 *   ksdk1:local.<master version id>:<base64 nonce(12) ‖ ciphertext ‖ tag(16)>
 *
 * Rotating the master re-wraps the stored data keys (KMS ReEncrypt, or unwrap + wrap under the
 * local master's new version): the data key's bytes do not change, so no row is touched. The
 * `context` (the data key's secret and environment) is bound to the wrapping, as KMS encryption
 * context or GCM associated data, so a wrapped key copied to another secret does not unwrap.
 */
export interface MasterKey {
  /** What errors and `--dry-run` name: `aws-kms alias/app-master`, `local master v3`. */
  readonly describe: string;
  /** A new data key, wrapped; its plaintext never leaves the master (KMS GenerateDataKeyWithoutPlaintext). */
  newDataKey(context: string): Promise<string>;
  /** The raw data key of a stored value. */
  unwrap(stored: string, context: string): Promise<SecretValue>;
  /** The same data key wrapped under the master's current version. */
  rewrap(stored: string, context: string): Promise<string>;
  /** Which master key wrapped a stored value: the local version id, or the KMS key ARN (Decrypt's KeyId). */
  wrappedBy(stored: string, context: string): Promise<string>;
  /** Whether a stored value is already wrapped by the master's current version; absent = cannot tell (KMS). */
  wrapsWithCurrent?(stored: string): boolean;
  /** Releases the connection (the KMS client's sockets). */
  close(): void;
}

export const DATA_KEY_PREFIX = 'ksdk1';
const KEY_BYTES = 32;

/** A stored data key split into its master reference and blob; a usage-free parse for status. */
export function parseStoredDataKey(stored: string): { master: string; blob: Buffer } | undefined {
  const match = /^ksdk1:(aws-kms|local\.[A-Za-z0-9._-]+):([A-Za-z0-9+/]+={0,2})$/.exec(stored);
  return match ? { master: match[1]!, blob: Buffer.from(match[2]!, 'base64') } : undefined;
}

export interface LocalMasterVersion {
  id: string;
  /** 32 raw bytes (a `random` generator's value of 32 bytes, decoded). */
  key: SecretValue;
}

/**
 * A master held as a keyshift secret in a `local` store: CURRENT wraps, every version given
 * (CURRENT and PREVIOUS during the fallback window) unwraps.
 */
export function localMasterKey(current: LocalMasterVersion, previous: LocalMasterVersion[] = []): MasterKey {
  for (const version of [current, ...previous]) {
    if (version.key.length !== KEY_BYTES || !/^[A-Za-z0-9._-]+$/.test(version.id)) {
      throw new KeyshiftError('ERR_MASTER_KEY_INVALID', `local master version ${JSON.stringify(version.id)} is not a ${KEY_BYTES}-byte key`, {
        hint: 'generate the master with { type: random, bytes: 32 }',
        exitCode: ExitCode.usage,
      });
    }
  }
  const versions = new Map([current, ...previous].map((v) => [v.id, v.key]));
  const describe = `local master ${current.id}`;

  const wrap = (raw: Buffer, context: string): string => {
    const nonce = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', current.key.revealBytes(), nonce);
    cipher.setAAD(Buffer.from(`${DATA_KEY_PREFIX}:local.${current.id}:${context}`));
    const body = Buffer.concat([cipher.update(raw), cipher.final()]);
    raw.fill(0);
    return `${DATA_KEY_PREFIX}:local.${current.id}:${Buffer.concat([nonce, body, cipher.getAuthTag()]).toString('base64')}`;
  };

  const unwrap = async (stored: string, context: string): Promise<SecretValue> => {
    const parsed = parseStoredDataKey(stored);
    if (!parsed || !parsed.master.startsWith('local.')) throw notWrapped(context, describe, 'it is not a data key wrapped by a local master');
    const id = parsed.master.slice('local.'.length);
    const key = versions.get(id);
    if (!key) throw notWrapped(context, describe, `it is wrapped by master version ${id}, which is neither CURRENT nor PREVIOUS`);
    try {
      const { blob } = parsed;
      const decipher = createDecipheriv('aes-256-gcm', key.revealBytes(), blob.subarray(0, 12));
      decipher.setAAD(Buffer.from(`${DATA_KEY_PREFIX}:${parsed.master}:${context}`));
      decipher.setAuthTag(blob.subarray(blob.length - 16));
      const raw = Buffer.concat([decipher.update(blob.subarray(12, blob.length - 16)), decipher.final()]);
      const value = SecretValue.fromBytes(raw);
      raw.fill(0);
      return value;
    } catch {
      throw notWrapped(context, describe, `it does not authenticate under master version ${id} (damaged, or wrapped for another secret)`);
    }
  };

  return {
    describe,
    newDataKey: async (context) => wrap(randomBytes(KEY_BYTES), context),
    unwrap,
    rewrap: async (stored, context) => wrap((await unwrap(stored, context)).revealBytes(), context),
    wrappedBy: async (stored, context) => {
      const parsed = parseStoredDataKey(stored);
      if (!parsed || !parsed.master.startsWith('local.')) throw notWrapped(context, describe, 'it is not a data key wrapped by a local master');
      return parsed.master.slice('local.'.length);
    },
    wrapsWithCurrent: (stored) => parseStoredDataKey(stored)?.master === `local.${current.id}`,
    close: () => {},
  };
}

export function notWrapped(context: string, master: string, why: string): KeyshiftError {
  return new KeyshiftError('ERR_DATA_KEY_UNWRAP', `data key of ${context} cannot be unwrapped by ${master}: ${why}`, {
    hint: 'restore the master version that wrapped it (rollback), or check that the stored value was not edited by hand',
  });
}
