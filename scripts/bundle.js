#!/usr/bin/env node
// Bundles the compiled CLI (dist/cli/main.js, built by tsc) and its dependencies into a few files
// under dist/bundle/, which bin/keyshift.js loads: one large file starts far faster than the
// hundreds of small modules commander, zod and yaml ship as. Dynamic imports stay separate chunks,
// so a command loads only what it uses (and an AWS SDK only when a policy names an AWS store).
import { build, transformSync } from 'esbuild';
import { createRequire } from 'node:module';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
// The same test bin/code-cache.js makes at run time: a pack that passes here is one it caches.
const { hasDynamicImport } = createRequire(import.meta.url)('../bin/code-cache.js');

/**
 * Node built-ins that take milliseconds to load and that a warm `plan` or `--help` never calls
 * (child processes run hooks and command generators; crypto serves the store and the evidence;
 * os and util a few helpers). Each import of them gets functions that load the real module on
 * their first call; registered symbols hung on a function (`inspect.custom`) are copied as they are.
 * Only functions are offered: importing anything else from these modules fails the build.
 */
const LAZY_BUILTINS = ['child_process', 'crypto', 'os', 'util'];

const lazyBuiltins = {
  name: 'lazy-builtins',
  setup(b) {
    const filter = new RegExp(`^(node:)?(${LAZY_BUILTINS.join('|')})$`);
    b.onResolve({ filter }, (args) =>
      args.namespace === 'lazy-builtin' ? { path: `node:${args.path.replace(/^node:/, '')}`, external: true } : { path: args.path.replace(/^node:/, ''), namespace: 'lazy-builtin' },
    );
    b.onLoad({ filter: /.*/, namespace: 'lazy-builtin' }, (args) => ({ contents: lazyModule(args.path), loader: 'js' }));
  },
};

function lazyModule(name) {
  const real = createRequire(import.meta.url)(`node:${name}`);
  const functions = Object.keys(real).filter((key) => typeof real[key] === 'function' && /^[a-z]/.test(key));
  // process.getBuiltinModule (Node >= 20.16) loads it without node:module, itself half a
  // millisecond of a start; an older Node takes the chunk's CommonJS require (toCommonJs).
  return [
    `let real;`,
    `const load = () => (real ??= process.getBuiltinModule?.('node:${name}') ?? require('node:${name}'));`,
    ...functions.map((key) => `export function ${key}(...args) { return load().${key}(...args); }`),
    ...functions.flatMap((key) =>
      Object.getOwnPropertyNames(real[key])
        .filter((prop) => typeof real[key][prop] === 'symbol' && Symbol.keyFor(real[key][prop]) !== undefined)
        .map((prop) => `${key}.${prop} = Symbol.for(${JSON.stringify(Symbol.keyFor(real[key][prop]))});`),
    ),
  ].join('\n');
}

/**
 * `import { z } from 'zod'` is a namespace object, so a bundler keeps every module zod re-exports
 * from it, used or not. Three that keyshift never uses are replaced by small stand-ins, which
 * makes the policy loader (the first `plan` after an edit) much less code to load:
 *  - the ~60 message locales (half of zod): keyshift's messages are its own, in English, and
 *    zod's default locale `en` is kept;
 *  - `z.compile` (a code generator for faster parsers) and `z.fromJSONSchema`: they throw if called.
 */
const ZOD_STAND_INS = {
  'locales/index.js': "export { default as en } from './en.js';",
  'core/compile.js': [
    "export const INVALID = Symbol.for('zod.compile.invalid');",
    'export class ZodCompileAsyncError extends Error {}',
    'export class ZodCompileUnsupportedError extends Error {}',
    "const missing = () => { throw new Error('z.compile is not part of the keyshift bundle (scripts/bundle.js)'); };",
    'export const compile = missing, withParser = missing, compileFn = missing;',
  ].join('\n'),
  'classic/from-json-schema.js': "export function fromJSONSchema() { throw new Error('z.fromJSONSchema is not part of the keyshift bundle (scripts/bundle.js)'); }",
};

