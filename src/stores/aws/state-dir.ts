import { promises as fs, constants, mkdirSync } from 'node:fs';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { KeyshiftError } from '../../errors.js';
import { acquireFileLock } from '../../util/file-lock.js';
import { createKeyFile, readKeyFile } from '../../util/key-file.js';
import { emptyStoreMeta, type LockOptions, type StoreLock, type StoreMeta } from '../contract.js';

/**
 * What a cloud store keeps on this machine: the writer lock, the store-wide metadata (evidence
 * anchors, confirmed runs) and the key that fingerprints values for evidence. The rotation state
 * itself lives on the secret or key in the cloud, so another machine sees and resumes it.
 * Directory: KEYSHIFT_STATE_DIR, else $XDG_STATE_HOME/keyshift, else ~/.local/state/keyshift.
 */
export class LocalStoreState {
  readonly #dir: string;
  readonly #id: string;

  constructor(
    private readonly env: NodeJS.ProcessEnv,
    kind: string,
    storeId: string,
  ) {
    this.#dir = stateDir(env);
    this.#id = join(kind, createHash('sha256').update(storeId).digest('hex').slice(0, 24));
  }

  /** The writer lock's file on this machine. */
  lockPath(): string {
    return join(this.#dir, `${this.#id}.lock`);
  }

  /** Whether this process holds the writer lock (writes are refused without it). */
  held = false;

  async lock(options: LockOptions, what: string): Promise<StoreLock> {
    const path = this.lockPath();
    await fs.mkdir(dirname(path), { recursive: true, mode: 0o700 });
    const lock = await acquireFileLock(path, { waitMs: options.waitMs, owner: options.owner, what });
    this.held = true;
    return {
      release: async () => {
        this.held = false;
        await lock.release();
      },
    };
  }

  async readMeta(): Promise<StoreMeta> {
    try {
      const parsed = JSON.parse(await fs.readFile(join(this.#dir, `${this.#id}.meta.json`), 'utf8')) as Partial<StoreMeta>;
      return { evidenceAnchors: parsed.evidenceAnchors ?? {}, confirmedRuns: parsed.confirmedRuns ?? [] };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return emptyStoreMeta();
      throw new KeyshiftError('ERR_STATE_UNREADABLE', `cannot read ${join(this.#dir, `${this.#id}.meta.json`)}: ${(error as Error).message}`, {
        hint: 'the file only holds evidence anchors; move it away and rerun',
      });
    }
  }

  async writeMeta(meta: StoreMeta): Promise<void> {
    const path = join(this.#dir, `${this.#id}.meta.json`);
    await fs.mkdir(dirname(path), { recursive: true, mode: 0o700 });
    // A fresh name, created exclusively: a planted file or link at the temp path is never written through.
    const temp = `${path}.${process.pid}-${randomBytes(6).toString('hex')}.tmp`;
    const handle = await fs.open(temp, constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW | constants.O_WRONLY, 0o600);
    try {
      await handle.writeFile(`${JSON.stringify(meta)}\n`);
    } finally {
      await handle.close();
    }
    await fs.rename(temp, path);
  }

  /**
   * Keyed fingerprint of a value. The key is KEYSHIFT_FINGERPRINT_KEY (base64, 32 bytes; set the
   * same one on every machine so fingerprints compare across them), else a key file created 0600
   * in the state directory on first use.
   */
  fingerprint(bytes: Buffer): string {
    return `hmac-sha256:${createHmac('sha256', fingerprintKey(this.env, this.#dir)).update(bytes).digest('hex')}`;
  }
}

export function stateDir(env: NodeJS.ProcessEnv): string {
  if (env.KEYSHIFT_STATE_DIR) return env.KEYSHIFT_STATE_DIR;
  if (env.XDG_STATE_HOME) return join(env.XDG_STATE_HOME, 'keyshift');
  return join(env.HOME || homedir(), '.local', 'state', 'keyshift');
}

const keys = new Map<string, Buffer>();

function fingerprintKey(env: NodeJS.ProcessEnv, dir: string): Buffer {
  // Set at all means used, as KEYSHIFT_MASTER_KEY: an empty value is an error, not "unset".
  const configured = env.KEYSHIFT_FINGERPRINT_KEY?.trim();
  if (configured !== undefined) {
    const key = Buffer.from(configured, 'base64');
    if (key.length !== 32) {
      throw new KeyshiftError('ERR_FINGERPRINT_KEY', 'KEYSHIFT_FINGERPRINT_KEY must be 32 bytes in base64', {
        exitCode: 2,
        hint: 'make one with: openssl rand -base64 32',
      });
    }
    return key;
  }
  const path = join(dir, 'fingerprint.key');
  const known = keys.get(path);
  if (known) return known;
  // Synchronous on purpose: fingerprint() is synchronous, and this happens once per machine.
  let text = readKeyFile(path);
  if (text === null) {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    createKeyFile(path, `${randomBytes(32).toString('base64')}\n`); // false: another run made it first
    text = readKeyFile(path) ?? '';
  }
  const key = Buffer.from(text.trim(), 'base64');
  if (key.length !== 32) {
    throw new KeyshiftError('ERR_FINGERPRINT_KEY', `fingerprint key file ${path} is damaged: it must hold the base64 encoding of exactly 32 bytes`, {
      hint: `restore it from a backup or set KEYSHIFT_FINGERPRINT_KEY (the key of the fingerprints already in your evidence); only if there is none, remove ${path} so that a new one is made`,
    });
  }
  keys.set(path, key);
  return key;
}
