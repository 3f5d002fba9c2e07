#!/usr/bin/env node
'use strict';
// Thin entry: everything lives in the bundled CLI (npm install builds it via the prepare script).
// This file is CommonJS (bin/package.json), so Node runs it without starting its ES module loader:
// `--version`, answered here for scripts probing for keyshift, costs about Node's own start-up.
const args = process.argv.slice(2);
if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
  // One write to fd 1, not process.stdout: that getter loads Node's stream modules.
  const line = `${require('../package.json').version}\n`;
  try {
    require('node:fs').writeSync(1, line);
  } catch (error) {
    // A reader that went away (`| true`) wants nothing; anything else (EAGAIN) goes the usual way.
    if (error?.code !== 'EPIPE') process.stdout.write(line);
  }
} else {
  // A rotation allocates short-lived records by the thousand: a young generation that does not
  // grow, and an old generation allowed 1.5x its live size before the next full collection
  // (V8 allows up to 4x), keep a 10,000-secret run's peak memory near 140 MB instead of 230 MB
  // (bench/README.md: a few % more CPU). Both are read at each collection, so set here they apply.
  // --expose-gc lets the run collect what its start built once it is done with it
  // (src/util/collect-garbage.ts); set before the bundle loads, as V8's code cache wants.
  const gcFlags = args.includes('rotate') ? ['--semi-space-growth-factor=1', '--heap-growing-percent=50', '--expose-gc'] : [];
  for (const flag of gcFlags) require('node:v8').setFlagsFromString(flag);
  const { join } = require('node:path');
  const bundle = join(__dirname, '..', 'dist', 'bundle');
  const cache = cacheDir(process.env);
  // V8 refuses code cached under other flags: each set of flags (rotate's, the user's NODE_OPTIONS)
  // keeps its own entries, or `plan` and `rotate` would each recompile and rewrite the other's.
  const flags = [...process.execArgv, process.env.NODE_OPTIONS ?? '', ...gcFlags].join(' ');
  const codeCache = cache ? loadFile(join(__dirname, 'code-cache.js')) : null;
  codeCache?.useCodeCache(join(cache, 'v8'), bundle, flags);
  // As with a top-level await in an ES module: a run whose work never settles does not exit 0.
  let settled = false;
  process.on('exit', (code) => {
    if (!settled && code === 0) process.exitCode = 13;
  });
  // core.js itself, not main.js's one-line stub: one file fewer to resolve, read and compile.
  const core = join(bundle, 'core.js');
  let load;
  try {
    load = loadFile(core);
  } catch (error) {
    if (error?.code !== 'ENOENT' || error.path !== core) throw error;
    process.stderr.write('keyshift: the CLI is not built\n  hint: run `npm install` (or `npm run build`) in the keyshift checkout\n');
    process.exit(1);
  }
  load('main.js')
    .main(process.argv)
    .then((code) => {
      process.exitCode = code;
      settled = true;
    });
}

/**
 * require() of a file by its absolute, real path (bin/ is real: Node made __dirname so), without
 * the resolution require() does first: a stat and a walk of the path for symbolic links, a quarter
 * of a millisecond per file at every start. The module goes into require.cache as require() would
 * put it, so a bundle chunk's `require("./core.js")` gets this one.
 */
function loadFile(filename) {
  const known = require.cache[filename];
  if (known) return known.exports;
  const loaded = new module.constructor(filename, module);
  require.cache[filename] = loaded;
  try {
    loaded.load(filename);
  } catch (error) {
    delete require.cache[filename];
    throw error;
  }
  return loaded.exports;
}

/**
 * keyshift's cache directory (docs/cli.md: the policy cache, and V8's code cache under v8/), or
 * null with KEYSHIFT_NO_CACHE=1 or no home to put it in.
 */
function cacheDir(env) {
  if (env.KEYSHIFT_NO_CACHE === '1') return null;
  if (env.KEYSHIFT_CACHE_DIR) return env.KEYSHIFT_CACHE_DIR;
  const base = env.XDG_CACHE_HOME || (env.HOME ? `${env.HOME}/.cache` : null);
  return base ? `${base}/keyshift` : null;
}
