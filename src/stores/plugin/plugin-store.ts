import { ExitCode, KeyshiftError, errorMessage } from '../../errors.js';
import { SecretValue } from '../../secret-value.js';
import type { EntryMeta, EntryState, LockOptions, SecretStore, StoreFinding, StoreLock, StoreMeta, VersionOp } from '../contract.js';

/**
 * A plugin's store, seen through keyshift's own types. A plugin imports `keyshift/store` from its
 * own copy of the package, so its SecretValue and KeyshiftError are other classes than the CLI's:
 * values coming back are copied into the CLI's SecretValue, and errors into a KeyshiftError with
 * the plugin's code, exit code and hint (a plain Error becomes ERR_PLUGIN_FAILED, exit 1).
 */
export class PluginStore implements SecretStore {
  readonly kind: string;
  readonly location: string;
  readonly capabilities: SecretStore['capabilities'];
  // `doctor`'s optional methods, present when the plugin has them.
  readonly diagnose?: (key: string) => Promise<StoreFinding[]>;
  readonly listKeys?: () => Promise<string[]>;
  readonly lockFile?: () => string;

  constructor(private readonly plugin: SecretStore, private readonly module: string) {
    this.kind = 'plugin';
    this.location = typeof plugin.location === 'string' ? plugin.location : module;
    // `atomicApply` and `valueless` change what the engine does; only what the plugin declares.
    this.capabilities = { ...(plugin.capabilities ?? {}) };
    if (typeof plugin.diagnose === 'function') this.diagnose = (key) => this.#call(() => plugin.diagnose!(key));
    if (typeof plugin.listKeys === 'function') this.listKeys = () => this.#call(() => plugin.listKeys!());
    if (typeof plugin.lockFile === 'function') this.lockFile = () => plugin.lockFile!();
  }

  read(key: string): Promise<EntryState | null> {
    return this.#call(() => this.plugin.read(key));
  }

  async readValue(key: string, versionId: string): Promise<SecretValue> {
    const value = await this.#call(() => this.plugin.readValue(key, versionId));
    const bytes = (value as { revealBytes?: () => Uint8Array } | null)?.revealBytes?.();
    if (!(bytes instanceof Uint8Array)) {
      throw new KeyshiftError('ERR_PLUGIN_FAILED', `plugin store ${this.location}: readValue returned no SecretValue`, {
        hint: 'return SecretValue.fromString(…) from keyshift/store (a value never travels as a plain string)',
      });
    }
    return SecretValue.fromBytes(bytes);
  }

  fingerprint(value: SecretValue): string {
    return this.plugin.fingerprint(value);
  }

  lock(options: LockOptions): Promise<StoreLock> {
    return this.#call(async () => {
      const held = await this.plugin.lock(options);
      return { release: () => this.#call(() => held.release()) };
    });
  }

  apply(key: string, ops: VersionOp[], meta: EntryMeta): Promise<EntryState> {
    return this.#call(() => this.plugin.apply(key, ops, meta));
  }

  readMeta(): Promise<StoreMeta> {
    return this.#call(() => this.plugin.readMeta());
  }

  writeMeta(meta: StoreMeta): Promise<void> {
    return this.#call(() => this.plugin.writeMeta(meta));
  }

  close(): Promise<void> {
    return this.#call(() => this.plugin.close());
  }

  async #call<T>(body: () => Promise<T>): Promise<T> {
    try {
      return await body();
    } catch (error) {
      throw this.#asKeyshiftError(error);
    }
  }

  #asKeyshiftError(error: unknown): KeyshiftError {
    if (error instanceof KeyshiftError) return error;
    const e = (error ?? {}) as { code?: unknown; exitCode?: unknown; hint?: unknown; retryable?: unknown };
    if (typeof e.code === 'string' && e.code.startsWith('ERR_')) {
      const exitCode = [ExitCode.failed, ExitCode.usage, ExitCode.blocked].find((code) => code === e.exitCode) ?? ExitCode.failed;
      return new KeyshiftError(e.code, errorMessage(error), {
        exitCode,
        hint: typeof e.hint === 'string' ? e.hint : undefined,
        retryable: e.retryable === true,
        cause: error,
      });
    }
    return new KeyshiftError('ERR_PLUGIN_FAILED', `plugin store ${this.location}: ${errorMessage(error)}`, {
      hint: `the plugin ${this.module} threw an error without a keyshift code; a rerun resumes where this run stopped`,
      cause: error,
    });
  }
}
