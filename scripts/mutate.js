#!/usr/bin/env node
// `npm run mutate -- <folder> [stryker options]`: runs Stryker (stryker.config.mjs) over one source
// folder at lowest CPU priority. Without a folder it runs evidence, stores/local, policy, engine and
// engine/doctor in turn. Not part of `npm test`: see test/MUTATION.md.
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, watch } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const FOLDERS = ['evidence', 'stores/local', 'policy', 'engine', 'engine/doctor'];
const root = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);
const chosen = args[0] && !args[0].startsWith('-') ? [args.shift().replace(/^src\//, '').replace(/\/$/, '')] : FOLDERS;
const unknown = chosen.filter((folder) => !FOLDERS.includes(folder));
if (unknown.length > 0) {
  console.error(`mutate: unknown folder "${unknown[0]}"; use one of ${FOLDERS.join(', ')}`);
  process.exit(2);
}
const stryker = fileURLToPath(new URL('../node_modules/@stryker-mutator/core/bin/stryker.js', import.meta.url));
const sandboxes = openSandboxesToOthers();
for (const folder of chosen) {
  console.log(`\n== mutate src/${folder}`);
  // Linux groups processes by session (autogroup) and shares the CPU between groups first: nice
  // alone then yields only inside this terminal's group, and a test run started from another
  // terminal still gets half the machine. A session of its own, niced as a group, yields for real.
  const run = `echo 19 > /proc/self/autogroup 2>/dev/null; exec nice -n 19 "$@"`;
  const child = spawn('setsid', ['sh', '-c', run, 'mutate', process.execPath, stryker, 'run', 'stryker.config.mjs', ...args], {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, KEYSHIFT_MUTATE: folder },
  });
  // In a session of its own it no longer gets the terminal's Ctrl-C: pass it on, to its whole group,
  // as SIGTERM whatever came (Stryker stops on it at once, not on SIGINT).
  const stop = () => {
    try {
      process.kill(-child.pid, 'SIGTERM');
    } catch {
      // ended already
    }
  };
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const signal of signals) process.on(signal, stop);
  const status = await new Promise((resolve) => child.on('exit', (code, signal) => resolve(signal ? 1 : code)));
  for (const signal of signals) process.off(signal, stop);
  if (status !== 0) process.exit(status ?? 1);
}
sandboxes?.close();

/**
 * Run as root, some policy tests load files as user 65534 to meet real permission errors
 * (test/helpers/policy-as-user.js); that user must be able to enter Stryker's sandbox, which
 * mkdtemp creates with mode 0700. Each new one is opened to others as it appears.
 */
function openSandboxesToOthers() {
  if (process.getuid?.() !== 0) return null;
  const parent = join(root, '.stryker-tmp'); // stryker.config.mjs's tempDirName
  mkdirSync(parent, { recursive: true });
  chmodSync(parent, 0o755);
  const opened = new Set();
  // Only on `rename` (created), once each: the chmod itself is a `change` event of the same name.
  return watch(parent, (event, name) => {
    if (event !== 'rename' || !name?.startsWith('sandbox-') || opened.has(name)) return;
    opened.add(name);
    try {
      chmodSync(join(parent, name), 0o755);
    } catch {
      // removed again already
    }
  }).on('error', () => undefined);
}
