'use strict';
// V8's code cache for the bundled CLI (dist/bundle, CommonJS), kept on disk so that a start after
// the first skips most parsing and compiling (bench/issue-17.md has the figures). Each bundle file is
// compiled with vm.Script, given the bytes a previous run left, and a file compiled without valid
// bytes has its code (with every function that ran) written when the process exits. Node >= 22.1
// has a compile cache of its own (module.enableCompileCache), which keyshift turns on only for the
// files it leaves to Node: for the bundle it is slower (a warm `plan` on Node 24 took 1.67x `node -e
// 0` with it, 1.39x with this), since it keeps a file's code as first compiled, before any ran.
const fs = require('node:fs');
const path = require('node:path');
// The CommonJS loader's class, which require('node:module') returns too; that require alone costs
// a quarter of a millisecond on Node 20, which needs only the class.
const Module = module.constructor;

/**
 * Turns the cache on under `dir` for the files of `bundleDir`, code compiled under V8 `flags` (a
 * string naming them); never throws.
 */
function useCodeCache(dir, bundleDir, flags = '') {
  try {
    // One directory per Node, per installed copy of keyshift and per set of V8 flags (V8 refuses
    // bytes made under other flags; Node's own cache keys its directories the same way), which
    // prunes only its own entries.
    compileWithCache(path.join(dir, `${process.version}-${process.arch}`, fnv1a(`${bundleDir}\0${flags}`)), bundleDir + path.sep, () => enableNodeCache(dir));
  } catch {
    // No cache: the command runs as it would without one.
  }
}

/**
 * Node's own compile cache (Node >= 22.1; it keys each entry by Node's version and the source), for
 * the files keyshift leaves to Node. Turned on when the first of them loads, not at the start:
 * node:module, with the ES module loader it brings, is half a millisecond of every start.
 */
function enableNodeCache(dir) {
  try {
    if (Number(process.versions.node.split('.')[0]) < 22) return;
    const { enableCompileCache } = require('node:module');
    if (typeof enableCompileCache !== 'function') return;
    fs.mkdirSync(path.dirname(dir), { recursive: true, mode: 0o700 });
    enableCompileCache(dir);
  } catch {
    // Those files are compiled as they would be without a cache.
  }
}

/**
 * An entry is named by the file and its size, mtime, ctime and inode: any rewrite of a bundle file
 * (a build, an upgrade) changes its ctime, so stale code is never used; V8 refuses bytes made by
 * another V8 version or flags as well. A directory that cannot be written only costs the speed-up.
 */
function compileWithCache(dir, bundleDir, onLeftToNode) {
  const vm = require('node:vm');
  const made = [];
  let nodeCache = false;
  // Bundle files are read here, once, with the file's identity taken before and after: the bytes
  // cached under a name are those of the file that name describes (not of one an upgrade put there
  // meanwhile). Node's own loader would read each file a second time.
  const named = new Map();
  const loadJs = Module._extensions['.js'];
  Module._extensions['.js'] = function (module, filename) {
    if (!filename.startsWith(bundleDir)) return loadJs(module, filename);
    const { text, name } = readWithName(filename);
    named.set(filename, { text, name });
    return module._compile(text, filename);
  };
  const compile = Module.prototype._compile;
  const leaveToNode = (module, content, filename) => {
    if (!nodeCache) onLeftToNode();
    nodeCache = true;
    return compile.call(module, content, filename);
  };
  Module.prototype._compile = function (content, filename) {
    const read = named.get(filename);
    named.delete(filename);
    if (!filename.startsWith(bundleDir)) return leaveToNode(this, content, filename);
    const { text, name } = read ?? readWithName(filename);
    if (name === null || text !== content) return leaveToNode(this, content, filename);
    const entry = path.join(dir, name);
    let cachedData;
    try {
      cachedData = fs.readFileSync(entry);
    } catch {
      // not cached yet
    }
    // A file with a real dynamic import (a plugin's URL, node:http in the AWS SDK) is left to Node:
    // vm.Script hands import() to the main loader only through vm.USE_MAIN_CONTEXT_DEFAULT_LOADER,
    // which prints an ExperimentalWarning when used. A file with an entry passed this test when the
    // entry was made (the name is the file's size, times and inode): scanning core.js again took
    // 0.4 ms of every start.
    if (cachedData === undefined && hasDynamicImport(content)) return leaveToNode(this, content, filename);
    const script = new vm.Script(Module.wrap(content), { filename, cachedData, importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER });
    if (cachedData === undefined || script.cachedDataRejected) made.push({ script, entry, filename });
    const run = script.runInThisContext({ displayErrors: true });
    return run.call(this.exports, this.exports, Module.createRequire(filename), this, filename, path.dirname(filename));
  };
  process.once('exit', () => {
    if (made.length > 0) save(dir, bundleDir, made);
  });
}

/**
 * Whether the text has `import(` (as /\bimport\s*\(/ would say): one indexOf per "import" instead
 * of that regular expression, which took a quarter of a millisecond over core.js at every start.
 */
function hasDynamicImport(text) {
  for (let at = text.indexOf('import'); at >= 0; at = text.indexOf('import', at + 6)) {
    if (at > 0 && /\w/.test(text[at - 1])) continue;
    let next = at + 6;
    while (next < text.length && /\s/.test(text[next])) next++;
    if (text[next] === '(') return true;
  }
  return false;
}

function entryName(filename, s = fs.statSync(filename, { bigint: true })) {
  return `${path.basename(filename)}-${s.size}-${s.mtimeNs}-${s.ctimeNs}-${s.ino}.v8`;
}

/** The file's text and its entry name, or a null name if the file changed while it was read. */
function readWithName(filename) {
  const fd = fs.openSync(filename, 'r');
  try {
    const before = entryName(filename, fs.fstatSync(fd, { bigint: true }));
    const text = fs.readFileSync(fd, 'utf8');
    return { text, name: before === entryName(filename, fs.fstatSync(fd, { bigint: true })) ? before : null };
  } finally {
    fs.closeSync(fd);
  }
}

/** Writes each new entry (temp file, then rename) and removes the entries no bundle file has now. */
function save(dir, bundleDir, made) {
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    for (const { script, entry } of made) {
      const temp = `${entry}.${process.pid}.tmp`;
      fs.writeFileSync(temp, script.createCachedData(), { mode: 0o600 });
      fs.renameSync(temp, entry);
    }
    const current = new Set(fs.readdirSync(bundleDir).filter((name) => name.endsWith('.js')).map((name) => entryName(path.join(bundleDir, name))));
    for (const name of fs.readdirSync(dir)) if (!current.has(name) && !name.endsWith('.tmp')) fs.rmSync(path.join(dir, name), { force: true });
  } catch {
    // A cache that cannot be written is only a slower next start.
  }
}

function fnv1a(text) {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return hash.toString(16).padStart(8, '0');
}

module.exports = { useCodeCache, hasDynamicImport };
