// The overhead per call of a `command` store (docs/stores/command.md): how long one protocol call
// takes through keyshift's CommandStore, for a minimal program (sh printing a fixed reply: the cost
// of starting a process and the protocol) and for the example store (examples/command-store/,
// sh + jq: what a script store costs). Prints a Markdown table; records nothing (run it on a quiet
// machine and copy the figures into bench/README.md#command-store with the load average).
//   node bench/command-store.js [--calls 50]
import { mkdtempSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openCommandStore } from '../dist/stores/command/index.js';
import { SecretValue } from '../dist/secret-value.js';

const calls = Number(process.argv[process.argv.indexOf('--calls') + 1] || 50) || 50;
const example = fileURLToPath(new URL('../examples/command-store/file-store.sh', import.meta.url));
const silent = { trace() {}, debug() {}, info() {}, warn() {}, error() {}, fatal() {}, child() { return silent; } };
const dir = mkdtempSync(join(tmpdir(), 'keyshift-bench-cmd-'));
const minimal = join(dir, 'minimal.sh');
writeFileSync(minimal, '#!/bin/sh\ncat >/dev/null\necho \'{"entry":null}\'\n');
chmodSync(minimal, 0o755);

async function measure(label, run, op) {
  const store = await openCommandStore(
    { type: 'command', key: 'bench', run, config: { dir: join(dir, 'entries') }, timeoutMs: 60_000 },
    { env: { PATH: process.env.PATH, HOME: dir, KEYSHIFT_STATE_DIR: join(dir, 'state') }, log: silent, aws: {}, storeId: `command:${label}` },
  );
  const times = [];
  for (let i = 0; i < calls; i++) {
    const started = process.hrtime.bigint();
    await op(store);
    times.push(Number(process.hrtime.bigint() - started) / 1e6);
  }
  times.sort((a, b) => a - b);
  const at = (q) => times[Math.min(times.length - 1, Math.floor(q * times.length))].toFixed(1);
  return `| ${label} | ${calls} | ${at(0.5)} | ${at(0.95)} |`;
}

const rows = [];
rows.push(await measure('minimal program, read', [minimal], (s) => s.read('bench')));
rows.push(await measure('example store, read', [example], (s) => s.read('bench')));
{
  const seed = await openCommandStore({ type: 'command', key: 'bench', run: [example], config: { dir: join(dir, 'entries') }, timeoutMs: 60_000 }, { env: { PATH: process.env.PATH, HOME: dir, KEYSHIFT_STATE_DIR: join(dir, 'state') }, log: silent, aws: {}, storeId: 'command:seed' });
  const lock = await seed.lock({ waitMs: 1000, owner: 'bench' });
  await seed.apply('bench', [{ type: 'create', versionId: 'v1', value: SecretValue.fromString('bench-value'), stage: 'CURRENT' }], { rotation: null, lastRotatedAt: null, pendingEvents: [] });
  await lock.release();
}
rows.push(await measure('example store, readValue', [example], (s) => s.readValue('bench', 'v1')));
console.log(`load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}, ${calls} calls each\n`);
console.log('| call | calls | median ms | p95 ms |\n|---|---|---|---|');
console.log(rows.join('\n'));
rmSync(dir, { recursive: true, force: true });
