// Which modules a process loads: a resolve hook, registered with --import before the program
// starts, appends every resolved module to a log. Used to prove that a dependency (an AWS SDK
// client, a database driver) is loaded only by the commands that need it.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { spawn } from 'node:child_process';

// ES modules are logged by their URL (a resolve hook), CommonJS files (the bundle is CommonJS) by
// their path.
const PROBE = `
import { createRequire, register } from 'node:module';
import { appendFileSync } from 'node:fs';
const Module = createRequire(import.meta.url)('node:module');
const resolveFilename = Module._resolveFilename;
Module._resolveFilename = function (...args) {
  const path = resolveFilename.apply(this, args);
  appendFileSync(process.env.MODULE_LOG, path + '\\n');
  return path;
};
register('data:text/javascript,' + encodeURIComponent(\`
  import { appendFileSync } from 'node:fs';
  export async function resolve(specifier, context, next) {
    const result = await next(specifier, context);
    appendFileSync(process.env.MODULE_LOG, result.url + '\\\\n');
    return result;
  }\`));
`;

/** Runs `node <argv…>` in `dir` with the probe; resolves to its exit code, stderr and module URLs. */
export function loadedModules(dir, argv, env) {
  const log = join(dir, 'modules.log');
  writeFileSync(log, '');
  writeFileSync(join(dir, 'probe.mjs'), PROBE);
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', pathToFileURL(join(dir, 'probe.mjs')).href, ...argv], { cwd: dir, env: { ...env, MODULE_LOG: log }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code, stderr, modules: readFileSync(log, 'utf8').split('\n').filter(Boolean) }));
  });
}
