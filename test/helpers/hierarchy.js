// Projects with a key hierarchy (docs/reencrypt.md#key-hierarchy): a master that wraps data keys,
// a data key whose rows are in SQLite. The test unwraps keys itself, from the documented format.
import { createDecipheriv } from 'node:crypto';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { baseEnv, cli, json } from './cli.js';
import { keyring, seal } from './reencrypt.js';

// Loaded on use: on CI's Node 24 leg the addon was built for Node 20 and the tests skip (driverSkips).
const require = createRequire(import.meta.url);
const Database = (...args) => new (require('better-sqlite3'))(...args);

export const MASTER = 'app-master';
export const DATA_KEY = 'data-key';

/** A local master `app-master` and data keys named `names`, each encrypting its own table of app.db. */
export function localHierarchyPolicy({ names = [DATA_KEY], masterName = MASTER, fallbackWindow = '1s' } = {}) {
  let text = `secrets:\n${masterPolicy(MASTER, '.keyshift/prod.store', fallbackWindow)}`;
  for (const name of names) text += dataKeyPolicy(name, `{ type: local, secret: ${masterName} }`, fallbackWindow);
  return text;
}

/** A local master: 32 random bytes. */
export function masterPolicy(name, path = '.keyshift/prod.store', fallbackWindow = '1s') {
  return `  - name: ${name}
    interval: 90d
    fallbackWindow: ${fallbackWindow}
    generator: { type: random, bytes: 32 }
    environments:
      - name: prod
        store: { type: local, path: ${path} }
`;
}

/** A data key under `master`, whose rows are the table named after it in `database` (a policy's YAML). */
export function dataKeyPolicy(name, master, fallbackWindow = '1s', database = '{ type: sqlite, path: data/app.db }') {
  return `  - name: ${name}
    interval: 90d
    fallbackWindow: ${fallbackWindow}
    generator:
      type: data-key
      master: ${master}
    environments:
      - name: prod
        store: { type: local, path: .keyshift/prod.store }
    reencrypt:
      database: ${database}
      tables:
        - { table: ${tableOf(name)}, key: id, columns: [secret] }
      observe: 0s
`;
}

export const tableOf = (name) => name.replaceAll('-', '_');

export async function ks(dir, args, env = baseEnv()) {
  return cli(args, { cwd: dir, env });
}

export async function getVersion(dir, name, stage = 'current', env = baseEnv()) {
  return json(await ks(dir, ['get', name, '--stage', stage, '--json'], env));
}

/** The raw data key of a `ksdk1:local.<v>:…` value, unwrapped with the master's raw key (AES-256-GCM, AAD `ksdk1:local.<v>:<secret>/<env>`). */
export function unwrapLocal(stored, masterKey, context) {
  const [prefix, ref, body] = stored.split(':');
  if (prefix !== 'ksdk1' || !ref.startsWith('local.')) throw new Error(`not a locally wrapped data key: ${stored.slice(0, 20)}…`);
  const blob = Buffer.from(body, 'base64');
  const decipher = createDecipheriv('aes-256-gcm', masterKey, blob.subarray(0, 12));
  decipher.setAAD(Buffer.from(`ksdk1:${ref}:${context}`));
  decipher.setAuthTag(blob.subarray(blob.length - 16));
  return Buffer.concat([decipher.update(blob.subarray(12, blob.length - 16)), decipher.final()]);
}

/** Fills `table` with `rows` rows sealed under `ring`. */
export function fillTable(dir, table, rows, ring) {
  const db = Database(join(dir, 'data', 'app.db'));
  try {
    db.exec(`CREATE TABLE IF NOT EXISTS ${table} (id INTEGER PRIMARY KEY, secret TEXT)`);
    const insert = db.prepare(`INSERT INTO ${table} (id, secret) VALUES (?, ?)`);
    db.transaction(() => {
      for (let i = 1; i <= rows; i++) insert.run(i, seal(`${table}#${i}`, ring));
    })();
  } finally {
    db.close();
  }
}

/** Every row of `table`: [id, ciphertext]. */
export function rowsOf(dir, table) {
  const db = Database(join(dir, 'data', 'app.db'), { readonly: true });
  try {
    return db.prepare(`SELECT id, secret FROM ${table} ORDER BY id`).all().map((r) => [r.id, r.secret]);
  } finally {
    db.close();
  }
}

export { keyring };
