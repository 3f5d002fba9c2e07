import type { SecretStore } from '../dist/public/store.js';

export interface TestStoreOptions {
  /** A fresh, empty store for each test; `cleanup` (optional) removes whatever it made. */
  create: () => Promise<{ store: SecretStore; cleanup?: () => Promise<void> | void }>;
  /** Valueless stores only (capabilities.valueless): what readValue must return for a version, read from the service's side. */
  valueOf?: ((key: string, versionId: string) => Promise<string>) | Object['valueOf']; // (every object literal inherits Object's valueOf)
}

/** Registers the conformance tests (node:test) for one store. */
export function testStore(name: string, options: TestStoreOptions): void;
