// The local store's I/O failures reach the user as one-line errors that name the store file and the
// system's reason, with a hint, exit 1 (src/stores/local/store-errors.ts). Damage (ERR_STORE_CORRUPT)
// and another writer (ERR_STORE_CHANGED) are in local-store.test.js.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openLocalStore } from '../../dist/stores/local/index.js';

test('a store path that the system cannot read as a file is ERR_STORE_READ naming the file and the reason', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'keyshift-local-errors-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'dev.store');
  mkdirSync(path); // a directory where the store file should be
  const store = openLocalStore({ path }, { KEYSHIFT_MASTER_KEY: Buffer.alloc(32, 7).toString('base64') });
  for (const read of [() => store.read('api'), () => store.readMeta()]) {
    await assert.rejects(read(), (error) => {
      assert.equal(error.code, 'ERR_STORE_READ', `${error.code}: ${error.message}`);
      assert.equal(error.exitCode, 1);
      assert.equal(error.message, `cannot read store ${path}: EISDIR`);
      assert.match(error.hint, /readable by the user running keyshift/);
      return true;
    });
  }
  await store.close();
});