const zodTrim = {
  name: 'zod-trim',
  setup(b) {
    b.onResolve({ filter: /^\.\.?\/(locales\/index|compile|from-json-schema)\.js$/ }, (args) => {
      const zod = /[\\/]zod[\\/]v4[\\/]/;
      if (!zod.test(args.importer)) return undefined;
      const path = join(dirname(args.importer), args.path);
      const key = Object.keys(ZOD_STAND_INS).find((name) => path.endsWith(join('v4', name)));
      return key ? { path, namespace: 'zod-stand-in', pluginData: key } : undefined;
    });
    b.onLoad({ filter: /.*/, namespace: 'zod-stand-in' }, (args) => ({ contents: ZOD_STAND_INS[args.pluginData], resolveDir: dirname(args.path), loader: 'js' }));
  },
};

/**
 * yaml's Node build is CommonJS, which a bundler keeps whole; its ES module build (the same code,
 * published for browsers) lets the bundle keep only the parser keyshift imports. The two differ
 * only in debug logging read from process.env and in decoding YAML 1.1 `!!binary` tags (atob).
 */
const yamlEsm = {
  name: 'yaml-esm',
  setup(b) {
    b.onResolve({ filter: /^yaml$/ }, () => ({ path: join(root, 'node_modules', 'yaml', 'browser', 'dist', 'index.js') }));
  },
};

rmSync(new URL('../dist/bundle', import.meta.url), { recursive: true, force: true });
await build({
  absWorkingDir: root,
  // The re-encryption thread (`reencrypt --threads`) is a file of its own: a Worker starts from a path.
  entryPoints: { main: 'dist/cli/main.js', 'seal-worker': 'dist/reencrypt/seal-worker.js' },
  outdir: 'dist/bundle',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // Less source for V8 to scan at every start (names are kept: stack traces stay readable).
  minifyWhitespace: !process.env.KEYSHIFT_BUNDLE_READABLE,
  minifySyntax: !process.env.KEYSHIFT_BUNDLE_READABLE,
  logLevel: 'warning',
  plugins: [lazyBuiltins, zodTrim, yamlEsm],
  // Database drivers stay packages of their own: better-sqlite3 loads a native addon beside its
  // code, and both are imported only when `reencrypt` runs (an optional dependency may be absent).
  external: ['better-sqlite3', 'pg'],
  // src/cli/version.ts: the version as built, so that no start reads package.json for it.
  define: { KEYSHIFT_BUNDLED_VERSION: JSON.stringify(JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version) },
  // commander is CommonJS and calls require() for Node built-ins (pino is loaded with createRequire).
  banner: { js: "import { createRequire as __keyshiftRequire } from 'node:module'; const require = __keyshiftRequire(import.meta.url);" },
});
toCommonJs(join(root, 'dist', 'bundle'));
joinWarmPath(join(root, 'dist', 'bundle'));

/**
 * The chunks are then turned into CommonJS, each file on its own: Node 20 can feed V8's code cache
 * only to a script it compiles with vm.Script (bin/code-cache.js), never to an ES module, and a
 * CommonJS file skips the ES module loader's per-file resolution (bench/issue-17.md has the figures).
 * Imports between chunks become require() (esbuild's chunks import each other without cycles);
 * `import("./chunk.js")` becomes a require() in a promise, other dynamic imports (a plugin's URL,
 * node:http) stay real ones. The chunks' source maps point at the ES module text, so they are dropped.
 */
