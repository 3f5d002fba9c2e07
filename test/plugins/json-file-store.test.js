// The example plugin passes the conformance suite, imported the way a plugin author imports it:
// through the package name (`keyshift/testing`, package.json exports), not a path into this repo.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testStore } from 'keyshift/testing';
import createStore from '../../examples/json-file-store/index.js';

testStore('plugin example: json-file-store', {
  create: async () => {
    const dir = mkdtempSync(join(tmpdir(), 'keyshift-plugin-conf-'));
    return { store: createStore({ type: 'plugin', path: join(dir, 'store.json') }, {}), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
  },
});
