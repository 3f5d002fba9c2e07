import { existsSync, mkdirSync } from 'node:fs';
import { createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { dirname } from 'node:path';
import { ExitCode, KeyshiftError } from '../../errors.js';
import { createKeyFile, readKeyFile } from '../../util/key-file.js';

/**
 * The master key of a local store and the sub-keys derived from it. Sources, in order:
 * KEYSHIFT_MASTER_KEY (base64 of 32 bytes), else the file `<store>.key`. The key file is created
 * only for a brand-new store (neither store nor key file exists) and only when we are about to write.
 */

export const MASTER_KEY_ENV = 'KEYSHIFT_MASTER_KEY';
const KEY_BYTES = 32;

export interface StoreKeys {
  /** AES-256-GCM key for records. */
  encryption: Buffer;
  /** HMAC key for value fingerprints (stable across compactions, so evidence stays comparable). */
  fingerprint: Buffer;
  /** HMAC key for the header MAC and the key check value. */
  header: Buffer;
  /** Where the key came from, for hints: the env var name or the key file path. */
  source: string;
}

export class MasterKeyProvider {
  readonly keyPath: string;
  #keys: StoreKeys | null = null;

  constructor(
    readonly storePath: string,
    private readonly env: NodeJS.ProcessEnv,
  ) {
    this.keyPath = `${storePath}.key`;
  }

  /** Keys if a key is available now, else null. Never creates anything. */
  peek(): StoreKeys | null {
    if (this.#keys) return this.#keys;
    const master = this.#readMaster();
    if (master) this.#keys = deriveKeys(master.key, master.source);
    return this.#keys;
  }

  /** Keys to read or write an existing store: ERR_STORE_NO_KEY when none is available. */
  forExistingStore(): StoreKeys {
    const keys = this.peek();
    if (keys) return keys;
    throw new KeyshiftError('ERR_STORE_NO_KEY', `no master key for store ${this.storePath}: ${this.keyPath} is missing and ${MASTER_KEY_ENV} is not set`, {
      hint: `restore ${this.keyPath} from your backup, or set ${MASTER_KEY_ENV} to the key this store was created with; a new key cannot read the existing store`,
    });
  }

  /** Keys for a write. Creates `<store>.key` only when neither the store nor a key exists. */
  forWriting(): StoreKeys {
    const keys = this.peek();
    if (keys) return keys;
    if (existsSync(this.storePath)) return this.forExistingStore();
    mkdirSync(dirname(this.keyPath), { recursive: true, mode: 0o700 });
    createKeyFile(this.keyPath, `${randomBytes(KEY_BYTES).toString('base64')}\n`); // false: another run made it first
    return this.forExistingStore();
  }

  /** Keys for fingerprinting before anything was written: never creates a key. */
  forFingerprint(): StoreKeys {
    const keys = this.peek();
    if (keys) return keys;
    throw new KeyshiftError('ERR_STORE_NO_KEY', `no master key yet for store ${this.storePath} (it is created by the first write)`, {
      hint: `set ${MASTER_KEY_ENV}, or run a real rotation (not --dry-run/plan) to create ${this.keyPath}`,
    });
  }

  #readMaster(): { key: Buffer; source: string } | null {
    const fromEnv = this.env[MASTER_KEY_ENV];
    if (fromEnv !== undefined) {
      const key = decodeKey(fromEnv);
      if (key) return { key, source: MASTER_KEY_ENV };
      throw new KeyshiftError('ERR_MASTER_KEY_INVALID', `${MASTER_KEY_ENV} is not a valid master key: it must be the base64 encoding of exactly ${KEY_BYTES} bytes`, {
        exitCode: ExitCode.usage,
        hint: `set it to the key this store was created with (a new one: \`openssl rand -base64 32\`), or unset ${MASTER_KEY_ENV} to use ${this.keyPath}`,
      });
    }
    const text = readKeyFile(this.keyPath, 'ERR_MASTER_KEY_UNREADABLE');
    if (text === null) return null;
    const key = decodeKey(text);
    if (key) return { key, source: this.keyPath };
    throw new KeyshiftError('ERR_MASTER_KEY_INVALID', `master key file ${this.keyPath} is damaged: it must hold the base64 encoding of exactly ${KEY_BYTES} bytes`, {
      hint: `restore ${this.keyPath} from your backup, or set ${MASTER_KEY_ENV}`,
    });
  }
}

/** HKDF-SHA256 with a fixed, empty salt: the master key is already uniformly random. */
export function deriveKeys(master: Buffer, source: string): StoreKeys {
  const derive = (info: string) => Buffer.from(hkdfSync('sha256', master, Buffer.alloc(0), info, KEY_BYTES));
  return {
    encryption: derive('keyshift local-store encryption v1'),
    fingerprint: derive('keyshift fingerprint v1'),
    header: derive('keyshift header v1'),
    source,
  };
}

/** The key check value stored in the header: tells a wrong key apart from a damaged file. */
export function keyCheckValue(keys: StoreKeys, storeId: string): string {
  return createHmac('sha256', keys.header).update(`keyshift key check${storeId}`).digest('base64');
}

export function fingerprintValue(keys: StoreKeys, bytes: Buffer): string {
  return `hmac-sha256:${createHmac('sha256', keys.fingerprint).update(bytes).digest('hex')}`;
}

/** Accepts base64 or base64url, padded or not, surrounding whitespace ignored; anything else is null. */
function decodeKey(text: string): Buffer | null {
  const trimmed = text.trim();
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(trimmed)) return null;
  const key = Buffer.from(trimmed.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  if (key.length !== KEY_BYTES) return null;
  const canonical = key.toString('base64');
  return canonical.replace(/=+$/, '') === trimmed.replace(/-/g, '+').replace(/_/g, '/').replace(/=+$/, '') ? key : null;
}