function toCommonJs(dir) {
  const banner = "import { createRequire as __keyshiftRequire } from 'node:module'; const require = __keyshiftRequire(import.meta.url);\n";
  for (const name of readdirSync(dir)) {
    if (name.endsWith('.js.map')) rmSync(join(dir, name));
    if (!name.endsWith('.js')) continue;
    const esm = readFileSync(join(dir, name), 'utf8');
    if (!esm.startsWith(banner)) throw new Error(`${name}: the bundle banner is missing (scripts/bundle.js)`);
    const body = esm.slice(banner.length).replace(/\n\/\/# sourceMappingURL=.*\n?$/, '\n').replace(/\bimport\("(\.\/[\w.-]+\.js)"\)/g, 'Promise.resolve().then(()=>require("$1"))');
    const { code } = transformSync(body, {
      format: 'cjs',
      platform: 'node',
      target: 'node20',
      minifyWhitespace: !process.env.KEYSHIFT_BUNDLE_READABLE,
      minifySyntax: !process.env.KEYSHIFT_BUNDLE_READABLE,
      // import.meta.url is made on first use: pathToFileURL at every chunk's load cost most of a
      // millisecond of each start, for a URL most commands never ask for.
      define: { 'import.meta.url': '__keyshiftMeta.url', 'import.meta.filename': '__filename' },
      // Strict, as the ES modules were.
      banner: `"use strict";${body.includes('import.meta.url') ? 'const __keyshiftMeta={get url(){return require("node:url").pathToFileURL(__filename).href}};' : ''}`,
      logLevel: 'error',
    });
    writeFileSync(join(dir, name), code);
  }
  writeFileSync(join(dir, 'package.json'), '{"type":"commonjs"}\n');
}

/**
 * Every command loads main.js, the commands chunk and the chunks they require (about 18 files).
 * They are joined into core.js, a table of module functions with its own require: one file to
 * resolve, read and code-cache. The handlers of the commands that change stores or read evidence
 * logs (rotate, rollback, doctor, evidence verify and merge) and what they alone use are joined the
 * same way into changes.js, so `plan` and `status` neither read nor compile them. Each joined file
 * is left as a one-line stub that takes its module from its pack, so a chunk loaded later (an AWS
 * adapter) and the other pack share the same module instances.
 */
function joinWarmPath(dir) {
  const code = (name) => readFileSync(join(dir, name), 'utf8');
  const staticRequires = (text) =>
    [...text.replace(/Promise\.resolve\(\)\.then\(\(\)=>require\("[^"]+"\)\)/g, '').matchAll(/\brequire\("\.\/([\w.-]+\.js)"\)/g)].map((m) => m[1]);
  const chunk = (pattern) => {
    const names = readdirSync(dir).filter((name) => pattern.test(name));
    if (names.length !== 1) throw new Error(`dist/bundle: ${names.length} chunks named like ${pattern}, want 1 (scripts/bundle.js)`);
    return names[0];
  };
  const packed = new Set();
  const earlier = [];
  const pack = (file, roots) => {
    const members = [];
    const visit = (name) => {
      if (packed.has(name)) return;
      packed.add(name);
      members.push(name);
      for (const dep of staticRequires(code(name))) visit(dep);
    };
    for (const root of roots) visit(root);
    const table = members.map((name) => `${JSON.stringify(name)}:function(exports,require,module,__filename,__dirname){${code(name)}\n}`);
    const text = [
      '"use strict";',
      'const {join}=require("node:path");',
      `const chunks={${table.join(',\n')}};`,
      'const loaded=new Map();',
      'function load(name){let module=loaded.get(name);if(module)return module.exports;module={exports:{}};loaded.set(name,module);',
      'try{chunks[name].call(module.exports,module.exports,chunkRequire,module,join(__dirname,name),__dirname)}catch(error){loaded.delete(name);throw error}',
      'return module.exports}',
      // A chunk of an earlier pack is taken from that pack straight away, not through its stub.
      `const packs=[${earlier.map((other) => `require("./${other}")`).join(',')}];`,
      'function chunkRequire(id){const name=id.startsWith("./")?id.slice(2):"";if(Object.hasOwn(chunks,name))return load(name);const other=packs.find((p)=>p.has(name));return other?other(name):require(id)}',
      'load.has=(name)=>Object.hasOwn(chunks,name);',
      'module.exports=load;',
    ].join('\n');
    if (hasDynamicImport(text)) throw new Error(`dist/bundle/${file} has a dynamic import: bin/code-cache.js would not cache it (scripts/bundle.js)`);
    writeFileSync(join(dir, file), `${text}\n`);
    for (const name of members) writeFileSync(join(dir, name), `"use strict";module.exports=require("./${file}")(${JSON.stringify(name)});\n`);
    earlier.push(file);
  };
  pack('core.js', ['main.js', chunk(/^commands-\w+\.js$/)]);
  pack('changes.js', [chunk(/^change-commands-\w+\.js$/), chunk(/^evidence-commands-\w+\.js$/)]);
}
