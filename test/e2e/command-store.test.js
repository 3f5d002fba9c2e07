// keyshift with the example command store (examples/command-store/file-store.sh), driven through
// the CLI as a user would: the lifecycle, kill -9 rounds, and a canary that reaches neither output,
// evidence, nor the argv or environment of the store's process (the example records its own).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { baseEnv } from '../helpers/cli.js';
import { CANARY, crashRounds, lifecycle } from '../helpers/store-e2e.js';

const script = fileURLToPath(new URL('../../examples/command-store/file-store.sh', import.meta.url));

describe('command store through the CLI', () => {
  test('provision, rotate with hooks, fallback, decommission, rollback; no value in the store process\'s argv or environment', { timeout: 600_000 }, async () => {
    const data = mkdtempSync(join(tmpdir(), 'keyshift-cmd-e2e-'));
    const record = join(data, 'record');
    await lifecycle({ storeOf: () => `{ type: command, run: ["${script}"], config: { dir: "${join(data, 'entries')}", recordDir: "${record}" } }`, env: baseEnv() });
    const files = readdirSync(record);
    assert.ok(files.length > 10, 'the store program recorded its calls');
    for (const f of files) assert.ok(!readFileSync(join(record, f), 'latin1').includes(CANARY), `${f} holds the canary`);
  });

  test('kill -9 at random instants: one readable CURRENT, a rerun completes, nothing issued twice', { timeout: 600_000 }, async () => {
    const data = mkdtempSync(join(tmpdir(), 'keyshift-cmd-crash-'));
    const { killsMidRun, rounds } = await crashRounds({ storeOf: () => `{ type: command, run: ["${script}"], config: { dir: "${data}" } }`, env: baseEnv() });
    console.log(`# command crash rounds: ${rounds}, killed mid-run: ${killsMidRun}`);
  });
});
