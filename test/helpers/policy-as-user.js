// Loads policies in a child process as a user that file permissions apply to: permissions do not
// stop root, so when the tests run as root the child runs as the unprivileged user 65534
// ("nobody"); otherwise as the current user. For files and directories keyshift may not read.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';

const dist = new URL('../../dist/policy/', import.meta.url).href;

/**
 * loadPolicies (or loadPoliciesCached with KEYSHIFT_CACHE_DIR=`cache`) of `target` from `cwd`
 * (which that user must be able to enter: mkdtemp makes 0700): the problems as
 * file:line:col message, the secrets' names and the files read, or the error it threw.
 */
export function loadAsUser(cwd, target, { cache } = {}) {
  const call = cache
    ? `(await import(${JSON.stringify(`${dist}cache.js`)})).loadPoliciesCached(${JSON.stringify(target)}, { cwd: ${JSON.stringify(cwd)}, env: { KEYSHIFT_CACHE_DIR: ${JSON.stringify(cache)} }, version: '1.0.0', log: { debug() {}, info() {}, warn() {}, error() {} } })`
    : `(await import(${JSON.stringify(`${dist}load.js`)})).loadPolicies(${JSON.stringify(target)}, { cwd: ${JSON.stringify(cwd)} })`;
  const script = `
    try {
      const loaded = await ${call};
      console.log(JSON.stringify({ errors: loaded.errors.map((e) => \`\${e.file}:\${e.line}:\${e.col} \${e.message}\`), names: loaded.policies.map((p) => p.name), files: loaded.files }));
    } catch (error) {
      console.log(JSON.stringify({ threw: String(error) }));
    }`;
  const asRoot = process.getuid?.() === 0;
  const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    encoding: 'utf8',
    timeout: 60_000,
    ...(asRoot ? { uid: 65534, gid: 65534 } : {}),
  });
  assert.equal(result.status, 0, result.stderr);
  return JSON.parse(result.stdout);
}
